"""zstd layers: package blobs, merges, bad input; run with the zstd program (Debian's zstd).

The gzip side of the same contracts is tested in test_package.py and test_layer.py.
"""

from __future__ import annotations

import dataclasses
import gzip
import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

import pytest
from enginekit import (
    build_package,
    mixed_bytes,
    need_tool,
    pyimage,
    run,
    tar_of,
    unzstd,
    write_manifest,
)

from pyimage.engine import layer, oci_layout, package
from pyimage.engine.compression import (
    END_FRAME,
    MEDIA_TYPES,
    Compression,
    CorruptBlobError,
)
from pyimage.errors import PyimageError
from pyimage.fleet import image

ZSTD_MAGIC = bytes.fromhex("28b52ffd")


@pytest.fixture(scope="module")
def zstd() -> Compression:
    return Compression.of("zstd", zstd=need_tool("zstd"))


def _zstd_version() -> str:
    zstd = need_tool("zstd")
    out = subprocess.run([zstd, "--version"], capture_output=True, text=True, check=True).stdout
    found = re.search(r"v(\d+\.\d+\.\d+)", out)
    return found.group(1) if found else out.strip()


def _big(
    workdir: Path, comp: Compression, threads: int
) -> tuple[bytes, package.desc_mod.LayerDescriptor]:
    spec = {
        "site-packages/big/_C.so": mixed_bytes(3 * (1 << 20) + 12345),
        **{f"site-packages/big/m{i}.py": mixed_bytes(5000 + i, b"m%d" % i) for i in range(40)},
    }
    manifest = write_manifest(workdir, "big==1", spec)
    blob = workdir / f"big-{threads}.tar.zst"
    d = package.write_package(
        package.load_manifest(manifest), blob, threads=threads, compression=comp
    )
    return blob.read_bytes(), d


def test_end_frame_is_the_two_end_blocks() -> None:
    assert unzstd(END_FRAME) == b"\0" * 1024


def test_a_zstd_package_is_three_frames_that_every_reader_reads_as_its_tar(
    zstd: Compression, tmp_path: Path
) -> None:
    blob, d = _big(tmp_path, zstd, threads=2)
    assert d.media_type == MEDIA_TYPES["zstd"] == "application/vnd.oci.image.layer.v1.tar+zstd"
    assert blob.startswith(ZSTD_MAGIC) and blob[d.blob_dirs_size :][:4] == ZSTD_MAGIC
    assert blob[d.blob_body_size :] == END_FRAME
    tar = unzstd(blob)  # the whole blob is one stream to zstd
    assert "sha256:" + hashlib.sha256(tar).hexdigest() == d.diff_id and len(tar) == d.tar_size
    # Each part decompresses on its own: the directories, then the files.
    assert unzstd(blob[: d.blob_dirs_size]) == tar[: d.tar_dirs_size]
    assert unzstd(blob[d.blob_dirs_size : d.blob_body_size]) == tar[d.tar_dirs_size : -1024]
    assert d.digest == "sha256:" + hashlib.sha256(blob).hexdigest() and d.size == len(blob)


def test_zstd_blob_bytes_do_not_depend_on_the_threads(zstd: Compression, tmp_path: Path) -> None:
    one, d1 = _big(tmp_path, zstd, threads=1)
    for threads in (2, 8):
        many, d = _big(tmp_path, zstd, threads=threads)
        assert many == one and d == d1, f"zstd -T{threads} gave other bytes than -T1"


def test_golden_digest_of_ci_zstd(zstd: Compression, tmp_path: Path) -> None:
    # Pins what CI's host zstd (Debian bookworm's 1.5.4) gives at level 3 on a
    # fixed input. Another zstd may give other blob bytes (never another
    # diff_id, which is all a lock records).
    _, d = _big(tmp_path, zstd, threads=2)
    assert d.diff_id == "sha256:3bfb77e4182e6dc8e2054b0ce50c183b08a8738dfdc5bc1c8b59b45460e5d19a"
    version = _zstd_version()
    if version != "1.5.4":
        pytest.skip(f"zstd {version} is not CI's host 1.5.4: other compressed bytes")
    assert (d.digest, d.size) == (GOLDEN_ZSTD_DIGEST, GOLDEN_ZSTD_SIZE)


