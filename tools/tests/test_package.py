"""engine/package.py: a package's blob and tar: format, determinism, round trip, streaming."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import random
import re
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest
from enginekit import TOOLS, build_package, gzip_members, mixed_bytes, tar_of, write_manifest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyimage.engine import package
from pyimage.engine.compression import END_MEMBER, GZIP_HEADER, MEMBER_INPUT
from pyimage.engine.tarformat import tar_header
from pyimage.errors import PyimageError

# Names that exercise sorting, PAX (long and non-ASCII) and nesting.
name_part = st.text(alphabet=st.sampled_from("abcXYZ_-.0éü中"), min_size=1, max_size=12).filter(
    lambda s: s not in (".", "..") and not s.startswith(".wh.")
)
image_path = st.lists(name_part, min_size=1, max_size=4).map("/".join)
file_value = st.one_of(
    st.binary(max_size=2000),
    st.tuples(st.just("exec"), st.binary(max_size=600)),
)


@st.composite
def package_specs(draw: st.DrawFn) -> dict[str, object]:
    """A package: files (some executable) and symlinks to them, no file-vs-dir clash."""
    paths = draw(st.lists(image_path, min_size=1, max_size=12, unique=True))
    if draw(st.booleans()):
        paths.append("deep/" + "d" * 60 + "/" + "e" * 70 + ".py")
    spec: dict[str, object] = {}
    for p in sorted(paths, key=len):
        if any(p.startswith(q + "/") or q.startswith(p + "/") for q in spec):
            continue
        spec[p] = draw(file_value)
    files = [p for p, v in spec.items()]
    for i, target in enumerate(draw(st.lists(st.sampled_from(files), max_size=3))):
        link = f"links{i}/l"
        if not any(link.startswith(q + "/") or q.startswith(link + "/") for q in spec):
            spec[link] = ("link", "../" + target)
    return spec


def members_of(tar_bytes: bytes) -> list[tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(tar_bytes)) as tf:
        return tf.getmembers()


def test_headers_follow_the_policy(tmp_path: Path) -> None:
    m = build_package(
        tmp_path,
        "p==1",
        {
            "opt/p/mod.py": b"x = 1\n",
            "opt/bin/tool": ("exec", b"#!/bin/sh\n"),
            "opt/p/alias.py": ("link", "mod.py"),
        },
    )
    raw = tar_of(m)
    infos = members_of(raw)
    # Directories first (sorted, parents before children), then files and links.
    assert [i.name for i in infos] == [
        "opt",
        "opt/bin",
        "opt/p",
        "opt/bin/tool",
        "opt/p/alias.py",
        "opt/p/mod.py",
    ]
    d = m.descriptor
    assert d.tar_dirs_size == 3 * 512
    assert gzip.decompress(m.blob.read_bytes()[: d.blob_dirs_size]) == raw[: d.tar_dirs_size]
    for info in infos:
        assert (info.uid, info.gid, info.uname, info.gname, info.mtime) == (0, 0, "", "", 0)
        assert not info.pax_headers
    modes = {i.name: (i.type, i.mode) for i in infos}
    assert modes["opt"] == (tarfile.DIRTYPE, 0o755)
    assert modes["opt/bin/tool"] == (tarfile.REGTYPE, 0o755)
    assert modes["opt/p/mod.py"] == (tarfile.REGTYPE, 0o644)
    assert modes["opt/p/alias.py"] == (tarfile.SYMTYPE, 0o777)
    # Exactly two end blocks, no record padding.
    assert raw.endswith(b"\0" * 1024)
    assert len(raw) == m.descriptor.tar_size == m.descriptor.tar_body_size + 1024
    assert raw[:100].rstrip(b"\0") == b"opt/"


def test_pax_only_where_needed(tmp_path: Path) -> None:
    long = "site-packages/" + "a" * 120 + ".py"
    m = build_package(
        tmp_path,
        "p==1",
        {long: b"long", "site-packages/café.py": b"cafe", "site-packages/l": ("link", "b" * 130)}
        | {"site-packages/" + "b" * 130: b""},
    )
    by_name = {i.name: i for i in members_of(tar_of(m))}
    assert by_name[long].pax_headers == {"path": long}
    assert by_name["site-packages/café.py"].pax_headers == {"path": "site-packages/café.py"}
    assert by_name["site-packages/l"].linkname == "b" * 130
    assert by_name["site-packages"].pax_headers == {}


def test_size_of_8gib_goes_to_pax() -> None:
    size = 8 << 30
    header = tar_header("big.bin", 0o644, size, b"0")
    with tarfile.open(fileobj=io.BytesIO(header + b"\0" * 512), mode="r|") as tf:
        info = tf.next()
        assert info is not None
        assert info.size == size
        assert info.pax_headers["size"] == str(size)
    small = tar_header("big.bin", 0o644, size - 1, b"0")
    assert len(small) == 512


def test_blob_is_three_deterministic_gzip_parts(tmp_path: Path) -> None:
    m = build_package(tmp_path, "p==1", {"a/b.py": b"hello " * 1000})
    blob = m.blob.read_bytes()
    d = m.descriptor
    assert blob.startswith(GZIP_HEADER)  # no name, mtime 0, OS 255
    assert blob[d.blob_body_size :] == END_MEMBER
    tar = gzip.decompress(blob)
    assert gzip.decompress(blob[: d.blob_body_size]) == tar[:-1024]
    assert tar.endswith(b"\0" * 1024) and len(tar) == d.tar_size
    assert d.digest == "sha256:" + hashlib.sha256(blob).hexdigest()
    assert d.size == len(blob)
    assert d.diff_id == "sha256:" + hashlib.sha256(tar).hexdigest()
    assert gzip.decompress(END_MEMBER) == b"\0" * 1024
    r = subprocess.run(["gzip", "-t", str(m.blob)], check=False)
    assert r.returncode == 0


def _big_package(workdir: Path, threads: int) -> tuple[bytes, package.desc_mod.LayerDescriptor]:
    spec = {
        "site-packages/big/_C.so": mixed_bytes(3 * MEMBER_INPUT + 12345),
        **{f"site-packages/big/m{i}.py": mixed_bytes(5000 + i, b"m%d" % i) for i in range(40)},
    }
    manifest = write_manifest(workdir, "big==1", spec)
    blob = workdir / f"big-{threads}.tar.gz"
    d = package.write_package(package.load_manifest(manifest), blob, threads=threads)
    return blob.read_bytes(), d


def test_blob_bytes_do_not_depend_on_the_threads_that_compress_it(tmp_path: Path) -> None:
    one, d1 = _big_package(tmp_path, threads=1)
    for threads in (2, 3, 8):
        many, d = _big_package(tmp_path, threads=threads)
        assert many == one and d == d1, f"{threads} threads gave other bytes than 1"
    # One member per MiB of tar in each part, then the end member.
    body = d1.tar_body_size - d1.tar_dirs_size
    members = gzip_members(one)
    assert len(members) == 1 + -(-body // MEMBER_INPUT) + 1
    assert members[0] == (0, d1.blob_dirs_size) and members[-1][0] == d1.blob_body_size
    # Every reader sees one gzip stream: GNU gzip gives the tar of the diff_id.
    r = subprocess.run(["gzip", "-dc"], input=one, capture_output=True, check=True)
    assert "sha256:" + hashlib.sha256(r.stdout).hexdigest() == d1.diff_id


def test_golden_digest_of_ci_zlib(tmp_path: Path) -> None:
    # Pins the compressed bytes that CI's compressor (Python's zlib, level 6)
    # gives on a fixed input, so that a change of chunking or settings is
    # seen. A machine with another zlib may give other blob bytes (never
    # another diff_id, which is all a lock records).
    _, d = _big_package(tmp_path, threads=2)
    assert d.diff_id == "sha256:3bfb77e4182e6dc8e2054b0ce50c183b08a8738dfdc5bc1c8b59b45460e5d19a"
    if zlib.ZLIB_RUNTIME_VERSION != "1.2.13":
        pytest.skip(f"zlib {zlib.ZLIB_RUNTIME_VERSION} is not CI's 1.2.13: other deflate bytes")
    assert (
        d.digest == "sha256:c89304d44450bed7050062b16223c7c49cbd906530184d58a2a1775e205eab90"
        and d.size == 1707397
    )


def test_descriptor_indexes_every_path(tmp_path: Path) -> None:
    m = build_package(
        tmp_path, "p==1", {"x/y.py": b"data", "x/run": ("exec", b"#!"), "x/l": ("link", "y.py")}
    )
    saved = json.loads((tmp_path / "p__1.json").read_text())
    assert saved["entries"] == {
        "x/": "d",
        "x/l": "l y.py",
        "x/run": "f 755 sha256:" + hashlib.sha256(b"#!").hexdigest(),
        "x/y.py": "f 644 sha256:" + hashlib.sha256(b"data").hexdigest(),
    }
    assert saved["packages"] == ["p==1"]
    assert saved["digest"] == m.descriptor.digest


def test_executable_bit_from_source_when_manifest_is_silent(tmp_path: Path) -> None:
    src = tmp_path / "tool"
    src.write_bytes(b"#!/bin/sh\n")
    src.chmod(0o700)
    plain = tmp_path / "plain"
    plain.write_bytes(b"x")
    plain.chmod(0o666)
    manifest = {
        "package": "p==1",
        "entries": [
            {"path": "bin/tool", "src": "tool"},
            {"path": "bin/plain", "src": "plain"},
            {"path": "bin/m", "src": "plain", "mode": "0750"},
        ],
    }
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    d = package.write_package(package.load_manifest(tmp_path / "m.json"), tmp_path / "o.tgz")
    assert d.entries["bin/tool"].startswith("f 755 ")
    assert d.entries["bin/plain"].startswith("f 644 ")
    assert d.entries["bin/m"].startswith("f 755 ")


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(spec=package_specs(), seed=st.integers(0, 1000))
def test_tar_is_deterministic_and_round_trips(
    tmp_path_factory: pytest.TempPathFactory, spec: dict[str, object], seed: int
) -> None:
    one = tmp_path_factory.mktemp("one")
    two = tmp_path_factory.mktemp("two")
    a = build_package(one, "p==1", spec)  # type: ignore[arg-type]
    # Same package, manifest entries in another order, sources elsewhere.
    manifest = write_manifest(two, "p==1", spec)  # type: ignore[arg-type]
    obj = json.loads(manifest.read_text())
    random.Random(seed).shuffle(obj["entries"])
    manifest.write_text(json.dumps(obj))
    b = package.write_package(package.load_manifest(manifest), two / "p.tgz")
    assert a.blob.read_bytes() == (two / "p.tgz").read_bytes()
    assert (a.descriptor.digest, a.descriptor.diff_id) == (b.digest, b.diff_id)
    # Round trip: extracting gives back exactly the files, modes and links.
    out = one / "x"
    with tarfile.open(a.blob) as tf:
        tf.extractall(out, filter="tar")
    for path, value in spec.items():
        target = out / path
        if isinstance(value, tuple) and value[0] == "link":
            assert target.is_symlink()
            assert str(target.readlink()) == value[1]
            continue
        data = value[1] if isinstance(value, tuple) else value
        assert target.read_bytes() == data
        mode = target.stat().st_mode & 0o777
        assert mode == (0o755 if isinstance(value, tuple) else 0o644)
    found = {str(p.relative_to(out)) for p in out.rglob("*") if p.is_symlink() or not p.is_dir()}
    assert found == set(spec)


def test_big_file_is_streamed_not_loaded(tmp_path: Path) -> None:
    big = tmp_path / "big.bin"
    with big.open("wb") as f:
        f.truncate(300 << 20)  # sparse: cheap to create, still 300 MB to stream
    manifest = {"package": "big==1", "entries": [{"path": "lib/big.bin", "src": str(big)}]}
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    # A fresh parent whose only child is the pyimage run, so that the peak RSS
    # it reports is that run's alone (not some earlier child of pytest's).
    probe = (
        "import resource, subprocess, sys\n"
        "subprocess.run(sys.argv[1:], check=True)\n"
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    )
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            probe,
            sys.executable,
            "-m",
            "pyimage",
            "package-tar",
            "--manifest",
            str(tmp_path / "m.json"),
            "--blob",
            str(tmp_path / "o.tgz"),
            "--descriptor",
            str(tmp_path / "o.json"),
        ],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
    )
    assert r.returncode == 0, r.stderr
    peak_kib = int(r.stdout.strip())
    assert peak_kib < 100 * 1024, f"peak RSS {peak_kib} KiB for a 300 MB file"
    d = json.loads((tmp_path / "o.json").read_text())
    assert d["tar_size"] == 512 + 512 + (300 << 20) + 1024  # dir, header, data, end


def test_src_root_resolves_relative_sources(tmp_path: Path) -> None:
    # Bazel actions write the manifest under bazel-out/ with sources relative
    # to the execroot: --src-root says where relative sources start.
    execroot = tmp_path / "execroot"
    (execroot / "external/pypi_six/site-packages").mkdir(parents=True)
    (execroot / "external/pypi_six/site-packages/six.py").write_bytes(b"six = 1\n")
    out = tmp_path / "bazel-out"
    out.mkdir()
    manifest = out / "six.manifest.json"
    entry = {"path": "site-packages/six.py", "src": "external/pypi_six/site-packages/six.py"}
    manifest.write_text(json.dumps({"package": "six==1.16.0", "entries": [entry]}))
    cmd = [sys.executable, "-m", "pyimage", "package-tar", "--manifest", str(manifest)]
    cmd += ["--blob", str(out / "six.tar.gz"), "--descriptor", str(out / "six.json")]
    # Against the manifest's folder, the source does not exist: a clear error.
    r = subprocess.run(cmd, cwd=TOOLS, capture_output=True, text=True, check=False)
    assert r.returncode == 2
    assert "six.py" in r.stderr
    r = subprocess.run(
        [*cmd, "--src-root", str(execroot)], cwd=TOOLS, capture_output=True, text=True, check=False
    )
    assert r.returncode == 0, r.stderr
    with tarfile.open(out / "six.tar.gz") as tf:
        assert tf.extractfile("site-packages/six.py").read() == b"six = 1\n"  # type: ignore[union-attr]


# rules_python's namespace shims, byte for byte, as each version writes them
# (facts from rules_python's sources: 0.22.1 wheel_installer.py; 1.3-1.4 the
# same with the new marker; 1.5.0-2.0.3 and 2.1.0-2.3.2 namespace_pkg_tmpl.py).
MARKER = b"# __path__ manipulation added by %s/rules_python to support namespace pkgs.\n"
MARKER_OLD = MARKER % b"bazelbuild"
MARKER_NEW = MARKER % b"bazel-contrib"
SHIMS = {
    "0.22": MARKER_OLD + b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
    "1.3": MARKER_NEW + b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n",
    "1.5": MARKER_NEW + b'__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n',
    "2.1": MARKER_NEW
    + b'__path__ = __import__("pkgutil").extend_path(__path__, __name__)  # noqa: F821\n',
}


def test_every_rules_python_shim_is_recognised_and_nothing_else() -> None:
    # Sizes as rules_python writes them (0.22.1: 149 bytes; 1.5: 152; 2.1: 166).
    assert [len(s) for s in SHIMS.values()] == [149, 152, 152, 166]
    for shim in SHIMS.values():
        assert package.is_rules_python_shim(shim)
    not_shims = [
        b"",
        MARKER_NEW,  # the comment alone
        SHIMS["1.5"] + b"from ._impl import *\n",  # a real package's code after it
        b'__path__ = __import__("pkgutil").extend_path(__path__, __name__)\n',  # no marker
        SHIMS["1.5"].replace(b"pkgutil", b"pkgutils"),
        SHIMS["0.22"].replace(b"('pkgutil'", b"(\"pkgutil'"),  # unpaired quotes
    ]
    for data in not_shims:
        assert not package.is_rules_python_shim(data), data


@pytest.mark.parametrize("version", sorted(SHIMS))
def test_rules_python_namespace_shims_are_left_out(tmp_path: Path, version: str) -> None:
    # rules_python adds pkgutil __init__.py shims to a wheel's folders without
    # one (autobahn's twisted/): merged into one site-packages they would
    # shadow twisted's own __init__.py.
    src = tmp_path / "src"
    (src / "twisted/plugins").mkdir(parents=True)
    (src / "twisted/__init__.py").write_bytes(SHIMS[version])
    (src / "twisted/plugins/ab.py").write_bytes(b"x = 1\n")
    (src / "own.py").write_bytes(MARKER_NEW + b"import os\n")
    entries = [
        {"path": "sp/twisted/__init__.py", "src": str(src / "twisted/__init__.py")},
        {"path": "sp/twisted/plugins/ab.py", "src": str(src / "twisted/plugins/ab.py")},
        {"path": "sp/own/__init__.py", "src": str(src / "own.py")},
    ]
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"package": "autobahn==1", "entries": entries}))
    base = [sys.executable, "-m", "pyimage", "package-tar", "--manifest", str(manifest)]
    for flag, expect_shim in (([], True), (["--drop-rules-python-shims"], False)):
        blob = tmp_path / f"o{len(flag)}.tar.gz"
        r = subprocess.run(
            [*base, "--blob", str(blob), "--descriptor", str(blob) + ".json", *flag],
            cwd=TOOLS, capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert r.returncode == 0, r.stderr
        with tarfile.open(blob) as tf:
            names = set(tf.getnames())
        assert ("sp/twisted/__init__.py" in names) is expect_shim
        assert {"sp/twisted/plugins/ab.py", "sp/own/__init__.py"} <= names


def test_modes_come_from_the_bytes_not_the_source_execute_bit(tmp_path: Path) -> None:
    # Bazel stages every input executable on a remote executor: the x bit of a
    # source must not change the layer (e2e/tests/test_remote.py).
    files = {
        "lib/mod.py": (b"x = 1\n", 0o755),  # executable on disk, yet data
        "bin/tool": (b"#!/bin/sh\necho hi\n", 0o644),  # a script, not executable on disk
        "lib/native.so": (b"\x7fELF\x02\x01\x01" + bytes(64), 0o600),
        "lib/empty.txt": (b"", 0o777),
    }
    entries = []
    for i, (path, (data, mode)) in enumerate(files.items()):
        src = tmp_path / f"src{i}"
        src.write_bytes(data)
        src.chmod(mode)
        entries.append({"path": path, "src": str(src)})
    manifest = tmp_path / "m.json"
    manifest.write_text(json.dumps({"package": "p==1", "entries": entries}))
    d = package.write_package(package.load_manifest(manifest), tmp_path / "p.tgz")
    modes = {path: d.entries[path].split(" ")[1] for path in files}
    assert modes == {"lib/mod.py": "644", "bin/tool": "755", "lib/native.so": "755",
                     "lib/empty.txt": "644"}  # fmt: skip
    with tarfile.open(tmp_path / "p.tgz") as tf:
        assert {m.name: m.mode for m in tf.getmembers() if m.isfile()} == {
            p: int(m, 8) for p, m in modes.items()
        }


def test_declared_symlinks_are_copied_as_links_and_links_into_packages_dropped(
    tmp_path: Path,
) -> None:
    # A venv binary's runfiles (rules_python's venvs_site_packages): declared
    # relative symlinks, one into a pip package's site-packages, one not.
    src = tmp_path / "src"
    src.mkdir()
    (src / "humanize").symlink_to("../../../../../pypi_humanize/site-packages/humanize")
    (src / "python3").symlink_to("../../../cpython/bin/python3")
    (src / "main.py").write_bytes(b"print(1)\n")
    venv = "app/a.runfiles/_main/_a.venv"
    entries = [
        {"path": f"{venv}/lib/python3.11/site-packages/humanize", "src_or_link": "humanize"},
        {"path": f"{venv}/bin/python3", "src_or_link": "python3"},
        {"path": "app/a.runfiles/_main/main.py", "src_or_link": "main.py"},
    ]
    obj = {
        "package": "app://:a",
        "entries": entries,
        "drop_links_into": ["app/a.runfiles/pypi_humanize/site-packages"],
    }
    manifest = package.parse_manifest(obj, src, "test")
    kinds = {e.path: (e.kind, e.target) for e in manifest.entries}
    assert kinds == {
        f"{venv}/bin/python3": ("symlink", "../../../cpython/bin/python3"),
        "app/a.runfiles/_main/main.py": ("file", ""),
    }
    assert [e.src for e in manifest.entries if e.kind == "file"] == [src / "main.py"]
    # As Bazel's sandbox stages an input: an absolute symlink to the same
    # path in the execroot, followed.
    execroot = tmp_path / "execroot"
    (execroot / "bazel-out/bin").mkdir(parents=True)
    (execroot / "bazel-out/bin/s.py").write_bytes(b"print(2)\n")
    (src / "bazel-out/bin").mkdir(parents=True)
    (src / "bazel-out/bin/s.py").symlink_to(execroot / "bazel-out/bin/s.py")
    # A declared link with an absolute target (a venv's bin/python3 on a
    # system interpreter) names a path of the build machine: left out.
    (src / "bazel-out/bin/python3").symlink_to("/usr/bin/python3.11")
    staged = package.parse_manifest(
        {
            "package": "p",
            "entries": [
                {"path": "app/s.py", "src_or_link": "bazel-out/bin/s.py"},
                {"path": "app/venv/bin/python3", "src_or_link": "bazel-out/bin/python3"},
            ],
        },
        src,
        "t",
    )
    assert [(e.path, e.kind, e.src) for e in staged.entries] == [
        ("app/s.py", "file", src / "bazel-out/bin/s.py")
    ]
    # A relative link that climbs out of the image: one line naming it.
    (src / "out").symlink_to("../../../../etc/passwd")
    with pytest.raises(PyimageError, match=re.escape("'app/x' -> '../../../../etc/passwd' leaves")):
        package.parse_manifest(
            {"package": "p", "entries": [{"path": "app/x", "src_or_link": "out"}]}, src, "test"
        )
