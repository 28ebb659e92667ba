"""The largest-first guard: the simplest cap-respecting plan the planner must not lose to.

The largest-first plan (Nix style) gives each image's ``budget - 1`` largest
packages a layer each and puts the rest in one last layer. The planner's folds
of small layers may store at most as many bytes twice as that plan
(:func:`largest_first_duplicates`), and :func:`pyimage.planner.plan.plan_fleet`
scores its plan against it on storage, pulls between pairs of images and
re-pushes (:class:`Scores`), planning again with pulls weighed more when it
loses. The three scores are defined here; :mod:`pyimage.planner.metrics` uses
the same definitions for benchmarks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import TypeVar

from pyimage.planner.model import Image, Plan, PlanLayers

#: Weight of the bytes pulled again between pairs of images: the first plan
#: uses the first; if that plan stores or pulls more than the largest-first
#: (Nix-style) plan under the same cap, the next ones are tried too (see
#: :func:`plan_fleet`).
PULL_WEIGHTS = (1.0, 4.0, 8.0)
#: Up to this many images, a plan is checked against the largest-first plan
#: (the pair metric costs a pass over every pair of images).
CHECK_IMAGES_LIMIT = 64

_Name = TypeVar("_Name", bound=Hashable)
_Pkg = TypeVar("_Pkg", str, int)


def largest_first(
    sizes: Mapping[_Pkg, int] | Sequence[int],
    images: Mapping[_Name, Sequence[_Pkg]],
    budgets: Mapping[_Name, int],
) -> dict[_Name, list[list[_Pkg]]]:
    """Per image, its ``budget - 1`` largest packages alone, the rest in one layer.

    Ties go to the smaller package id. An image with no more packages than
    its budget gets one layer per package.
    """
    out: dict[_Name, list[list[_Pkg]]] = {}
    for name, pkgs in images.items():
        budget = budgets[name]
        ranked = sorted(pkgs, key=lambda p: (-sizes[p], p))  # type: ignore[index]
        if len(ranked) <= budget:
            out[name] = [[p] for p in ranked]
            continue
        cut = max(0, budget - 1)
        out[name] = [[p] for p in ranked[:cut]] + [sorted(ranked[cut:])]
    return out


def stored_twice(
    sizes: Mapping[_Pkg, int] | Sequence[int], plan: Mapping[_Name, Sequence[Sequence[_Pkg]]]
) -> int:
    """Bytes the distinct layers of ``plan`` hold beyond one copy of each package."""
    distinct = {tuple(lay) for layers in plan.values() for lay in layers}
    copies: dict[_Pkg, int] = {}
    for lay in distinct:
        for p in lay:
            copies[p] = copies.get(p, 0) + 1
    return sum(sizes[p] * (c - 1) for p, c in copies.items())  # type: ignore[index]


def largest_first_duplicates(
    sizes: Sequence[int], image_pkgs: Sequence[Sequence[int]], budgets: Sequence[int]
) -> int:
    """Bytes the largest-first plan stores twice under these budgets (by image index)."""
    plan = largest_first(sizes, dict(enumerate(image_pkgs)), dict(enumerate(budgets)))
    return stored_twice(sizes, plan)


def layer_ids(plan: PlanLayers) -> dict[str, set[frozenset[str]]]:
    return {name: {frozenset(layer) for layer in layers} for name, layers in plan.items()}


def distinct_layers(plan: PlanLayers) -> set[frozenset[str]]:
    """The fleet's distinct layers (by member set)."""
    distinct: set[frozenset[str]] = set()
    for layers in layer_ids(plan).values():
        distinct |= layers
    return distinct


def storage_ratio(
    sizes: Mapping[str, int], images: Mapping[str, Sequence[str]], plan: PlanLayers
) -> float:
    """Distinct layer bytes over distinct package bytes."""
    distinct = distinct_layers(plan)
    stored = sum(sizes[p] for layer in distinct for p in layer)
    used = {p for pkgs in images.values() for p in pkgs}
    need = sum(sizes[p] for p in used)
    return stored / need if need else 1.0


def pair_ratio(
    sizes: Mapping[str, int], images: Mapping[str, Sequence[str]], plan: PlanLayers
) -> float:
    """Mean, over ordered image pairs, of bytes pulled over bytes missing."""
    ids = layer_ids(plan)
    names = sorted(images)
    held = {n: set(images[n]) for n in names}
    layer_bytes = {lay: sum(sizes[p] for p in lay) for ls in ids.values() for lay in ls}
    ratios = []
    for a in names:
        for b in names:
            if a == b:
                continue
            missing = sum(sizes[p] for p in held[b] - held[a])
            if missing == 0:
                continue
            pulled = sum(layer_bytes[lay] for lay in ids[b] - ids[a])
            ratios.append(pulled / missing)
    return sum(ratios) / len(ratios) if ratios else 1.0


def rewrite_ratio(sizes: Mapping[str, int], plan: PlanLayers) -> float:
    """Bytes of the layers holding each package, summed over the packages,
    over the packages' bytes: what bumping every package once would re-push
    if nothing else changed (1.0 when every package has a layer of its own).
    A cheap stand-in for the bump metric, which re-plans for every bump."""
    distinct = distinct_layers(plan)
    rewritten = sum(sum(sizes[p] for p in layer) * len(layer) for layer in distinct)
    used = {p for layer in distinct for p in layer}
    total = sum(sizes[p] for p in used)
    return rewritten / total if total else 1.0


@dataclass(frozen=True)
class Scores:
    """What :func:`plan_fleet` compares a plan on against the largest-first plan."""

    storage: float
    pair: float
    rewrite: float

    @classmethod
    def of(
        cls, sizes: Mapping[str, int], img_list: Sequence[Image], layers: PlanLayers | Plan
    ) -> Scores:
        if isinstance(layers, Plan):
            layers = {im.name: [lay.packages for lay in im.layers] for im in layers.images}
        images = {im.name: im.packages for im in img_list}
        return cls(
            storage_ratio(sizes, images, layers),
            pair_ratio(sizes, images, layers),
            rewrite_ratio(sizes, layers),
        )

    def losses(self, other: Scores) -> int:
        """On how many of the three this plan is worse than ``other``."""
        worse = 0
        for mine, theirs in (
            (self.storage, other.storage),
            (self.pair, other.pair),
            (self.rewrite, other.rewrite),
        ):
            worse += mine > theirs * (1 + 1e-12)
        return worse
