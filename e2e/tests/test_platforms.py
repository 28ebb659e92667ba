"""Platforms: an arm64 image of aarch64 wheels, built here and run under emulation, and the guard.

The arm64 app (e2e/apps/arm64) takes its packages from @pypi_arm64 (pip
download with --platform: real aarch64 wheels from PyPI) and its base from
Debian's arm64 packages, unpacked without emulation
(e2e/harness/base_image.py --kind python-arm64). Running it needs
qemu-user-static registered in binfmt_misc (`tools/setup --binfmt`, which
.ci/run runs).
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from e2ekit import E2E, bazel, bazel_may_fail, copy_outputs, finish, harness, read_manifest

from pyimage.engine import descriptor

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, umoci, podman)")

BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")


def run_arm64(layout: Path, tag: str, *args: str) -> list[str]:
    if not BINFMT.exists() or "flags: " not in BINFMT.read_text():
        pytest.fail(
            "qemu-aarch64 is not registered in binfmt_misc: run `tools/setup --binfmt` (as root)"
        )
    return harness(
        "podman_run.py", "--layout", str(layout), "--tag", tag, *args
    ).stdout.splitlines()


def test_an_arm64_image_of_aarch64_wheels_runs_on_arm64(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    bazel(E2E, "build", "--output_groups=+base_libc", "//apps/arm64:image.layers")
    built = copy_outputs(E2E, "arm64", tmp_path)
    layout = finish(built, tmp_path / "image")
    lines = run_arm64(layout, "arm64")
    print("podman run arm64 (qemu-aarch64) printed:", *lines, sep="\n  ")
    assert lines[0] == "machine aarch64", lines
    assert lines[1] == "app arm64 on python 3.11", lines
    assert any(
        re.match(r"numpy==2\.4\.6 from /opt/pyimage/site-packages/numpy/", ln) for ln in lines
    )
    assert any(
        re.match(r"PyYAML==6\.0\.4 from /opt/pyimage/site-packages/yaml/", ln) for ln in lines
    )
    totals = [ln.split() for ln in lines if ln.startswith("imported ")]
    assert len(totals) == 1 and totals[0][1] == totals[0][3], lines
    config_digest = str(read_manifest(layout)["config"]["digest"])  # type: ignore[index]
    config = json.loads((layout / "blobs/sha256" / config_digest[7:]).read_text())
    assert (config["os"], config["architecture"]) == ("linux", "arm64")
    # The C library the base's action read is the one the container runs on.
    facts = json.loads((E2E / "bazel-bin/apps/arm64/image.layers.base_libc.json").read_text())
    script = "import os; print(os.confstr('CS_GNU_LIBC_VERSION'))"
    ran = run_arm64(layout, "arm64", "--entrypoint", "/usr/bin/python3", "--", "-c", script)
    assert [facts["libc"], facts["version"]] == ran[-1].split(), facts
    assert facts["file"] == "usr/lib/aarch64-linux-gnu/libc.so.6", facts


def test_a_pure_wheel_is_one_layer_on_both_platforms_and_native_ones_are_each_their_own(
    bases: dict[str, Path],
) -> None:
    bazel(E2E, "build", "//apps/arm64:image.layers", "//apps/api:image.layers")
    external = E2E / "bazel-bin" / "external"

    def layer(repo: str) -> descriptor.LayerDescriptor:
        return descriptor.load(external / f"rules_python~~pip~{repo}" / "pkg.pyimage/layer.json")

    # six (py2.py3-none-any): two hubs, two package actions, one blob.
    assert layer("pypi_six").digest == layer("pypi_arm64_six").digest
    for name in ("numpy", "pyyaml"):
        amd, arm = layer(f"pypi_{name}"), layer(f"pypi_arm64_{name}")
        assert amd.digest != arm.digest
        assert set(amd.native) == {"linux/amd64"} and set(arm.native) == {"linux/arm64"}
        assert all(t.endswith("_aarch64") for t in arm.wheel_tags), arm.wheel_tags


def test_wheels_of_another_platform_fail_the_build_naming_the_file(bases: dict[str, Path]) -> None:
    # numpy, pyyaml and charset-normalizer (requests') bring x86-64 extension modules.
    r = bazel_may_fail(E2E, "build", "//apps/api:image_arm64")
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("pyimage: error:")]
    assert len(errors) == 1, r.stderr[-3000:]
    found = re.search(
        r"package (numpy|pyyaml|charset-normalizer)==\S+: its wheel is for linux/amd64"
        r" \(cp311-\S+_x86_64.*; e\.g\. opt/pyimage/site-packages/\S+\.so\S*\),"
        r" but image \S*//apps/api:image_arm64 is linux/arm64;"
        r" resolve its wheels for linux/arm64",
        errors[0],
    )
    assert found, errors[0]
