"""py_image's default `repo_tags`: a valid image reference for any Bazel package and name.

Generated package and target names (seeded, from the characters Bazel allows)
go into a scratch workspace; real Bazel (tools/offline/bazel) loads every
`py_image` and `bazel query` reads the tag each `<name>.load` would load
with. Each tag must match the OCI distribution reference grammar and be
accepted by podman (`podman tag`, private store). Also the loading-time
checks, which analysis tests cannot reach: the stand-in rules_oci's (a
missing `repo_tags` and an unknown `format` fail as with the real rules_oci),
and py_image's own of `platform`, `platforms` and `load_platform`.

Slow (a Bazel server): run by `tools/test e2e`.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from podman_run import private_podman  # the harness is on pytest's pythonpath (pyproject.toml)

REPO = Path(__file__).resolve().parents[2]
BAZEL = REPO / "tools" / "offline" / "bazel"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, podman)")

# The distribution spec's grammar (github.com/distribution/reference):
# path components of lowercase alphanumeric runs joined by `.`, `_`, `__`
# or `-`+, separated by `/`; at most 255 characters; tag up to 128.
COMPONENT = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
REFERENCE = re.compile(rf"(?P<repo>{COMPONENT}(?:/{COMPONENT})*):(?P<tag>{TAG})")

# Characters Bazel 7 takes in package names (besides `/`) and target names.
PACKAGE_CHARS = "abcxyzABCXYZ0189-._@+=,~!%^()[]{}#&'$;<>?|"
NAME_CHARS = PACKAGE_CHARS + '"*'
# (package, image name) pairs that broke or could break the default.
HOSTILE = [
    ("apps/_internal", "image"),
    ("apps/web-", "-dash"),
    ("Apps/API", "Image+1"),
    ("a__b/c___d", ".hidden"),
    ("x/-.-/y", "a" * 200),
    ("_", "_"),
    ("@", "x"),
]


def generated(rng: random.Random, chars: str, parts: int, longest: int) -> str:
    """A `/`-joined name of 1 to ``parts`` components of 1 to ``longest`` of ``chars``."""
    out = []
    for _ in range(rng.randint(1, parts)):
        comp = "".join(rng.choice(chars) for _ in range(rng.randint(1, longest)))
        out.append("x" + comp if comp in (".", "..") else comp)
    return "/".join(out)


def cases(seed: int = 20261130, count: int = 150) -> dict[str, set[str]]:
    """Package -> image names: the hostile pairs, then generated ones."""
    rng = random.Random(seed)
    out: dict[str, set[str]] = {}
    # A name starting with `@` reads as a repository in the relative labels
    # rules_oci's macros make (`<name>_index.json`): not one for py_image.
    pairs = HOSTILE + [
        (generated(rng, PACKAGE_CHARS, 4, 12), generated(rng, NAME_CHARS, 1, 20).lstrip("@") or "x")
        for _ in range(count)
    ]
    for pkg, name in pairs:
        out.setdefault(pkg, set()).add(name)
    return out


def starlark(s: str) -> str:
    return json.dumps(s)


#: Loading-time errors of our macros' arguments (`platforms`, declared
#: layers): package -> (its py_image's arguments, or a whole call of another
#: macro of ours, the one line it fails with).
LOADING_ERRORS = {
    "both": (
        "platform = 'linux/arm64', platforms = ['linux/amd64']",
        "py_image //badplat/both:image: give `platform` (one platform) or `platforms` "
        "(an image index), not both",
    ),
    "unknown": (
        "platforms = ['linux/amd64', 'linux/mips64le']",
        'py_image //badplat/unknown:image: platform "linux/mips64le" is not one rules_pyimage '
        "builds for; use one of linux/386, linux/amd64, linux/arm/v7, linux/arm64, "
        "linux/loong64, linux/ppc64le, linux/riscv64, linux/s390x (//py/platforms), or map it "
        'to a Bazel platform of yours: platforms = {"linux/mips64le": "//my/platforms:it"}',
    ),
    "map_bad": (
        "platforms = {'linux/amd64': '//py/platforms:linux_amd64', 'Linux-ARM64': ':p'}",
        'py_image //badplat/map_bad:image: platforms holds "Linux-ARM64", which is not '
        'os/arch[/variant] (OCI\'s names, lowercase); use e.g. "linux/arm64"',
    ),
    "twice": (
        "platforms = ['linux/arm64', 'linux/arm64']",
        'py_image //badplat/twice:image: platform "linux/arm64" is given twice in platforms; '
        "give it once",
    ),
    "empty": (
        "platforms = []",
        "py_image //badplat/empty:image: platforms must be a non-empty list of "
        'os/arch[/variant], e.g. ["linux/amd64", "linux/arm64"], or a dict of them to Bazel '
        "platforms",
    ),
    "load_other": (
        "platforms = ['linux/amd64', 'linux/arm64'], load_platform = 'linux/s390x'",
        'py_image //badplat/load_other:image: load_platform = "linux/s390x" is not one of its '
        "platforms (linux/amd64, linux/arm64); name one of them",
    ),
    "load_one": (
        "load_platform = 'linux/amd64'",
        "py_image //badplat/load_one:image: load_platform picks one of `platforms`; with one "
        "platform, leave it out",
    ),
    "layers_both": (
        "py_image_layers(name = 'layers', binary = ':bin', platform = 'linux/arm64', "
        "platforms = ['linux/amd64', 'linux/arm64'])",
        "py_image_layers //badplat/layers_both:layers: give `platform` (one platform) or "
        "`platforms` (an image index), not both",
    ),
    "layers_set": (
        "py_image_layers(name = 'layers', binary = ':bin', platforms = ['linux/arm64'], "
        "target_platform = '@rules_pyimage//py/platforms:linux_arm64')",
        "py_image_layers //badplat/layers_set:layers: `platforms` sets each platform's "
        "`target_platform`; leave it out",
    ),
    "fleet_bad": (
        "py_image_fleet(name = 'fleet', images = [':image'], "
        "platforms = ['linux/amd64', 'Linux/ARM64'])",
        'py_image_fleet //badplat/fleet_bad:fleet: platforms holds "Linux/ARM64", which is not '
        'os/arch[/variant] (OCI\'s names, lowercase); use e.g. "linux/arm64"',
    ),
    "declared_in_fleet": (
        "fleet = '//:fleet', layer_groups = {'web': ['six']}",
        "py_image //badplat/declared_in_fleet:image: an image of a fleet follows the layers its"
        " fleet declares; give layer_groups to the py_image_fleet //:fleet",
    ),
    "bins_both": (
        "binaries = [':bin']",
        "py_image //badplat/bins_both:image: give `binary` (one py_binary) or `binaries` "
        "(several, with `default_binary`), not both",
    ),
    "bins_twice": (
        "py_image(name = 'image', binaries = [':bin', '//badplat/bins_twice:bin'])",
        "py_image //badplat/bins_twice:image: binaries lists //badplat/bins_twice:bin twice; "
        "list each once",
    ),
    "bins_default": (
        "py_image(name = 'image', binaries = [':bin'], default_binary = ':other')",
        "py_image //badplat/bins_default:image: default_binary :other is not one of `binaries` "
        "(//badplat/bins_default:bin); name one of them",
    ),
    "bins_default_alone": (
        "default_binary = ':bin'",
        "py_image //badplat/bins_default_alone:image: default_binary picks one of `binaries`; "
        "with one `binary`, leave it out",
    ),
    "bins_none": (
        "py_image(name = 'image')",
        "py_image //badplat/bins_none:image: give the py_binary to run: `binary`, or `binaries` "
        "(and `default_binary`) for several",
    ),
    "layers_bins_both": (
        "py_image_layers(name = 'layers', binary = ':bin', binaries = [':bin'])",
        "py_image_layers //badplat/layers_bins_both:layers: give `binary` (one py_binary) or "
        "`binaries` (several, with `default_binary`), not both",
    ),
    "fleet_twice": (
        "py_image_fleet(name = 'fleet', images = [':image'], "
        "platforms = ['linux/arm64', 'linux/arm64'])",
        'py_image_fleet //badplat/fleet_twice:fleet: platform "linux/arm64" is given twice in '
        "platforms; give it once",
    ),
}


def new_workspace(ws: Path, module: str) -> None:
    """A bzlmod workspace at ``ws`` for tools/offline/bazel (its --config=offline)."""
    ws.mkdir(parents=True, exist_ok=True)
    (ws / "MODULE.bazel").write_text(module)
    (ws / ".bazelrc").write_text(
        "common --noenable_workspace\ncommon --enable_bzlmod\n"
        f"import {REPO}/tools/offline/offline.bazelrc\n"
    )


def expunge(ws: Path) -> None:
    subprocess.run([str(BAZEL), "clean", "--expunge"], cwd=ws, capture_output=True, check=False)


@pytest.fixture(scope="module")
def workspace() -> Iterator[Path]:
    """A scratch workspace: one package per generated package name, py_images in each."""
    with tempfile.TemporaryDirectory(prefix="pyimage-tags-") as d:
        ws = Path(d)
        new_workspace(
            ws,
            'module(name = "tags_check")\n'
            'bazel_dep(name = "rules_pyimage")\n'
            f'local_path_override(module_name = "rules_pyimage", path = {starlark(str(REPO))})\n'
            'bazel_dep(name = "rules_python", version = "1.5.1")\n'
            'bazel_dep(name = "rules_oci", version = "2.3.2")\n',
        )
        # The stand-in's loading-time checks (see the last test).
        (ws / "bad").mkdir()
        (ws / "bad" / "BUILD.bazel").write_text(
            'load("@rules_oci//oci:defs.bzl", "oci_load")\n'
            'oci_load(name = "no_tags", image = "layout")\n'
            'oci_load(name = "bad_format", image = "layout", repo_tags = ["a:b"], format = "tar")\n'
        )
        for case, (args, _) in LOADING_ERRORS.items():
            folder = ws / "badplat" / case
            folder.mkdir(parents=True)
            (folder / "bin.py").write_text("")
            call = (
                args
                if args.startswith("py_image")
                else f"py_image(name = 'image', binary = ':bin', {args})"
            )
            (folder / "BUILD.bazel").write_text(
                'load("@rules_pyimage//oci:defs.bzl", "py_image", "py_image_fleet")\n'
                'load("@rules_pyimage//oci:defs.bzl", "py_image_layers")\n'
                'load("@rules_python//python:defs.bzl", "py_binary")\n'
                "py_binary(name = 'bin', srcs = ['bin.py'])\n"
                f"{call}\n"
            )
        for pkg, names in cases().items():
            folder = ws / "p" / pkg
            folder.mkdir(parents=True, exist_ok=True)
            (folder / "bin.py").write_text("")
            images = "".join(
                f"py_image(name = {starlark(n)}, binary = ':bin')\n" for n in sorted(names)
            )
            (folder / "BUILD.bazel").write_text(
                'load("@rules_pyimage//oci:defs.bzl", "py_image")\n'
                'load("@rules_python//python:defs.bzl", "py_binary")\n'
                "py_binary(name = 'bin', srcs = ['bin.py'])\n" + images
            )
        try:
            yield ws
        finally:
            expunge(ws)


def query(ws: Path, expr: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BAZEL), "query", "--keep_going", "--output=streamed_jsonproto", expr],
        cwd=ws,
        capture_output=True,
        text=True,
        check=False,
    )


def default_tags(ws: Path) -> dict[str, str]:
    """`<package>:<image name>` -> the tag its `.load` target loads with."""
    r = query(ws, 'attr(name, "\\.load_write_tags$", //p/...)')
    assert r.returncode == 0, r.stderr[-3000:]
    tags = {}
    for line in r.stdout.splitlines():
        rule = json.loads(line)["rule"]
        content = [a for a in rule["attribute"] if a["name"] == "content"]
        image = rule["name"].removeprefix("//p/").removesuffix(".load_write_tags")
        tags[image] = content[0]["stringListValue"]
    return tags


def test_default_tags_are_valid_references_podman_accepts(workspace: Path) -> None:
    tags = default_tags(workspace)
    expected = {f"{pkg}:{n}" for pkg, names in cases().items() for n in names}
    assert set(tags) == expected
    refs = {}
    for image, values in tags.items():
        assert len(values) == 1, (image, values)
        ref = values[0]
        m = REFERENCE.fullmatch(ref)
        assert m and len(m["repo"]) <= 255, f"{image}: {ref!r} is not a valid reference"
        refs[image] = ref
    # The plain case stays recognisable; the hostile ones are fixed up.
    assert refs["apps/_internal:image"] == "bazel/p/apps/internal:image"
    assert refs["Apps/API:Image+1"] == "bazel/p/apps/api:Image_1"
    print(f"{len(refs)} default tags, e.g.:", *sorted(refs.items())[:8], sep="\n  ")
    with private_podman() as podman, tempfile.TemporaryDirectory() as d:
        rootfs = Path(d) / "rootfs.tar"
        with tarfile.open(rootfs, "w") as tf:
            info = tarfile.TarInfo("hello")
            tf.addfile(info)
        imported = subprocess.run(
            [*podman, "import", "-q", str(rootfs), "tagcheck"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert imported.returncode == 0, imported.stderr
        refused = []
        for image, ref in sorted(refs.items()):
            r = subprocess.run(
                [*podman, "tag", "tagcheck", ref], capture_output=True, text=True, check=False
            )
            if r.returncode != 0:
                refused.append(f"{image} -> {ref}: {r.stderr.strip()}")
        assert refused == []


def test_standin_refuses_at_loading_what_rules_oci_refuses(workspace: Path) -> None:
    # A missing mandatory `repo_tags`, a `format` other than docker or oci:
    # errors when the BUILD file is loaded, which analysis tests cannot see.
    r = query(workspace, "//bad:all")
    assert r.returncode != 0
    assert "missing value for mandatory attribute 'repo_tags'" in r.stderr, r.stderr[-3000:]
    assert "invalid value in 'format' attribute" in r.stderr, r.stderr[-3000:]


def test_bad_arguments_fail_at_loading_in_one_line(workspace: Path) -> None:
    # One query loads every case's package (--keep_going): each fails on its
    # own, and each message names its image, so it is told apart by that.
    r = query(workspace, "//badplat/...")
    assert r.returncode != 0
    # Bazel prints a failure with its trace, and once more on its own.
    lines = r.stderr.splitlines()
    errors = {ln.split("Error in fail: ", 1)[1] for ln in lines if "Error in fail:" in ln}
    for case, (_, message) in LOADING_ERRORS.items():
        own = {e for e in errors if f"//badplat/{case}:" in e}
        assert own == {message}, (case, r.stderr[-3000:])
    named = {e for e in errors if any(f"//badplat/{case}:" in e for case in LOADING_ERRORS)}
    assert named == errors, errors - named
