"""OCI layout writer: checked by umoci (strict) and skopeo; base selection; bad bases."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from enginekit import TOOLS, build_package, need_root, need_tool, pyimage, run, umoci_unpack

from pyimage.engine import layer, oci_layout
from pyimage.engine.oci_layout import LayerInput, write_layout
from pyimage.errors import PyimageError


@pytest.fixture(scope="module")
def pkgs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, layer.Member]:
    w = tmp_path_factory.mktemp("pkgs")
    return {
        "a": build_package(
            w,
            "a==1",
            {
                "opt/venv/lib/a/__init__.py": b"A = 1\n",
                "opt/venv/bin/a": ("exec", b"#!/bin/sh\necho a\n"),
                "opt/venv/lib/a/alias.py": ("link", "__init__.py"),
            },
        ),
        "b": build_package(w, "b==2", {"opt/venv/lib/b.py": b"B = 2\n" * 1000}),
        "c": build_package(w, "c==3", {"opt/venv/lib/" + "c" * 140 + ".py": b"long name"}),
    }


def read(base: Path, platform: str = "linux/amd64") -> oci_layout.BaseImage:
    """The base layout's image for ``platform``, as the commands read it once."""
    return oci_layout.read_base(base, oci_layout.Platform.parse(platform))


def blob_json(layout: Path, digest: str) -> dict:
    return json.loads((layout / "blobs/sha256" / digest.split(":")[1]).read_bytes())


def image_of(layout: Path) -> tuple[dict, dict]:
    index = json.loads((layout / "index.json").read_text())
    manifest = blob_json(layout, index["manifests"][0]["digest"])
    return manifest, blob_json(layout, manifest["config"]["digest"])


def test_scratch_layout_unpacks_with_umoci(pkgs: dict[str, layer.Member], tmp_path: Path) -> None:
    out = tmp_path / "layout"
    r = write_layout(out, [LayerInput((pkgs["a"], pkgs["b"])), LayerInput((pkgs["c"],))], tag="v1")
    manifest, config = image_of(out)
    assert [x["annotations"][oci_layout.PACKAGES_ANNOTATION] for x in manifest["layers"]] == [
        "a==1,b==2",
        "c==3",
    ]
    assert config["rootfs"]["diff_ids"] == [d.diff_id for d in r.layers]
    assert len(config["history"]) == 2
    assert manifest["layers"][1]["digest"] == pkgs["c"].descriptor.digest  # reused as is
    assert r.placed[pkgs["c"].descriptor.digest] in ("reflink", "hardlink", "copy")
    assert not list(tmp_path.glob(".layout*")), "no temp dir left"
    rootfs = umoci_unpack(out, "v1", tmp_path / "bundle")
    assert (rootfs / "opt/venv/lib/a/__init__.py").read_bytes() == b"A = 1\n"
    assert (rootfs / "opt/venv/bin/a").stat().st_mode & 0o777 == 0o755
    assert (rootfs / "opt/venv/lib/a/alias.py").readlink() == Path("__init__.py")
    assert (rootfs / "opt/venv/lib" / ("c" * 140 + ".py")).read_bytes() == b"long name"


def test_skopeo_copies_to_docker_archive(pkgs: dict[str, layer.Member], tmp_path: Path) -> None:
    skopeo = need_tool("skopeo")
    out = tmp_path / "layout"
    write_layout(out, [LayerInput(tuple(pkgs.values()))], tag="t")
    archive = tmp_path / "img.tar"
    run(skopeo, "copy", f"oci:{out}:t", f"docker-archive:{archive}:pyimage/test:t")
    assert archive.stat().st_size > 0


