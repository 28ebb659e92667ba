"""Platforms: one py_image, an index of linux/amd64 and linux/arm64, built here, pushed, pulled
per platform and run (arm64 under emulation); and the guard.

The multiarch app (e2e/apps/multiarch) is one py_binary whose deps select
each platform's wheels: @pypi's (this machine's) or @pypi_arm64's (pip
download with --platform: real aarch64 wheels from PyPI); its base likewise,
Debian's arm64 packages unpacked without emulation
(e2e/harness/base_image.py --kind python-arm64). `py_image(platforms =
[...])` builds each platform's layers for that Bazel platform; the harness
finishes each image (finish_image.py) and the index (finish_index.py), as
rules_oci's oci_image and oci_image_index would. Running the arm64 image
needs qemu-user-static registered in binfmt_misc (`tools/setup --binfmt`,
which .ci/run runs).
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import pytest
from e2ekit import (
    E2E,
    Built,
    bazel,
    bazel_may_fail,
    copy_outputs,
    finish,
    harness,
    manifest_digest,
    output_dir,
    read_manifest,
)
from podman_run import private_podman, pull_from_registry, run_pulled
from registry import Registry

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, umoci, podman)")

BINFMT = Path("/proc/sys/fs/binfmt_misc/qemu-aarch64")
#: The index's platforms, and what `platform.machine()` says on each.
MACHINES = {"linux/amd64": "x86_64", "linux/arm64": "aarch64"}


def need_binfmt() -> None:
    if not BINFMT.exists() or "flags: " not in BINFMT.read_text():
        pytest.fail(
            "qemu-aarch64 is not registered in binfmt_misc: run `tools/setup --binfmt` (as root)"
        )


def run_arm64(layout: Path, tag: str, *args: str) -> list[str]:
    need_binfmt()
    return harness(
        "podman_run.py", "--layout", str(layout), "--tag", tag, *args
    ).stdout.splitlines()


def built_for(platform: str, dest: Path) -> Built:
    """The multiarch image's layers for one platform, copied out of its configuration's bin."""
    name = "image." + platform.replace("/", "_")
    where = output_dir(E2E, f"//apps/multiarch:{name}.layers")
    return copy_outputs(E2E, "multiarch", dest, target=name, bin_dir=where)


def layer_of(built: Built, package: str) -> str:
    """The digest of the package layer of ``built`` that holds ``package`` (a name)."""
    layers = built.package_layers().items()
    found = [d for held, d in layers if re.search(rf"(^|,){package}==", held)]
    assert len(found) == 1, built.package_layers()
    return found[0]


def test_one_py_image_is_an_index_of_both_platforms_pushed_and_pulled_per_platform(
    bases: dict[str, Path], tmp_path: Path
) -> None:
    bazel(E2E, "build", "--output_groups=+base_libc",
          *[f"//apps/multiarch:image.{p.replace('/', '_')}.layers" for p in MACHINES])  # fmt: skip
    built = {p: built_for(p, tmp_path) for p in MACHINES}
    images = {p: finish(b, tmp_path / p.replace("/", "_")) for p, b in built.items()}
    for p, layout in images.items():
        config_digest = str(read_manifest(layout)["config"]["digest"])  # type: ignore[index]
        config = json.loads((layout / "blobs/sha256" / config_digest[7:]).read_text())
        assert f"{config['os']}/{config['architecture']}" == p
    # six (py2.py3-none-any) is one blob in both manifests; numpy's and
    # PyYAML's extension modules are each platform's own.
    assert layer_of(built["linux/amd64"], "six") == layer_of(built["linux/arm64"], "six")
    for package in ("numpy", "pyyaml"):
        assert layer_of(built["linux/amd64"], package) != layer_of(built["linux/arm64"], package)
    index = tmp_path / "index"
    image_args = [a for p in MACHINES for a in ("--image", str(images[p]))]
    made = harness("finish_index.py", "--out", str(index), "--tag", "multiarch", *image_args)
    summary = json.loads(made.stdout)
    assert summary["manifests"] == {p: manifest_digest(images[p]) for p in MACHINES}
    six = layer_of(built["linux/amd64"], "six")
    with Registry() as registry:
        registry.push(index, "multiarch", "multiarch")
        reference = f"{registry.address}/multiarch:multiarch"
        raw = subprocess.run(
            ["skopeo", "inspect", "--raw", "--tls-verify=false", f"docker://{reference}"],
            capture_output=True, text=True, check=True,
        ).stdout  # fmt: skip
        pushed = json.loads(raw)
        assert pushed["mediaType"] == "application/vnd.oci.image.index.v1+json"
        assert [(m["platform"]["os"] + "/" + m["platform"]["architecture"], m["digest"])
                for m in pushed["manifests"]] == list(summary["manifests"].items())  # fmt: skip
        assert registry.report().uploads(six) == 1  # stored once, for both platforms
        for p in MACHINES:
            pulled = tmp_path / f"pulled-{p.replace('/', '_')}"
            registry.pull("multiarch", "multiarch", pulled, arch=p.split("/")[1])
            assert manifest_digest(pulled) == summary["manifests"][p]
        with private_podman() as podman:
            for p, machine in MACHINES.items():
                if machine != os.uname().machine:
                    need_binfmt()
                image = pull_from_registry(podman, reference, p)
                assert isinstance(image, str), image
                ran = run_pulled(podman, image)
                lines = ran.stdout.splitlines()
                print(f"podman run --platform {p} printed:", *lines, sep="\n  ")
                assert ran.returncode == 0, ran.stderr[-3000:]
                assert lines[:2] == [f"machine {machine}", "app multiarch on python 3.11"], lines
                assert any(re.match(r"numpy==2\.4\.6 from /opt/pyimage/site-packages/numpy/", ln)
                           for ln in lines)  # fmt: skip
                totals = [ln.split() for ln in lines if ln.startswith("imported ")]
                assert len(totals) == 1 and totals[0][1] == totals[0][3], lines
    # The C library the arm64 base's action read is the one its container runs on.
    facts_file = output_dir(E2E, "//apps/multiarch:image.linux_arm64.layers")
    facts = json.loads((facts_file / "image.linux_arm64.layers.base_libc.json").read_text())
    script = "import os; print(os.confstr('CS_GNU_LIBC_VERSION'))"
    ran_libc = run_arm64(images["linux/arm64"], "multiarch", "--entrypoint", "/usr/bin/python3",
                         "--", "-c", script)  # fmt: skip
    assert [facts["libc"], facts["version"]] == ran_libc[-1].split(), facts
    assert facts["file"] == "usr/lib/aarch64-linux-gnu/libc.so.6", facts


def test_an_index_in_a_fleet_has_a_lock_entry_per_platform_and_follows_it(
    bases: dict[str, Path],
) -> None:
    # //apps/multiarch:fleet plans the index's two images: the lock is keyed by
    # image and platform (each entry names its own), its test checks both, and
    # each platform's image follows its own entry; the shared layer of pure
    # packages (certifi, idna) is one blob in both.
    lock = json.loads((E2E / "apps" / "multiarch" / "fleet.lock.json").read_text())
    names = {f"//apps/multiarch:image.{p.replace('/', '_')}": p for p in MACHINES}
    assert {n: e["platform"] for n, e in lock["images"].items()} == names
    r = bazel(E2E, "test", "//apps/multiarch:fleet_test")
    assert "//apps/multiarch:fleet_test" in r.stdout + r.stderr
    bazel(E2E, "build", "//apps/multiarch:fleet.report")  # (`test` builds tests only here)
    plans = {}
    for name, p in names.items():
        target = name.split(":")[1]
        plan_file = output_dir(E2E, f"{name}.layers") / f"{target}.layers.plan.json"
        plans[p] = json.loads(plan_file.read_text())
        layers = plans[p]["layers"]
        assert all(lay["reason"].startswith("fleet lock: ") for lay in layers), layers
        locked = [lay["packages"] for lay in lock["images"][name]["layers"]]
        assert sorted(lay["packages"] for lay in layers) == sorted(locked)
    (group,) = [lay for lay in lock["images"][next(iter(names))]["layers"] if "group" in lay]
    assert group["packages"] == ["certifi==2026.10.19.post1", "idna==3.20"], group
    digests = {
        p: [lay["digest"] for lay in plan["layers"] if lay["packages"] == group["packages"]]
        for p, plan in plans.items()
    }
    assert digests["linux/amd64"] == digests["linux/arm64"] and len(digests["linux/amd64"]) == 1
    report_dir = output_dir(E2E, "//apps/multiarch:fleet.report")
    state = json.loads((report_dir / "fleet.state.json").read_text())
    assert sorted(state["images"]) == sorted(names)


def the_one_error(target: str, *flags: str) -> str:
    """The one line of pyimage's error that fails the build of ``target``."""
    r = bazel_may_fail(E2E, "build", *flags, target)
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("pyimage: error:")]
    assert len(errors) == 1, r.stderr[-3000:]
    return errors[0]


