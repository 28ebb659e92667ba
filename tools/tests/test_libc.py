"""A base image's C library, read from its layers, and the wheels it can run.

Bases are written here as other tools write them (Python's tarfile, GNU and
PAX headers, gzip or plain tar layers); glibc is this machine's real
``libc.so.6``, its version known from the running C library itself.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import platform
import struct
import tarfile
from pathlib import Path

import pytest
from enginekit import build_package, pyimage

from pyimage.engine import libc, oci_layout
from pyimage.engine.compression import GZIP, LAYER_MEDIA_TYPE, MEDIA_TYPES
from pyimage.errors import PyimageError
from pyimage.fleet import image

ARCH = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), "")
PLATFORM = f"linux/{ARCH}"
SITE = "opt/pyimage/site-packages"


def host_libc() -> tuple[Path, tuple[int, int]]:
    """This machine's glibc file and version (from the C library that runs this test)."""
    family, _, version = os.confstr("CS_GNU_LIBC_VERSION").partition(" ")  # type: ignore[union-attr]
    candidates = [
        Path(p) / "libc.so.6" for p in ("/lib/x86_64-linux-gnu", "/lib/aarch64-linux-gnu", "/lib64")
    ]
    found = [p for p in candidates if p.is_file()]
    if family != "glibc" or not found or not ARCH:
        pytest.skip(
            f"needs a glibc machine of a known architecture ({family}, {platform.machine()})"
        )
    major, minor = version.split(".")[:2]
    return found[0].resolve(), (int(major), int(minor))


Member = tuple[str, object]  # (name, bytes) for a file; (name, ("link", target)); (name, None): dir


def tar_of(members: list[Member], fmt: int = tarfile.GNU_FORMAT) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, value in members:
            info = tarfile.TarInfo(name)
            if value is None:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
            elif isinstance(value, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, value[1]
                tar.addfile(info)
            else:
                assert isinstance(value, bytes)
                info.size = len(value)
                tar.addfile(info, io.BytesIO(value))
    return out.getvalue()


def base_of(root: Path, layers: list[bytes], compress: bool = True) -> oci_layout.BaseImage:
    """An OCI layout of one linux image whose layers are ``layers`` (tars); read back."""
    blobs = root / "blobs" / "sha256"
    blobs.mkdir(parents=True)

    def put(data: bytes) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        (blobs / digest).write_bytes(data)
        return {"digest": f"sha256:{digest}", "size": len(data)}

    media = MEDIA_TYPES[GZIP] if compress else LAYER_MEDIA_TYPE
    descs = [
        {"mediaType": media, **put(gzip.compress(t, mtime=0) if compress else t)} for t in layers
    ]
    diff_ids = ["sha256:" + hashlib.sha256(t).hexdigest() for t in layers]
    config = {
        "architecture": ARCH,
        "os": "linux",
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
    }
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci_layout.OCI_MANIFEST,
        "config": {
            "mediaType": "application/vnd.oci.image.config.v1+json",
            **put(json.dumps(config).encode()),
        },
        "layers": descs,
    }
    entry = {"mediaType": oci_layout.OCI_MANIFEST, **put(json.dumps(manifest).encode())}
    (root / "index.json").write_text(json.dumps({"schemaVersion": 2, "manifests": [entry]}))
    (root / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}')
    return oci_layout.read_base(root, oci_layout.Platform.parse(PLATFORM))


def elf(machine: int) -> bytes:
    return b"\x7fELF\x02\x01\x01\x00" + bytes(8) + struct.pack("<HH", 3, machine) + bytes(100)


def test_glibc_and_its_version_are_read_from_the_real_libc(tmp_path: Path) -> None:
    path, version = host_libc()
    triplet = f"usr/lib/{platform.machine()}-linux-gnu"
    layers = [
        tar_of([("usr", None), (f"{triplet}/libc.so.6", path.read_bytes())]),
        tar_of([("etc/hostname", b"base\n")], tarfile.PAX_FORMAT),
    ]
    found, _ = libc.read(base_of(tmp_path / "base", layers), PLATFORM)
    assert found == libc.Libc("glibc", version, f"{triplet}/libc.so.6")
    assert str(found) == f"glibc {version[0]}.{version[1]}"


def test_plain_tar_layers_and_long_names_are_read(tmp_path: Path) -> None:
    path, version = host_libc()
    deep = "usr/lib/" + "x" * 120
    layers = [tar_of([(f"{deep}/data", b"x"), ("lib64/libc.so.6", path.read_bytes())])]
    found, _ = libc.read(base_of(tmp_path / "b", layers, compress=False), PLATFORM)
    assert found == libc.Libc("glibc", version, "lib64/libc.so.6")