def test_layout_on_a_base_selects_the_platform(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    # A multi-platform base: an index -> nested index -> amd64 image, plus an arm64 image.
    amd = tmp_path / "amd"
    arm = tmp_path / "arm"
    write_layout(amd, [LayerInput((pkgs["a"],))], platform="linux/amd64")
    write_layout(arm, [LayerInput((pkgs["b"],))], platform="linux/arm64/v8")
    base = tmp_path / "base"
    shutil.copytree(amd, base)
    for blob in (arm / "blobs/sha256").iterdir():
        shutil.copyfile(blob, base / "blobs/sha256" / blob.name)
    amd_entry = json.loads((amd / "index.json").read_text())["manifests"][0]
    arm_entry = json.loads((arm / "index.json").read_text())["manifests"][0]
    nested = json.dumps(
        {"schemaVersion": 2, "mediaType": oci_layout.OCI_INDEX, "manifests": [amd_entry]}
    ).encode()
    nested_digest = "sha256:" + hashlib.sha256(nested).hexdigest()
    (base / "blobs/sha256" / nested_digest[7:]).write_bytes(nested)
    top = {
        "schemaVersion": 2,
        "mediaType": oci_layout.OCI_INDEX,
        "manifests": [
            arm_entry,
            {"mediaType": oci_layout.OCI_INDEX, "digest": nested_digest, "size": len(nested)},
        ],
    }
    (base / "index.json").write_text(json.dumps(top))

    out = tmp_path / "out"
    r = write_layout(out, [LayerInput((pkgs["c"],))], base=read(base), tag="app")
    assert r.base_layers == 1
    manifest, config = image_of(out)
    assert [x["digest"] for x in manifest["layers"]] == [
        pkgs["a"].descriptor.digest,
        pkgs["c"].descriptor.digest,
    ]
    assert config["architecture"] == "amd64"
    rootfs = umoci_unpack(out, "app", tmp_path / "bundle")
    assert (rootfs / "opt/venv/bin/a").exists()
    assert not (rootfs / "opt/venv/lib/b.py").exists()

    arm_out = tmp_path / "arm-out"
    arm_base = read(base, "linux/arm64")
    write_layout(arm_out, [LayerInput((pkgs["c"],))], base=arm_base, platform="linux/arm64")
    manifest, config = image_of(arm_out)
    assert manifest["layers"][0]["digest"] == pkgs["b"].descriptor.digest
    assert config["architecture"] == "arm64"

    with pytest.raises(PyimageError, match="no image for platform linux/s390x"):
        read(base, "linux/s390x")
    info = pyimage("base-info", "--base", str(base))
    assert json.loads(info.stdout) == {"base_layers": 1}


def test_docker_media_types_in_base_become_oci(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    base = tmp_path / "base"
    write_layout(base, [LayerInput((pkgs["a"],))])
    index = json.loads((base / "index.json").read_text())
    manifest = blob_json(base, index["manifests"][0]["digest"])
    manifest["mediaType"] = oci_layout.DOCKER_MANIFEST
    manifest["config"]["mediaType"] = oci_layout.DOCKER_CONFIG
    manifest["layers"][0]["mediaType"] = "application/vnd.docker.image.rootfs.diff.tar.gzip"
    raw = json.dumps(manifest).encode()
    digest = "sha256:" + hashlib.sha256(raw).hexdigest()
    (base / "blobs/sha256" / digest[7:]).write_bytes(raw)
    index["manifests"][0].update(
        {"digest": digest, "size": len(raw), "mediaType": oci_layout.DOCKER_MANIFEST}
    )
    (base / "index.json").write_text(json.dumps(index))
    out = tmp_path / "out"
    write_layout(out, [LayerInput((pkgs["b"],))], base=read(base))
    new, _ = image_of(out)
    oci_gzip = "application/vnd.oci.image.layer.v1.tar+gzip"
    assert {x["mediaType"] for x in new["layers"]} == {oci_gzip}
    umoci_unpack(out, "latest", tmp_path / "bundle")


def test_assembly_reads_no_blob_bytes(pkgs: dict[str, layer.Member], tmp_path: Path) -> None:
    # A per-package blob whose bytes are garbage of the right size: the layout is
    # written all the same, because digests come from the descriptor and the blob
    # is linked, never read. (umoci would then reject it; that is the point.)
    fake_blob = tmp_path / "fake.tgz"
    fake_blob.write_bytes(b"\xff" * pkgs["b"].descriptor.size)
    fake = layer.Member(pkgs["b"].descriptor, fake_blob)
    out = tmp_path / "out"
    r = write_layout(out, [LayerInput((fake,))])
    placed = out / "blobs/sha256" / pkgs["b"].descriptor.digest[7:]
    assert placed.read_bytes() == fake_blob.read_bytes()
    if r.placed[pkgs["b"].descriptor.digest] == "hardlink":
        assert placed.stat().st_ino == fake_blob.stat().st_ino


def test_each_blob_stored_once(pkgs: dict[str, layer.Member], tmp_path: Path) -> None:
    out = tmp_path / "out"
    write_layout(out, [LayerInput((pkgs["a"],)), LayerInput((pkgs["b"],))])
    again = tmp_path / "again"
    r = write_layout(again, [LayerInput((pkgs["c"],))], base=read(out))
    manifest, _ = image_of(again)
    digests = [x["digest"] for x in manifest["layers"]]
    assert len(digests) == 3
    assert len(list((again / "blobs/sha256").iterdir())) == 5  # 3 layers, config, manifest
    assert set(r.placed) >= set(digests)


def test_conflicts_across_layers_are_refused(tmp_path: Path) -> None:
    a = build_package(tmp_path, "a==1", {"bin/x": b"1"})
    b = build_package(tmp_path, "b==1", {"bin/x": b"2"})
    with pytest.raises(PyimageError, match=r"'bin/x' is in both a==1 and b==1"):
        write_layout(tmp_path / "out", [LayerInput((a,)), LayerInput((b,))])
    assert not (tmp_path / "out").exists()


def corrupt_cases(base: Path) -> dict[str, tuple[object, str]]:
    index = json.loads((base / "index.json").read_text())
    manifest_digest = index["manifests"][0]["digest"]
    manifest = blob_json(base, manifest_digest)
    layer_digest = manifest["layers"][0]["digest"]
    config_digest = manifest["config"]["digest"]
    blobs = base / "blobs/sha256"

    def bad_index() -> None:
        (base / "index.json").write_text('{"manifests": [')

    def missing_layer() -> None:
        (blobs / layer_digest[7:]).unlink()

    def truncated_layer() -> None:
        path = blobs / layer_digest[7:]
        path.write_bytes(path.read_bytes()[:10])

    def changed_manifest() -> None:
        path = blobs / manifest_digest[7:]
        path.write_bytes(path.read_bytes().replace(b"schemaVersion", b"schemaversion"))

    def missing_config() -> None:
        (blobs / config_digest[7:]).unlink()

    def no_marker() -> None:
        (base / "oci-layout").unlink()

    def put(obj: dict) -> tuple[str, int]:
        data = json.dumps(obj).encode()
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        (blobs / digest[7:]).write_bytes(data)
        return digest, len(data)

    def new_config(change: Callable[[dict], object]) -> None:
        config = blob_json(base, config_digest)
        change(config)
        digest, size = put(config)
        manifest["config"] = {**manifest["config"], "digest": digest, "size": size}
        digest, size = put(manifest)
        index["manifests"][0].update(digest=digest, size=size)
        (base / "index.json").write_text(json.dumps(index))

    def mislabelled_platform() -> None:
        # An arm64 config, listed in the index as linux/amd64.
        new_config(lambda config: config.update(architecture="arm64"))

    def config_without_os() -> None:
        new_config(lambda config: config.pop("os"))

    def config_without_architecture() -> None:
        new_config(lambda config: config.pop("architecture"))

    def two_images_for_one_platform() -> None:
        # A second image listed for linux/amd64: which one is the base?
        other = blob_json(base, manifest_digest)
        other["annotations"] = {"second": "image"}
        digest, size = put(other)
        second = {**index["manifests"][0], "digest": digest, "size": size}
        index["manifests"].append(second)
        (base / "index.json").write_text(json.dumps(index))

    return {
        "bad-index": (bad_index, "index.json is not valid JSON"),
        "missing-layer": (missing_layer, "is missing"),
        "truncated-layer": (truncated_layer, "truncated"),
        "changed-manifest": (changed_manifest, "does not match its digest"),
        "missing-config": (missing_config, "config blob"),
        "no-marker": (no_marker, "oci-layout"),
        "mislabelled-platform": (mislabelled_platform, "has a config for linux/arm64"),
        "config-without-os": (config_without_os, "does not state its os and architecture"),
        "config-without-architecture": (
            config_without_architecture,
            "does not state its os and architecture",
        ),
        "two-images-for-one-platform": (
            two_images_for_one_platform,
            f"lists 2 images for platform linux/amd64 ({manifest_digest} and sha256:",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "bad-index",
        "missing-layer",
        "truncated-layer",
        "changed-manifest",
        "missing-config",
        "no-marker",
        "mislabelled-platform",
        "config-without-os",
        "config-without-architecture",
        "two-images-for-one-platform",
    ],
)
def test_corrupt_base_is_refused_in_one_line(
    pkgs: dict[str, layer.Member], tmp_path: Path, case: str
) -> None:
    base = tmp_path / "base"
    write_layout(base, [LayerInput((pkgs["a"],))])
    # Own copies of the blobs: the damage must not reach the fixture's files.
    for blob in (base / "blobs/sha256").iterdir():
        data = blob.read_bytes()
        blob.unlink()
        blob.write_bytes(data)
    damage, needle = corrupt_cases(base)[case]
    damage()  # type: ignore[operator]
    out = tmp_path / "out"
    stem = str(pkgs["b"].blob)[: -len(".tar.gz")]
    r = pyimage(
        "layout",
        *("--out", str(out), "--base", str(base)),
        *("--layer", stem + ".json", str(pkgs["b"].blob)),
    )
    assert r.returncode == 2, r.stderr
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert needle in lines[0]
    assert "re-pull" in lines[0]
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_layout_cli_with_layers_file(pkgs: dict[str, layer.Member], tmp_path: Path) -> None:
    def member(m: layer.Member) -> dict[str, str]:
        stem = str(m.blob)[: -len(".tar.gz")]
        return {"descriptor": stem + ".json", "blob": str(m.blob)}

    spec = {
        "layers": [
            {"members": [member(pkgs["c"])]},
            {"members": [member(pkgs["a"]), member(pkgs["b"])]},
        ]
    }
    (tmp_path / "layers.json").write_text(json.dumps(spec))
    out = tmp_path / "out"
    out.mkdir()  # an existing (e.g. Bazel-created) output directory is replaced
    r = pyimage("layout", "--out", str(out), "--layers", str(tmp_path / "layers.json"))
    assert r.returncode == 0, r.stderr
    summary = json.loads(r.stdout)
    assert summary["layers"] == 2
    assert summary["base_layers"] == 0
    umoci_unpack(out, "latest", tmp_path / "bundle")


def test_prebuilt_merged_layer_and_duplicate_packages(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    merged = layer.merge([pkgs["a"], pkgs["b"]], tmp_path / "ab.tgz", tmp_path / "ab.json")
    ab = layer.load_member(tmp_path / "ab.json", tmp_path / "ab.tgz")
    out = tmp_path / "out"
    write_layout(out, [LayerInput((ab,)), LayerInput((pkgs["c"],))], tag="t")
    manifest, _ = image_of(out)
    assert manifest["layers"][0]["digest"] == merged.digest
    assert manifest["layers"][0]["annotations"][oci_layout.PACKAGES_ANNOTATION] == "a==1,b==2"
    umoci_unpack(out, "t", tmp_path / "bundle")
    with pytest.raises(PyimageError, match="package a==1 is given twice"):
        write_layout(tmp_path / "dup", [LayerInput((ab,)), LayerInput((pkgs["a"],))])


def test_out_replaces_only_an_empty_folder_or_a_previous_layout(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    layers = [LayerInput((pkgs["a"],))]
    empty = tmp_path / "empty"
    empty.mkdir()
    write_layout(empty, layers)
    write_layout(empty, [LayerInput((pkgs["b"],))])  # a previous layout: replaced
    manifest, _ = image_of(empty)
    assert [x["digest"] for x in manifest["layers"]] == [pkgs["b"].descriptor.digest]
    # A folder holding anything else, or a file: refused in one line, untouched.
    home = tmp_path / "home"
    (home / "docs").mkdir(parents=True)
    (home / "docs" / "thesis.txt").write_text("years of work")
    (home / "index.json").write_text("{}")
    not_dir = tmp_path / "file"
    not_dir.write_text("keep")
    stem = str(pkgs["a"].blob)[: -len(".tar.gz")]
    for out, needle in ((home, "not a previous layout"), (not_dir, "is not a folder")):
        r = pyimage("layout", "--out", str(out), "--layer", stem + ".json", str(pkgs["a"].blob))
        assert r.returncode == 2, r.stderr
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and needle in lines[0], r.stderr
    assert (home / "docs" / "thesis.txt").read_text() == "years of work"
    assert not_dir.read_text() == "keep"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["empty", "file", "home"]


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("oci-layout is a folder", "no oci-layout file of ours"),
        ("oci-layout of another tool", "no oci-layout file of ours"),
        ("a user file under blobs/", "'blobs/sha256/notes.txt'"),
        ("a folder under blobs/sha256/", "'blobs/sha256/"),
        ("another algorithm under blobs/", "'blobs/sha512'"),
        ("index.json is a folder", "'index.json'"),
    ],
)
def test_out_that_only_looks_like_a_layout_is_never_replaced(
    pkgs: dict[str, layer.Member], tmp_path: Path, case: str, needle: str
) -> None:
    # Only exactly a previous layout of ours is replaced: one folder more,
    # or a look-alike marker, and --out is refused with every file kept.
    out = tmp_path / "out"
    write_layout(out, [LayerInput((pkgs["a"],))])
    blobs = out / "blobs/sha256"
    if case == "oci-layout is a folder":
        (out / "oci-layout").unlink()
        (out / "oci-layout").mkdir()
        (out / "oci-layout" / "mine.txt").write_text("keep")
    elif case == "oci-layout of another tool":
        (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0", "tool": "x"}')
    elif case == "a user file under blobs/":
        (blobs / "notes.txt").write_text("keep")
    elif case == "a folder under blobs/sha256/":
        (blobs / ("0" * 64)).mkdir()
        (blobs / ("0" * 64) / "mine.txt").write_text("keep")
    elif case == "another algorithm under blobs/":
        (out / "blobs/sha512").mkdir()
        (out / "blobs/sha512/mine.txt").write_text("keep")
    else:
        (out / "index.json").unlink()
        (out / "index.json").mkdir()
        (out / "index.json" / "mine.txt").write_text("keep")
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    stem = str(pkgs["b"].blob)[: -len(".tar.gz")]
    r = pyimage("layout", "--out", str(out), "--layer", stem + ".json", str(pkgs["b"].blob))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "not a previous layout of rules_pyimage" in lines[0] and needle in lines[0], lines
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before
    assert [p.name for p in tmp_path.iterdir()] == ["out"], "no temporary left"


def test_linked_blobs_are_relative_links_that_hold_once_the_sandbox_is_gone(
    pkgs: dict[str, layer.Member], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As under Bazel: the blobs are outputs of other actions in the execroot's
    # bin dir; the action runs in a sandbox whose inputs are absolute symlinks
    # to them, writes its layout there, and Bazel moves it to the execroot.
    execroot, sandbox = tmp_path / "execroot", tmp_path / "sandbox"
    bin_dir = Path("bazel-out/bin")
    base = execroot / bin_dir / "apps/base"
    write_layout(base, [LayerInput((pkgs["a"],))])
    members = {}
    for name in "bc":
        where = execroot / bin_dir / f"pkgs/{name}.tgz"
        where.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(pkgs[name].blob, where)
        (sandbox / where.relative_to(execroot)).parent.mkdir(parents=True, exist_ok=True)
        (sandbox / where.relative_to(execroot)).symlink_to(where)
        members[name] = layer.Member(pkgs[name].descriptor, where.relative_to(execroot))
    for f in base.rglob("*"):
        staged = sandbox / f.relative_to(execroot)
        staged.parent.mkdir(parents=True, exist_ok=True)
        if f.is_file():
            staged.symlink_to(f)
    d = build_package(tmp_path / "more", "d==4", {"opt/venv/lib/d.py": b"D = 4\n"})
    e = build_package(tmp_path / "more", "e==5", {"opt/venv/lib/e.py": b"E = 5\n"})
    monkeypatch.chdir(sandbox)
    out = bin_dir / "apps/api/layout"
    r = write_layout(
        out,
        [
            LayerInput((members["b"],)),
            LayerInput((members["c"],)),
            LayerInput((d, e)),
        ],
        base=read(bin_dir / "apps/base"),
        # Not c: a blob that does not go with the layout is placed.
        link=[bin_dir / "apps/base", bin_dir / "pkgs/b.tgz"],
    )
    final = execroot / out
    final.parent.mkdir(parents=True)
    (sandbox / out).rename(final)
    shutil.rmtree(sandbox)

    blobs = final / "blobs/sha256"
    a, b, c = (pkgs[n].descriptor.digest for n in "abc")
    merged = r.layers[-1].digest
    assert {r.placed[d] for d in (a, b)} == {"symlink"}  # the base's layer, a package's
    assert r.placed[c] in ("reflink", "hardlink", "copy")
    assert r.placed[merged] == "merge"
    for digest in (a, b):
        link = blobs / digest[7:]
        text = link.readlink()
        assert not text.is_absolute(), text
        assert link.resolve().is_relative_to(execroot.resolve()), link.resolve()
        assert hashlib.sha256(link.read_bytes()).hexdigest() == digest[7:]
    assert not (blobs / c[7:]).is_symlink() and not (blobs / merged[7:]).is_symlink()
    rootfs = umoci_unpack(final, "latest", tmp_path / "bundle")
    assert (rootfs / "opt/venv/lib/b.py").read_bytes() == b"B = 2\n" * 1000
    assert (rootfs / "opt/venv/bin/a").exists()
    assert (rootfs / "opt/venv/lib/e.py").read_bytes() == b"E = 5\n"


def test_a_layout_and_its_plan_report_are_put_in_place_as_one_unit(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    # The report describes the layout: it is removed first and renamed in
    # last, under the folder's lock, so that a kill at any point leaves the
    # old pair or a new layout without a report (missing, never another's).
    strace = need_tool("strace")
    out, report = tmp_path / "img", tmp_path / "img.plan.json"
    args = ["image", "--out", str(out), "--plan-out", str(report)]
    for m in pkgs.values():
        args += ["--package", str(m.descriptor_path), str(m.blob)]
    assert pyimage(*args).returncode == 0  # the previous pair
    log = tmp_path / "strace.log"
    calls = "flock,unlink,unlinkat,rename,renameat,renameat2"
    traced = [strace, "-f", "-qq", "-e", f"trace={calls}", "-o", str(log),
              sys.executable, "-m", "pyimage", *args]  # fmt: skip
    run(*traced, cwd=TOOLS)
    events = []
    for line in log.read_text().splitlines():
        if "flock(" in line and "LOCK_EX" in line:
            events.append("lock")
        elif f'"{report}"' in line and "unlink" in line:
            events.append("unlink report")
        elif "rename" in line and line.rstrip().endswith("= 0"):
            target = line.split('"')[-2]
            if target in (str(out), str(report)):
                events.append(f"rename {Path(target).name}")
    # (A merge inside the layout's own temporary folder takes a lock first.)
    last = len(events) - 1 - events[::-1].index("lock")
    assert events[last:] == ["lock", "unlink report", "rename img", "rename img.plan.json"], events
    plan = json.loads(report.read_text())
    assert (
        plan["manifest"] == json.loads((out / "index.json").read_text())["manifests"][0]["digest"]
    )


def test_a_plan_report_path_that_is_a_folder_is_refused_in_one_line(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    (tmp_path / "report").mkdir()
    m = pkgs["a"]
    r = pyimage("image", "--out", str(tmp_path / "img"), "--plan-out", str(tmp_path / "report"),
                "--package", str(m.descriptor_path), str(m.blob))  # fmt: skip
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "--plan-out" in lines[0] and "is a folder" in lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["report"]


def test_a_full_disk_while_copying_blobs_says_so_and_leaves_nothing(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    need_root()
    if not shutil.which("mount"):
        pytest.skip("needs mount(8) to make a small tmpfs (CI has it)")
    small = tmp_path / "small"
    small.mkdir()
    big = build_package(tmp_path, "big==1", {"opt/big.bin": os.urandom(256 << 10)})
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        # Another file system: no reflink nor hard link, so the blob is copied.
        r = pyimage("layout", "--out", str(small / "out"),
                    "--layer", str(big.descriptor_path), str(big.blob))  # fmt: skip
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, r.stderr
        assert "No space left on device" in lines[0] and "free disk space" in lines[0], lines
        assert list(small.iterdir()) == []
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_summarize_reads_a_layout_of_ours_and_refuses_what_is_not_one(
    pkgs: dict[str, layer.Member], tmp_path: Path
) -> None:
    out = tmp_path / "layout"
    members = list(pkgs.values())[:2]
    write_layout(out, [LayerInput((m,)) for m in members], platform="linux/arm64/v8")
    summary = oci_layout.summarize(out)
    manifest, _ = image_of(out)
    index = json.loads((out / "index.json").read_text())
    assert summary.platform == "linux/arm64/v8"
    assert [lay["digest"] for lay in summary.layers] == [m.descriptor.digest for m in members]
    assert summary.metadata_bytes == index["manifests"][0]["size"] + manifest["config"]["size"]
    index["manifests"].append(index["manifests"][0])
    (out / "index.json").write_text(json.dumps(index))
    with pytest.raises(PyimageError, match=r"index\.json lists no single image; rebuild the image"):
        oci_layout.summarize(out)
    index["manifests"] = index["manifests"][:1]
    (out / "index.json").write_text(json.dumps(index))
    config = out / "blobs" / "sha256" / manifest["config"]["digest"][7:]
    config.chmod(0o644)
    config.write_text("{}")
    with pytest.raises(PyimageError, match=r"config blob .* does not match its digest or size"):
        oci_layout.summarize(out)
