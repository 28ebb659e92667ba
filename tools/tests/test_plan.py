"""The planning core: properties of the brief, checked on examples and on
random fleets (hypothesis)."""

from __future__ import annotations

import random
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyimage.errors import PyimageError
from pyimage.planner import (
    MAX_LAYERS_LIMIT,
    REASON_KEPT,
    REASON_LARGE,
    SMALL_LAYER_BYTES,
    Image,
    Package,
    Plan,
    baselines,
    guard,
    plan_fleet,
    plan_image,
    search,
)
from pyimage.planner import plan as core

MIB = 1 << 20

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from fleetgen import generate_fleet  # noqa: E402


def layer_sets(plan: Plan) -> dict[str, list[frozenset[str]]]:
    return {im.name: [frozenset(lay.packages) for lay in im.layers] for im in plan.images}


def check_invariants(plan: Plan, images: list[Image], sizes: dict[str, int]) -> None:
    by_name = {im.name: im for im in images}
    assert sorted(by_name) == [im.name for im in plan.images]
    for ip in plan.images:
        im = by_name[ip.name]
        got = [p for lay in ip.layers for p in lay.packages]
        assert sorted(got) == sorted(im.packages), "every package exactly once"
        assert all(lay.packages for lay in ip.layers), "no empty layer"
        total = len(ip.layers) + im.base_layers + plan.reserved_layers
        assert total <= plan.max_layers, f"{ip.name} has {total} layers"
        for lay in ip.layers:
            assert lay.bytes == sum(sizes[p] for p in lay.packages)
            assert list(lay.packages) == sorted(lay.packages)
            assert lay.reason


# ---------------------------------------------------------------- examples
def test_big_packages_alone_and_same_users_share_one_layer() -> None:
    pkgs = [
        Package("torch==2", 700 * MIB),
        Package("numpy==2", 60 * MIB),
        Package("six==1", 20_000),
        Package("idna==3", 300_000),
        Package("attrs==1", 900_000),
        Package("flask==3", 2 * MIB),
    ]
    images = [
        Image("a", ("torch==2", "numpy==2", "six==1", "idna==3", "attrs==1"), 5),
        Image("b", ("torch==2", "numpy==2", "six==1", "idna==3", "attrs==1", "flask==3"), 5),
    ]
    plan = plan_fleet(pkgs, images, 100)
    check_invariants(plan, images, {p.id: p.bytes for p in pkgs})
    a = layer_sets(plan)["a"]
    b = layer_sets(plan)["b"]
    assert frozenset({"torch==2"}) in a
    assert frozenset({"numpy==2"}) in a
    # The three small packages have the same users: one shared layer, not three.
    assert frozenset({"six==1", "idna==3", "attrs==1"}) in a
    assert frozenset({"six==1", "idna==3", "attrs==1"}) in b
    reasons = {lay.packages: lay.reason for lay in plan.image("a").layers}
    assert reasons[("torch==2",)] == REASON_LARGE
    assert "same images" in reasons[("attrs==1", "idna==3", "six==1")]


def test_order_puts_shared_and_big_layers_at_the_bottom() -> None:
    pkgs = [Package("big==1", 50 * MIB), Package("mid==1", 5 * MIB), Package("own==1", 9 * MIB)]
    images = [Image("a", ("big==1", "mid==1", "own==1")), Image("b", ("big==1", "mid==1"))]
    layers = plan_fleet(pkgs, images, 20).image("a").layers
    assert [lay.packages for lay in layers] == [("big==1",), ("mid==1",), ("own==1",)]


def test_cap_counts_base_and_reserved_layers() -> None:
    pkgs = [Package(f"p{k}==1", (k + 2) * MIB) for k in range(10)]
    pkgs.append(Package("torch==2", 700 * MIB))
    images = [Image("a", tuple(p.id for p in pkgs), base_layers=4)]
    plan = plan_fleet(pkgs, images, 10)
    assert len(plan.image("a").layers) == 10 - 4 - 2
    # The big package keeps its own layer; the cap merges the small ones.
    assert plan.image("a").layers[0].packages == ("torch==2",)


def test_cap_above_125_is_refused_with_the_reason() -> None:
    with pytest.raises(PyimageError, match=r"125.*max depth exceeded"):
        plan_fleet([Package("a==1", 1)], [Image("x", ("a==1",))], MAX_LAYERS_LIMIT + 1)


def test_cap_too_small_names_the_image_and_numbers() -> None:
    with pytest.raises(PyimageError, match=r"image 'x'.*max_layers 7.*base 5.*at least 8"):
        plan_fleet([Package("a==1", 1)], [Image("x", ("a==1",), 5)], 7)


