"""Hostile and bad package input: each refused with one line, nothing half-written left."""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from enginekit import TOOLS, need_tool, pyimage
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyimage.engine import package
from pyimage.engine.safety import check_image_path, check_symlink_chains, check_symlink_target
from pyimage.errors import PyimageError

FIXTURE_OK = [HealthCheck.function_scoped_fixture]
good_part = st.text(alphabet="abc_-.1é", min_size=1, max_size=8).filter(
    lambda s: s not in (".", "..") and not s.startswith(".wh.")
)
bad_part = st.one_of(
    st.sampled_from(["", ".", ".."]),
    good_part.map(lambda s: ".wh." + s),
    st.just(".wh..wh..opq"),
)


@st.composite
def hostile_paths(draw: st.DrawFn) -> str:
    """A path with at least one forbidden component, or absolute."""
    parts = draw(st.lists(good_part, min_size=0, max_size=3))
    parts.insert(draw(st.integers(0, len(parts))), draw(bad_part))
    path = "/".join(parts)
    if draw(st.booleans()) and path and not path.startswith("/"):
        path = "/" + path
    return path


def run_manifest(tmp_path: Path, manifest: dict[str, object]) -> tuple[int, str]:
    """Run package-tar on ``manifest`` via the CLI; return exit code and stderr."""
    out = tmp_path / "out"
    out.mkdir(exist_ok=True)
    (tmp_path / "m.json").write_text(json.dumps(manifest))
    r = pyimage(
        "package-tar",
        *("--manifest", str(tmp_path / "m.json")),
        *("--blob", str(out / "p.tgz"), "--descriptor", str(out / "p.json")),
    )
    assert list(out.iterdir()) == [], "a failed run must leave nothing behind"
    return r.returncode, r.stderr


def assert_one_line_error(code: int, stderr: str, *needles: str) -> None:
    assert code == 2, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("pyimage: error: ")
    for needle in needles:
        assert needle in lines[0], (needle, lines[0])


@settings(max_examples=60, deadline=None)
@given(path=hostile_paths())
def test_every_hostile_path_is_refused(path: str) -> None:
    with pytest.raises(PyimageError) as err:
        check_image_path("p==1", path)
    assert "\n" not in str(err.value)
    assert "p==1" in str(err.value)


@settings(max_examples=40, deadline=None)
@given(parts=st.lists(good_part, min_size=1, max_size=4))
def test_normal_paths_pass(parts: list[str]) -> None:
    path = "/".join(parts)
    assert check_image_path("p==1", path) == path


@settings(max_examples=60, deadline=None)
@given(
    depth=st.integers(0, 3),
    ups=st.integers(1, 6),
    tail=st.lists(good_part, max_size=2),
    absolute=st.booleans(),
)
def test_symlinks_leaving_the_package_are_refused(
    depth: int, ups: int, tail: list[str], absolute: bool
) -> None:
    link = "/".join(["d"] * depth + ["link"])
    if absolute:
        target = "/" + "/".join(tail or ["etc"])
    else:
        ups = max(ups, depth + 1)  # always climbs above the root
        target = "/".join([".."] * ups + (tail or ["x"]))
    with pytest.raises(PyimageError, match="symlink"):
        check_symlink_target("p==1", link, target)


def test_symlink_inside_root_passes_and_outside_root_fails() -> None:
    assert check_symlink_target("p==1", "opt/venv/bin/py", "../lib/x", "opt/venv") == "../lib/x"
    with pytest.raises(PyimageError, match="package root 'opt/venv'"):
        check_symlink_target("p==1", "opt/venv/bin/py", "../../other/x", "opt/venv")


@settings(max_examples=25, deadline=None, suppress_health_check=FIXTURE_OK)
@given(path=hostile_paths())
def test_hostile_manifest_paths_fail_in_one_line_via_cli(tmp_path: Path, path: str) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"x")
    code, err = run_manifest(
        tmp_path, {"package": "evil==1", "entries": [{"path": path, "src": str(src)}]}
    )
    assert_one_line_error(code, err, "evil==1")


def test_fifo_source_is_refused(tmp_path: Path) -> None:
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/f", "src": str(fifo)}]}
    )
    assert_one_line_error(code, err, str(fifo), "fifo")


