#!/usr/bin/env python3
"""Startup of the e2e apps' images with and without bytecode in their layers.

Usage (root; runs the offline Bazel of tools/offline/bazel)::

    python3 e2e/harness/bench_startup.py [--apps web,api] [--repeat 5]

A benchmark, not a test: it prints numbers. In a scratch copy of the e2e
workspace it builds each app's image twice, with
``--@rules_pyimage//py:precompile=on`` (the e2e default: bytecode for 3.11)
and ``=off``, finishes each as ``oci_image`` would (finish_image.py), pulls it
once into a private podman store and runs it ``--repeat`` times after one
warm-up run, as production runs it (podman_run.py: read-only root, no tmpfs,
a user the image does not have). Each run, the app imports its modules and
every top-level module of its package folder and prints how long after its
process started that was (e2e/apps/report.py: the interpreter's start and
every import; measured inside the container); the whole ``podman run`` is
timed beside it. Medians are printed, with the ratio without/with bytecode,
and the bytes the bytecode adds to the image's package and app layers,
uncompressed (tar) and compressed (blobs). Progress to stderr; a JSON dump
last on stdout. About 10 minutes on a 2-CPU machine with warm caches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import base_image
from bench_remote_bytes import CACHE
from harnesslib import (
    HarnessError,
    copy_e2e_workspace,
    main_wrapper,
    progress,
    read_json,
    remove_tree,
)
from podman_run import private_podman, pull, run_pulled

REPO = Path(__file__).resolve().parents[2]
HARNESS = Path(__file__).resolve().parent
BAZEL = REPO / "tools" / "offline" / "bazel"
MODES = {"bytecode": "on", "none": "off"}
DONE = "imports done "


def build(ws: Path, apps: list[str], precompile: str, out: Path) -> dict[str, Path]:
    """Build and finish each app's image with ``precompile``; app -> finished layout."""
    flag = f"--@rules_pyimage//py:precompile={precompile}"
    targets = [f"//apps/{app}:image.layers" for app in apps]
    subprocess.run([str(BAZEL), "build", flag, *targets], cwd=ws, check=True, capture_output=True)
    layouts = {}
    for app in apps:
        parts = ws / "bazel-bin" / "apps" / app
        layouts[app] = out / f"{app}-{precompile}"
        subprocess.run(
            [
                sys.executable, str(HARNESS / "finish_image.py"),
                "--layout", str(parts / "image.layers.layout"),
                "--app-layer", str(parts / "image.layers.app.tar.gz"),
                "--entrypoint", str(parts / "image.layers.entrypoint.txt"),
                "--env", str(parts / "image.layers.env.txt"),
                "--out", str(layouts[app]), "--tag", app,
            ],
            check=True,
            capture_output=True,
        )  # fmt: skip
    return layouts


def layer_bytes(layout: Path) -> tuple[int, int]:
    """(uncompressed, compressed) bytes of the image's own layers (not the base's)."""
    index = read_json(layout / "index.json", "index")
    manifest_digest = index["manifests"][0]["digest"]  # type: ignore[index]
    blobs = layout / "blobs" / "sha256"
    manifest = read_json(blobs / manifest_digest.split(":")[1], "manifest")
    layers = manifest["layers"][1:]  # type: ignore[index]  # the e2e bases have one layer
    tar = 0
    for lay in layers:
        blob = blobs / lay["digest"].split(":")[1]
        inflated = subprocess.run(["gzip", "-dc", str(blob)], capture_output=True, check=True)
        tar += len(inflated.stdout)
    return tar, sum(int(lay["size"]) for lay in layers)


def runs(layout: Path, app: str, repeat: int) -> tuple[list[float], list[float]]:
    """(in-container import times, whole podman run times) of ``repeat`` runs after a warm-up."""
    inside, whole = [], []
    with private_podman() as podman:
        image = pull(podman, layout, app)
        if not isinstance(image, str):
            raise HarnessError(f"podman could not pull {layout}: {image.stderr.strip()}")
        for i in range(repeat + 1):
            start = time.perf_counter()
            result = run_pulled(podman, image)
            elapsed = time.perf_counter() - start
            if result.returncode != 0:
                raise HarnessError(f"{app} exited {result.returncode}: {result.stderr.strip()}")
            done = [ln for ln in result.stdout.splitlines() if ln.startswith(DONE)]
            if not done:
                raise HarnessError(f"{app} printed no {DONE!r} line")
            if i:  # the first run warms the page cache
                inside.append(float(done[0][len(DONE) :].split()[0]))
                whole.append(elapsed)
    return inside, whole


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_startup.py", description=__doc__.split("\n")[0])
    p.add_argument("--apps", default="web,api", help="apps of the e2e workspace")
    p.add_argument("--repeat", type=int, default=5, help="runs per image (median), after one")
    args = p.parse_args(argv)
    apps = args.apps.split(",")
    root = Path(tempfile.mkdtemp(prefix="pyimage-startup-", dir="/var/tmp"))
    results: dict[str, dict[str, object]] = {}
    try:
        for kind in ("python", "nopython"):
            base_image.make(kind, None, CACHE / "e2e-bases")
        ws = copy_e2e_workspace(root / "ws")
        for mode, precompile in MODES.items():
            progress(f"building {', '.join(apps)} with precompile={precompile}")
            for app, layout in build(ws, apps, precompile, root).items():
                progress(f"running {app} ({mode}) {args.repeat + 1} times")
                inside, whole = runs(layout, app, args.repeat)
                tar, blobs = layer_bytes(layout)
                results.setdefault(app, {})[mode] = {
                    "imports_s": inside,
                    "podman_run_s": whole,
                    "layer_tar_bytes": tar,
                    "layer_blob_bytes": blobs,
                }
        subprocess.run([str(BAZEL), "shutdown"], cwd=ws, check=False, capture_output=True)
    finally:
        remove_tree(root)
    print(report(results))
    print(json.dumps(results, indent=1))
    return 0


def report(results: dict[str, dict[str, object]]) -> str:
    """Medians, ratios and the bytes bytecode adds, one block per app."""
    lines = []
    for app, modes in results.items():
        with_, without = modes["bytecode"], modes["none"]
        med = {m: statistics.median(v["imports_s"]) for m, v in modes.items()}  # type: ignore[index]
        run = {m: statistics.median(v["podman_run_s"]) for m, v in modes.items()}  # type: ignore[index]
        lines.append(f"{app}:")
        lines.append(
            f"  imports (in the container): {med['bytecode']:.3f} s with bytecode,"
            f" {med['none']:.3f} s without: {med['none'] / med['bytecode']:.2f}x faster"
        )
        lines.append(
            f"  podman run (whole): {run['bytecode']:.3f} s with, {run['none']:.3f} s without:"
            f" {run['none'] / run['bytecode']:.2f}x"
        )
        for key, what in (("layer_tar_bytes", "uncompressed"), ("layer_blob_bytes", "compressed")):
            a, b = int(with_[key]), int(without[key])  # type: ignore[index]
            lines.append(
                f"  {what} package+app layers: {b / 2**20:.1f} MiB -> {a / 2**20:.1f} MiB"
                f" (+{(a - b) / 2**20:.1f} MiB, +{(a - b) / b:.0%})"
            )
    return "\n".join(lines)


if __name__ == "__main__":
    main_wrapper("bench_startup.py", main)()
