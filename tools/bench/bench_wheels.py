#!/usr/bin/env python3
"""Benchmark of the package action on real wheels (torch, nvidia-*) beside shell compressors.

For each wheel given: unpack it (cached under ``--workdir``), write the
manifest a package action would get (every file under
``opt/pyimage/site-packages``), then, in one run, the median of ``--repeat``:

* ``pyimage package-tar`` (a fresh process, as the Bazel action runs it), with
  its peak RSS; again with ``--compression zstd`` (level 3, the zstd on PATH)
  when there is a zstd;
* on the same tar (inflated from pyimage's blob, untimed): ``gzip -6``,
  ``pigz -6`` and ``zstd -3`` (all cores, ``-T0``), and unpacking on a node:
  ``gzip -dc`` of pyimage's blob and ``zstd -dc`` of zstd's;
* and the compressed sizes.

Not a test: about 3x the wheels' installed size of disk (say 4 GB for torch
alone). Usage::

    pip download --no-deps --dest W torch==2.14.1 nvidia-cudnn-cu13 ...
    PYTHONPATH=tools python3 tools/bench/bench_wheels.py --workdir /var/tmp/wb W/*.whl
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent
MB = 1 << 20
PEAK_PROBE = (
    "import resource, subprocess, sys\n"
    "subprocess.run(sys.argv[1:], check=True)\n"
    "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
)


def unpack(wheel: Path, workdir: Path) -> tuple[str, Path, Path]:
    """The wheel's files under ``workdir`` and its manifest (made once); name, files, manifest."""
    name = wheel.name.split("-")[0] + "==" + wheel.name.split("-")[1]
    site = workdir / "site" / wheel.stem
    manifest = workdir / f"{wheel.stem}.manifest.json"
    if not (site / ".complete").exists():
        shutil.rmtree(site, ignore_errors=True)
        with zipfile.ZipFile(wheel) as zf:
            zf.extractall(site)
        (site / ".complete").touch()
    entries = [
        {"path": f"opt/pyimage/site-packages/{p.relative_to(site)}", "src": str(p)}
        for p in sorted(site.rglob("*"))
        if p.is_file() and p.name != ".complete"
    ]
    manifest.write_text(json.dumps({"package": name, "entries": entries}))
    return name, site, manifest


def timed(cmd: str, repeat: int) -> float:
    """Median wall time of a shell pipeline (its output discarded)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(["bash", "-o", "pipefail", "-c", cmd], check=True, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def package_tar(manifest: Path, blob: Path, repeat: int, *flags: str) -> tuple[float, int]:
    """Median time of ``pyimage package-tar`` and the largest peak RSS (KiB) of its runs."""
    times, peaks = [], []
    for _ in range(repeat):
        cmd = [sys.executable, "-c", PEAK_PROBE, sys.executable, "-m", "pyimage", "package-tar"]
        cmd += ["--manifest", str(manifest), "--blob", str(blob), *flags]
        cmd += ["--descriptor", str(blob.with_suffix(".json"))]
        start = time.perf_counter()
        r = subprocess.run(cmd, cwd=TOOLS, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - start)
        peaks.append(int(r.stdout.split()[-1]))
    return statistics.median(times), max(peaks)


def bench_one(wheel: Path, workdir: Path, repeat: int) -> dict[str, object]:
    """Every measurement of one wheel."""
    name, site, manifest = unpack(wheel, workdir)
    blob = workdir / f"{wheel.stem}.tar.gz"
    tar = workdir / f"{wheel.stem}.tar"
    files = sum(1 for p in site.rglob("*") if p.is_file())
    subprocess.run(["bash", "-c", f"cat $(find {site} -type f) > /dev/null"], check=True)
    seconds: dict[str, float] = {}
    seconds["pyimage package-tar"], peak_kib = package_tar(manifest, blob, repeat)
    subprocess.run(["bash", "-c", f"gzip -dc {blob} > {tar}"], check=True)
    zst = workdir / f"{wheel.stem}.tar.zst"
    sizes = {"tar": tar.stat().st_size, "pyimage gzip": blob.stat().st_size}
    if shutil.which("zstd"):
        ours = workdir / f"{wheel.stem}.pyimage.tar.zst"
        label = "pyimage package-tar --compression zstd"
        seconds[label], zstd_peak = package_tar(manifest, ours, repeat, "--compression=zstd")
        peak_kib = max(peak_kib, zstd_peak)
        sizes["pyimage zstd"] = ours.stat().st_size
    for label, cmd in (("gzip -6", "gzip -6 -n -c"), ("pigz -6", "pigz -6 -n -c")):
        if shutil.which(cmd.split()[0]):
            seconds[label] = timed(f"{cmd} {tar}", repeat)
            sizes[label] = int(subprocess.check_output(["bash", "-c", f"{cmd} {tar} | wc -c"]))
    if shutil.which("zstd"):
        seconds["zstd -3 -T0"] = timed(f"zstd -q -3 -T0 -c {tar}", repeat)
        subprocess.run(["zstd", "-q", "-f", "-3", "-T0", str(tar), "-o", str(zst)], check=True)
        sizes["zstd -3"] = zst.stat().st_size
        seconds["node: zstd -dc"] = timed(f"zstd -q -dc {zst}", repeat)
    seconds["node: gzip -dc (pyimage's blob)"] = timed(f"gzip -dc {blob}", repeat)
    tar.unlink()
    zst.unlink(missing_ok=True)
    return {
        "package": name,
        "files": files,
        "seconds": seconds,
        "bytes": sizes,
        "peak_kib": peak_kib,
    }


def show(result: dict[str, object]) -> None:
    """Print one wheel's results with the ratios against ``gzip -6``."""
    seconds: dict[str, float] = result["seconds"]  # type: ignore[assignment]
    sizes: dict[str, int] = result["bytes"]  # type: ignore[assignment]
    print(f"\n{result['package']}: {result['files']} files, tar {sizes['tar'] / MB:.0f} MiB")
    base = seconds.get("gzip -6")
    for label, value in seconds.items():
        ratio = f"  {value / base:.3f}x gzip -6" if base else ""
        print(f"  {label:<34} {value:8.2f} s{ratio}")
    for label, value in sizes.items():
        print(f"  {label + ' bytes':<34} {value / MB:8.1f} MiB")
    print(f"  {'pyimage peak RSS':<34} {int(result['peak_kib']) / 1024:8.1f} MiB")  # type: ignore[call-overload]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("wheels", nargs="+", type=Path, help="the wheels (.whl) to measure")
    parser.add_argument("--workdir", type=Path, required=True, help="unpacked wheels and outputs")
    parser.add_argument("--repeat", type=int, default=3, help="runs per command (median)")
    parser.add_argument("--json", type=Path, help="also write the results to this JSON file")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    results = []
    for wheel in args.wheels:
        results.append(bench_one(wheel, args.workdir, args.repeat))
        show(results[-1])
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
