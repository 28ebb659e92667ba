"""Fleet metrics of a layer plan, for benchmarks and ``pyimage report`` (pure).

A layer is identified by its exact member set: the project promises that a
layer's bytes depend only on its members, so two images share a layer exactly
when they hold the same set of packages.

* storage: bytes of the distinct layers of the fleet / bytes of the distinct
  packages used (1.0 is ideal);
* pair: mean over ordered pairs of images (a, b) of the bytes pulled for b on
  a node that holds a, over the bytes of b's packages that a lacks (pairs
  where a lacks nothing are skipped; 1.0 is ideal);
* bump: give a sample of packages a new version (same size), re-plan each
  time with the previous plan; bytes of layers that did not exist before,
  summed over the bumps / bytes of the bumped packages (1.0 is ideal). The
  sample is the ``bumps // 2`` largest packages and a seeded random draw of
  the others;
* small: mean number of package layers under 1 MiB per image;
* max/mean layers: all layers of an image, base and reserved included.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pyimage.planner.baselines import BASELINES
from pyimage.planner.guard import layer_ids, pair_ratio, storage_ratio
from pyimage.planner.model import SMALL_LAYER_BYTES, Image, Package, PlanLayers
from pyimage.planner.plan import plan_fleet

#: Image name -> its package layers (each a sequence of package ids).
Layers = PlanLayers
#: (sizes, image packages) -> a plan: used to re-plan after a bump.
Replanner = Callable[[Mapping[str, int], Mapping[str, Sequence[str]], Layers | None], Layers]


@dataclass(frozen=True)
class Metrics:
    """The scores of one plan of one fleet."""

    storage: float
    pair: float
    bump: float
    small: float
    max_layers: int
    mean_layers: float
    over_cap: int


def small_layers(sizes: Mapping[str, int], plan: Layers) -> float:
    """Mean number of package layers under 1 MiB per image."""
    if not plan:
        return 0.0
    counts = [
        sum(1 for layer in layers if sum(sizes[p] for p in layer) < SMALL_LAYER_BYTES)
        for layers in plan.values()
    ]
    return sum(counts) / len(counts)


def bump_sample(
    sizes: Mapping[str, int], images: Mapping[str, Sequence[str]], bumps: int, seed: int
) -> list[str]:
    """The packages bumped: the ``bumps // 2`` largest, then a seeded draw."""
    used = sorted({p for pkgs in images.values() for p in pkgs})
    largest = sorted(used, key=lambda p: (-sizes[p], p))[: bumps // 2]
    others = [p for p in used if p not in set(largest)]
    drawn = random.Random(seed).sample(others, min(len(others), bumps - len(largest)))
    return largest + drawn


def bump_ratio(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    replan: Replanner,
    bumps: int = 30,
    seed: int = 7,
) -> float:
    """Bytes of new layers per byte of bumped packages, over a sample of bumps."""
    before_plan = replan(sizes, images, None)
    before = set().union(*layer_ids(before_plan).values()) if before_plan else set()
    pushed = 0
    bumped = 0
    for p in bump_sample(sizes, images, bumps, seed):
        q = p + ".post999"
        new_sizes = dict(sizes)
        new_sizes[q] = new_sizes.pop(p)
        new_images = {n: [q if x == p else x for x in pkgs] for n, pkgs in images.items()}
        after_plan = replan(new_sizes, new_images, before_plan)
        after = set().union(*layer_ids(after_plan).values()) if after_plan else set()
        pushed += sum(new_sizes[x] for layer in after - before for x in layer)
        bumped += sizes[p]
    return pushed / bumped if bumped else 1.0


def measure(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    *,
    base_layers: Mapping[str, int],
    reserved_layers: int,
    max_layers: int,
    replan: Replanner,
    bumps: int = 30,
) -> Metrics:
    """All metrics of the plan ``replan`` makes for a fleet."""
    plan = replan(sizes, images, None)
    totals = [len(plan[n]) + base_layers[n] + reserved_layers for n in images]
    return Metrics(
        storage=storage_ratio(sizes, images, plan),
        pair=pair_ratio(sizes, images, plan),
        bump=bump_ratio(sizes, images, replan, bumps),
        small=small_layers(sizes, plan),
        max_layers=max(totals, default=0),
        mean_layers=sum(totals) / len(totals) if totals else 0.0,
        over_cap=sum(1 for t in totals if t > max_layers),
    )


#: The row of our planner in :func:`score`'s table.
OURS = "pyimage plan"


def score(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    *,
    base_layers: Mapping[str, int],
    reserved_layers: int,
    max_layers: int,
    plan: Layers,
    bumps: int = 30,
) -> dict[str, tuple[Metrics, bool]]:
    """Metrics of ``plan`` and of every baseline: name -> (metrics, respects cap)."""

    def ours(s: Mapping[str, int], ims: Mapping[str, Sequence[str]], prev: Layers | None) -> Layers:
        if prev is None and s is sizes and ims is images:
            return plan
        result = plan_fleet(
            [Package(p, b) for p, b in s.items()],
            [Image(n, tuple(pk), base_layers[n]) for n, pk in ims.items()],
            max_layers,
            reserved_layers=reserved_layers,
            previous=prev,
        )
        return {im.name: [list(lay.packages) for lay in im.layers] for im in result.images}

    rows: dict[str, tuple[Metrics, bool]] = {
        OURS: (
            measure(
                sizes,
                images,
                base_layers=base_layers,
                reserved_layers=reserved_layers,
                max_layers=max_layers,
                replan=ours,
                bumps=bumps,
            ),
            True,
        )
    }
    for name, (fn, respects_cap) in BASELINES.items():

        def replan(
            s: Mapping[str, int],
            ims: Mapping[str, Sequence[str]],
            prev: Layers | None,
            fn: Any = fn,
        ) -> Layers:
            return fn(s, ims, base_layers, reserved_layers, max_layers)

        m = measure(
            sizes,
            images,
            base_layers=base_layers,
            reserved_layers=reserved_layers,
            max_layers=max_layers,
            replan=replan,
            bumps=bumps,
        )
        rows[name] = (m, respects_cap)
    return rows
