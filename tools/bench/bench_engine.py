#!/usr/bin/env python3
"""Benchmark of the layer engine against plain shell tools on the same bytes (not a test).

Generates a package set of realistic shape in a temporary directory: a few
packages with files of hundreds of MB (torch-like) and many packages of
thousands of small files, about 2 GB in all (``--total-mb`` to scale), with
content that compresses like wheels do (text mixed with random bytes). Then
measures, in one run:

* per-package gzip blob + descriptor (``package.write_package``, compressing
  on every core) against ``gzip -6`` and ``pigz -6`` (Debian's pigz, every
  core) on the same tars (each blob inflated once, untimed, to give the
  shell tools the bytes pyimage tarred), and ``cat``/``sha256sum`` of them;
  the median of ``--repeat`` runs each (default 5), and the blob bytes beside
  ``gzip -6``'s and ``pigz -6``'s;
* the merge of 50 packages into one layer (blob, digest and diff_id), which
  reads the blobs alone (it inflates them for the diff_id, as the Bazel
  actions do), against ``cat`` of the member blobs into one file +
  ``sha256sum`` of it + ``gzip -dc`` of the blobs ``| sha256sum``, and against
  the cheaper shell work with ``cat`` of ready tars in place of ``gzip -dc``;
* layout assembly from existing blobs against ``cp`` of the same blobs.

Usage: ``PYTHONPATH=tools python3 tools/bench/bench_engine.py [--total-mb 2048]
[--repeat 5] [--threads N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from pyimage.engine import layer, oci_layout, package

MB = 1 << 20


@dataclass
class Timing:
    """One measured step."""

    name: str
    seconds: float


def timed(fn: Callable[[], object], repeat: int = 1) -> float:
    """The median wall time of ``repeat`` calls of ``fn``."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def compressed_bytes(cmd: str, tars: str) -> int:
    """Total output bytes of ``cmd`` (reading stdin, writing stdout) over every tar."""
    out = subprocess.run(
        ["bash", "-o", "pipefail", "-c", f"for t in {tars}; do {cmd} < $t; done | wc -c"],
        check=True,
        capture_output=True,
        text=True,
    )
    return int(out.stdout)


def sh(cmd: str) -> None:
    subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, stdout=subprocess.DEVNULL)