def test_wheels_of_another_platform_fail_the_build_naming_the_file(bases: dict[str, Path]) -> None:
    # numpy, pyyaml and charset-normalizer (requests') bring x86-64 extension modules.
    error = the_one_error("//apps/api:image_arm64")
    found = re.search(
        r"package (numpy|pyyaml|charset-normalizer)==\S+: its wheel is for linux/amd64"
        r" \(cp311-\S+_x86_64.*; e\.g\. opt/pyimage/site-packages/\S+\.so\S*\),"
        r" but image \S*//apps/api:image_arm64 is linux/arm64;"
        r" resolve its wheels for linux/arm64",
        error,
    )
    assert found, error


def test_a_musl_wheel_on_a_glibc_base_fails_the_build(bases: dict[str, Path]) -> None:
    # PyYAML's musllinux wheel (@pypi_musl) on the e2e base, Debian's glibc.
    error = the_one_error("//apps/api:image_musl")
    found = re.search(
        r"package pyyaml==6\.0\.4: its wheel needs musl \S+ \(cp311-cp311-musllinux_1_2_x86_64\),"
        r" but image \S*//apps/api:image_musl's base has glibc 2\.36"
        r" \(usr/lib/x86_64-linux-gnu/libc\.so\.6\); resolve a wheel for glibc 2\.36",
        error,
    )
    assert found, error


def test_an_interpreter_of_another_platform_fails_the_build(bases: dict[str, Path]) -> None:
    # --config=hermetic's toolchain is this machine's x86-64 CPython, which
    # resolves for linux/arm64 too (no constraint): its layer is refused.
    error = the_one_error("//apps/hermetic:image_arm64", "--config=hermetic")
    found = re.search(
        r"interpreter \S+cpython//:bin/python3\.11: opt/pyimage/python/\S+ is linux/amd64 native"
        r" code, but image \S*//apps/hermetic:image_arm64 is linux/arm64; use a Python toolchain"
        r" for linux/arm64 or a base image's python3",
        error,
    )
    assert found, error
