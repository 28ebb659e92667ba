"""Declared layers (planner/declared.py): pinned groups and packages alone, under the cap."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyimage.errors import PyimageError
from pyimage.planner import (
    REASON_ALONE,
    REASON_GROUP,
    Image,
    Package,
    Plan,
    declared,
    plan_fleet,
    plan_image,
)
from pyimage.planner.declared import check_used

MIB = 1 << 20
SIZES = {
    "torch==2.5.1": 800 * MIB,
    "triton==3.1.0": 200 * MIB,
    "nvidia-cublas-cu12==12.4": 400 * MIB,
    "nvidia-cudnn-cu12==9.1": 600 * MIB,
    "numpy==2.1.0": 20 * MIB,
    "six==1.17.0": 40_000,
    "idna==3.10": 200_000,
    "requests==2.32.3": 150_000,
}
PACKAGES = [Package(p, n) for p, n in SIZES.items()]
GPU = declared({"gpu": ["torch", "triton", "nvidia-*"]}, [], "fleet //:fleet")
REST = ("idna==3.10", "numpy==2.1.0", "requests==2.32.3", "six==1.17.0")
TRAIN = Image("//train:image", (*SIZES,))
CPU = Image("//serve:image", ("torch==2.5.1", *REST))


def layers(plan: Plan, image: str) -> dict[tuple[str, ...], str]:
    return {lay.packages: lay.reason for lay in plan.image(image).layers}


def test_a_group_is_one_layer_of_the_members_each_image_holds() -> None:
    plan = plan_fleet(PACKAGES, [TRAIN, CPU], declared=GPU)
    gpu = ("nvidia-cublas-cu12==12.4", "nvidia-cudnn-cu12==9.1", "torch==2.5.1", "triton==3.1.0")
    assert layers(plan, "//train:image")[gpu] == f"{REASON_GROUP} gpu"
    # The CPU image holds torch alone of the group: a group of one.
    assert layers(plan, "//serve:image")[("torch==2.5.1",)] == f"{REASON_GROUP} gpu"
    # Without the declaration the big packages are alone (the automatic plan).
    auto = plan_fleet(PACKAGES, [TRAIN, CPU])
    assert gpu not in layers(auto, "//train:image")
    assert ("nvidia-cudnn-cu12==9.1",) in layers(auto, "//train:image")
    # The rest is planned as without it: the same layers of the other packages.
    others = {k: v for k, v in layers(auto, "//serve:image").items() if "torch==2.5.1" not in k}
    assert {k: v for k, v in layers(plan, "//serve:image").items() if k != ("torch==2.5.1",)} == (
        others
    )


def test_a_package_declared_alone_is_a_layer_though_small() -> None:
    alone = declared({}, ["six"], "image //a:image")
    image = Image("//a:image", REST)
    auto = plan_image(image, PACKAGES)
    assert ("six==1.17.0",) not in {lay.packages for lay in auto.layers}, "six is folded"
    plan = plan_image(image, PACKAGES, declared=alone, where="image //a:image")
    got = {lay.packages: lay.reason for lay in plan.layers}
    assert got[("six==1.17.0",)] == REASON_ALONE
    assert sorted(p for lay in plan.layers for p in lay.packages) == sorted(REST)


def test_a_previous_layer_holding_a_declared_package_is_not_kept() -> None:
    previous = {"//serve:image": [["six==1.17.0", "torch==2.5.1"]]}
    plan = plan_fleet(PACKAGES, [CPU], previous=previous, declared=GPU)
    got = layers(plan, "//serve:image")
    assert got[("torch==2.5.1",)] == f"{REASON_GROUP} gpu"
    assert all("six==1.17.0" not in k or "torch==2.5.1" not in k for k in got)


def test_declared_layers_over_the_cap_name_what_to_merge() -> None:
    many = declared({"a": ["six"], "b": ["idna"]}, ["numpy", "requests"], "image //a:image")
    with pytest.raises(PyimageError) as err:
        plan_image(Image("//a:image", REST, base_layers=3), PACKAGES, 7, declared=many)
    assert str(err.value) == (
        "image '//a:image': its 2 declared groups and 2 packages declared alone need 4 package"
        " layers, but its cap leaves 2 beside its base, interpreter, library and app layers;"
        " merge declared layers (e.g. [six] and [requests] into one group) or raise max_layers"
        " by 2 (at most 125 in all)"
    )
    one = declared({}, ["six"], "x")
    with pytest.raises(PyimageError) as err:
        plan_image(Image("//a:image", REST, base_layers=4), PACKAGES, 7, declared=one)
    assert str(err.value) == (
        "image '//a:image': its 1 packages declared alone and a layer of its other packages"
        " need 2 package layers, but its cap leaves 1 beside its base, interpreter, library and"
        " app layers; raise max_layers by 1 (at most 125 in all)"
    )


@pytest.mark.parametrize(
    ("groups", "alone", "message"),
    [
        (
            {"gpu": ["torch", "nvidia-*"], "blas": ["nvidia-cublas-cu12"]},
            [],
            "fleet //:fleet: package nvidia-cublas-cu12 is claimed by layer group 'blas' and"
            " layer group 'gpu'; give it to one",
        ),
        (
            {"gpu": ["torch"]},
            ["torch*"],
            "fleet //:fleet: package torch is claimed by layer group 'gpu' and alone_packages;"
            " give it to one",
        ),
        (
            {"gpu": ["torch", "jax*"]},
            [],
            "fleet //:fleet: layer group 'gpu': 'jax*' matches no package it holds; fix the"
            " name or drop it",
        ),
    ],
)
def test_a_package_claimed_twice_or_a_pattern_matching_nothing_is_one_line(
    groups: dict[str, list[str]], alone: list[str], message: str
) -> None:
    claims = declared(groups, alone, "x")
    with pytest.raises(PyimageError) as err:
        check_used(claims, TRAIN.packages, "fleet //:fleet")
        plan_fleet(PACKAGES, [TRAIN], declared=claims, where="fleet //:fleet")
    assert str(err.value) == message


@pytest.mark.parametrize(
    ("groups", "alone", "message"),
    [
        ({"gpu": []}, [], "fleet //:f: layer group 'gpu' is empty; give its packages"),
        (
            {"gpu": ["Torch"]},
            [],
            "fleet //:f: layer group 'gpu' holds 'Torch', not a package name or glob; give"
            " normalized names (lowercase, '-' for '_' and '.'), e.g. 'nvidia-*'",
        ),
        (
            {"g pu": ["torch"]},
            [],
            "fleet //:f: layer group name 'g pu' must be letters, digits, '_', '.' or '-'",
        ),
        # A first-party library pinned in a group or alone: a label, not a package.
        (
            {"models": ["//libs/models"]},
            [],
            "fleet //:f: layer group 'models' holds '//libs/models', a label: a first-party"
            ' library is a layer of its own by its tag (tags = ["pyimage_layer"]), never in'
            " a group nor alone; give pip package names here",
        ),
        (
            {},
            ["@pypi//torch"],
            "fleet //:f: alone_packages holds '@pypi//torch', a label: a first-party library"
            ' is a layer of its own by its tag (tags = ["pyimage_layer"]), never in a group'
            " nor alone; give pip package names here",
        ),
        (
            {"gpu": ["torch"]},
            ["torch"],
            "fleet //:f: 'torch' is in layer group 'gpu' and in alone_packages; give it once",
        ),
    ],
)
def test_a_bad_declaration_is_one_line(
    groups: dict[str, list[str]], alone: list[str], message: str
) -> None:
    with pytest.raises(PyimageError) as err:
        declared(groups, alone, "fleet //:f")
    assert str(err.value) == message


def test_the_plan_does_not_depend_on_the_order_of_the_declaration() -> None:
    one = declared({"gpu": ["torch", "triton", "nvidia-*"], "web": ["requests", "idna"]}, [], "x")
    two = declared({"web": ["idna", "requests"], "gpu": ["nvidia-*", "triton", "torch"]}, [], "x")
    assert plan_fleet(PACKAGES, [TRAIN, CPU], declared=one) == plan_fleet(
        list(reversed(PACKAGES)), [CPU, TRAIN], declared=two
    )


NAMES = ["a", "b", "c", "d", "e", "f", "g", "h"]


@st.composite
def declared_fleets(draw: st.DrawFn) -> tuple[list[Package], list[Image], dict, list[str], int]:
    sizes = {n: draw(st.integers(0, 3 * MIB)) for n in NAMES}
    images = [
        Image(f"//i{k}:image", tuple(sorted(f"{n}==1" for n in names)), draw(st.integers(0, 3)))
        for k, names in enumerate(
            draw(st.lists(st.sets(st.sampled_from(NAMES), min_size=1), min_size=1, max_size=4))
        )
    ]
    owner = {n: draw(st.sampled_from(["", "alone", "g1", "g2"])) for n in NAMES}
    groups = {g: [n for n in NAMES if owner[n] == g] for g in ("g1", "g2")}
    alone = [n for n in NAMES if owner[n] == "alone"]
    packages = [Package(f"{n}==1", s) for n, s in sizes.items()]
    return packages, images, {g: m for g, m in groups.items() if m}, alone, draw(st.integers(3, 9))


@given(declared_fleets())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_declared_layers_hold_in_any_fleet(
    case: tuple[list[Package], list[Image], dict, list[str], int],
) -> None:
    packages, images, groups, alone, cap = case
    claims = declared(groups, alone, "x")
    try:
        plan = plan_fleet(packages, images, cap, reserved_layers=1, declared=claims)
    except PyimageError as err:
        assert "raise max_layers" in str(err), err
        return
    for im in images:
        lays = plan.image(im.name).layers
        assert sorted(p for lay in lays for p in lay.packages) == sorted(im.packages)
        assert len(lays) + im.base_layers + 1 <= cap
        for g, names in groups.items():
            want = tuple(sorted(p for p in im.packages if p.split("==")[0] in names))
            if want:
                assert [lay.reason for lay in lays if lay.packages == want] == [
                    f"{REASON_GROUP} {g}"
                ]
        for p in im.packages:
            if p.split("==")[0] in alone:
                assert [lay.reason for lay in lays if p in lay.packages] == [REASON_ALONE]