def test_an_old_glibc_is_read_from_its_file_name_and_a_whiteout_removes_it(tmp_path: Path) -> None:
    old = [
        ("lib/libc-2.24.so", elf(62 if ARCH == "amd64" else 183)),
        ("lib/libc.so.6", ("link", "libc-2.24.so")),
    ]
    found, _ = libc.read(base_of(tmp_path / "old", [tar_of(old)]), PLATFORM)
    assert found is not None and found.version == (2, 24)
    gone = [tar_of(old), tar_of([("lib/.wh.libc.so.6", b""), ("lib/.wh.libc-2.24.so", b"")])]
    assert libc.read(base_of(tmp_path / "gone", gone), PLATFORM) == (None, "")
    opaque = [tar_of(old), tar_of([("lib/.wh..wh..opq", b"")])]
    assert libc.read(base_of(tmp_path / "opaque", opaque), PLATFORM) == (None, "")


def test_whiteouts_hide_lower_layers_folders_too_never_their_own_layer(tmp_path: Path) -> None:
    path, version = host_libc()
    lib = [tar_of([("usr/lib/x86_64-linux-gnu/libc.so.6", path.read_bytes())])]
    folder_gone = [*lib, tar_of([("usr/lib/.wh.x86_64-linux-gnu", b"")])]
    assert libc.read(base_of(tmp_path / "a", folder_gone), PLATFORM) == (None, "")
    # A layer that makes a folder opaque and fills it again keeps what it holds.
    refilled = [
        *lib,
        tar_of([("usr/lib/.wh..wh..opq", b""), ("usr/lib/libc.so.6", path.read_bytes())]),
    ]
    found, _ = libc.read(base_of(tmp_path / "b", refilled), PLATFORM)
    assert found == libc.Libc("glibc", version, "usr/lib/libc.so.6")


def test_a_tar_the_reader_cannot_follow_leaves_the_libc_unknown_and_says_why(
    tmp_path: Path,
) -> None:
    base = base_of(tmp_path / "b", [b"PK\x03\x04" + bytes(2044)])
    found, note = libc.read(base, PLATFORM)
    assert found is None and "not a tar" in note
    r = pyimage(
        *("layout", "--quiet", "--base", str(tmp_path / "b"), "--platform", PLATFORM),
        *("--out", str(tmp_path / "copy"), "--libc-out", str(tmp_path / "libc.json")),
    )
    assert r.returncode == 0, r.stderr
    assert "pyimage: warning: " in r.stdout and "not checked against its C library" in r.stdout
    assert libc.load(tmp_path / "libc.json") is None


def test_musl_and_another_architectures_libc(tmp_path: Path) -> None:
    mine, other = (62, 183) if ARCH == "amd64" else (183, 62)
    musl = [tar_of([(f"lib/ld-musl-{platform.machine()}.so.1", elf(mine))])]
    assert libc.read(base_of(tmp_path / "musl", musl), PLATFORM)[0] == libc.Libc(
        "musl", None, f"lib/ld-musl-{platform.machine()}.so.1"
    )
    # A multi-arch base's copy for another architecture is not the image's C library.
    foreign = [tar_of([("usr/lib/other-linux-gnu/libc.so.6", elf(other))])]
    assert libc.read(base_of(tmp_path / "foreign", foreign), PLATFORM) == (None, "")
    assert libc.read(None, PLATFORM) == (None, "")


def test_a_corrupt_base_layer_is_refused_naming_it(tmp_path: Path) -> None:
    base = base_of(tmp_path / "b", [tar_of([("lib/x", b"x")])])
    ((_, blob),) = base.layer_blobs()
    blob.write_bytes(blob.read_bytes()[:-9])
    with pytest.raises(PyimageError, match=f"base layer {blob.name[:12]} .* re-pull the base"):
        libc.read(base, PLATFORM)


GLIBC = libc.Libc("glibc", (2, 36), "usr/lib/x86_64-linux-gnu/libc.so.6")


@pytest.mark.parametrize(
    ("tags", "want"),
    [
        (("py3-none-any",), None),
        (("cp311-cp311-manylinux_2_17_x86_64", "cp311-cp311-manylinux2014_x86_64"), None),
        (("cp311-cp311-manylinux_2_36_x86_64",), None),
        (("cp311-cp311-manylinux1_x86_64",), None),
        (("cp311-cp311-linux_x86_64",), None),
        (
            ("cp311-cp311-manylinux_2_39_x86_64",),
            "glibc 2.39 or newer (cp311-cp311-manylinux_2_39_x86_64)",
        ),
        (("cp311-cp311-musllinux_1_2_x86_64",), "musl 1.2 (cp311-cp311-musllinux_1_2_x86_64)"),
        # Another architecture's tag says nothing here (the platform check refuses it).
        (("cp311-cp311-manylinux_2_39_aarch64", "cp311-cp311-manylinux_2_28_x86_64"), None),
    ],
)
def test_which_wheels_a_glibc_base_runs(tags: tuple[str, ...], want: str | None) -> None:
    why = libc.mismatch(GLIBC, tags, "linux/amd64")
    assert why == (None if want is None else f"its wheel needs {want}")


