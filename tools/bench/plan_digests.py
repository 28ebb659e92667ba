#!/usr/bin/env python3
"""Digest every plan of a set of fleets, to prove a planner change keeps plans.

Usage (from the repository root)::

    python3 tools/bench/plan_digests.py [--tools DIR] [--fleet FLEET.json ...]

Plans the development fleet (``--fleet``, default ../shared/bench/fleet-dev.json
when present) and generated fleets of 12 to 300 images (tools/bench/fleetgen.py;
the largest take the planner's fast path) at caps 100, 60, 32 and 16, each once
from scratch and once after a bump of a tenth of its packages with the first
plan as ``--previous``, through the command line external benchmarks call
(``python3 -m pyimage plan``) of the pyimage found in ``--tools`` (default: this
checkout's tools/). Prints one sha256 per plan and one of them all. Run it on
the old and the new code and compare: a refactoring of the planner must print
the same lines. A check by hand, not a test: it takes minutes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from fleetgen import generate_fleet

HERE = Path(__file__).resolve().parent
CAPS = (100, 60, 32, 16)
#: (images, packages, seed) of the generated fleets.
GENERATED = ((12, 300, 3), (40, 1500, 7), (120, 3000, 11), (300, 5000, 1))


def bumped(fleet: dict, every: int = 10) -> dict:
    """The fleet with every ``every``-th package at a new version, same size."""
    renames = {}
    for k, pkg in enumerate(sorted(fleet["packages"])):
        if k % every == 0:
            renames[pkg] = pkg + ".post1"
    packages = {renames.get(p, p): v for p, v in fleet["packages"].items()}
    images = {
        name: {**img, "packages": sorted(renames.get(p, p) for p in img["packages"])}
        for name, img in fleet["images"].items()
    }
    return {"packages": packages, "images": images}


def plan(tools: Path, work: Path, fleet: dict, cap: int, previous: Path | None) -> Path:
    src = work / "fleet.json"
    src.write_text(json.dumps(fleet, sort_keys=True))
    out = work / f"plan-{cap}-{'bump' if previous else 'fresh'}.json"
    cmd = [sys.executable, "-m", "pyimage", "plan", "--fleet", str(src)]
    cmd += ["--max-layers", str(cap), "--out", str(out)]
    if previous:
        cmd += ["--previous", str(previous)]
    env = {**os.environ, "PYTHONPATH": str(tools)}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode:
        sys.exit(f"plan_digests: {' '.join(cmd)} failed: {done.stderr.strip()}")
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tools", type=Path, default=HERE.parent)
    parser.add_argument("--fleet", type=Path, action="append")
    args = parser.parse_args()
    dev = HERE.parents[2] / "shared" / "bench" / "fleet-dev.json"
    fleets = {str(f): json.loads(f.read_text()) for f in args.fleet or [dev] if f.exists()}
    for n_images, n_packages, seed in GENERATED:
        fleets[f"generated {n_images}x{n_packages} seed {seed}"] = generate_fleet(
            n_images, n_packages, seed
        )
    total = hashlib.sha256()
    for label, fleet in fleets.items():
        for cap in CAPS:
            with tempfile.TemporaryDirectory() as tmp:
                work = Path(tmp)
                first = plan(args.tools, work, fleet, cap, None)
                second = plan(args.tools, work, bumped(fleet), cap, first)
                for kind, path in (("fresh", first), ("bump", second)):
                    digest = hashlib.sha256(path.read_bytes()).hexdigest()
                    total.update(digest.encode())
                    print(f"{label}  cap {cap}  {kind}  {digest}", flush=True)
    print(f"all  {total.hexdigest()}")


if __name__ == "__main__":
    main()
