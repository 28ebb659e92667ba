"""Known layering strategies, to compare a plan against in benchmarks (pure).

Each baseline takes package sizes, image -> package ids, image -> base layer
count, the reserved layer count and the cap, and returns image -> package
layers (lists of ids), like a plan.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence

from pyimage.planner import guard

Baseline = Callable[
    [Mapping[str, int], Mapping[str, Sequence[str]], Mapping[str, int], int, int],
    dict[str, list[list[str]]],
]

#: The hand-written "heavy packages" list: each pattern gets its own layer.
HEAVY_PATTERNS: tuple[str, ...] = (
    r"^(torch|triton)==",
    r"^nvidia-",
    r"^xgboost==",
    r"^(jaxlib|jax)==",
    r"^scipy==",
    r"^numpy==",
)


def one_layer(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    base: Mapping[str, int],
    reserved: int,
    cap: int,
) -> dict[str, list[list[str]]]:
    """One site-packages layer per app (interpreter / site-packages / app)."""
    return {n: [sorted(pkgs)] if pkgs else [] for n, pkgs in images.items()}


def heavy_list(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    base: Mapping[str, int],
    reserved: int,
    cap: int,
) -> dict[str, list[list[str]]]:
    """One layer per heavy pattern that matches, then the rest in one layer."""
    rules = [re.compile(rx) for rx in HEAVY_PATTERNS]
    out: dict[str, list[list[str]]] = {}
    for n, pkgs in images.items():
        groups: list[list[str]] = [[] for _ in rules]
        rest: list[str] = []
        for p in sorted(pkgs):
            hit = next((k for k, rx in enumerate(rules) if rx.search(p)), None)
            (rest if hit is None else groups[hit]).append(p)
        out[n] = [g for g in groups if g] + ([rest] if rest else [])
    return out


def largest_first(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    base: Mapping[str, int],
    reserved: int,
    cap: int,
) -> dict[str, list[list[str]]]:
    """Nix style, per image: budget-1 largest alone, the rest in one layer (the guard's)."""
    budgets = {n: max(1, cap - base[n] - reserved) for n in images}
    return guard.largest_first(sizes, images, budgets)


def one_per_package(
    sizes: Mapping[str, int],
    images: Mapping[str, Sequence[str]],
    base: Mapping[str, int],
    reserved: int,
    cap: int,
) -> dict[str, list[list[str]]]:
    """One layer per package; ignores the cap."""
    return {n: [[p] for p in sorted(pkgs)] for n, pkgs in images.items()}


#: Display name -> (strategy, whether it respects the cap).
BASELINES: dict[str, tuple[Baseline, bool]] = {
    "one site-packages layer": (one_layer, True),
    "heavy-list regexes": (heavy_list, True),
    "largest-first (Nix style)": (largest_first, True),
    "one per package (no cap)": (one_per_package, False),
}
