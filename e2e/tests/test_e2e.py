"""End to end: real Bazel builds the e2e apps' images; podman runs them.

rules_oci cannot run on these machines, so each image is finished the way
`oci_image` would finish it (app layer + config) by umoci
(e2e/harness/finish_image.py), then run in podman with --network=none.
Everything else is the real thing: Debian's Bazel 7.7.1 through
tools/offline/bazel, rules_python's pip.parse with real PyPI wheels, our
aspect, rules and tools.

Slow (minutes): run by `tools/test e2e`, not by the tools' pytest suite.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

# The harness (e2e/harness) and pyimage (tools) are on pytest's pythonpath
# (pyproject.toml).
from e2ekit import (
    BAZEL,
    CACHE,
    E2E,
    PACKAGES_ANNOTATION,
    REPO,
    Built,
    bazel,
    copy_outputs,
    finish,
    harness,
    manifest_digest,
    read_manifest,
    run,
    scratch_copy,
)
from harnesslib import (
    executed_counts,
    executed_spawns,
    file_in_image,
    in_spoke_of,
    read_image,
    sha256_file,
)
from podman_run import RUN_AS

from pyimage.fleet.groups import group_id

SITE = "/opt/pyimage/site-packages"
APPS = {"api": "", "worker": "", "web": "", "hermetic": "--config=hermetic"}
# One app per rules_python version's pip targets (apps/shapes.bzl), from the
# same seven wheels.
SHAPE_APPS = ("rp022", "rp1x", "rp2x", "rp1x_venv")
APPS.update(dict.fromkeys(SHAPE_APPS, ""))
FLEET_APPS = ("api", "web", "worker")  # the apps of //:fleet (e2e/BUILD.bazel)


def groups_of(lock: dict) -> dict[str, list[str]]:
    """The shared layers of a fleet lock: group id -> its package ids."""
    return {
        lay["group"]: lay["packages"]
        for entry in lock["images"].values()
        for lay in entry["layers"]
        if "group" in lay
    }


def merges_run(log: Path) -> dict[str, int]:
    """The fleets' shared layers merged by a build: group target -> how many times."""
    return {
        k.split(" ", 1)[1]: n
        for k, n in executed_counts(log).items()
        if k.startswith("PyImageFleetMerge ")
    }


pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot, umoci, podman)")


def build_apps(
    workspace: Path, dest: Path, apps: dict[str, str], *startup: str, flags: tuple[str, ...] = ()
) -> dict[str, Built]:
    """Build each app's image.layers (grouped by config) and copy the outputs."""
    built = {}
    for config in sorted(set(apps.values())):
        names = [a for a, c in apps.items() if c == config]
        targets = [f"//apps/{a}:image.layers" for a in names]
        bazel(workspace, *startup, "build", *([config] if config else []), *flags, *targets)
        for a in names:
            built[a] = copy_outputs(workspace, a, dest)
    return built


@pytest.fixture(scope="session")
def built(bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Built]:
    return build_apps(E2E, tmp_path_factory.mktemp("built"), APPS)


