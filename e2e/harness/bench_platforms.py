#!/usr/bin/env python3
"""Cost of a second platform: two py_image indexes of linux/amd64 + linux/arm64 beside amd64 images.

Usage (root; runs the offline Bazel of tools/offline/bazel)::

    python3 e2e/harness/bench_platforms.py

A benchmark, not a test: it prints numbers. Two apps of a scratch copy of
the e2e workspace are images of two platforms (``py_image(platforms =
["linux/amd64", "linux/arm64"])``): ``//apps/multiarch`` (numpy, PyYAML, six)
and ``//apps/multiarch_b``, added by this script (PyYAML and six, the same
sources); each app also gets ``image_amd64``, a ``py_image`` of its binary
for one platform (``platform`` left at linux/amd64, the build's own
configuration). Measured in one output base (under
``$PYIMAGE_CACHE/output``, always expunged), repositories fetched first,
``bazel clean`` before each cold build, with ``--execution_log_json_file``:

- one platform: a cold build of both apps' ``image_amd64.layers``;
- two platforms: a cold build of both apps' ``image.linux_amd64.layers`` and
  ``image.linux_arm64.layers`` (each planned with the other).

For each: Bazel's elapsed time, the actions executed (per mnemonic), and the
bytes of the images' blobs, each blob counted once (unique bytes: what a
registry stores for them, base, package and app layers, configs excepted as
rules_oci writes them), read from the layouts and app layers built. Then, of
the two-platform build, the blobs both platforms' images hold (the pure
packages' layers; the bases are each platform's own). Prints a table (one
platform, two, two/one) and a JSON dump to stdout, progress to stderr. About
1 minute with pip's wheels cached (the arm64 hub's download is in the
fetch, timed apart). Exit 0, or 2 with one line on failure.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import tempfile
from dataclasses import asdict
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
sys.path.insert(0, str(HARNESS))
import base_image  # noqa: E402
from bench_build import CACHE, Bazel, Run, ratio  # noqa: E402
from harnesslib import (  # noqa: E402
    HarnessError,
    blob_path,
    copy_e2e_workspace,
    main_wrapper,
    progress,
    read_image,
    sha256_file,
)

APPS = ("multiarch", "multiarch_b")
#: Each app's image of one platform, added to the scratch copy: app -> its BUILD's addition.
ONE_PLATFORM = {
    app: f'\npy_image(name = "image_amd64", base = "@base_python//:layout", binary = ":{app}")\n'
    for app in APPS
}
PLATFORMS = ("linux_amd64", "linux_arm64")
#: The second two-platform app, added to the scratch copy.
SECOND_APP = """load("@rules_pyimage//oci:defs.bzl", "py_image")
load("@rules_python//python:defs.bzl", "py_binary")

py_binary(
    name = "multiarch_b",
    srcs = ["//apps/multiarch:main.py"],
    main = "//apps/multiarch:main.py",
    deps = ["//apps:report"] + select({
        "@rules_pyimage//py/platforms:is_linux_arm64": [
            "@pypi_arm64//pyyaml",
            "@pypi_arm64//six",
        ],
        "//conditions:default": [
            "@pypi//pyyaml",
            "@pypi//six",
        ],
    }),
)