def test_device_source_is_refused(tmp_path: Path) -> None:
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/null", "src": "/dev/null"}]}
    )
    assert_one_line_error(code, err, "/dev/null", "device")


def test_socket_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sock"
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))
        code, err = run_manifest(
            tmp_path, {"package": "p==1", "entries": [{"path": "a/s", "src": str(path)}]}
        )
    assert_one_line_error(code, err, str(path), "socket")


def test_directory_source_is_refused(tmp_path: Path) -> None:
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/d", "src": str(tmp_path)}]}
    )
    assert_one_line_error(code, err, "directory")


def test_vanished_source_is_refused(tmp_path: Path) -> None:
    first = tmp_path / "ok"
    first.write_bytes(b"fine" * 1000)
    code, err = run_manifest(
        tmp_path,
        {
            "package": "p==1",
            "entries": [
                {"path": "a/1", "src": str(first)},
                {"path": "a/2", "src": str(tmp_path / "gone")},
            ],
        },
    )
    assert_one_line_error(code, err, "gone", "does not exist")


NOBODY = 65534


def run_manifest_as_nobody(manifest: dict[str, object], work: Path) -> tuple[int, str]:
    """Run package-tar as user nobody (root reads any file), in a folder nobody can use.

    The tool, the manifest and the output folder are copied or made under
    ``work`` (mode 0755): pytest's and CI's own folders are private to root.
    """
    tools = work / "tools"
    shutil.copytree(
        TOOLS / "pyimage", tools / "pyimage", ignore=shutil.ignore_patterns("__pycache__")
    )
    (work / "m.json").write_text(json.dumps(manifest))
    out = work / "out"
    out.mkdir()
    os.chown(out, NOBODY, NOBODY)
    r = subprocess.run(
        [shutil.which("setpriv") or "setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}",
         "--clear-groups", os.path.realpath(sys.executable), "-m", "pyimage", "package-tar",
         "--manifest", str(work / "m.json"),
         "--blob", str(out / "p.tgz"), "--descriptor", str(out / "p.json")],
        cwd=work, env={"PYTHONPATH": str(tools), "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert list(out.iterdir()) == [], "a failed run must leave nothing behind"
    return r.returncode, r.stderr


def test_unreadable_source_is_refused(tmp_path: Path) -> None:
    manifest_for = lambda src: {"package": "p==1", "entries": [{"path": "a/s", "src": str(src)}]}  # noqa: E731
    if os.geteuid() != 0:
        src = tmp_path / "secret"
        src.write_bytes(b"x")
        src.chmod(0)
        code, err = run_manifest(tmp_path, manifest_for(src))
    else:  # root reads files whatever their mode: run the tool as nobody
        work = Path(tempfile.mkdtemp(prefix="pyimage-nobody-"))
        try:
            work.chmod(0o755)
            src = work / "secret"
            src.write_bytes(b"x")
            src.chmod(0)
            code, err = run_manifest_as_nobody(manifest_for(src), work)
        finally:
            shutil.rmtree(work)
    assert_one_line_error(code, err, "secret", "readable")


def test_read_error_mid_file_is_one_line(tmp_path: Path) -> None:
    # /proc/self/mem is a regular file whose read at offset 0 fails with EIO:
    # a real read error, as root too.
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/m", "src": "/proc/self/mem"}]}
    )
    assert_one_line_error(code, err, "/proc/self/mem")


def test_escaping_symlink_is_refused_via_cli(tmp_path: Path) -> None:
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/l", "symlink": "../../etc/passwd"}]}
    )
    assert_one_line_error(code, err, "a/l", "leaves the package")


def test_whiteout_is_refused_via_cli(tmp_path: Path) -> None:
    src = tmp_path / "f"
    src.write_bytes(b"")
    code, err = run_manifest(
        tmp_path, {"package": "p==1", "entries": [{"path": "a/.wh.b", "src": str(src)}]}
    )
    assert_one_line_error(code, err, "whiteout")


