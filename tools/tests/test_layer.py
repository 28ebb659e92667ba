"""Merged layers: pure function of the member set, valid .tar.gz, conflict checks."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import replace
from pathlib import Path

import pytest
from enginekit import build_package, gzip_members, mixed_bytes, pyimage, tar_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer
from pyimage.engine.compression import MEMBER_INPUT
from pyimage.errors import PyimageError

FIXTURE_OK = [HealthCheck.function_scoped_fixture]


def five_packages(workdir: Path) -> list[layer.Member]:
    """Packages sharing parent directories and one identical file."""
    shared = b"# identical namespace file\n"
    return [
        build_package(
            workdir,
            f"pkg{i}=={i}.0",
            {
                f"site-packages/pkg{i}/__init__.py": f"X = {i}\n".encode() * (i * 50 + 1),
                f"site-packages/pkg{i}/data.bin": bytes(range(256)) * (i + 1),
                "site-packages/ns/__init__.py": shared,
                f"bin/tool{i}": ("exec", b"#!/bin/sh\necho %d\n" % i),
            },
        )
        for i in range(5)
    ]


@pytest.fixture(scope="module")
def packages(tmp_path_factory: pytest.TempPathFactory) -> list[layer.Member]:
    return five_packages(tmp_path_factory.mktemp("pkgs"))


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_merge_is_independent_of_member_order(
    packages: list[layer.Member], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    subset = data.draw(st.lists(st.sampled_from(packages), min_size=2, unique_by=id))
    shuffled = data.draw(st.permutations(subset))
    out = tmp_path_factory.mktemp("merge")
    a = layer.merge(subset, out / "a.tgz")
    b = layer.merge(shuffled, out / "b.tgz")
    assert (out / "a.tgz").read_bytes() == (out / "b.tgz").read_bytes()
    assert a == b
    assert a.packages == tuple(sorted(m.name for m in subset))


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_merged_size_is_worked_out_without_merging(
    packages: list[layer.Member], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    subset = data.draw(st.lists(st.sampled_from(packages), min_size=1, unique_by=id))
    out = tmp_path_factory.mktemp("size")
    d = layer.merge(subset, out / "m.tgz")
    size = layer.merged_size(subset)
    # Every package holds the identical ns/__init__.py: two or more drop copies.
    assert size.exact == (len(subset) == 1)
    if size.exact:
        assert (size.blob, size.tar) == (d.size, d.tar_size)
    else:
        assert size.blob >= d.size and size.tar >= d.tar_size


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(data=st.data())
def test_a_merged_diff_id_is_the_digest_of_its_blob_inflated(
    packages: list[layer.Member], tmp_path_factory: pytest.TempPathFactory, data: st.DataObject
) -> None:
    # The merge reads blobs alone: the diff_id comes from inflating the
    # members' files parts. Every package holds the identical
    # ns/__init__.py: a merge of two or more also drops duplicates there.
    subset = data.draw(st.lists(st.sampled_from(packages), min_size=2, unique_by=id))
    out = tmp_path_factory.mktemp("blobs")
    d = layer.merge(subset, out / "a.tgz")
    tar = gzip.decompress((out / "a.tgz").read_bytes())
    assert d.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert (d.tar_size, d.tar_body_size) == (len(tar), len(tar) - 1024)
    assert d.members == {m.name: m.descriptor.diff_id for m in subset}


def test_merge_from_a_blob_that_is_not_its_descriptors_fails_in_one_line(
    packages: list[layer.Member], tmp_path: Path
) -> None:
    a, b = packages[0], packages[1]
    bad = tmp_path / "bad.tgz"
    data = bytearray(a.blob.read_bytes())
    body = a.descriptor.blob_dirs_size + 12  # inside the files member's deflate data
    data[body] ^= 0xFF
    bad.write_bytes(bytes(data))
    members = [layer.Member(a.descriptor, bad), layer.Member(b.descriptor, b.blob)]
    with pytest.raises(PyimageError) as err:
        layer.merge(members, tmp_path / "m.tgz")
    assert "\n" not in str(err.value) and "rebuild" in str(err.value)
    assert not (tmp_path / "m.tgz").exists()


def test_merge_checks_each_blob_against_its_descriptor(
    packages: list[layer.Member], tmp_path: Path
) -> None:
    # The merge copies the blob's files part as it is: a blob of other bytes
    # (same size) or of another size is refused.
    a, b = packages[0], packages[1]
    flipped = bytearray(a.blob.read_bytes())
    flipped[a.descriptor.blob_dirs_size + 12] ^= 0xFF
    longer = a.blob.read_bytes() + b"\0"
    for data, needle in (
        (flipped, "does not match its descriptor's digest"),
        (longer, "bytes, its descriptor says"),
    ):
        bad = tmp_path / "bad.tgz"
        bad.write_bytes(bytes(data))
        members = [
            layer.Member(a.descriptor, bad),
            layer.Member(b.descriptor, b.blob),
        ]
        with pytest.raises(PyimageError, match=needle) as err:
            layer.merge(members, tmp_path / "m.tgz", tmp_path / "m.json")
        assert "\n" not in str(err.value) and a.name in str(err.value)
        assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.tgz"]


def _big_members(workdir: Path) -> list[layer.Member]:
    """Two packages whose files parts are several gzip members, sharing one identical file."""
    shared = mixed_bytes(MEMBER_INPUT // 2, b"shared")
    return [
        build_package(
            workdir,
            f"big{i}==1",
            {
                f"site-packages/big{i}/_C.so": mixed_bytes(2 * MEMBER_INPUT + 777 * i, b"%d" % i),
                "site-packages/ns/common.bin": shared,
                f"site-packages/big{i}/z.py": b"Z = %d\n" % i,
            },
        )
        for i in range(2)
    ]


def test_merge_of_multi_member_parts_is_the_union(tmp_path: Path) -> None:
    # The second package's files part is recompressed without the shared file
    # (the one case that compresses in a merge); the first is copied as it is.
    members = _big_members(tmp_path)
    d = layer.merge(members, tmp_path / "m.tgz")
    blob = (tmp_path / "m.tgz").read_bytes()
    tar = subprocess.run(["gzip", "-dc"], input=blob, capture_output=True, check=True).stdout
    assert d.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        names = tf.getnames()
    assert names.count("site-packages/ns/common.bin") == 1
    assert {"site-packages/big0/_C.so", "site-packages/big1/_C.so"} <= set(names)
    first = members[0].blob.read_bytes()
    d0 = members[0].descriptor
    assert first[d0.blob_dirs_size : d0.blob_body_size] in blob  # copied, never recompressed
    assert len(gzip_members(blob)) > 6


def test_a_corrupt_member_inside_a_files_part_is_named(tmp_path: Path) -> None:
    # A blob whose descriptor was written for its corrupt bytes passes the
    # digest check; inflating its files part refuses it, naming the blob.
    a, b = _big_members(tmp_path)
    data = bytearray(a.blob.read_bytes())
    second = gzip_members(bytes(data))[2]  # a member in the middle of the files part
    data[second[0] + 40] ^= 0xFF
    bad = tmp_path / "bad.tgz"
    bad.write_bytes(bytes(data))
    forged = replace(a.descriptor, digest="sha256:" + hashlib.sha256(data).hexdigest())
    with pytest.raises(PyimageError) as err:
        layer.merge([layer.Member(forged, bad), b], tmp_path / "m.tgz")
    message = str(err.value)
    assert "\n" not in message and str(bad) in message and "rebuild" in message
    assert "is corrupt" in message and "digest" not in message
    assert not (tmp_path / "m.tgz").exists()


def test_merged_size_is_exact_for_distinct_files(tmp_path: Path) -> None:
    members = [
        build_package(tmp_path, f"p{i}=={i}", {f"site-packages/p{i}/x.py": b"%d\n" % i * 999})
        for i in range(4)
    ]
    d = layer.merge(members, tmp_path / "m.tgz")
    size = layer.merged_size(members)
    assert size.exact and (size.blob, size.tar) == (d.size, d.tar_size)


def test_merged_layer_is_a_valid_tar_gz_of_the_union(
    packages: list[layer.Member], tmp_path: Path
) -> None:
    d = layer.merge(packages, tmp_path / "m.tgz", tmp_path / "m.json")
    blob = (tmp_path / "m.tgz").read_bytes()
    assert d.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert d.size == len(blob)
    tar = gzip.decompress(blob)
    assert d.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert d.tar_size == len(tar)
    # Every path once (containers/storage refuses duplicates within a layer):
    # the union of the members' directories first, then each member's files in
    # name order, an identical shared file kept from its first package only.
    with tarfile.open(fileobj=io.BytesIO(tar)) as tf:
        infos = tf.getmembers()
    names = [i.name for i in infos]
    assert len(names) == len(set(names))
    first_file = next(n for n, i in enumerate(infos) if not i.isdir())
    assert all(i.isdir() for i in infos[:first_file])
    assert not any(i.isdir() for i in infos[first_file:])
    expected = set()
    for m in packages:
        with tarfile.open(m.blob) as tf:
            expected |= {(i.name, i.type, i.mode, i.size) for i in tf.getmembers()}
    assert {(i.name, i.type, i.mode, i.size) for i in infos} == expected
    assert subprocess.run(["gzip", "-t", str(tmp_path / "m.tgz")], check=False).returncode == 0
    with tarfile.open(tmp_path / "m.tgz") as tf:
        names = set(tf.getnames())
        assert {f"bin/tool{i}" for i in range(5)} <= names
        assert tf.extractfile("site-packages/ns/__init__.py").read().startswith(b"# identical")  # type: ignore[union-attr]
    saved = desc_mod.load(tmp_path / "m.json")
    assert saved == d
    assert saved.entries == d.entries
    assert len([k for k in d.entries if k.startswith("bin/tool")]) == 5


def test_merge_tools_agree(packages: list[layer.Member], tmp_path: Path) -> None:
    # GNU tar reads the concatenated multi-member gzip as one archive.
    layer.merge(packages, tmp_path / "m.tgz")
    r = subprocess.run(
        ["tar", "-tzf", str(tmp_path / "m.tgz")], capture_output=True, text=True, check=True
    )
    assert "site-packages/pkg4/data.bin" in r.stdout.splitlines()


def test_single_member_is_reused_as_is(packages: list[layer.Member], tmp_path: Path) -> None:
    one = packages[2]
    d = layer.merge([one], tmp_path / "one.tgz")
    assert d is one.descriptor
    assert (tmp_path / "one.tgz").read_bytes() == one.blob.read_bytes()


def test_conflicting_file_names_both_packages(tmp_path: Path) -> None:
    a = build_package(tmp_path, "google-api==1", {"site-packages/google/__init__.py": b"a"})
    b = build_package(tmp_path, "google-auth==2", {"site-packages/google/__init__.py": b"b"})
    with pytest.raises(PyimageError) as err:
        layer.merge([a, b], tmp_path / "x.tgz")
    msg = str(err.value)
    assert "google-api==1" in msg
    assert "google-auth==2" in msg
    assert "site-packages/google/__init__.py" in msg
    assert "\n" not in msg
    assert not (tmp_path / "x.tgz").exists()


def test_mode_difference_is_a_conflict(tmp_path: Path) -> None:
    a = build_package(tmp_path, "a==1", {"bin/run": ("exec", b"#!")})
    b = build_package(tmp_path, "b==1", {"bin/run": b"#!"})
    with pytest.raises(PyimageError, match="bin/run"):
        layer.check_conflicts([a.descriptor, b.descriptor])


def test_file_against_directory_is_a_conflict(tmp_path: Path) -> None:
    a = build_package(tmp_path, "a==1", {"lib/x": b"file"})
    b = build_package(tmp_path, "b==1", {"lib/x/y.py": b"in a dir"})
    c = build_package(tmp_path, "c==1", {"lib/x": ("link", "z")})
    with pytest.raises(PyimageError, match="'lib/x'"):
        layer.check_conflicts([a.descriptor, b.descriptor])
    with pytest.raises(PyimageError, match="'lib/x'"):
        layer.check_conflicts([c.descriptor, b.descriptor])


def test_identical_files_and_shared_dirs_are_fine(tmp_path: Path) -> None:
    a = build_package(tmp_path, "a==1", {"ns/__init__.py": b"", "ns/a.py": b"a"})
    b = build_package(tmp_path, "b==1", {"ns/__init__.py": b"", "ns/b.py": b"b"})
    layer.check_conflicts([a.descriptor, b.descriptor])


def test_conflict_across_layers_of_an_image(tmp_path: Path) -> None:
    # Two layers of one image: merged layer {a, b} and c alone; c clashes with a.
    a = build_package(tmp_path, "a==1", {"bin/tool": ("exec", b"a")})
    b = build_package(tmp_path, "b==1", {"lib/b.py": b"b"})
    c = build_package(tmp_path, "c==1", {"bin/tool": ("exec", b"c")})
    merged = layer.merge([a, b], tmp_path / "ab.tgz", tmp_path / "ab.json")
    with pytest.raises(PyimageError, match=r"bin/tool.*a==1, b==1 and c==1"):
        layer.check_conflicts([merged, c.descriptor])
    r = pyimage("check-conflicts", str(tmp_path / "ab.json"), str(tmp_path / "c__1.json"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert "bin/tool" in r.stderr


def test_same_package_twice_is_refused(packages: list[layer.Member], tmp_path: Path) -> None:
    with pytest.raises(PyimageError, match="twice"):
        layer.merge([packages[0], packages[0]], tmp_path / "x.tgz")


def test_a_descriptor_that_misstates_its_tar_fails_cleanly(tmp_path: Path) -> None:
    # The diff_id is computed from the inflated blob, checked against the
    # descriptor's tar sizes: a descriptor that lies about them is refused.
    a = build_package(tmp_path, "a==1", {"a.py": b"a" * 5000})
    b = build_package(tmp_path, "b==1", {"b.py": b"b" * 5000})
    d = a.descriptor
    for lie in (
        replace(d, tar_body_size=d.tar_body_size - 512, tar_size=d.tar_size - 512),
        replace(d, tar_body_size=d.tar_body_size + 512, tar_size=d.tar_size + 512),
    ):
        out = tmp_path / "out"
        out.mkdir()
        with pytest.raises(PyimageError, match=r"a==1: blob .* (holds more than|does not match)"):
            layer.merge([layer.Member(lie, a.blob), b], out / "m.tgz")
        assert list(out.iterdir()) == []
        out.rmdir()


def test_merge_reads_no_tar(packages: list[layer.Member], tmp_path: Path) -> None:
    # A member is its descriptor and blob: the `DESC TAR BLOB` form is gone,
    # so no unverified uncompressed tar can feed a merged layer's diff_id.
    m = packages[0]
    stem = str(m.blob)[: -len(".tar.gz")]
    (tmp_path / "x.tar").write_bytes(tar_of(m))
    r = pyimage("merge", "--member", stem + ".json", str(tmp_path / "x.tar"), str(m.blob),
                "--member", stem + ".json", str(m.blob), "--blob", str(tmp_path / "m.tgz"),
                "--descriptor", str(tmp_path / "m.json"))  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert r.stderr.startswith("pyimage: error: ") and "unrecognized arguments" in r.stderr
    assert not (tmp_path / "m.tgz").exists() and not (tmp_path / "m.json").exists()


def test_merge_cli(packages: list[layer.Member], tmp_path: Path) -> None:
    args = []
    for m in packages[:3]:
        stem = str(m.blob)[: -len(".tar.gz")]
        args += ["--member", stem + ".json", str(m.blob)]
    r = pyimage(
        "merge", *args, "--blob", str(tmp_path / "m.tgz"), "--descriptor", str(tmp_path / "m.json")
    )
    assert r.returncode == 0, r.stderr
    d = json.loads((tmp_path / "m.json").read_text())
    assert d["packages"] == ["pkg0==0.0", "pkg1==1.0", "pkg2==2.0"]
    blob = (tmp_path / "m.tgz").read_bytes()
    assert d["digest"] == "sha256:" + hashlib.sha256(blob).hexdigest()
    with tarfile.open(fileobj=io.BytesIO(blob)) as tf:
        assert "bin/tool2" in tf.getnames()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("{", "not valid JSON"),
        ('{"format": "other"}', "not a rules_pyimage.layer/v3 descriptor"),
        ('{"format": "rules_pyimage.layer/v3", "packages": ["a==1"]}', "missing"),
        ("BYTECODE", "'bytecode' must be {python: '3.N', skipped: [paths]}"),
    ],
)
def test_bad_descriptor_is_one_line(
    packages: list[layer.Member], tmp_path: Path, text: str, needle: str
) -> None:
    if text == "BYTECODE":  # a good descriptor but for its bytecode field
        good = packages[0].descriptor.to_json()
        text = json.dumps({**good, "bytecode": {"python": "3", "skipped": []}})
    (tmp_path / "d.json").write_text(text)
    r = pyimage("check-conflicts", str(tmp_path / "d.json"))
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1
    assert needle in r.stderr
    assert str(tmp_path / "d.json") in r.stderr


@st.composite
def package_sets(draw: st.DrawFn) -> list[dict[str, object]]:
    """2-4 packages under shared parents, with long/non-ASCII names and shared files."""
    n = draw(st.integers(2, 4))
    shared_files = {
        "site-packages/ns/__init__.py": b"# ns\n",
        "site-packages/ns/" + "long_" * 25 + "é.py": b"# shared long\n",
    }
    names = st.text(alphabet="abcé_", min_size=1, max_size=6)
    specs = []
    for i in range(n):
        spec: dict[str, object] = {}
        for j, stem in enumerate(draw(st.lists(names, min_size=1, max_size=4, unique=True))):
            value: object = draw(st.binary(max_size=700))
            if j == 0 and draw(st.booleans()):
                value = ("exec", value)
            spec[f"site-packages/p{i}/{stem}" + "x" * draw(st.sampled_from([0, 120]))] = value
        for path, data in shared_files.items():
            if draw(st.booleans()):
                spec[path] = data
        if draw(st.booleans()):
            spec[f"site-packages/p{i}/link"] = ("link", "../ns/__init__.py")
        specs.append(spec)
    return specs


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(specs=package_sets())
def test_merged_layer_round_trips(
    tmp_path_factory: pytest.TempPathFactory, specs: list[dict[str, object]]
) -> None:
    w = tmp_path_factory.mktemp("rt")
    members = [build_package(w, f"p{i}==1", spec) for i, spec in enumerate(specs)]  # type: ignore[arg-type]
    d = layer.merge(members, w / "m.tgz")
    blob = (w / "m.tgz").read_bytes()
    assert d.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert d.diff_id == "sha256:" + hashlib.sha256(gzip.decompress(blob)).hexdigest()
    with tarfile.open(w / "m.tgz") as tf:
        names = tf.getnames()
        assert len(names) == len(set(names)), "every path once"
        tf.extractall(w / "x", filter="tar")
    expected: dict[str, object] = {}
    for spec in specs:
        expected.update(spec)
    for path, value in expected.items():
        target = w / "x" / path
        if isinstance(value, tuple) and value[0] == "link":
            assert str(target.readlink()) == value[1]
            continue
        data = value[1] if isinstance(value, tuple) else value
        assert target.read_bytes() == data
        assert target.stat().st_mode & 0o777 == (0o755 if isinstance(value, tuple) else 0o644)
    files = {
        str(p.relative_to(w / "x")) for p in (w / "x").rglob("*") if p.is_symlink() or p.is_file()
    }
    assert files == set(expected)


def test_merged_layers_are_not_merged_again(packages: list[layer.Member], tmp_path: Path) -> None:
    d = layer.merge(packages[:2], tmp_path / "ab.tgz", tmp_path / "ab.json")
    ab = layer.load_member(tmp_path / "ab.json", tmp_path / "ab.tgz")
    assert ab.name == ",".join(d.packages)
    with pytest.raises(PyimageError, match="already merged"):
        layer.merge([ab, packages[3]], tmp_path / "x.tgz")


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("site-packages/a.py", "f"),
        ("site-packages/a.py", "f 600 sha256:" + "0" * 64),
        ("site-packages/a.py", "d"),
        ("site-packages/", "f 644 sha256:" + "0" * 64),
        ("site-packages/a.py", "x y"),
    ],
)
def test_a_malformed_entry_value_is_named_not_compared(
    packages: list[layer.Member], tmp_path: Path, path: str, value: str
) -> None:
    # The conflict check compares entry values; a malformed one is refused as
    # such when the descriptor is read (it once read "mode  vs 644").
    doc = json.loads(packages[0].descriptor_path.read_text())  # type: ignore[union-attr]
    doc["entries"][path] = value
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    r = pyimage("check-conflicts", str(bad), str(packages[1].descriptor_path))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert f"entry {path!r} has the malformed value {value!r}" in lines[0], lines