py_image(
    name = "image",
    base = select({
        "@rules_pyimage//py/platforms:is_linux_arm64": "@base_python_arm64//:layout",
        "//conditions:default": "@base_python//:layout",
    }),
    binary = ":multiarch_b",
    platforms = ["linux/amd64", "linux/arm64"],
)
"""


def targets(platforms: tuple[str, ...]) -> list[str]:
    return [f"//apps/{app}:image.{p}.layers" for app in APPS for p in platforms]


def one_platform_targets() -> list[str]:
    return [f"//apps/{app}:image_amd64.layers" for app in APPS]


def blobs_of(ws: Path, bz: Bazel, label: str) -> dict[str, int]:
    """Digest -> size of the blobs an image's layers target built: its layout's manifest
    layers (base and packages) and its app layer."""
    r, _ = bz.call("cquery", "--output=files", label)
    files = [ws / f for f in r.stdout.split()]
    (layout,) = [f for f in files if f.name.endswith(".layers.layout")]
    (app,) = [f for f in files if f.name.endswith(".layers.app.tar.gz")]
    image = read_image(layout)
    out = {str(d["digest"]): int(str(d["size"])) for d in image.layers}
    for digest, size in out.items():
        if blob_path(layout, digest).stat().st_size != size:
            raise HarnessError(f"{label}: blob {digest} is not {size} bytes")
    out[sha256_file(app)] = app.stat().st_size
    return out


def measure(ws: Path, logs: Path) -> dict[str, object]:
    bz = Bazel(ws, "platforms", logs, kind="bench-platforms")
    runs: dict[str, Run] = {}
    blobs: dict[str, dict[str, dict[str, int]]] = {}
    try:
        runs["fetch"] = bz.run("build", "--nobuild", *targets(PLATFORMS), *one_platform_targets())
        for name, built in (("one", one_platform_targets()), ("two", targets(PLATFORMS))):
            bz.clean()
            runs[name] = bz.run("build", *built)
            blobs[name] = {t: blobs_of(ws, bz, t) for t in built}
    finally:
        bz.expunge()
    return {"runs": runs, "blobs": blobs}


def unique_bytes(per_target: dict[str, dict[str, int]]) -> tuple[int, int]:
    """(blobs, bytes) of every blob of the targets, each counted once."""
    every: dict[str, int] = {}
    for got in per_target.values():
        every.update(got)
    return len(every), sum(every.values())


def shared_between_platforms(per_target: dict[str, dict[str, int]]) -> dict[str, int]:
    """The blobs an amd64 and an arm64 image of the two-platform build both hold."""
    by_platform: dict[str, dict[str, int]] = {p: {} for p in PLATFORMS}
    for target, got in per_target.items():
        for p in PLATFORMS:
            if f".{p}." in target:
                by_platform[p].update(got)
    amd, arm = (by_platform[p] for p in PLATFORMS)
    return {d: s for d, s in amd.items() if d in arm}


def report(result: dict[str, object]) -> None:
    runs: dict[str, Run] = result["runs"]  # type: ignore[assignment]
    blobs: dict[str, dict[str, dict[str, int]]] = result["blobs"]  # type: ignore[assignment]
    one, two = runs["one"], runs["two"]
    (n1, b1), (n2, b2) = unique_bytes(blobs["one"]), unique_bytes(blobs["two"])
    shared = shared_between_platforms(blobs["two"])
    print(
        f"\nA second platform: {', '.join(APPS)} as images of one platform (linux/amd64), and"
        " as indexes of linux/amd64 + linux/arm64 (cold builds, one output base, repositories"
        " fetched first)"
    )
    print(f"{'':34} {'amd64':>14} {'amd64+arm64':>14} {'two/one':>8}")
    print(f"{'cold build (Bazel elapsed s)':34} {one.elapsed_s:>14.1f} {two.elapsed_s:>14.1f}"
          f" {ratio(two.elapsed_s, one.elapsed_s):>8}")  # fmt: skip
    print(f"{'actions executed':34} {one.executed:>14} {two.executed:>14}"
          f" {ratio(two.executed, one.executed):>8}")  # fmt: skip
    print(f"{'unique blobs':34} {n1:>14} {n2:>14} {ratio(n2, n1):>8}")
    print(f"{'unique bytes':34} {b1:>14,} {b2:>14,} {ratio(b2, b1):>8}")
    print(f"actions per mnemonic: one {one.by_mnemonic}; two {two.by_mnemonic}")
    print(f"fetching repositories: {runs['fetch'].elapsed_s:.1f} s")
    print(
        f"blobs both platforms' images hold: {len(shared)}, {sum(shared.values()):,} bytes"
        f" ({', '.join(d[7:19] for d in sorted(shared))})"
    )
    dump = {
        "runs": {k: asdict(r) for k, r in runs.items()},
        "blobs": blobs,
        "shared_between_platforms": shared,
    }
    print(json.dumps(dump, indent=1))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_platforms.py", description=__doc__.split("\n")[0])
    p.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    for kind in ("python", "python-arm64"):
        base_image.make(kind, None, CACHE / "e2e-bases")
    with tempfile.TemporaryDirectory(prefix="pyimage-bench-platforms-") as tmp:
        ws = copy_e2e_workspace(Path(tmp) / "e2e")
        (ws / "apps" / "multiarch_b").mkdir()
        (ws / "apps" / "multiarch_b" / "BUILD.bazel").write_text(SECOND_APP)
        build = ws / "apps" / "multiarch" / "BUILD.bazel"
        build.write_text(build.read_text() + 'exports_files(["main.py"])\n')
        for app, addition in ONE_PLATFORM.items():
            build = ws / "apps" / app / "BUILD.bazel"
            build.write_text(build.read_text() + addition)
        logs = ws / ".bench-logs"  # inside the workspace: the runner mounts it
        logs.mkdir()
        progress("cold builds of one platform, then two")
        result = measure(ws, logs)
    report(result)
    return 0


if __name__ == "__main__":
    main_wrapper("bench_platforms.py", main)()