def test_a_musl_base_runs_musllinux_wheels_only() -> None:
    musl = libc.Libc("musl", None, "lib/ld-musl-x86_64.so.1")
    assert libc.mismatch(musl, ("cp311-cp311-musllinux_1_1_x86_64",), "linux/amd64") is None
    why = libc.mismatch(musl, ("cp311-cp311-manylinux_2_17_x86_64",), "linux/amd64")
    assert why == "its wheel needs glibc 2.17 (cp311-cp311-manylinux_2_17_x86_64)"


def wheel(tmp_path: Path, name: str, tag: str) -> image.layer.Member:
    dist = name.replace("==", "-")
    return build_package(
        tmp_path / name, name, {f"{SITE}/{dist}.dist-info/WHEEL": f"Tag: {tag}\n".encode()}
    )


def test_the_image_refuses_a_wheel_its_base_cannot_run_in_one_line(tmp_path: Path) -> None:
    ok = wheel(tmp_path, "ok==1", "cp311-cp311-manylinux_2_17_x86_64")
    musl = wheel(tmp_path, "fast==2", "cp311-cp311-musllinux_1_2_x86_64")
    spec = image.ImageSpec("//app:image", 10, [ok, musl], base_libc=GLIBC)
    with pytest.raises(PyimageError) as err:
        image.build(spec, tmp_path / "out", tmp_path / "plan.json")
    assert str(err.value) == (
        "package fast==2: its wheel needs musl 1.2 (cp311-cp311-musllinux_1_2_x86_64), but image"
        " //app:image's base has glibc 2.36 (usr/lib/x86_64-linux-gnu/libc.so.6); resolve a"
        " wheel for glibc 2.36 or use another base (docs/guide.md, Platforms)"
    )
    assert not (tmp_path / "out").exists()
    # An unknown C library (scratch, or none found) is not checked.
    image.build(
        image.ImageSpec("//app:image", 10, [ok, musl]), tmp_path / "out", tmp_path / "p.json"
    )


def test_the_base_action_writes_the_libc_the_image_action_checks(tmp_path: Path) -> None:
    path, version = host_libc()
    triplet = f"lib/{platform.machine()}-linux-gnu"
    base_of(tmp_path / "base", [tar_of([(f"{triplet}/libc.so.6", path.read_bytes())])])
    facts = tmp_path / "libc.json"
    r = pyimage(
        *("layout", "--quiet", "--base", str(tmp_path / "base"), "--platform", PLATFORM),
        *("--out", str(tmp_path / "copy"), "--libc-out", str(facts)),
    )
    assert r.returncode == 0, r.stderr
    assert libc.load(facts) == libc.Libc("glibc", version, f"{triplet}/libc.so.6")
    new = (version[0], version[1] + 1)
    too_new = wheel(
        tmp_path, "new==1", f"cp311-cp311-manylinux_{new[0]}_{new[1]}_{platform.machine()}"
    )
    assert too_new.descriptor_path is not None
    r = pyimage(
        *("image", "--out", str(tmp_path / "layout"), "--plan-out", str(tmp_path / "plan.json")),
        *("--base", str(tmp_path / "copy"), "--base-libc", str(facts), "--platform", PLATFORM),
        *("--package", str(too_new.descriptor_path), str(too_new.blob)),
    )
    assert r.returncode != 0 and r.stderr.strip().count("\n") == 0, r.stderr
    assert f"needs glibc {new[0]}.{new[1]} or newer" in r.stderr
    assert f"base has glibc {version[0]}.{version[1]} ({triplet}/libc.so.6)" in r.stderr


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "other", "libc": null}',
        '{"format": "rules_pyimage.base_libc/v1", "libc": "bionic", "version": null, "file": "x"}',
        '{"format": "rules_pyimage.base_libc/v1", "libc": "glibc", "version": "2", "file": "x"}',
    ],
)
def test_a_malformed_libc_file_is_refused(tmp_path: Path, text: str) -> None:
    path = tmp_path / "libc.json"
    path.write_text(text)
    with pytest.raises(PyimageError, match=f"base libc file {path}"):
        libc.load(path)
