#!/usr/bin/env python3
"""Benchmark the layer planner on generated fleets and on a fleet file.

Usage (from the repository root)::

    PYTHONPATH=tools python3 tools/bench/bench_plan.py [--fleet FLEET.json]
        [--images 200] [--packages 5000] [--max-layers 60] [--seed 1]
        [--write-fleet OUT.json]

Generates a fleet like a real monorepo: packages form a dependency graph with
popularity skew (a few packages, like ``six`` or ``numpy``, are everywhere),
sizes are heavy-tailed (log-normal, with a few GPU-sized giants), and each
image installs the closure of a handful of popular top-level requirements,
20 to 300 packages. Prints the end-to-end time of ``pyimage plan`` (the
subprocess, JSON in and out) and of the core alone, beside the Nix-style
baseline's time, for the generated fleet and for ``--fleet`` if given.
This is a benchmark script, not a test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(TOOLS))

from fleetgen import generate_fleet  # noqa: E402

from pyimage.planner import DEFAULT_MAX_LAYERS, Image, Package, plan_fleet  # noqa: E402
from pyimage.planner.baselines import largest_first  # noqa: E402


def time_fleet(label: str, fleet: dict, max_layers: int, base_layers: int) -> None:
    """Print end-to-end and core timings of ours beside the Nix-style baseline."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fleet.json"
        out = Path(tmp) / "plan.json"
        for img in fleet["images"].values():
            img.setdefault("base_layers", base_layers)
        path.write_text(json.dumps(fleet))
        t0 = time.perf_counter()
        r = subprocess.run(
            [
                sys.executable,
                "-m",
                "pyimage",
                "plan",
                "--fleet",
                str(path),
                "--max-layers",
                str(max_layers),
                "--out",
                str(out),
            ],
            cwd=TOOLS,
            capture_output=True,
            text=True,
            check=False,
        )
        end_to_end = time.perf_counter() - t0
        if r.returncode:
            sys.exit(r.stderr.strip())
    pk = [Package(p, v["installed_bytes"]) for p, v in fleet["packages"].items()]
    ims = [
        Image(n, tuple(v["packages"]), v.get("base_layers", base_layers))
        for n, v in fleet["images"].items()
    ]
    t0 = time.perf_counter()
    plan_fleet(pk, ims, max_layers)
    core = time.perf_counter() - t0
    sizes = {p.id: p.bytes for p in pk}
    t0 = time.perf_counter()
    largest_first(
        sizes,
        {i.name: i.packages for i in ims},
        {i.name: i.base_layers for i in ims},
        2,
        max_layers,
    )
    nix = time.perf_counter() - t0
    n_pk = len(fleet["packages"])
    n_inc = sum(len(i.packages) for i in ims)
    print(
        f"{label}: {len(ims)} images, {n_pk} packages, {n_inc} image-package pairs, "
        f"cap {max_layers}: "
        f"pyimage plan end-to-end {end_to_end:.3f} s, core {core:.3f} s; "
        f"Nix-style baseline {nix:.3f} s"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--fleet", help="also time this FLEET.json")
    ap.add_argument("--images", type=int, default=200)
    ap.add_argument("--packages", type=int, default=5000)
    ap.add_argument("--max-layers", type=int, default=DEFAULT_MAX_LAYERS)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--base-layers", type=int, default=5, help="when the fleet has none")
    ap.add_argument("--write-fleet", help="write the generated fleet here and stop")
    a = ap.parse_args()
    fleet = generate_fleet(a.images, a.packages, a.seed)
    if a.write_fleet:
        Path(a.write_fleet).write_text(json.dumps(fleet, indent=1))
        return
    time_fleet("generated", fleet, a.max_layers, a.base_layers)
    if a.fleet:
        dev = json.loads(Path(a.fleet).read_text())
        time_fleet(Path(a.fleet).name, dev, a.max_layers, a.base_layers)


if __name__ == "__main__":
    main()
