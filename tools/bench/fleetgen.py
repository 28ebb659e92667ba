"""Generated fleets like a real monorepo, for the planner's benchmarks.

Packages form a dependency graph with popularity skew (a few packages, like
``six`` or ``numpy``, are everywhere), sizes are heavy-tailed (log-normal,
with a few GPU-sized giants), and each image installs the closure of a handful
of popular top-level requirements, 20 to 300 packages. Standard library only.
"""

from __future__ import annotations

import math
import random


def generate_fleet(
    n_images: int, n_packages: int, seed: int, base_layers: int = 5
) -> dict[str, object]:
    """A FLEET.json document with realistic sizes and sharing."""
    rnd = random.Random(seed)
    names = [f"pkg{k:05d}=={rnd.randint(0, 30)}.{rnd.randint(0, 9)}" for k in range(n_packages)]
    sizes = {}
    for name in names:
        size = int(rnd.lognormvariate(math.log(150_000), 1.8))
        if rnd.random() < 0.004:
            size = rnd.randint(200, 2500) * 1_000_000  # a GPU wheel
        sizes[name] = max(200, min(size, 3_000_000_000))
    # Popularity: Zipf-like weights; dependencies point to more popular ones.
    weights = [1.0 / (k + 1) ** 0.9 for k in range(n_packages)]
    deps: list[list[int]] = []
    for k in range(n_packages):
        n_deps = min(k, int(rnd.expovariate(1 / 2.5)))
        deps.append(sorted(set(rnd.choices(range(k), weights=weights[:k], k=n_deps))) if k else [])
    images = {}
    members: list[set[int]] = []
    for _ in range(n_images):
        target = rnd.randint(20, 300)
        chosen: set[int] = set()
        while len(chosen) < target:
            top = rnd.choices(range(n_packages), weights=weights, k=1)[0]
            stack = [top]
            while stack and len(chosen) < target:
                k = stack.pop()
                if k not in chosen:
                    chosen.add(k)
                    stack.extend(deps[k])
        members.append(chosen)
    # The long tail: every package is some image's (perhaps only) dependency.
    unused = sorted(set(range(n_packages)).difference(*members))
    for k in unused:
        room = [m for m in members if len(m) < 300] or members
        rnd.choice(room).add(k)
    for i, chosen in enumerate(members):
        images[f"image{i:03d}"] = {
            "packages": sorted(names[k] for k in chosen),
            "base_layers": base_layers,
        }
    used = {p for img in images.values() for p in img["packages"]}
    packages = {p: {"installed_bytes": sizes[p]} for p in sorted(used)}
    return {"packages": packages, "images": images}