def test_a_base_no_cap_can_hold_is_not_told_to_raise_the_cap_above_the_limit() -> None:
    # 124 base layers + 2 reserved + 1 package layer = 127 > 125: advising
    # "raise max_layers to at least 127" would send the user to a refusal.
    with pytest.raises(PyimageError) as err:
        plan_fleet([Package("a==1", 1)], [Image("x", ("a==1",), 124)], MAX_LAYERS_LIMIT)
    message = str(err.value)
    assert "at least" not in message and "no cap can hold it" in message, message
    assert "use a base with fewer layers" in message


@pytest.mark.parametrize(
    ("pkgs", "images", "match"),
    [
        ([Package("a==1", 1)], [Image("x", ("b==1",))], "'x'.*'b==1'"),
        ([Package("a==1", -1)], [Image("x", ("a==1",))], "'a==1'.*non-negative"),
        ([Package("a==1", 1)], [Image("x", ("a==1", "a==1"))], "twice"),
        ([Package("a==1", 1), Package("a==1", 2)], [Image("x", ("a==1",))], "twice"),
        ([Package("a==1", 1)], [Image("x", ("a==1",)), Image("x", ())], "twice"),
    ],
)
def test_bad_input_is_one_line_error(pkgs: list[Package], images: list[Image], match: str) -> None:
    with pytest.raises(PyimageError, match=match) as err:
        plan_fleet(pkgs, images, 20)
    assert "\n" not in str(err.value)


def test_tiny_image_may_keep_a_tiny_layer() -> None:
    plan = plan_fleet([Package("six==1", 10_000)], [Image("x", ("six==1",))], 10)
    assert [lay.packages for lay in plan.image("x").layers] == [("six==1",)]


def small_counts(plan: Plan) -> list[int]:
    return [sum(1 for lay in im.layers if lay.bytes < SMALL_LAYER_BYTES) for im in plan.images]


def test_small_layers_are_folded(monkeypatch: pytest.MonkeyPatch) -> None:
    # 30 small packages with many different user sets.
    rnd = random.Random(3)
    pkgs = [Package(f"s{k}==1", 50_000) for k in range(30)]
    images = [Image(f"i{j}", tuple(p.id for p in pkgs if rnd.random() < 0.6), 2) for j in range(6)]
    monkeypatch.setattr(search, "FOLD_MAX_COST", 0)
    unfolded = small_counts(plan_fleet(pkgs, images, 100))
    # Every image fits the cap, so the largest-first plan stores nothing
    # twice and by default no fold may either: lift both limits.
    monkeypatch.setattr(search, "FOLD_MAX_COST", float("inf"))
    monkeypatch.setattr(core, "largest_first_duplicates", lambda *_: 1 << 60)
    plan = plan_fleet(pkgs, images, 100)
    check_invariants(plan, images, {p.id: p.bytes for p in pkgs})
    small = small_counts(plan)
    assert sum(unfolded) / len(unfolded) > search.SMALL_LAYERS_MEAN
    assert sum(small) / len(small) <= search.SMALL_LAYERS_MEAN
    assert max(small) <= search.SMALL_LAYERS_MAX
    # With the default limits, folding lies in between.
    monkeypatch.undo()
    default = small_counts(plan_fleet(pkgs, images, 100))
    assert sum(small) <= sum(default) <= sum(unfolded)


def stored_twice(plan: Plan, sizes: dict[str, int]) -> int:
    distinct = {lay.packages for im in plan.images for lay in im.layers}
    members = [p for lay in distinct for p in lay]
    return sum(sizes[p] for p in members) - sum(sizes[p] for p in set(members))


def test_folds_store_no_more_twice_than_largest_first() -> None:
    rnd = random.Random(5)
    pkgs = [Package(f"s{k}==1", rnd.randint(10_000, 400_000)) for k in range(60)]
    pkgs += [Package(f"big{k}==1", (k + 2) * MIB) for k in range(6)]
    sizes = {p.id: p.bytes for p in pkgs}
    ids = sorted(sizes)
    images = [Image(f"i{j}", tuple(p for p in ids if rnd.random() < 0.5), 1) for j in range(8)]
    index = {p: k for k, p in enumerate(ids)}
    for cap in (12, 20, 40, 100):
        plan = plan_fleet(pkgs, images, cap)
        check_invariants(plan, images, sizes)
        budgets = [cap - 1 - 2] * len(images)
        reference = core.largest_first_duplicates(
            [sizes[p] for p in ids], [[index[p] for p in im.packages] for im in images], budgets
        )
        # Cap merges may need more; at a loose cap only folds store twice.
        if cap >= 40:
            assert stored_twice(plan, sizes) <= reference