@pytest.mark.parametrize(
    ("manifest", "needle"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps({"entries": []}), "package"),
        (json.dumps({"package": "p==1", "entries": []}), "no 'entries'"),
        (json.dumps({"package": "p==1", "entries": [{"path": "a"}]}), "exactly one"),
        (
            json.dumps(
                {
                    "package": "p==1",
                    "entries": [{"path": "a", "dir": True}, {"path": "a", "dir": True}],
                }
            ),
            "listed twice",
        ),
        (
            json.dumps(
                {
                    "package": "p==1",
                    "entries": [{"path": "a", "symlink": "b"}, {"path": "a/c", "dir": True}],
                }
            ),
            "parent",
        ),
    ],
)
def test_malformed_manifests(tmp_path: Path, manifest: str, needle: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "m.json").write_text(manifest)
    r = pyimage(
        "package-tar",
        *("--manifest", str(tmp_path / "m.json")),
        *("--blob", str(out / "p.tgz"), "--descriptor", str(out / "p.json")),
    )
    assert_one_line_error(r.returncode, r.stderr, needle)
    assert list(out.iterdir()) == []


def test_library_error_leaves_no_temp_files(tmp_path: Path) -> None:
    (tmp_path / "ok").write_bytes(b"1")
    manifest = package.parse_manifest(
        {"package": "p==1", "entries": [{"path": "x", "src": "ok"}, {"path": "y", "src": "no"}]},
        tmp_path,
        "test",
    )
    out = tmp_path / "out"
    out.mkdir()
    with pytest.raises(PyimageError):
        package.write_package(manifest, out / "p.tgz", out / "p.json")
    assert list(out.iterdir()) == []


def test_symlink_chain_escape_is_refused() -> None:
    # Each link passes the lexical check; together they climb out of the root.
    links = {"opt/venv/a/up": "..", "opt/venv/a/up2": "up/..", "opt/venv/b/l": "../a/up2/../x"}
    for path, target in links.items():
        check_symlink_target("p==1", path, target, "opt/venv")
    with pytest.raises(PyimageError, match="through other symlinks"):
        check_symlink_chains("p==1", links, "opt/venv")


def test_symlink_loop_is_refused() -> None:
    with pytest.raises(PyimageError, match="loop"):
        check_symlink_chains("p==1", {"a/x": "y", "a/y": "x"})


def test_symlink_chains_inside_pass() -> None:
    check_symlink_chains(
        "p==1",
        {
            "lib/libfoo.so": "libfoo.so.1",
            "lib/libfoo.so.1": "libfoo.so.1.2",
            "bin/l": "../lib/libfoo.so",
        },
    )


def test_symlink_chain_escape_via_cli(tmp_path: Path) -> None:
    code, err = run_manifest(
        tmp_path,
        {
            "package": "p==1",
            "entries": [
                {"path": "a/up", "symlink": ".."},
                {"path": "b/l", "symlink": "../a/up/../etc"},
            ],
        },
    )
    assert_one_line_error(code, err, "b/l", "through other symlinks")


def test_names_runtimes_cannot_unpack_are_refused() -> None:
    # Linux: 255 bytes per name, 4095 per absolute path ("/" + path).
    check_image_path("p", "a/" + "n" * 255)
    with pytest.raises(PyimageError, match="name of 256 bytes; runtimes cannot unpack"):
        check_image_path("p", "a/" + "n" * 256)
    # é is two bytes: 128 of them make a 256-byte name of 128 characters.
    with pytest.raises(PyimageError, match="name of 256 bytes"):
        check_image_path("p", "é" * 128)
    deep = "/".join(["d" * 99] * 40) + "/" + "f" * 94  # 4094 bytes
    assert len(deep) == 4094
    check_image_path("p", deep)
    with pytest.raises(PyimageError, match="is 4095 bytes; runtimes cannot unpack"):
        check_image_path("p", deep + "f")
    with pytest.raises(PyimageError, match="target is 4096 bytes or more"):
        check_symlink_target("p", "a/link", "x/" * 2048)