GOLDEN_ZSTD_DIGEST = "sha256:189500b1aa11d4667e0f9d8237d7d24253e9eaf88c8c54f2a6848d479238de99"
GOLDEN_ZSTD_SIZE = 1699946


def test_the_zstd_level_changes_the_bytes_never_the_tar(zstd: Compression, tmp_path: Path) -> None:
    spec = {f"site-packages/m{i}.py": mixed_bytes(20000 + i, b"%d" % i) for i in range(30)}
    built = [
        build_package(tmp_path / str(level), "p==1", spec, dataclasses.replace(zstd, level=level))
        for level in (1, 3, 19)
    ]
    assert len({m.descriptor.diff_id for m in built}) == 1
    assert len({m.descriptor.digest for m in built}) == 3
    assert {tar_of(m) for m in built} == {tar_of(built[0])}


def _three(workdir: Path, comp: Compression) -> list[layer.Member]:
    ns = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
    return [
        build_package(
            workdir,
            f"pkg{i}==1",
            {
                "site-packages/ns/__init__.py": ns,  # identical in all: dropped from the later ones
                f"site-packages/ns/p{i}.py": mixed_bytes(300000 + i, b"%d" % i),
            },
            comp,
        )
        for i in range(3)
    ]


def test_a_zstd_merge_copies_the_files_frames_and_reads_as_one_tar(
    zstd: Compression, tmp_path: Path
) -> None:
    members = _three(tmp_path, zstd)
    d = layer.merge(members[:2], tmp_path / "m.tar.zst", settings=zstd)
    blob = (tmp_path / "m.tar.zst").read_bytes()
    assert d.media_type == MEDIA_TYPES["zstd"]
    tar = unzstd(blob)
    assert "sha256:" + hashlib.sha256(tar).hexdigest() == d.diff_id
    first = members[0].blob.read_bytes()
    f0 = first[members[0].descriptor.blob_dirs_size : members[0].descriptor.blob_body_size]
    assert f0 in blob  # the first member's files frame is copied, never recompressed
    assert blob.endswith(END_FRAME)
    # Every path once (the shared __init__.py only from the first member).
    with tarfile.open(fileobj=io.BytesIO(tar)) as archive:
        names = archive.getnames()
    assert names.count("site-packages/ns/__init__.py") == 1
    assert {"site-packages/ns/p0.py", "site-packages/ns/p1.py"} <= set(names)
    size = layer.merged_size(members[:2])
    assert not size.exact and size.blob >= d.size and size.tar >= d.tar_size