def test_plan_losing_to_largest_first_is_made_again_weighing_pulls_more(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A generated fleet (12 images, 300 packages) on which the first weighting
    # alone pulls more between pairs of images than the largest-first plan.
    doc = generate_fleet(12, 300, seed=3)
    pkgs = [Package(k, v["installed_bytes"]) for k, v in doc["packages"].items()]
    sizes = {p.id: p.bytes for p in pkgs}
    images = [Image(n, tuple(v["packages"]), v["base_layers"]) for n, v in doc["images"].items()]
    named = {im.name: im.packages for im in images}
    cap = 16
    nix = baselines.largest_first(
        sizes, named, {im.name: im.base_layers for im in images}, core.FLEET_RESERVED_LAYERS, cap
    )

    def scores(layers: Mapping[str, Sequence[Sequence[str]]]) -> tuple[float, float, float]:
        return (
            guard.storage_ratio(sizes, named, layers),
            guard.pair_ratio(sizes, named, layers),
            guard.rewrite_ratio(sizes, layers),
        )

    def layers_of(plan: Plan) -> dict[str, list[tuple[str, ...]]]:
        return {im.name: [lay.packages for lay in im.layers] for im in plan.images}

    reference = scores(nix)
    with monkeypatch.context() as m:
        m.setattr(core, "PULL_WEIGHTS", core.PULL_WEIGHTS[:1])
        first = scores(layers_of(plan_fleet(pkgs, images, cap)))
    assert first[1] > reference[1], "the fleet no longer shows the case; pick another seed"
    plan = plan_fleet(pkgs, images, cap)
    check_invariants(plan, images, sizes)
    got = scores(layers_of(plan))
    assert all(mine <= theirs for mine, theirs in zip(got, reference, strict=True)), (
        got,
        reference,
    )


def test_plan_image_reserves_what_the_caller_says() -> None:
    pkgs = [Package(f"p{k}==1", (k + 1) * MIB) for k in range(8)]
    image = Image("app", tuple(p.id for p in pkgs), base_layers=3)
    one = plan_image(image, pkgs, 8, reserved_layers=1)
    assert len(one.layers) == 8 - 3 - 1
    two = plan_image(image, pkgs, 8, reserved_layers=2)
    assert len(two.layers) == 8 - 3 - 2
    again = plan_image(
        image, pkgs, 8, reserved_layers=1, previous=[lay.packages for lay in one.layers]
    )
    assert [lay.packages for lay in again.layers] == [lay.packages for lay in one.layers]
    assert all(lay.reason == REASON_KEPT for lay in again.layers)


def test_plan_image_alongside_gives_pure_packages_the_same_layers_on_every_platform() -> None:
    # One image on two platforms: six pure packages, and four native ones of
    # the same versions but other bytes per platform. Each platform's action
    # plans alone, knowing the other only as holding the pure packages.
    pure = [Package(f"pure{k}==1", 200_000 + 10_000 * k) for k in range(6)]
    sizes = {"linux/amd64": 1.0, "linux/arm64": 0.8}
    native = {
        plat: [Package(f"native{k}==1", int((300_000 + 50_000 * k) * f)) for k in range(4)]
        for plat, f in sizes.items()
    }
    pure_ids = {p.id for p in pure}

    def plan(plat: str, alongside: bool) -> list[tuple[str, ...]]:
        pkgs = pure + native[plat]
        image = Image(f"img.{plat}", tuple(sorted(p.id for p in pkgs)), base_layers=1)
        others = [Image(f"img.{plat} ({o})", tuple(sorted(pure_ids)), 1) for o in sizes]
        others = [o for o in others if alongside and not o.name.endswith(f"({plat})")]
        planned = plan_image(image, pkgs, 60, reserved_layers=1, alongside=others)
        assert {p for lay in planned.layers for p in lay.packages} == {p.id for p in pkgs}
        return [lay.packages for lay in planned.layers]

    # Alone, small pure and native packages share layers (one signature).
    assert any(pure_ids & set(lay) and set(lay) - pure_ids for lay in plan("linux/amd64", False))
    pure_layers = {}
    for plat in sizes:
        layers = plan(plat, True)
        assert not [lay for lay in layers if pure_ids & set(lay) and set(lay) - pure_ids], layers
        pure_layers[plat] = sorted(lay for lay in layers if pure_ids & set(lay))
    assert pure_layers["linux/amd64"] == pure_layers["linux/arm64"]


def test_previous_layers_are_kept_when_a_package_is_added() -> None:
    pkgs = [Package(f"p{k}==1", (k + 1) * 300_000) for k in range(12)]
    image = Image("a", tuple(p.id for p in pkgs[:11]), 1)
    first = plan_fleet(pkgs, [image], 30)
    prev = {"a": [lay.packages for lay in first.image("a").layers]}
    bigger = Image("a", tuple(p.id for p in pkgs), 1)
    second = plan_fleet(pkgs, [bigger], 30, previous=prev)
    assert set(layer_sets(first)["a"]) <= set(layer_sets(second)["a"])


# ---------------------------------------------------------------- properties
SIZES = st.one_of(
    st.integers(0, 100_000),
    st.integers(100_000, 3 * MIB),
    st.integers(3 * MIB, 800 * MIB),
)


@st.composite
def fleets(draw: st.DrawFn) -> tuple[list[Package], list[Image], int]:
    n_pkgs = draw(st.integers(1, 40))
    pkgs = [Package(f"pkg{k}==1.{k % 3}", draw(SIZES)) for k in range(n_pkgs)]
    n_images = draw(st.integers(1, 6))
    images = []
    for j in range(n_images):
        chosen = draw(st.sets(st.integers(0, n_pkgs - 1), max_size=n_pkgs))
        base = draw(st.integers(0, 6))
        images.append(Image(f"img{j}", tuple(pkgs[k].id for k in sorted(chosen)), base))
    lowest = max(im.base_layers for im in images) + 3  # room for one package layer
    cap = draw(st.one_of(st.integers(lowest, lowest + 8), st.integers(lowest, MAX_LAYERS_LIMIT)))
    return pkgs, images, cap


PROPERTY = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(fleets())
def test_random_fleets_fit_the_cap_and_cover_every_package(fleet: tuple) -> None:
    """Both merge searches: the full one and the one for huge fleets."""
    pkgs, images, cap = fleet
    sizes = {p.id: p.bytes for p in pkgs}
    check_invariants(plan_fleet(pkgs, images, cap), images, sizes)
    saved = search.COSTED_MERGE_LIMIT
    search.COSTED_MERGE_LIMIT = 0
    try:
        check_invariants(plan_fleet(pkgs, images, cap), images, sizes)
    finally:
        search.COSTED_MERGE_LIMIT = saved


@PROPERTY
@given(fleets(), st.randoms(use_true_random=False))
def test_input_order_never_changes_the_plan(fleet: tuple, rnd: random.Random) -> None:
    pkgs, images, cap = fleet
    plan = plan_fleet(pkgs, images, cap)
    shuffled_pkgs = list(pkgs)
    rnd.shuffle(shuffled_pkgs)
    shuffled_images = []
    for im in images:
        members = list(im.packages)
        rnd.shuffle(members)
        shuffled_images.append(Image(im.name, tuple(members), im.base_layers))
    rnd.shuffle(shuffled_images)
    assert plan_fleet(shuffled_pkgs, shuffled_images, cap) == plan


@PROPERTY
@given(fleets(), st.data())
def test_previous_plan_keeps_unchanged_layers(fleet: tuple, data: st.DataObject) -> None:
    pkgs, images, cap = fleet
    first = plan_fleet(pkgs, images, cap)
    prev = {im.name: [lay.packages for lay in im.layers] for im in first.images}
    # Same input: every layer is kept.
    same = plan_fleet(pkgs, images, cap, previous=prev)
    for name, layers in layer_sets(first).items():
        assert set(layer_sets(same)[name]) == set(layers)
        assert all(lay.reason == REASON_KEPT for lay in same.image(name).layers)
    used = sorted({p for im in images for p in im.packages})
    if not used:
        return
    bumped = data.draw(st.sampled_from(used))
    new_id = bumped + ".post1"
    new_pkgs = [Package(new_id, p.bytes) if p.id == bumped else p for p in pkgs]
    new_images = [
        Image(im.name, tuple(new_id if p == bumped else p for p in im.packages), im.base_layers)
        for im in images
    ]
    second = plan_fleet(new_pkgs, new_images, cap, previous=prev)
    check_invariants(second, new_images, {p.id: p.bytes for p in new_pkgs})
    after = layer_sets(second)
    for name, layers in layer_sets(first).items():
        for lay in layers:
            if bumped not in lay:
                assert lay in after[name], f"{name} lost unchanged layer {sorted(lay)}"


def test_small_packages_of_one_signature_fill_balanced_layers() -> None:
    rnd = random.Random(11)
    pkgs = [Package(f"s{k:02d}==1", rnd.randint(20_000, 300_000)) for k in range(40)]
    image = Image("x", tuple(p.id for p in pkgs))
    plan = plan_image(image, pkgs, 100)
    total = sum(p.bytes for p in pkgs)
    sizes = sorted(lay.bytes for lay in plan.layers)
    assert len(sizes) == total // SMALL_LAYER_BYTES
    assert sizes[0] >= SMALL_LAYER_BYTES
    # Balanced: no layer more than one package's worth above the lightest.
    assert sizes[-1] - sizes[0] <= max(p.bytes for p in pkgs)
