"""Metrics and baselines on fleets small enough to score by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from pyimage.planner import baselines
from pyimage.planner.guard import pair_ratio, rewrite_ratio, storage_ratio
from pyimage.planner.metrics import Layers, bump_ratio, measure, small_layers

SIZES = {"a==1": 10, "b==1": 5}
IMAGES = {"x": ["a==1", "b==1"], "y": ["a==1"]}
SPLIT = {"x": [["a==1"], ["b==1"]], "y": [["a==1"]]}
LUMPED = {"x": [["a==1", "b==1"]], "y": [["a==1"]]}


def test_storage_counts_each_distinct_layer_once() -> None:
    assert storage_ratio(SIZES, IMAGES, SPLIT) == 1.0
    # {a, b} and {a} are different layers: a is stored twice.
    assert storage_ratio(SIZES, IMAGES, LUMPED) == pytest.approx(25 / 15)


def test_pair_is_pulled_over_missing_bytes() -> None:
    assert pair_ratio(SIZES, IMAGES, SPLIT) == 1.0
    # y -> x: x misses only b (5 bytes) but pulls {a, b} (15); x -> y: nothing missing.
    assert pair_ratio(SIZES, IMAGES, LUMPED) == pytest.approx(3.0)


def test_rewrite_counts_each_layer_once_per_member() -> None:
    assert rewrite_ratio(SIZES, SPLIT) == 1.0
    # Bumping a re-pushes {a, b} (15) and {a} (10); bumping b re-pushes {a, b}.
    assert rewrite_ratio(SIZES, LUMPED) == pytest.approx((15 + 10 + 15) / 15)


def test_small_counts_layers_under_one_mib() -> None:
    sizes = {"a==1": 2 << 20, "b==1": 1000, "c==1": 1000}
    plan = {"x": [["a==1"], ["b==1"], ["c==1"]], "y": [["b==1", "c==1"]]}
    assert small_layers(sizes, plan) == pytest.approx((2 + 1) / 2)


def test_bump_counts_new_layers_over_bumped_bytes() -> None:
    def one_layer(
        s: Mapping[str, int], ims: Mapping[str, Sequence[str]], prev: Layers | None
    ) -> Layers:
        return {n: [sorted(p)] for n, p in ims.items()}

    # Sample of 2: the largest (a) and the only other (b). Bumping a makes
    # {a', b} (15) and {a'} (10) new; bumping b makes {a, b'} (15) new.
    assert bump_ratio(SIZES, IMAGES, one_layer, bumps=2) == pytest.approx((25 + 15) / 15)

    def per_package(
        s: Mapping[str, int], ims: Mapping[str, Sequence[str]], prev: Layers | None
    ) -> Layers:
        return {n: [[q] for q in p] for n, p in ims.items()}

    assert bump_ratio(SIZES, IMAGES, per_package, bumps=2) == 1.0


def test_measure_counts_all_layers_against_the_cap() -> None:
    def split(
        s: Mapping[str, int], ims: Mapping[str, Sequence[str]], prev: Layers | None
    ) -> Layers:
        return {n: [[q] for q in p] for n, p in ims.items()}

    m = measure(
        SIZES, IMAGES, base_layers={"x": 3, "y": 0}, reserved_layers=2, max_layers=6, replan=split
    )
    assert m.max_layers == 2 + 3 + 2
    assert m.over_cap == 1
    assert m.mean_layers == pytest.approx((7 + 3) / 2)


def test_largest_first_keeps_budget_minus_one_alone() -> None:
    sizes = {"a==1": 50, "b==1": 40, "c==1": 30, "d==1": 20}
    images = {"x": list(sizes)}
    plan = baselines.largest_first(sizes, images, {"x": 1}, 2, 6)
    assert plan == {"x": [["a==1"], ["b==1"], ["c==1", "d==1"]]}


def test_heavy_list_splits_matching_packages() -> None:
    sizes = {"torch==2": 9, "nvidia-cublas==1": 8, "numpy==2": 7, "six==1": 1, "idna==3": 1}
    plan = baselines.heavy_list(sizes, {"x": list(sizes)}, {"x": 0}, 2, 100)
    assert plan == {"x": [["torch==2"], ["nvidia-cublas==1"], ["numpy==2"], ["idna==3", "six==1"]]}


def test_one_layer_and_per_package() -> None:
    assert baselines.one_layer(SIZES, IMAGES, {}, 2, 10) == {
        "x": [["a==1", "b==1"]],
        "y": [["a==1"]],
    }
    assert baselines.one_per_package(SIZES, IMAGES, {}, 2, 10) == SPLIT
