#!/usr/bin/env python3
"""Torch-scale benchmark: three apps sharing CUDA torch, ours beside the baseline.

Usage (root; the offline Bazel of tools/offline/bazel; PyPI reachable)::

    python3 e2e/harness/bench_torch.py [--sides baseline,ours] [--skip-remote]

A benchmark, not a test (not run by CI): it prints numbers. The workspace is
made in a scratch folder from the e2e workspace's module setup (rules_python
0.22.1's ``pip.parse``, the debootstrap base with python3) with its own
requirements lock: torch 2.14.1 and every package pip resolves with it for
CPython 3.11 on linux x86_64 (the nvidia-* CUDA 13 wheels, triton,
cuda-bindings; ``TORCH``), and three apps, ``torch_a``/``torch_b``/
``torch_c``, each of torch's set plus one small package of its own (six,
idna, pyyaml). Bytecode is off on both sides (``precompile=off``: the
baseline has none), so both write the same files.

1. **Cold build**, each side in its own output base (``bench_build.Bazel``):
   the repositories are fetched first (pip downloads and installs 3.0 GB of
   wheels; timed apart), then ``bazel clean`` and a build of the three
   images: ours ``//apps/<app>:image.layers`` (fleet ``//:fleet``, after
   ``bazel run //:fleet.update``), the baseline ``//apps/<app>:baseline``
   (e2e/baseline/py_layer.bzl: interpreter, site-packages and app tars, one
   action each). While ours builds, a sampler reads ``VmHWM`` (peak RSS) of
   every pyimage process of its output base every 0.2 s (a persistent
   worker runs many actions: its peak bounds each of them). From ours' execution log: each
   package action's execution time, its tar's and its blob's bytes.
2. **Bytes after a bump** (unless ``--skip-remote``): bench_remote_bytes.py's
   flow on this workspace with a cache-only BuildGrid (a 14 GB in-memory
   CAS), six 1.17.0 -> 1.16.0 (torch_a's small package): the bytes Bazel
   fetches for torch_a's image, ours beside torch_a built as one
   site-packages layer by our rules (``:naive``).

torch's package action beside ``gzip -6``, ``pigz -6`` and ``zstd -3`` of
the same bytes is tools/bench/bench_wheels.py's (docs/benchmarks.md).
Disk: the run prints the most the file system of ``$PYIMAGE_CACHE`` held
beyond its start (the scratch workspace is in the temporary folder), per
part (about 17 GB for the baseline's cold build). Time: about 25 minutes on
2 cores. Prints a report, then JSON; exits 1 if the RSS gate (1 GiB) or
bench_remote_bytes.py's check failed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
sys.path.insert(0, str(HARNESS))
import base_image  # noqa: E402
import bench_remote_bytes  # noqa: E402
from bench_build import BASELINE_LOAD, Bazel, Run, baseline_target, table, with_load  # noqa: E402
from bench_remote_bytes import CACHE, Corpus, base_layers  # noqa: E402
from harnesslib import (  # noqa: E402
    REPO,
    HarnessError,
    copy_e2e_workspace,
    executed_spawns,
    fleet_app_build,
    main_wrapper,
    progress,
)

#: torch 2.14.1 and what pip resolves with it for CPython 3.11, linux x86_64.
TORCH = (
    "torch==2.14.1",
    "triton==3.8.0",
    "cuda-bindings==13.5.0",
    "cuda-pathfinder==1.9.1",
    "cuda-toolkit==13.0.3.0",
    "nvidia-cublas==13.1.1.3",
    "nvidia-cuda-cupti==13.0.85",
    "nvidia-cuda-nvrtc==13.0.88",
    "nvidia-cuda-runtime==13.0.96",
    "nvidia-cudnn-cu13==9.24.0.43",
    "nvidia-cufft==12.0.0.61",
    "nvidia-cufile==1.15.1.6",
    "nvidia-curand==10.4.0.35",
    "nvidia-cusolver==12.0.4.66",
    "nvidia-cusparse==12.6.3.3",
    "nvidia-cusparselt-cu13==0.8.1",
    "nvidia-nccl-cu13==2.30.7",
    "nvidia-nvjitlink==13.5.37",
    "nvidia-nvshmem-cu13==3.4.5",
    "nvidia-nvtx==13.0.85",
    "filelock==4.3.2",
    "fsspec==2026.9.0",
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "mpmath==1.3.0",
    "networkx==3.6.1",
    "setuptools==84.2.1",
    "sympy==1.14.0",
    "typing-extensions==4.16.0",
)
#: app -> (its small package's pin, the module it imports).
APPS = {
    "torch_a": ("six==1.17.0", "six"),
    "torch_b": ("idna==3.10", "idna"),
    "torch_c": ("pyyaml==6.0.2", "yaml"),
}
LOAD_ONE = "torch_a"
BUMP = "six==1.17.0:six==1.16.0"
RSS_GATE = 1 << 30


def hub_name(pin: str) -> str:
    """``nvidia-cudnn-cu13==9.24.0.43`` -> ``nvidia_cudnn_cu13`` (rules_python's hub name)."""
    return re.sub(r"[-_.]+", "_", pin.split("==", maxsplit=1)[0]).lower()


def app_build(app: str, small: str) -> str:
    """An app's BUILD file: torch's set and ``small``, its image in fleet ``//:fleet``."""
    return fleet_app_build(app, [f"@pypi//{hub_name(p)}" for p in (*TORCH, small)], "//:fleet")


def torch_module(e2e_module: str) -> str:
    """e2e/MODULE.bazel without what the apps it drops need: the extension of rules_python's
    target shapes and the fleet of ``//apps/variants``; HarnessError if either is missing."""
    shapes = re.compile(r"\nshapes = use_extension\(.*?\n(?=\n)", re.DOTALL)
    variants = re.compile(
        r'\npyimage\.fleet\(\n    fleet = "//apps/variants:fleet".*?\n\)\n', re.DOTALL
    )
    for pattern, what in ((shapes, "the shapes extension"), (variants, "the variants fleet")):
        e2e_module, found = pattern.subn("\n", e2e_module)
        if found != 1:
            raise HarnessError(f"e2e/MODULE.bazel: {what} is not where bench_torch.py looks")
    return e2e_module


def torch_workspace(root: Path) -> Path:
    """The e2e workspace's module setup with the torch lock, the three apps, a baseline
    (``:baseline``) per app and torch_a's ``:naive`` image."""
    base_image.make("python", None, CACHE / "e2e-bases")
    ws = copy_e2e_workspace(root / "torch")
    shutil.rmtree(ws / "apps")
    (ws / "fleet.lock.json").unlink()  # `bazel run //:fleet.update` writes it
    (ws / "MODULE.bazel").write_text(torch_module((ws / "MODULE.bazel").read_text()))
    pins = [*TORCH, *(small for small, _ in APPS.values())]
    (ws / "requirements_lock.txt").write_text(
        "# bench_torch.py: torch 2.14.1 (CUDA 13) and three small packages.\n"
        + "".join(f"{p}\n" for p in sorted(pins))
    )
    (ws / "BUILD.bazel").write_text(
        'load("@rules_pyimage//oci:defs.bzl", "py_image_fleet")\n\n'
        "py_image_fleet(\n"
        '    name = "fleet",\n'
        "    images = [\n"
        + "".join(f'        "//apps/{app}:image",\n' for app in APPS)
        + "    ],\n)\n"
    )
    cap = base_layers((CACHE / "e2e-bases" / "python").resolve()) + 2
    for app, (small, module_name) in APPS.items():
        folder = ws / "apps" / app
        folder.mkdir(parents=True)
        (folder / "main.py").write_text(
            f"import {module_name}\nimport torch\n\n"
            f"print(torch.__version__, {module_name}.__name__)\n"
        )
        build = with_load(app_build(app, small), BASELINE_LOAD) + baseline_target(app)
        if app == LOAD_ONE:
            build += (
                "\n# bench_remote_bytes.py's baseline: one site-packages layer, no fleet.\n"
                f'py_image(\n    name = "naive",\n    base = "@base_python//:layout",\n'
                f'    binary = ":{app}",\n    max_layers = {cap},\n)\n'
            )
        (folder / "BUILD.bazel").write_text(build)
    (ws / ".bazelrc").write_text(
        (ws / ".bazelrc").read_text()
        + "\n# bench_torch.py: no bytecode (the baseline has none).\n"
        + "build --@rules_pyimage//py:precompile=off\n"
    )
    return ws


# -- what a build used -----------------------------------------------------------
class Sampler(threading.Thread):
    """The most disk the file system of ``disk_of`` held beyond its start, and the peak RSS
    (``VmHWM``) of every pyimage process of the output base ``output_base`` (its workers and
    ``bazel run`` scripts: the tool's path, under the output base, is in their argv; the
    processes they start, none for gzip, are not counted), read every 0.2 s."""

    def __init__(self, disk_of: Path, output_base: Path | None = None) -> None:
        super().__init__(daemon=True)
        self.disk_of = disk_of
        self.disk_start = shutil.disk_usage(disk_of).used
        self.disk_peak = self.disk_start
        self.tool = f"{output_base}/".encode() if output_base else None
        self.peaks: dict[int, tuple[int, str]] = {}  # pid -> (VmHWM bytes, argv summary)
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.wait(0.2):
            self.disk_peak = max(self.disk_peak, shutil.disk_usage(self.disk_of).used)
            if self.tool:
                for proc in Path("/proc").iterdir():
                    if proc.name.isdigit():
                        self.sample(proc)

    def sample(self, proc: Path) -> None:
        """Reads one process's peak RSS if it is a pyimage process of the output base."""
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            if not self.tool or not any(a.startswith(self.tool) and b"/tools/pyimage/" in a
                                        for a in argv):  # fmt: skip
                return
            status = (proc / "status").read_text()
        except OSError:
            return  # gone
        m = re.search(r"^VmHWM:\s+(\d+) kB", status, re.MULTILINE)
        if m:
            pid, peak = int(proc.name), int(m.group(1)) * 1024
            shown = " ".join(a.decode(errors="replace").rsplit("/", 1)[-1] for a in argv)
            self.peaks[pid] = (max(peak, self.peaks.get(pid, (0, ""))[0]), shown.strip())

    def __enter__(self) -> Sampler:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.join()


def seconds(spawn: dict[str, object]) -> float:
    """A spawn's execution wall time in the execution log (``"12.345s"``), 0 when absent."""
    metrics = spawn.get("metrics")
    text = metrics.get("executionWallTime") if isinstance(metrics, dict) else None
    return float(str(text).rstrip("s")) if text else 0.0


def package_actions(ws: Path, log: Path) -> list[dict[str, object]]:
    """Each package action of an execution log: its package, time and blob, largest first."""
    out = []
    for spawn in executed_spawns(log):
        if spawn.get("mnemonic") != "PyImagePackageLayer":
            continue
        outputs = [str(o["path"]) for o in spawn.get("actualOutputs", [])]  # type: ignore[union-attr]
        described = [p for p in outputs if p.endswith("layer.json")]
        if not described:
            continue
        desc = json.loads((ws / described[0]).read_text())
        out.append({
            "target": spawn.get("targetLabel"),
            "seconds": seconds(spawn),
            "size": desc["size"],
            "tar_size": desc["tar_size"],
        })  # fmt: skip
    return sorted(out, key=lambda a: -int(a["size"]))  # type: ignore[call-overload]


def cold_build(ws: Path, side: str, logs: Path) -> dict[str, object]:
    """Fetch, clean and build the three images of ``side`` in an output base of its own."""
    ours = side == "ours"
    every = [f"//apps/{app}:{'image.layers' if ours else 'baseline'}" for app in APPS]
    bz = Bazel(ws, side, logs, kind="bench-torch")
    got: dict[str, object] = {}
    try:
        with Sampler(CACHE, bz.output_base) as sampler:
            got["fetch"] = bz.run("build", "--nobuild", *every)
            if ours:
                got["update"] = bz.run("run", "//:fleet.update")
            bz.clean()
            got["a"] = bz.run("build", *every)
            log = logs / f"{side}-{bz.count}.json"
            if ours:
                got["packages"] = package_actions(ws, log)
        got["rss"] = sorted(sampler.peaks.values(), reverse=True)
        got["disk_peak_bytes"] = sampler.disk_peak - sampler.disk_start
    finally:
        bz.expunge()
    return got


# -- the report ------------------------------------------------------------------
def mib(n: object) -> str:
    """Bytes as MiB to one place."""
    return f"{int(n) / 2**20:,.1f} MiB"  # type: ignore[call-overload]


def report(results: dict[str, dict[str, object]], remote: dict[str, object]) -> int:
    """Prints both sides, the bytes part and the JSON; 0, or 1 if a check failed."""
    ours, base = results.get("ours", {}), results.get("baseline", {})
    print("\nCold build of three torch apps: ours (fleet //:fleet) beside the baseline")
    print(table([
        ("cold build, all 3 images", ours.get("a"), base.get("a")),  # type: ignore[arg-type]
        ("fetching repositories", ours.get("fetch"), base.get("fetch")),  # type: ignore[arg-type]
    ]))  # fmt: skip
    for side, got in results.items():
        print(f"disk held at most, {side}: {int(got['disk_peak_bytes']) / 1e9:.1f} GB")  # type: ignore[call-overload]
    ok = True
    if ours:
        ok = ours_report(ours)
    if remote:
        print(remote["report"])
        print(f"disk held at most by this part: {int(remote['disk_peak_bytes']) / 1e9:.1f} GB")  # type: ignore[call-overload]
        ok = ok and remote["exit"] == 0
    dump = {side: {k: (v.__dict__ if isinstance(v, Run) else v) for k, v in got.items()}
            for side, got in results.items()}  # fmt: skip
    dump["remote"] = remote
    print(json.dumps(dump, indent=1, default=str))
    return 0 if ok else 1


def ours_report(ours: dict[str, object]) -> bool:
    """Ours' package actions and peak RSS; whether the RSS gate held."""
    update: Run = ours["update"]  # type: ignore[assignment]
    print(f"bazel run //:fleet.update (ours, before the clean): {update.elapsed_s:.1f}s")
    packages: list[dict[str, object]] = ours["packages"]  # type: ignore[assignment]
    tar = sum(int(p["tar_size"]) for p in packages)  # type: ignore[call-overload]
    blob = sum(int(p["size"]) for p in packages)  # type: ignore[call-overload]
    print(f"\n{len(packages)} package actions: {mib(tar)} of tars, {mib(blob)} of gzip blobs")
    for p in packages[:8]:
        print(f"  {p['target']}: {p['seconds']:.1f}s, {mib(p['tar_size'])} -> {mib(p['size'])}")
    rss: list[tuple[int, str]] = ours["rss"]  # type: ignore[assignment]
    top = rss[0][0] if rss else 0
    print(f"\npeak RSS of the {len(rss)} pyimage processes sampled (a worker runs many actions):")
    for peak, argv in rss[:5]:
        print(f"  {mib(peak)}  {argv}")
    ok = bool(rss) and top < RSS_GATE
    verdict = "met" if ok else "MISSED"
    print(f"GATE peak RSS of every pyimage action < 1 GiB: {verdict} ({mib(top)})")
    return ok


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_torch.py", description=__doc__.split("\n")[0])
    p.add_argument("--sides", default="baseline,ours", help="cold builds to run (default both)")
    p.add_argument("--skip-remote", action="store_true", help="skip the BuildGrid bytes part")
    args = p.parse_args(argv)
    sides = [side for side in ("baseline", "ours") if side in args.sides.split(",")]
    if len(sides) != len(args.sides.split(",")):
        raise HarnessError(f"--sides takes baseline, ours or both, got {args.sides!r}")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    if os.geteuid() != 0:
        raise HarnessError("run as root: the offline Bazel runs in a chroot")
    start = time.monotonic()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory(prefix="pyimage-bench-torch-") as tmp:
        ws = torch_workspace(Path(tmp))
        logs = ws / ".bench-logs"  # inside the workspace: the runner mounts it
        logs.mkdir()
        for side in sides:
            results[side] = cold_build(ws, side, logs)
    remote: dict[str, object] = {}
    if not args.skip_remote:
        progress("bytes after a bump: bench_remote_bytes.py's flow on the torch workspace")
        corpus = Corpus(torch_workspace, tuple(APPS), LOAD_ONE, (LOAD_ONE,), cas_size="14G")
        with Sampler(CACHE) as sampler:
            remote = bench_remote_bytes.capture(
                argparse.Namespace(bump=BUMP, no_disk_cache=False), corpus
            )
        remote["disk_peak_bytes"] = sampler.disk_peak - sampler.disk_start
    progress(f"bench_torch.py took {(time.monotonic() - start) / 60:.1f} minutes ({REPO})")
    return report(results, remote)


if __name__ == "__main__":
    main_wrapper("bench_torch.py", main)()