def test_a_zstd_merge_is_refused_for_a_corrupt_or_truncated_frame(
    zstd: Compression, tmp_path: Path
) -> None:
    a, b, _ = _three(tmp_path, zstd)
    data = a.blob.read_bytes()
    lo, hi = a.descriptor.blob_dirs_size, a.descriptor.blob_body_size
    flipped = bytearray(data)
    flipped[(lo + hi) // 2] ^= 0xFF
    for bad_bytes in (bytes(flipped), data[: (lo + hi) // 2]):
        bad = tmp_path / "bad.tar.zst"
        bad.write_bytes(bad_bytes)
        # The descriptor forged to match: the frame itself must be refused.
        forged = dataclasses.replace(
            a.descriptor,
            digest="sha256:" + hashlib.sha256(bad_bytes).hexdigest(),
            size=len(bad_bytes),
            blob_body_size=min(hi, len(bad_bytes) - len(END_FRAME)),
        )
        if len(bad_bytes) < hi:  # truncated: end the "files part" where the bytes end
            bad.write_bytes(bad_bytes + END_FRAME)
            forged = dataclasses.replace(
                forged,
                digest="sha256:" + hashlib.sha256(bad_bytes + END_FRAME).hexdigest(),
                size=len(bad_bytes) + len(END_FRAME),
                blob_body_size=len(bad_bytes),
            )
        with pytest.raises(PyimageError) as err:
            layer.merge([layer.Member(forged, bad), b], tmp_path / "m.tar.zst", settings=zstd)
        assert str(bad) in str(err.value) and "\n" not in str(err.value)
        assert not (tmp_path / "m.tar.zst").exists()


def test_gzip_bytes_are_not_read_as_zstd(zstd: Compression) -> None:
    # zstd can decompress gzip; a blob its media type says is zstd must be zstd.
    def source(feed: object) -> None:
        feed(gzip.compress(b"x" * 100))  # type: ignore[operator]

    with pytest.raises(CorruptBlobError):
        zstd.inflate(source, lambda _: None)


def test_gzip_and_zstd_packages_never_share_a_layer(zstd: Compression, tmp_path: Path) -> None:
    g = build_package(tmp_path / "g", "a==1", {"site-packages/a.py": b"a"})
    z = build_package(tmp_path / "z", "b==1", {"site-packages/b.py": b"b"}, zstd)
    with pytest.raises(PyimageError, match=r"a==1 \(gzip\) and b==1 \(zstd\) cannot share a layer"):
        layer.merge([g, z], tmp_path / "m", settings=zstd)
    spec = image.ImageSpec("img", max_layers=10, packages=[g, z], compression=zstd)
    with pytest.raises(
        PyimageError, match="package a==1 is compressed with gzip, the image with zstd"
    ):
        image.build(spec, tmp_path / "out", tmp_path / "plan.json")
    assert not (tmp_path / "out").exists()


def test_a_zstd_layout_copies_with_skopeo(zstd: Compression, tmp_path: Path) -> None:
    # Debian's umoci (0.4.7) knows no zstd layers (umoci 0.5 does); skopeo
    # checks every blob's digest and size as it copies, and podman runs zstd
    # layouts (test_podman.py, e2e).
    skopeo = need_tool("skopeo")
    members = _three(tmp_path / "p", zstd)
    out = tmp_path / "layout"
    oci_layout.write_layout(
        out,
        [oci_layout.LayerInput((members[0],)), oci_layout.LayerInput(tuple(members[1:]))],
        tag="z",
        settings=zstd,
    )
    index = json.loads((out / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((out / "blobs/sha256" / digest).read_text())
    assert [lay["mediaType"] for lay in manifest["layers"]] == [MEDIA_TYPES["zstd"]] * 2
    run(skopeo, "copy", f"oci:{out}:z", f"oci:{tmp_path / 'copy'}:z")
    copied = json.loads((tmp_path / "copy/index.json").read_text())
    assert copied["manifests"][0]["digest"] == index["manifests"][0]["digest"]  # as it was


def _package_tar(workdir: Path, *flags: str) -> tuple[subprocess.CompletedProcess[str], Path, Path]:
    """Run ``pyimage package-tar`` on a one-file package with ``flags``: (result, blob, desc)."""
    manifest = write_manifest(workdir, "p==1", {"site-packages/p.py": b"print(1)\n"})
    blob, desc = workdir / "p.tar.zst", workdir / "p.json"
    args = ["--manifest", str(manifest), "--blob", str(blob), "--descriptor", str(desc)]
    return pyimage("package-tar", *args, *flags), blob, desc


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        (["--compression", "brotli"], "unknown compression 'brotli'; use one of: gzip, zstd"),
        (
            ["--compression", "zstd", "--zstd-level", "0"],
            "zstd level 0 is out of range; use 1 to 19",
        ),
        (["--compression", "zstd", "--zstd-level", "22"], "zstd level 22 is out of range"),
        (
            ["--compression", "zstd", "--zstd", "/nonexistent/zstd"],
            "cannot run zstd program /nonexistent/zstd",
        ),
        (["--compression", "zstd", "--zstd", "/bin/false"], "zstd program /bin/false failed"),
    ],
)
def test_bad_compression_flags_fail_in_one_line(
    flags: list[str], message: str, tmp_path: Path
) -> None:
    r, blob, desc = _package_tar(tmp_path, *flags)
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0], r.stderr
    assert not blob.exists() and not desc.exists()
    assert not list(tmp_path.glob("*.tmp*"))


def test_package_tar_cli_writes_a_zstd_layer(zstd: Compression, tmp_path: Path) -> None:
    r, blob, desc = _package_tar(tmp_path, "--compression", "zstd", "--zstd", zstd.zstd)
    assert r.returncode == 0, r.stderr
    member = layer.load_member(desc, blob)
    assert member.descriptor.compression == "zstd"
    assert b"print(1)" in tar_of(member)