def test_one_file_given_for_two_outputs_is_refused(tmp_path: Path) -> None:
    (tmp_path / "f.py").write_bytes(b"x = 1\n")
    manifest = tmp_path / "m.json"
    manifest.write_text(
        json.dumps({"package": "p==1", "entries": [{"path": "opt/p/f.py", "src": "f.py"}]})
    )
    ok = [str(tmp_path / n) for n in ("p.tar.gz", "p.json")]
    r = pyimage("package-tar", "--manifest", str(manifest), "--blob", ok[0], "--descriptor", ok[1])
    assert r.returncode == 0, r.stderr
    blob = Path(ok[0]).read_bytes()
    for flags in (
        ["--blob", ok[0], "--descriptor", ok[0]],
        ["--blob", str(manifest), "--descriptor", ok[1]],
        ["--blob", ok[0], "--descriptor", str(tmp_path / "f.py")],
    ):
        r = pyimage("package-tar", "--manifest", str(manifest), *flags)
        assert r.returncode == 2, (flags, r.stderr)
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "name the same file" in lines[0], r.stderr
        assert Path(ok[0]).read_bytes() == blob
    assert (tmp_path / "f.py").read_bytes() == b"x = 1\n"
    r = pyimage("merge", "--member", ok[1], ok[0], "--blob", ok[0], "--descriptor",
                str(tmp_path / "m2.json"))  # fmt: skip
    assert r.returncode == 2 and "name the same file" in r.stderr, r.stderr
    assert Path(ok[0]).read_bytes() == blob


def test_a_descriptor_that_is_not_utf8_is_refused_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "p.json"
    bad.write_bytes(b"\xff\xfe{")
    r = pyimage("check-conflicts", str(bad))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert f"descriptor {bad} is not valid JSON" in lines[0]


def test_a_full_disk_is_reported_as_such_and_leaves_nothing(tmp_path: Path) -> None:
    if os.geteuid() != 0 or not shutil.which("mount"):
        pytest.skip("needs root and mount(8) to make a small tmpfs (CI runs as root)")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(small)], check=True)
    try:
        # 1 MiB of incompressible bytes cannot fit in 64 KiB.
        (tmp_path / "big.bin").write_bytes(os.urandom(1 << 20))
        manifest = tmp_path / "m.json"
        manifest.write_text(json.dumps(
            {"package": "big==1", "entries": [{"path": "opt/big.bin", "src": "big.bin"}]}
        ))  # fmt: skip
        desc = str(tmp_path / "d.json")
        for outputs in (["--blob", str(small / "b.tar.gz"), "--descriptor", desc],):
            r = pyimage("package-tar", "--manifest", str(manifest), *outputs)
            lines = r.stderr.strip().splitlines()
            assert r.returncode == 2 and len(lines) == 1, r.stderr
            assert "No space left on device" in lines[0], lines
            assert "free disk space" in lines[0], lines
            assert list(small.iterdir()) == []
            assert not (tmp_path / "d.json").exists()
    finally:
        subprocess.run(["umount", str(small)], check=False)


def test_a_descriptor_is_removed_first_and_put_in_place_last(tmp_path: Path) -> None:
    # So that no interruption or concurrent run leaves a blob beside a
    # descriptor of other bytes (a kill lands between any two system calls):
    # the run locks the folder, removes the old descriptor, renames the blob
    # in, and the descriptor last. strace shows the real calls.
    strace = need_tool("strace")
    (tmp_path / "f.bin").write_bytes(b"x" * 1000)
    manifest = tmp_path / "m.json"
    manifest.write_text(
        json.dumps({"package": "p==1", "entries": [{"path": "opt/f.bin", "src": "f.bin"}]})
    )
    outs = {"blob": tmp_path / "p.tar.gz", "desc": tmp_path / "p.json"}
    cmd = [sys.executable, "-m", "pyimage", "package-tar", "--manifest", str(manifest),
           *("--blob", str(outs["blob"]), "--descriptor", str(outs["desc"]))]  # fmt: skip
    subprocess.run(cmd, cwd=TOOLS, check=True)  # the previous outputs
    log = tmp_path / "strace.log"
    calls = "flock,unlink,unlinkat,rename,renameat,renameat2"
    traced = [strace, "-f", "-qq", "-e", f"trace={calls}", "-o", str(log), *cmd]
    subprocess.run(traced, cwd=TOOLS, check=True)
    events = []
    for line in log.read_text().splitlines():
        if "flock(" in line and "LOCK_EX" in line:
            events.append("lock")
        for key, path in outs.items():
            if f'"{path}"' not in line:
                continue
            if "unlink" in line:
                events.append(f"unlink {key}")
            elif "rename" in line and line.rstrip().endswith("= 0"):
                events.append(f"rename {key}")
    assert events == ["lock", "unlink desc", "rename blob", "rename desc"], events