class DataMaker:
    """Bytes that compress roughly like wheel contents: text runs mixed with random runs."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        words = [
            "def",
            "return",
            "self",
            "import",
            "numpy",
            "tensor",
            "class",
            "None",
            "raise",
            "value",
            "for",
            "in",
            "if",
            "else",
            "lambda",
            "yield",
        ]
        words += [
            "".join(self.rng.choices("abcdefghijklmnopqrstuvwxyz_", k=8)) for _ in range(3000)
        ]
        text = []
        size = 0
        while size < 8 * MB:
            line = "    " * self.rng.randint(0, 3) + " ".join(self.rng.choices(words, k=10)) + "\n"
            text.append(line)
            size += len(line)
        self.text = "".join(text).encode()

    def make(self, size: int) -> bytes:
        out = bytearray()
        while len(out) < size:
            n = min(size - len(out), self.rng.randint(4096, 256 * 1024))
            if self.rng.random() < 0.55:
                start = self.rng.randrange(0, len(self.text) - n)
                out += self.text[start : start + n]
            else:
                out += os.urandom(n)
        return bytes(out)

    def write_big(self, path: Path, size: int) -> None:
        with path.open("wb") as f:
            left = size
            while left:
                n = min(left, 16 * MB)
                f.write(self.make(n))
                left -= n


def generate(root: Path, total_mb: int, packages: int) -> list[Path]:
    """Write sources and manifests; return the manifest paths."""
    maker = DataMaker(seed=7)
    total = total_mb * MB
    big_total = int(total * 0.6)
    n_big = 3
    manifests = []
    for i in range(packages):
        name = f"pkg{i:02d}==1.0"
        src = root / "src" / f"pkg{i:02d}"
        src.mkdir(parents=True)
        entries = []
        if i < n_big:
            size = big_total // n_big
            maker.write_big(src / "lib.so", size)
            entries.append({"path": f"site-packages/pkg{i:02d}/_C.so", "src": str(src / "lib.so")})
            n_small = 300
        else:
            n_small = 120
        budget = (total - big_total) // (packages - n_big) if i >= n_big else 4 * MB
        small_bytes = 0
        for j in range(n_small):
            size = maker.rng.randint(200, 20_000)
            data = maker.make(size)
            f = src / f"m{j}.py"
            f.write_bytes(data)
            small_bytes += size
            entries.append({"path": f"site-packages/pkg{i:02d}/sub{j % 7}/m{j}.py", "src": str(f)})
        if i >= n_big and budget > small_bytes:
            maker.write_big(src / "data.bin", budget - small_bytes)
            entries.append(
                {"path": f"site-packages/pkg{i:02d}/data.bin", "src": str(src / "data.bin")}
            )
        manifest = root / f"pkg{i:02d}.manifest.json"
        manifest.write_text(json.dumps({"package": name, "entries": entries}))
        manifests.append(manifest)
    return manifests


def shell_compressors(tars: str, repeat: int, results: dict[str, float]) -> dict[str, int]:
    """Time ``gzip -6`` and ``pigz -6`` over the tars into ``results``; return their sizes."""
    results["gzip6_tars"] = timed(
        lambda: sh(f"for t in {tars}; do gzip -6 -n -c $t > /dev/null; done"), repeat
    )
    sizes = {"gzip -6": compressed_bytes("gzip -6 -n -c", tars)}
    if shutil.which("pigz"):
        results["pigz6_tars"] = timed(
            lambda: sh(f"for t in {tars}; do pigz -6 -n -c $t > /dev/null; done"), repeat
        )
        sizes["pigz -6"] = compressed_bytes("pigz -6 -n -c", tars)
    else:
        print("pigz is not installed (apt-get install pigz): no pigz -6 column")
    return sizes


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--total-mb", type=int, default=2048, help="size of the package set")
    parser.add_argument("--packages", type=int, default=50, help="number of packages (merged)")
    parser.add_argument("--workdir", help="where to generate (default: a temp dir, removed)")
    parser.add_argument("--json", help="also write the results to this JSON file")
    parser.add_argument("--repeat", type=int, default=5, help="runs per compressor (median)")
    parser.add_argument("--threads", type=int, help="pyimage's compression threads (default: all)")
    args = parser.parse_args()
    root = Path(args.workdir or tempfile.mkdtemp(prefix="pyimage-bench-"))
    root.mkdir(parents=True, exist_ok=True)
    try:
        return run(root, args)
    finally:
        if not args.workdir:
            shutil.rmtree(root, ignore_errors=True)


def run(root: Path, args: argparse.Namespace) -> int:
    t0 = time.perf_counter()
    manifests = generate(root, args.total_mb, args.packages)
    print(f"generated {args.packages} packages in {time.perf_counter() - t0:.1f}s under {root}")
    out = root / "out"
    out.mkdir()
    members: list[layer.Member] = []

    def build_all() -> None:
        members.clear()
        for m in manifests:
            stem = out / m.name.replace(".manifest.json", "")
            blob, desc = Path(f"{stem}.tar.gz"), Path(f"{stem}.json")
            d = package.write_package(package.load_manifest(m), blob, desc, threads=args.threads)
            members.append(layer.Member(d, blob, desc))

    results: dict[str, float] = {}
    sh(f"cat {root / 'src'}/*/* > /dev/null")  # warm the page cache for the sources
    results["package_tar_gzip"] = timed(build_all, args.repeat)
    blobs = " ".join(str(m.blob) for m in members)
    for m in members:  # the tars, for the shell tools (pyimage keeps none)
        sh(f"gzip -dc {m.blob} > {str(m.blob)[: -len('.gz')]}")
    tars = " ".join(str(m.blob)[: -len(".gz")] for m in members)
    tar_bytes = sum(m.descriptor.tar_size for m in members)
    blob_bytes = sum(m.descriptor.size for m in members)
    print(f"tars: {tar_bytes / MB:.0f} MiB, blobs: {blob_bytes / MB:.0f} MiB")
    sh(f"cat {tars} > /dev/null")  # warm the page cache for every contender alike
    results["cat_tars_devnull"] = timed(lambda: sh(f"cat {tars} > /dev/null"))
    results["sha256sum_tars"] = timed(lambda: sh(f"sha256sum {tars}"))
    sizes = {"pyimage": blob_bytes, **shell_compressors(tars, args.repeat, results)}
    (root / "cp").mkdir()
    results["cp_tars"] = timed(lambda: sh(f"cp {tars} {root / 'cp'}"))
    shutil.rmtree(root / "cp")

    merged = root / "merged.tar.gz"
    results["merge_50"] = timed(lambda: layer.merge(members, merged))
    merged.unlink()
    shell_merge = (
        f"cat {blobs} > {root / 'shell.tar.gz'} && sha256sum {root / 'shell.tar.gz'}"
        f" && gzip -dc {blobs} | sha256sum"
    )
    results["shell_merge_50_gzip_d"] = timed(lambda: sh(shell_merge))
    (root / "shell.tar.gz").unlink()
    # The cheaper shell work, from ready tars: what a merge that kept tars could do.
    shell_from_tars = shell_merge.replace(f"gzip -dc {blobs}", f"cat {tars}")
    results["shell_merge_50_from_tars"] = timed(lambda: sh(shell_from_tars))
    (root / "shell.tar.gz").unlink()
    # coreutils' sha256sum does not use the CPU's SHA extensions; OpenSSL (which
    # Python's hashlib uses) does. The OpenSSL variant is the stricter baseline.
    if shutil.which("openssl"):
        results["shell_merge_50_openssl"] = timed(
            lambda: sh(shell_merge.replace("sha256sum", "openssl dgst -sha256"))
        )
        (root / "shell.tar.gz").unlink()

    layers = [oci_layout.LayerInput((m,)) for m in members]
    results["layout_existing_blobs"] = timed(
        lambda: oci_layout.write_layout(root / "layout", layers)
    )
    (root / "cpb").mkdir()
    results["cp_blobs"] = timed(lambda: sh(f"cp {blobs} {root / 'cpb'}"))

    report(results, len(layers), sizes, tar_bytes, args.json)
    return 0


def report(
    results: dict[str, float],
    layer_count: int,
    sizes: dict[str, int],
    tar_bytes: int,
    json_out: str | None,
) -> None:
    """Prints the times, the ratios and the sizes (and writes them as JSON if asked)."""
    blob_bytes = sizes["pyimage"]
    width = max(len(k) for k in results)
    print()
    for key, value in results.items():
        print(f"{key:<{width}}  {value * 1000:10.1f} ms")
    ratios = {
        "package_tar_gzip / gzip -6": results["package_tar_gzip"] / results["gzip6_tars"],
        "package_tar_gzip / pigz -6": results["package_tar_gzip"]
        / results.get("pigz6_tars", float("nan")),
        "pigz -6 / gzip -6": results.get("pigz6_tars", float("nan")) / results["gzip6_tars"],
        "merge_50 / shell (cat+sha256sum, gzip -dc|sha256sum)": results["merge_50"]
        / results["shell_merge_50_gzip_d"],
        "merge_50 / shell with openssl sha256": results["merge_50"]
        / results.get("shell_merge_50_openssl", float("nan")),
        "merge_50 / shell from ready tars (cat|sha256sum)": results["merge_50"]
        / results["shell_merge_50_from_tars"],
        "layout_existing_blobs / cp blobs": results["layout_existing_blobs"] / results["cp_blobs"],
        "package_tar_gzip / cat": results["package_tar_gzip"] / results["cat_tars_devnull"],
    }
    print()
    width = max(len(k) for k in ratios)
    for key, value in ratios.items():
        print(f"{key:<{width}}  {value:6.3f}x")
    print()
    for key, value in sizes.items():
        print(
            f"{key + ' bytes':<{width}}  {value:12d}  ({value / sizes['gzip -6']:.4f}x gzip -6's)"
        )
    print(
        f"\nlayout assembly: {layer_count} layers, {blob_bytes / MB:.0f} MiB of blobs in"
        f" {results['layout_existing_blobs'] * 1000:.1f} ms"
        f" ({blob_bytes / MB / results['layout_existing_blobs']:.0f} MiB/s if it read them)"
    )
    if json_out:
        Path(json_out).write_text(
            json.dumps(
                {"seconds": results, "ratios": ratios, "sizes": sizes, "tar_bytes": tar_bytes},
                indent=1,
            )
        )


if __name__ == "__main__":
    sys.exit(main())