@pytest.fixture(scope="session")
def finished(built: dict[str, Built], tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Each image finished with umoci (app layer + config), as oci_image would."""
    return {
        app: finish(b, tmp_path_factory.mktemp(f"image-{app}") / "layout")
        for app, b in built.items()
    }


def package_descriptors(b: Built) -> list[Path]:
    """The descriptors of the app's packages as its hub, @pypi, built them in bazel-bin: one
    per package of its plan. (bazel-bin may also hold other hubs' builds of the same
    releases, e.g. @pypi_arm64's pure wheels, which the multiarch fleet's report merges.)"""
    wanted = {p for lay in b.plan["layers"] for p in lay["packages"]}
    found = []
    for d in sorted((E2E / "bazel-bin" / "external").glob("*/pkg.pyimage/layer.json")):
        pid = json.loads(d.read_text())["packages"][0]
        name = pid.partition("==")[0].replace("-", "_").replace(".", "_")
        if pid in wanted and d.parent.parent.name == f"rules_python~~pip~pypi_{name}":
            found.append(d)
    assert len(found) == len(wanted), (b.app, len(found), len(wanted))
    return found


def push_all(layouts: dict[str, Path]) -> dict[str, object]:
    """Push the images to a fresh local registry; its upload report."""
    args: list[str] = []
    for app, layout in sorted(layouts.items()):
        args += ["--push", str(layout), app, f"e2e/{app}"]
    return json.loads(harness("registry.py", *args).stdout)


def podman_output(layout: Path, tag: str) -> list[str]:
    return harness("podman_run.py", "--layout", str(layout), "--tag", tag).stdout.splitlines()


@pytest.mark.parametrize("app", sorted(APPS))
def test_image_runs_and_imports_packages_from_their_fixed_path(
    app: str, finished: dict[str, Path], built: dict[str, Built]
) -> None:
    # Run as production runs it (podman_run.py): a read-only root, no tmpfs,
    # a user the image does not have; the app imports every top-level module
    # of its package folder, and nothing may need writing for that.
    lines = podman_output(finished[app], app)
    print(f"podman run {app} (--read-only, --user {RUN_AS}) printed:", *lines, sep="\n  ")
    assert lines[0] == f"app {app} on python 3.11", lines
    imported = [ln for ln in lines if re.match(r"^\S+==\S+ from ", ln)]
    assert len(imported) >= 2, lines
    failed = [ln for ln in lines if ln.startswith("import failed: ")]
    assert not failed, failed
    totals = [ln.split() for ln in lines if ln.startswith("imported ")]
    assert len(totals) == 1 and totals[0][1] == totals[0][3] and int(totals[0][1]) > 0, lines
    # Every module the app loaded from its packages came with its bytecode
    # (e2e/.bazelrc: 3.11): nothing to compile at start, on a read-only root.
    (cached,) = [ln.split() for ln in lines if ln.startswith("bytecode for ")]
    assert cached[2] == cached[4] and int(cached[2]) >= len(imported), lines
    assert built[app].plan["bytecode"] == "3.11"
    for ln in imported:
        assert f" from {SITE}/" in ln, ln
    plan = built[app].plan
    assert plan["total_layers"] <= plan["max_layers"]
    assert len(built[app].manifest()["layers"]) + 1 == plan["total_layers"]


def test_args_and_env_reach_the_app_as_rules_oci_writes_them(
    finished: dict[str, Path], bases: dict[str, Path]
) -> None:
    # e2e/apps/api/BUILD.bazel: args and env of the image; the finishing step
    # reads them as rules_oci 2.3's oci_image does.
    lines = podman_output(finished["api"], "api")
    print("podman run api:", *lines, sep="\n  ")
    argv = [json.loads(ln[len("argv ") :]) for ln in lines if ln.startswith("argv ")]
    env = {}
    for ln in lines:
        if ln.startswith("env "):
            _, name, value = ln.split(" ", 2)
            env[name] = json.loads(value)
    assert argv == [["--flag", "two\nlines", "with space", "\u00fcn\u00efcode"]]
    base_env = dict(e.split("=", 1) for e in read_image(bases["python"]).env)
    # $PATH comes from the base image; $5 and ${HOME} are not in it: nothing.
    assert env == {"EXTRA_PATH": "/opt/extra:" + base_env["PATH"], "PRICE": "cost  or "}
    assert "HOME" not in base_env


def test_layouts_link_their_layers_to_bazel_outputs_and_stay_valid_after_other_builds(
    built: dict[str, Built], tmp_path: Path
) -> None:
    # Bazel's own outputs, not the copies. A layer blob another action wrote
    # (the base's copy, the fleet's shared layers, a package alone in its
    # layer) is linked with a relative symlink into bazel-out (never into the
    # sandbox, whose inputs are absolute links, nor into a repository), so
    # that a fleet image's layout, its lock current, is metadata. Only a layer
    # the image merged itself (no fleet) is a file of its own.
    layouts = {app: E2E / "bazel-bin" / "apps" / app / "image.layers.layout" for app in APPS}
    bazel_out = (E2E / "bazel-out").resolve()
    for app, layout in layouts.items():
        assert layout.is_dir() and not layout.is_symlink(), layout
        blobs = layout / "blobs" / "sha256"
        merged = {lay["digest"] for lay in built[app].plan["layers"] if len(lay["packages"]) > 1}
        for lay in read_manifest(layout)["layers"]:
            blob = blobs / lay["digest"].split(":", 1)[1]
            if lay["digest"] in merged and app not in FLEET_APPS:
                assert not blob.is_symlink(), f"{app}: its own merged layer {blob} is a link"
                continue
            assert blob.is_symlink(), f"{app}: layer {lay['digest']} is a copy, not a link"
            assert not blob.readlink().is_absolute(), f"{app}: {blob} -> {blob.readlink()}"
            assert blob.resolve(strict=True).is_relative_to(bazel_out), blob.resolve()
        own = sum(p.stat().st_size for p in layout.rglob("*") if p.is_file() and not p.is_symlink())
        print(f"{app}: the layout's own files: {own} bytes ({len(merged)} layers of packages)")
        if app in FLEET_APPS:
            assert own < 1 << 20, f"{app}: the layout holds {own} bytes of its own"
    bazel(E2E, "build", "//apps:report")
    skopeo = shutil.which("skopeo")
    umoci = shutil.which("umoci")
    assert skopeo and umoci
    for app, layout in layouts.items():
        # skopeo checks every blob's digest; umoci unpack (strict) the small one.
        copy = tmp_path / app
        run([skopeo, "copy", "--quiet", f"oci:{layout}", f"oci:{copy}:check"])
        if app == "api":
            run([umoci, "unpack", "--image", f"{copy}:check", str(tmp_path / "api-bundle")])
        print(f"{app}: bazel-bin's layout still valid after another build; skopeo copy passed")


def test_hermetic_app_brings_its_interpreter_as_its_own_layer(
    finished: dict[str, Path], built: dict[str, Built], bases: dict[str, Path]
) -> None:
    plan = built["hermetic"].plan
    assert plan["interpreter_layer"] is True
    layers = built["hermetic"].manifest()["layers"]
    interpreter = [
        lay
        for lay in layers
        if "interpreter" in lay.get("annotations", {}).get(PACKAGES_ANNOTATION, "")
    ]
    assert len(interpreter) == 1, layers
    # The base has no Python of its own: the interpreter is ours.
    index = json.loads((bases["nopython"] / "index.json").read_text())
    assert index["manifests"]
    lines = podman_output(finished["hermetic"], "hermetic")
    assert "interpreter /opt/pyimage/python/bin/python3.11" in lines
    # The interpreter's files are in its layer only, not in the app layer too.
    with tarfile.open(built["hermetic"].app_layer) as tf:
        stdlib = [n for n in tf.getnames() if n.endswith("/lib/python3.11/os.py")]
    size = built["hermetic"].app_layer.stat().st_size
    print(f"hermetic app layer: {size} bytes, stdlib files in it: {stdlib}")
    assert stdlib == []
    for app in ("api", "worker", "web"):
        assert built[app].plan["interpreter_layer"] is False


def test_shared_package_layers_have_one_digest_across_images(built: dict[str, Built]) -> None:
    layers = {app: b.package_layers() for app, b in built.items()}
    numpy = {app: ls["numpy==2.4.6"] for app, ls in layers.items() if "numpy==2.4.6" in ls}
    assert set(numpy) == {"api", "worker", "web"}, layers
    assert len(set(numpy.values())) == 1, numpy
    print("numpy's layer in api, worker and web:", numpy)
    # Every package alone in its layer has one digest in every image that has it.
    alone: dict[str, set[str]] = {}
    for ls in layers.values():
        for members, digest in ls.items():
            if "," not in members:
                alone.setdefault(members, set()).add(digest)
    assert alone and all(len(d) == 1 for d in alone.values()), alone


def test_registry_stores_a_shared_layer_once(
    finished: dict[str, Path], built: dict[str, Built]
) -> None:
    numpy = built["api"].package_layers()["numpy==2.4.6"]
    args: list[str] = []
    for app in ("api", "worker", "web"):
        args += ["--push", str(finished[app]), app, f"e2e/{app}"]
    report = json.loads(harness("registry.py", *args).stdout)
    print(json.dumps({k: v for k, v in report.items() if k != "blobs"}, indent=1))
    assert report["blobs"][numpy]["uploads"] == 1, report["blobs"][numpy]
    # Nothing is uploaded twice.
    assert all(b["uploads"] <= 1 for b in report["blobs"].values())


def test_131_packages_one_layer_each_exceed_podman_but_py_image_fits(
    built: dict[str, Built], finished: dict[str, Path], bases: dict[str, Path], tmp_path: Path
) -> None:
    web = built["web"]
    assert len([p for lay in web.plan["layers"] for p in lay["packages"]]) == 131
    # The naive image: the base, then each package's own cached layer.
    layer_args: list[str] = []
    for d in package_descriptors(web):
        layer_args += ["--layer", str(d), str(d.with_name("layer.tar.gz"))]
    assert len(layer_args) == 3 * 131
    naive = tmp_path / "naive"
    base = ["--base", str(bases["python"]), "--tag", "naive"]
    run([sys.executable, "-m", "pyimage", "layout", "--out", str(naive), *base, *layer_args],
        cwd=REPO / "tools")  # fmt: skip
    r = harness("podman_run.py", "--layout", str(naive), "--tag", "naive", "--expect-max-depth")
    print(r.stderr.strip().splitlines()[-1])
    print(f"py_image web: {web.plan['total_layers']} layers (max_layers {web.plan['max_layers']})")
    # Ours: under the cap, and it runs (test above); here the count.
    assert web.plan["total_layers"] <= 60 < 1 + 131 + 1


def test_two_clean_builds_give_identical_images(
    built: dict[str, Built], zstd_built: Built, tmp_path: Path
) -> None:
    # The second build runs every action as its own sandboxed process (no
    # persistent worker, which the first used): the same bytes either way,
    # also zstd's (api_zstd).
    output_base = CACHE / "output" / f"e2e-clean-{os.getpid()}"
    apps = {**APPS, "api_zstd": ""}  # the fleet plans web's packages for the others anyway
    built = {**built, "api_zstd": zstd_built}
    log = CACHE / "output" / f"e2e-clean-{os.getpid()}.exec.json"  # a folder the chroot sees
    try:
        flags = ("--spawn_strategy=sandboxed", f"--execution_log_json_file={log}")
        again = build_apps(E2E, tmp_path, apps, f"--output_base={output_base}", flags=flags)
    finally:
        subprocess.run(
            [str(BAZEL), f"--output_base={output_base}", "clean", "--expunge"],
            cwd=E2E,
            check=False,
            capture_output=True,
        )
        shutil.rmtree(output_base, ignore_errors=True)
    for app in apps:
        print(f"{app}: manifest {manifest_digest(built[app].layout)},"
              f" again {manifest_digest(again[app].layout)}")  # fmt: skip
        assert again[app].manifest() == built[app].manifest(), app
        assert sha256_file(again[app].app_layer) == sha256_file(built[app].app_layer), app
        assert again[app].plan == built[app].plan, app
    runners = {str(sp.get("runner")) for sp in executed_spawns(log)
               if str(sp.get("mnemonic", "")).startswith("PyImage")}  # fmt: skip
    log.unlink()
    print(f"second build's runners of our actions (its last command): {sorted(runners)}")
    assert runners and "worker" not in runners, runners


@pytest.fixture(scope="session")
def zstd_built(bases: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Built:
    """apps/api_zstd: api's binary in an image of zstd layers."""
    return build_apps(E2E, tmp_path_factory.mktemp("zstd"), {"api_zstd": ""})["api_zstd"]


def unzstd(path: Path) -> bytes:
    zstd = shutil.which("zstd")
    assert zstd, "zstd is not installed (tools/setup installs it)"
    return subprocess.run([zstd, "-dc", str(path)], capture_output=True, check=True).stdout


def test_a_zstd_image_runs_and_holds_the_files_of_the_gzip_one(
    zstd_built: Built, built: dict[str, Built], tmp_path: Path
) -> None:
    # compression = "zstd": every layer the image builds is tar+zstd (the
    # base's stay as pulled); finish_image checks it with skopeo and each zstd
    # layer's diff_id (Debian's umoci reads no zstd), then podman runs it as
    # production does, on a read-only root.
    layers = zstd_built.manifest()["layers"]
    ours = [lay for lay in layers if PACKAGES_ANNOTATION in lay.get("annotations", {})]
    assert len(ours) >= 3 and {lay["mediaType"] for lay in ours} == {
        "application/vnd.oci.image.layer.v1.tar+zstd"
    }, layers
    assert zstd_built.app_layer.name == "app.tar.zst"
    lines = podman_output(finish(zstd_built, tmp_path / "image"), "api_zstd")
    print("podman run api_zstd printed:", *lines, sep="\n  ")
    assert lines[0] == "app api on python 3.11", lines
    assert not [ln for ln in lines if ln.startswith("import failed: ")], lines
    totals = [ln.split() for ln in lines if ln.startswith("imported ")]
    assert len(totals) == 1 and totals[0][1] == totals[0][3] and int(totals[0][1]) > 0, lines
    # Compression changes the blobs, never the files: api's app layer, the same tar.
    with gzip.open(built["api"].app_layer) as f:
        assert unzstd(zstd_built.app_layer) == f.read()
    gz = sum(lay["size"] for lay in built["api"].manifest()["layers"][1:])
    zs = sum(lay["size"] for lay in layers[1:])
    print(f"api's package layers: gzip {gz} bytes, zstd {zs} bytes ({zs / gz:.3f}x)")


def test_declared_layers_are_the_images_layers_and_it_runs(
    bases: dict[str, Path], built: dict[str, Built], tmp_path: Path
) -> None:
    # apps/api_declared: api's binary, requests and its dependencies declared
    # one layer ("http", of zstd in a gzip image), six alone. The plan says so, the manifest holds
    # those layers (their packages annotated), and the image runs.
    declared = build_apps(E2E, tmp_path / "built", {"api_declared": ""})["api_declared"]
    reasons = {tuple(lay["packages"]): lay["reason"] for lay in declared.plan["layers"]}
    http = tuple(
        p
        for lay in built["api"].plan["layers"]
        for p in lay["packages"]
        if p.split("==")[0] in {"requests", "urllib3", "idna", "certifi", "charset-normalizer"}
    )
    assert reasons[tuple(sorted(http))] == "declared layer group http", reasons
    (six,) = [p for lay in built["api"].plan["layers"] for p in lay["packages"] if "six==" in p]
    assert reasons[(six,)] == "declared alone", reasons
    held = [
        lay["annotations"][PACKAGES_ANNOTATION].split(",")
        for lay in declared.manifest()["layers"]
        if PACKAGES_ANNOTATION in lay.get("annotations", {})
    ]
    assert sorted(http) in [sorted(h) for h in held] and [six] in held, held
    # "http" chooses zstd (group_compression); the image's other layers are gzip.
    types = {
        tuple(sorted(lay["annotations"][PACKAGES_ANNOTATION].split(","))): lay["mediaType"]
        for lay in declared.manifest()["layers"]
        if PACKAGES_ANNOTATION in lay.get("annotations", {})
    }
    assert types.pop(tuple(sorted(http))) == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert types and all(t.endswith("+gzip") for t in types.values()), types
    # Its plan report sets the declaration beside the automatic plan of the image.
    cost = declared.plan["declared_cost"]
    assert cost["package_layers"] == len(declared.plan["layers"]), cost
    assert cost["automatic_package_layers"] > 0 and cost["automatic_blob_bytes"] > 0, cost
    lines = podman_output(finish(declared, tmp_path / "image"), "api_declared")
    assert lines[0] == "app api on python 3.11", lines
    assert not [ln for ln in lines if ln.startswith("import failed: ")], lines


def test_an_image_of_two_binaries_runs_each_with_its_own_environment(
    bases: dict[str, Path], built: dict[str, Built], tmp_path: Path
) -> None:
    # apps/api_worker: api (the default) and worker in one image. Its
    # packages are the union of the two apps', each once; each binary has
    # its own app layer; the image runs api, worker's launcher runs worker,
    # each from its own runfiles (RUNFILES_DIR, PYTHONPATH).
    both = build_apps(E2E, tmp_path / "built", {"api_worker": ""})["api_worker"]
    packages = [p for lay in both.plan["layers"] for p in lay["packages"]]
    union = {
        p for app in ("api", "worker") for lay in built[app].plan["layers"] for p in lay["packages"]
    }
    assert sorted(packages) == sorted(union), sorted(set(packages) ^ union)
    assert both.plan["app_layers"] == 2 and len(both.more_app_layers) == 1
    assert both.more_app_layers[0].name == "app-worker.tar.gz"
    for layer, name in ((both.app_layer, "api"), (both.more_app_layers[0], "worker")):
        with tarfile.open(layer) as tf:
            names = tf.getnames()
        assert f"app/{name}" in names, names[:20]
        assert not [n for n in names if n.startswith("app/") and not n.startswith(f"app/{name}")]
    image = finish(both, tmp_path / "image")
    for entrypoint, app in ((None, "api"), ("/app/worker", "worker")):
        flags = ["--entrypoint", entrypoint] if entrypoint else []
        lines = harness(
            "podman_run.py", "--layout", str(image), "--tag", "api_worker", *flags
        ).stdout.splitlines()
        assert lines[0] == f"app {app} on python 3.11", lines
        own = f"code /app/{app}.runfiles/_main/apps/report.py runfiles /app/{app}.runfiles"
        assert own in lines, lines
        assert not [ln for ln in lines if ln.startswith("import failed: ")], lines


def test_fleet_lock_is_current() -> None:
    r = bazel(E2E, "test", "//:fleet_test")
    assert "//:fleet_test" in r.stdout + r.stderr


def test_fleet_merged_layers_are_byte_identical_across_images(built: dict[str, Built]) -> None:
    lock = json.loads((E2E / "fleet.lock.json").read_text())["images"]
    groups: dict[tuple[str, ...], set[str]] = {}
    for app in FLEET_APPS:
        assert built[app].plan["fleet_lock"] is True
        for lay in built[app].plan["layers"]:
            groups.setdefault(tuple(lay["packages"]), set()).add(lay["digest"])
        # The image has exactly the lock's layers (every package is in the lock).
        mine = [tuple(lay["packages"]) for lay in built[app].plan["layers"]]
        assert sorted(mine) == sorted(
            tuple(lay["packages"]) for lay in lock[f"//apps/{app}:image"]["layers"]
        )
    shared_merged = [
        g
        for g in groups
        if len(g) > 1
        and sum(
            g in {tuple(lay["packages"]) for lay in built[a].plan["layers"]} for a in FLEET_APPS
        )
        > 1
    ]
    assert shared_merged, groups
    assert all(len(groups[g]) == 1 for g in groups), {g: d for g, d in groups.items() if len(d) > 1}


VARIANTS = ("released", "patched")  # the images of //apps/variants:fleet
TYPING_EXTENSIONS = "opt/pyimage/site-packages/typing_extensions.py"
PATCH_MARK = b"a second build of this release"


def variant_layouts(ws: Path) -> dict[str, Path]:
    """Build the variant images' layers in ``ws``; their layouts in bazel-bin."""
    labels = [f"//apps/variants:{v}_image.layers" for v in VARIANTS]
    bazel(ws, "build", *labels)
    return {
        v: ws / "bazel-bin" / "apps" / "variants" / f"{v}_image.layers.layout" for v in VARIANTS
    }


def test_two_builds_of_one_package_version_are_two_packages_in_a_fleet() -> None:
    # typing_extensions==4.12.2 as released and patched (other bytes), one in
    # each image of one fleet: each image holds its own build.
    layouts = variant_layouts(E2E)
    got = {v: file_in_image(layout, TYPING_EXTENSIONS) for v, layout in layouts.items()}
    assert got["released"] is not None and PATCH_MARK not in got["released"]
    assert got["patched"] is not None and PATCH_MARK in got["patched"]
    assert got["patched"].startswith(got["released"])
    lock = json.loads((E2E / "apps" / "variants" / "fleet.lock.json").read_text())["images"]
    te = "typing-extensions==4.12.2"
    digests = {
        v: [
            lay["diff_ids"][te]
            for lay in lock[f"//apps/variants:{v}_image"]["layers"]
            if te in lay["packages"]
        ]
        for v in VARIANTS
    }
    assert len(digests["released"]) == len(digests["patched"]) == 1
    assert digests["released"] != digests["patched"], digests
    # The packages both use still share one merged layer, byte for byte.
    shared = {
        v: {
            lay["annotations"][PACKAGES_ANNOTATION]: lay["digest"]
            for lay in read_manifest(layout)["layers"]
            if "more-itertools" in lay.get("annotations", {}).get(PACKAGES_ANNOTATION, "")
        }
        for v, layout in layouts.items()
    }
    assert shared["released"] == shared["patched"] and len(shared["released"]) == 1, shared
    r = bazel(E2E, "test", "//apps/variants:fleet_test")
    assert "//apps/variants:fleet_test" in r.stdout + r.stderr


def test_a_lock_made_for_another_build_of_a_package_gives_its_image_its_own_bytes(
    fleet_scratch: Path,
) -> None:
    # As if the lock were written while both images held the released build:
    # one merged layer of the three small packages, with the released digest.
    ws = fleet_scratch
    lock_path = ws / "apps" / "variants" / "fleet.lock.json"
    current = lock_path.read_text()
    doc = json.loads(current)
    released = doc["images"]["//apps/variants:released_image"]
    merged_layer: dict[str, object] = {"packages": [], "diff_ids": {}, "reason": "stale on purpose"}
    for lay in released["layers"]:
        merged_layer["packages"] += lay["packages"]  # type: ignore[operator]
        merged_layer["diff_ids"].update(lay["diff_ids"])  # type: ignore[attr-defined]
    merged_layer["packages"].sort()  # type: ignore[attr-defined]
    gid = group_id((p, d, "gzip") for p, d in merged_layer["diff_ids"].items())  # type: ignore[attr-defined]
    merged_layer["group"] = gid
    for entry in doc["images"].values():
        entry["layers"] = [merged_layer]
    try:
        # The fleets' repository reads the lock again, and merges that layer
        # once, from the hubs' builds (two of typing_extensions): the
        # released one, which the lock records.
        lock_path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        layouts = variant_layouts(ws)
        got = {v: file_in_image(layout, TYPING_EXTENSIONS) for v, layout in layouts.items()}
        assert got["released"] is not None and PATCH_MARK not in got["released"]
        assert got["patched"] is not None and PATCH_MARK in got["patched"], "stale merged bytes"
        # The released image follows the lock: one layer of the three, the
        # fleet's shared layer.
        layers = {
            lay.get("annotations", {}).get(PACKAGES_ANNOTATION, ""): lay["digest"]
            for lay in read_manifest(layouts["released"])["layers"]
        }
        (shared,) = (ws / "bazel-bin" / "external").glob(
            f"*/f/apps/variants/_fleet/g/{gid}/group.json"
        )
        three = [d for a, d in layers.items() if "typing-extensions" in a and "more-itertools" in a]
        assert three == [json.loads(shared.read_text())["digest"]], (three, shared.read_text())
        check = subprocess.run(
            [str(BAZEL), "test", "//apps/variants:fleet_test", "--test_output=errors"],
            cwd=ws,
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode != 0
        assert (
            "image //apps/variants:patched_image: package typing-extensions==4.12.2 is not the"
            " bytes the lock records" in check.stdout + check.stderr
        )
    finally:
        lock_path.write_text(current)


def fleet_report() -> dict[str, object]:
    """Build //:fleet.report in the e2e workspace; its JSON."""
    bazel(E2E, "build", "//:fleet.report")
    return json.loads((E2E / "bazel-bin" / "fleet.report.json").read_text())


def test_fleet_report_describes_the_layers_the_images_have(built: dict[str, Built]) -> None:
    rep = fleet_report()
    assert rep["lock_current"] is True, rep["stale"]
    layers = rep["layers"]
    held: dict[str, set[str]] = {}  # layer digest -> apps whose manifest has it
    sizes: dict[str, int] = {}
    for app in FLEET_APPS:
        name = f"//apps/{app}:image"
        manifest = [
            lay for lay in built[app].manifest()["layers"]
            if PACKAGES_ANNOTATION in lay.get("annotations", {})
        ]  # fmt: skip
        reported = [layers[k] for k in rep["images"][name]["layers"]]
        # Per image: exactly its layers, with their real digests and sizes.
        assert sorted((lay["digest"], lay["size"]) for lay in manifest) == sorted(
            (lay["digest"], lay["blob_bytes"]) for lay in reported
        ), app
        for lay in manifest:
            held.setdefault(lay["digest"], set()).add(name)
            sizes[lay["digest"]] = lay["size"]
    # Per layer: the images that share it; totals: each distinct blob once.
    assert {lay["digest"]: set(lay["images"]) for lay in layers} == held
    assert rep["totals"]["fleet_blob_bytes"] == sum(sizes.values())
    assert rep["totals"]["fleet_layers"] == len(held)
    assert any(len(apps) > 1 for apps in held.values())
    text = bazel(E2E, "run", "//:fleet.report").stdout
    assert "the lock is current" in text
    for app in FLEET_APPS:
        assert f"image //apps/{app}:image:" in text
    print(text[text.index("totals") :])


def one_layer_per_app(b: Built, base: Path, dest: Path) -> Path:
    """The baseline: base + one site-packages layer of all the app's packages."""
    # No tar: the packages' actions write none; the merge inflates the blobs.
    members = [
        {"descriptor": str(d), "blob": str(d.with_suffix(".tar.gz"))}
        for d in package_descriptors(b)
    ]
    spec = dest.parent / f"{b.app}.layers.json"
    spec.write_text(json.dumps({"layers": [{"members": members}]}))
    run([sys.executable, "-m", "pyimage", "layout", "--out", str(dest), "--base", str(base),
         "--tag", b.app, "--layers", str(spec)], cwd=REPO / "tools")  # fmt: skip
    return dest


def test_a_library_layer_is_shared_and_an_edit_reruns_only_it(
    fleet_scratch: Path, tmp_path: Path
) -> None:
    # apps/greet: two apps of one fleet sharing //libs/greeting, a library of
    # its own layer. Both run from it (its module, its data file through
    # __file__ and through RUNFILES_DIR, its bytecode) by their runfiles'
    # links; an edit of it reruns its layer action and the two layouts only,
    # and its new layer is one blob in both images; the lock stays current.
    # The fleet's layer group "certs" (certifi, idna) chooses zstd in these
    # gzip images: both hold the one blob the fleet merged, of that media type.
    ws = fleet_scratch
    images = ("image_a", "image_b")
    targets = [f"//apps/greet:{i}.layers" for i in images]
    bazel(ws, "build", *targets)
    before = {i: copy_outputs(ws, "greet", tmp_path / "before", target=i) for i in images}
    assert_group_of_its_own_compression(ws, before.values())
    for image, built in before.items():
        app = "greet_" + image[-1]
        assert built.plan["libraries"][0]["library"] == "//libs/greeting:greeting"
        lines = podman_output(finish(built, tmp_path / f"run-{image}"), "greet")
        where = f"/app/{app}.runfiles/_main/libs/greeting/__init__.py"
        assert lines[:4] == [
            f"greeting 'hello from a shared library layer' from {where} version 1",
            "runfiles greeting 'hello from a shared library layer'",
            "library bytecode True",
            f"app {app} on python 3.11",
        ], lines
        assert not [ln for ln in lines if ln.startswith("import failed: ")], lines
    source = ws / "libs" / "greeting" / "__init__.py"
    text = source.read_text()
    log = ws / "library-edit.json"
    try:
        source.write_text(text.replace("GREETING_VERSION = 1", "GREETING_VERSION = 2"))
        bazel(ws, "build", f"--execution_log_json_file={log}", *targets)
        after = {i: copy_outputs(ws, "greet", tmp_path / "after", target=i) for i in images}
        bazel(ws, "test", "//apps/greet:fleet_test")
    finally:
        source.write_text(text)
    ran = executed_counts(log)
    print("executed after editing the library:", json.dumps(ran, indent=1, sort_keys=True))
    assert sorted(k.split()[0] for k in ran) == [
        "PyImageLayout",
        "PyImageLayout",
        "PyImageLibraryLayer",
    ], ran
    assert all(n == 1 for n in ran.values()), ran
    (library,) = [k for k in ran if k.startswith("PyImageLibraryLayer ")]
    assert library.endswith("//libs/greeting:greeting"), ran
    new = {after[i].plan["libraries"][0]["digest"] for i in images}
    old = {before[i].plan["libraries"][0]["digest"] for i in images}
    assert len(new) == 1 and len(old) == 1 and new != old, (old, new)
    for i in images:
        kept = {k: v for k, v in before[i].package_layers().items() if "library:" not in k}
        assert kept and all(after[i].package_layers()[k] == v for k, v in kept.items())
        assert sha256_file(before[i].app_layer) == sha256_file(after[i].app_layer)


def assert_group_of_its_own_compression(ws: Path, built: Iterable[Built]) -> None:
    """The greet fleet's "certs" layer: zstd, the fleet's one merge, in every image."""
    lock = json.loads((ws / "apps" / "greet" / "fleet.lock.json").read_text())
    (gid,) = {lay["group"] for lay in groups_layers(lock) if lay.get("compression") == "zstd"}
    # The fleet's repository keeps //apps/greet:fleet's shared layers under f/apps/greet/_fleet.
    home = "external/*rules_pyimage_fleets/f/apps/greet/_fleet"
    (merged,) = ws.glob(f"bazel-out/*/bin/{home}/g/{gid}/group.json")
    want = json.loads(merged.read_text())
    assert want["media_type"] == "application/vnd.oci.image.layer.v1.tar+zstd", want
    for image in built:
        found = [
            lay
            for lay in image.manifest()["layers"]
            if "certifi" in lay.get("annotations", {}).get(PACKAGES_ANNOTATION, "")
        ]
        assert [(f["digest"], f["mediaType"]) for f in found] == [
            (want["digest"], want["media_type"])
        ], found
        (planned,) = [lay for lay in image.plan["layers"] if "compression" in lay]
        assert planned["compression"] == "zstd", planned
        assert planned["reason"] == "fleet lock: declared layer group certs", planned
        others = [lay["mediaType"] for lay in image.manifest()["layers"] if lay not in found]
        assert others and all(t.endswith("+gzip") for t in others), others


def groups_layers(lock: dict) -> list[dict]:
    """Every shared layer of a lock document, once per image that holds it."""
    return [lay for e in lock["images"].values() for lay in e["layers"] if "group" in lay]


def test_fleet_bump_and_update_changes_only_the_layers_holding_the_package(
    fleet_scratch: Path, tmp_path: Path
) -> None:
    ws = fleet_scratch
    targets = [f"//apps/{app}:image.layers" for app in FLEET_APPS]
    log = ws / "fleet.json"
    bazel(ws, "build", f"--execution_log_json_file={log}", *targets)
    merges = merges_run(log)
    print(f"fleet merge actions for 3 images: {len(merges)}, each run {set(merges.values())}")
    # One merge per shared layer of the lock, each its own target, run once.
    groups = groups_of(json.loads((ws / "fleet.lock.json").read_text()))
    assert len(groups) > 1 and len(merges) == len(groups), (merges, groups)
    assert set(merges.values()) == {1} and all(f"/g/{g}:group" in " ".join(merges) for g in groups)
    before = {app: copy_outputs(ws, app, tmp_path / "before") for app in FLEET_APPS}
    old_lock = json.loads((ws / "fleet.lock.json").read_text())
    lock = ws / "requirements_lock.txt"
    lock.write_text(lock.read_text().replace("six==1.17.0\n", "six==1.16.0\n"))
    try:
        # A layout in bazel-bin is valid only as the build that wrote it left
        # it: after the bump, build api alone, and worker's old layout links
        # six's package blob, which api's build rewrote. A reader that checks
        # digests refuses it; it is never read as a good image.
        bazel(ws, "build", "//apps/api:image.layers")
        stale = ws / "bazel-bin" / "apps" / "worker" / "image.layers.layout"
        skopeo = shutil.which("skopeo")
        assert skopeo and stale.is_dir()
        r = subprocess.run(
            [skopeo, "copy", "--quiet", f"oci:{stale}", f"oci:{tmp_path / 'stale'}:x"],
            capture_output=True,
            text=True,
            check=False,
        )
        print(f"worker's stale layout after building api alone: skopeo says {r.stderr.strip()}")
        assert r.returncode != 0 and "digest did not match" in r.stderr.lower(), r.stderr
        # A new version before the lock is updated: images build, the test says why and how.
        bazel(ws, "build", *targets)
        r = subprocess.run(
            [str(BAZEL), "test", "//:fleet_test"],
            cwd=ws,
            capture_output=True,
            text=True,
            check=False,
        )
        log = next(ws.glob("bazel-testlogs/fleet_test/test.log")).read_text()
        assert r.returncode != 0, log
        assert "package six==1.16.0 is not in the lock" in log, log
        assert "bazel run //:fleet.update" in log, log
        bazel(ws, "run", "//:fleet.update")
        new_lock = json.loads((ws / "fleet.lock.json").read_text())
        bazel(ws, "test", "//:fleet_test")
        log = ws / "bumped.json"
        bazel(ws, "build", f"--execution_log_json_file={log}", *targets)
        after = {app: copy_outputs(ws, app, tmp_path / "after") for app in FLEET_APPS}
    finally:  # the next fleet test starts from the repository's files
        for name in ("requirements_lock.txt", "fleet.lock.json"):
            shutil.copyfile(E2E / name, ws / name)
    # Only the shared layers that hold the bumped package are merged again
    # (the lock changed, but no merge reads it).
    new_groups = groups_of(new_lock)
    remerged = sum(merges_run(log).values())
    print(f"after the bump: {remerged} shared layers merged again of {len(new_groups)}")
    assert remerged == len(set(new_groups) - set(groups)), (remerged, new_groups)
    assert all("six==1.16.0" in new_groups[g] for g in set(new_groups) - set(groups))
    for app in FLEET_APPS:
        name = f"//apps/{app}:image"
        old = [lay["packages"] for lay in old_lock["images"][name]["layers"]]
        new = [lay["packages"] for lay in new_lock["images"][name]["layers"]]
        assert [g for g in old if "six==1.17.0" not in g] == [
            g for g in new if "six==1.16.0" not in g
        ]
        b = {tuple(lay["packages"]): lay["digest"] for lay in before[app].plan["layers"]}
        a = {tuple(lay["packages"]): lay["digest"] for lay in after[app].plan["layers"]}
        changed = [g for g in a if b.get(g) != a[g]]
        assert changed and all("six==1.16.0" in g for g in changed), (app, changed)


def test_fleet_bytes_uploaded_with_the_lock_without_it_and_one_layer_per_app(
    built: dict[str, Built], finished: dict[str, Path], bases: dict[str, Path],
    fleet_scratch: Path, tmp_path: Path,
) -> None:  # fmt: skip
    with_lock = push_all({app: finished[app] for app in FLEET_APPS})
    # Without the lock: the scratch copy with fleet.lock.json deleted (the
    # last test of that copy).
    ws = fleet_scratch
    (ws / "fleet.lock.json").unlink()
    alone = build_apps(ws, tmp_path / "alone", dict.fromkeys(FLEET_APPS, ""))
    without = push_all({app: finish(alone[app], tmp_path / f"alone-{app}") for app in FLEET_APPS})
    # ... and the images still run, and the fleet test says what to do.
    assert podman_output(tmp_path / "alone-api", "api")[0] == "app api on python 3.11"
    r = subprocess.run(
        [str(BAZEL), "test", "//:fleet_test"], cwd=ws, capture_output=True, text=True, check=False
    )
    log = next(ws.glob("bazel-testlogs/fleet_test/test.log")).read_text()
    assert r.returncode != 0 and "no lock file" in log and "bazel run //:fleet.update" in log, log
    # The baseline: one site-packages layer per app.
    naive = {}
    for app in FLEET_APPS:
        layout = one_layer_per_app(built[app], bases["python"], tmp_path / f"naive-{app}")
        naive[app] = finish(built[app], tmp_path / f"naive-{app}-image", layout)
    baseline = push_all(naive)
    # The report's estimate of one site-packages layer per app is what was built.
    naive_layers = sum(
        read_manifest(tmp_path / f"naive-{app}")["layers"][-1]["size"] for app in FLEET_APPS
    )
    totals = fleet_report()["totals"]
    reported = totals["one_layer_per_app_blob_bytes"]
    print(f"one layer per app: built {naive_layers} bytes, the fleet report says {reported}")
    if totals["one_layer_per_app_exact"]:
        assert reported == naive_layers
    else:  # identical duplicate files: an upper bound
        assert naive_layers <= reported <= 1.001 * naive_layers
    sizes = {name: rep["total_upload_bytes"] for name, rep in
             (("with the fleet lock", with_lock), ("without the lock", without),
              ("one site-packages layer per app", baseline))}  # fmt: skip
    print("bytes uploaded for api, web and worker:", json.dumps(sizes, indent=1))
    assert sizes["with the fleet lock"] <= sizes["without the lock"]
    assert sizes["with the fleet lock"] < sizes["one site-packages layer per app"]
    for rep in (with_lock, without, baseline):
        assert all(b["uploads"] <= 1 for b in rep["blobs"].values())


@pytest.fixture(scope="module")
def fleet_scratch(bases: dict[str, Path]) -> Iterator[Path]:
    """One scratch copy for the fleet tests (each one puts back what it changes)."""
    with scratch_copy() as ws:
        yield ws


@pytest.fixture()
def solo_scratch(bases: dict[str, Path]) -> Iterator[Path]:
    """A scratch copy whose images are planned alone (no fleet): per-image behaviour."""
    with scratch_copy() as ws:
        for build in (ws / "apps").glob("*/BUILD.bazel"):
            build.write_text(build.read_text().replace('    fleet = "//:fleet",\n', ""))
        yield ws


def test_package_actions_run_once_and_a_bump_reruns_only_its_own(
    solo_scratch: Path, tmp_path: Path
) -> None:
    ws = solo_scratch
    # 1. api from scratch: one package action per package of api.
    bazel(ws, "build", f"--execution_log_json_file={ws / 'api.json'}", "//apps/api:image.layers")
    api = copy_outputs(ws, "api", tmp_path / "api")
    api_packages = {p for lay in api.plan["layers"] for p in lay["packages"]}
    first = executed_counts(ws / "api.json")
    package_runs = [k for k in first if k.startswith("PyImagePackageLayer ")]
    print(f"api from scratch: {len(package_runs)} package actions for {len(api_packages)} packages")
    assert len(package_runs) == len(api_packages), first
    # Each writes its blob and descriptor: no uncompressed tar for a cache to store.
    declared = {
        Path(str(out)).name
        for spawn in executed_spawns(ws / "api.json")
        if spawn.get("mnemonic") == "PyImagePackageLayer"
        for out in spawn.get("listedOutputs", [])
    }
    assert declared == {"layer.tar.gz", "layer.json"}, declared
    # Run by pyimage's persistent worker (one process for them all), not one
    # new Python process each.
    runners = {
        str(spawn.get("runner"))
        for spawn in executed_spawns(ws / "api.json")
        if str(spawn.get("mnemonic", "")).startswith("PyImage")
    }
    assert runners == {"worker"}, runners
    # 2. worker next: only the packages api did not have get an action.
    bazel(
        ws, "build", f"--execution_log_json_file={ws / 'worker.json'}", "//apps/worker:image.layers"
    )
    worker = copy_outputs(ws, "worker", tmp_path / "worker")
    worker_packages = {p for lay in worker.plan["layers"] for p in lay["packages"]}
    second = executed_counts(ws / "worker.json")
    package_runs = [k for k in second if k.startswith("PyImagePackageLayer ")]
    print(
        f"worker after api: {len(package_runs)} package actions for {len(worker_packages)} "
        f"packages, {len(worker_packages & api_packages)} shared with api"
    )
    assert len(package_runs) == len(worker_packages - api_packages), second
    assert not [k for k in package_runs if in_spoke_of(k.split()[1], "numpy")], second
    # 3. Bump six in api: its package action, api's layout and nothing else of ours.
    lock = ws / "requirements_lock.txt"
    assert "six==1.17.0\n" in lock.read_text()
    lock.write_text(lock.read_text().replace("six==1.17.0\n", "six==1.16.0\n"))
    bazel(ws, "build", f"--execution_log_json_file={ws / 'bump.json'}", "//apps/api:image.layers")
    after = copy_outputs(ws, "api", tmp_path / "after")
    bump = executed_counts(ws / "bump.json")
    print("executed after bumping six:", json.dumps(bump, indent=1, sort_keys=True))
    package_runs = [k for k in bump if k.startswith("PyImagePackageLayer ")]
    assert len(package_runs) == 1 and in_spoke_of(package_runs[0].split()[1], "six"), bump
    assert {k.split()[0] for k in bump} <= {"PyImagePackageLayer", "PyImageLayout"}, bump
    # Every layer without six kept its digest; six's old layer is gone.
    b, a = api.package_layers(), after.package_layers()
    kept = [m for m in b if "six==" not in m]
    assert kept and all(a.get(m) == b[m] for m in kept), (b, a)
    assert not [m for m in a if "six==1.17.0" in m], a


def test_conflicting_package_files_fail_the_build_naming_both() -> None:
    r = subprocess.run(
        [str(BAZEL), "build", "//py/tests/layers:conflicting_layers"],
        cwd=REPO, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert r.returncode != 0
    errors = [ln for ln in r.stderr.splitlines() if ln.startswith("pyimage: error:")]
    assert len(errors) == 1, r.stderr[-3000:]
    for word in ("opt/pyimage/site-packages/dup/__init__.py", "dup-a==1.0", "dup-b==2.0"):
        assert word in errors[0]


def test_the_base_action_reads_the_c_library_the_image_runs_on(finished: dict[str, Path]) -> None:
    # What the image action checks manylinux/musllinux wheels against, read
    # from the base's layers, is the C library the container runs.
    bazel(E2E, "build", "--output_groups=base_libc", "//apps/api:image.layers")
    facts = json.loads((E2E / "bazel-bin/apps/api/image.layers.base_libc.json").read_text())
    script = "import os; print(os.confstr('CS_GNU_LIBC_VERSION'))"
    args = ["--layout", str(finished["api"]), "--tag", "api", "--entrypoint", "/usr/bin/python3"]
    ran = harness("podman_run.py", *args, "--", "-c", script).stdout.split()
    assert [facts["libc"], facts["version"]] == ran, facts
    assert re.fullmatch(r"(usr/)?lib/x86_64-linux-gnu/libc\.so\.6", facts["file"]), facts


def test_app_layer_holds_no_package_files(built: dict[str, Built]) -> None:
    for app, b in built.items():
        with tarfile.open(b.app_layer) as tf:
            names = tf.getnames()
        assert any(n.endswith(("/main.py", "/shape_app.py")) for n in names), app
        # Only a venv's own site-packages (bazel.pth, _bazel_site_init.py).
        packaged = [n for n in names if "site-packages" in n and ".venv/" not in n]
        assert not packaged, (app, packaged[:3])


def test_rules_python_shapes_give_one_set_of_package_layers_and_run(
    built: dict[str, Built], finished: dict[str, Path]
) -> None:
    # The same wheels as rules_python 0.22, 1.5-1.9 (pipstar names, build-time
    # shims), 2.x (wrapper :pkg over :srcs, bin/ data/ include/) and a 1.x
    # venv binary write them: the same package layers, byte for byte.
    layers = {app: built[app].package_layers() for app in SHAPE_APPS}
    assert len(layers["rp022"]) >= 1
    for app in SHAPE_APPS:
        assert layers[app] == layers["rp022"], app
    ids = sorted(p for lay in built["rp022"].plan["layers"] for p in lay["packages"])
    assert "jaraco-functools==4.1.0" in ids and "pygments==2.18.0" in ids, ids
    outputs = {app: podman_output(finished[app], app) for app in SHAPE_APPS}
    # All they print but the first line (the app's name), where its code is
    # (its own runfiles) and the time their imports took: the same.
    same = {
        app: [ln for ln in lines[1:] if not ln.startswith(("imports done ", "code /app/"))]
        for app, lines in outputs.items()
    }
    for app, lines in outputs.items():
        print(f"podman run {app}:", *lines, sep="\n  ")
        assert same[app] == same["rp022"], app
    lines = outputs["rp022"]
    assert f"jaraco.functools==4.1.0 from {SITE}/jaraco/functools/__init__.py" in lines
    assert f"greenlet==3.1.1 from {SITE}/greenlet/__init__.py" in lines
    assert "greenlet switch 42" in lines
    # jaraco/ is one implicit namespace folder: no shim, no second copy.
    assert f"jaraco {SITE}/jaraco" in lines
