"""fsutil: placed blobs, temporary names, stale temporaries, outputs checked against inputs."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
from enginekit import TOOLS

from pyimage.errors import PyimageError
from pyimage.fsutil import (
    STALE_AFTER,
    atomic_output,
    check_paths,
    place_blob,
    remove_stale_temporaries,
    temp_name,
)


@pytest.mark.parametrize("relative", [False, True])
def test_a_symlinked_source_is_placed_as_the_file_it_points_to(
    tmp_path: Path, relative: bool
) -> None:
    # As in Bazel's sandbox: the input is a symlink (here through a second
    # link) to the real output in the execroot.
    execroot = tmp_path / "execroot"
    execroot.mkdir()
    real = execroot / "six.blob"
    real.write_bytes(b"blob bytes " * 100)
    sandbox = tmp_path / "sandbox"
    sandbox.mkdir()
    hop = sandbox / "hop"
    hop.symlink_to(os.path.relpath(real, sandbox) if relative else real)
    src = sandbox / "six.blob"
    src.symlink_to("hop")

    dst = tmp_path / "layout" / "blob"
    dst.parent.mkdir()
    how = place_blob(src, dst)

    assert how in ("reflink", "hardlink", "copy")
    assert not dst.is_symlink()
    assert dst.is_file()
    # The sandbox and the execroot's file go; the placed blob stays whole.
    src.unlink()
    hop.unlink()
    real.unlink()
    assert dst.read_bytes() == b"blob bytes " * 100


def test_a_dangling_source_is_one_line_naming_it(tmp_path: Path) -> None:
    src = tmp_path / "gone"
    src.symlink_to(tmp_path / "nowhere")
    with pytest.raises(PyimageError, match=r"cannot copy blob .*gone"):
        place_blob(src, tmp_path / "dst")
    assert not (tmp_path / "dst").exists()


def test_temporary_names_are_random_and_hidden(tmp_path: Path) -> None:
    # Not the pid: two runs with one pid (PID namespaces, two hosts) never share one.
    names = {temp_name(tmp_path / "p.json").name for _ in range(200)}
    assert len(names) == 200
    assert all(re.fullmatch(r"\.p\.json\.[0-9a-f]{16}\.tmp", n) for n in names), names


def test_only_temporaries_older_than_a_day_are_removed(tmp_path: Path) -> None:
    now = time.time()
    out = tmp_path / "p.tar.gz"
    old_file = tmp_path / ".p.tar.gz.0123456789abcdef.tmp"
    old_dir = tmp_path / ".p.tar.gz.fedcba9876543210.tmp"
    young = tmp_path / ".p.tar.gz.00000000000000ff.tmp"
    other = tmp_path / ".q.tar.gz.0123456789abcdef.tmp"  # another output's
    mine = tmp_path / "p.tar.gz.notes"  # not a temporary at all
    old_file.write_text("killed run")
    (old_dir / "blobs").mkdir(parents=True)
    young.write_text("a run still writing")
    other.write_text("another output's")
    mine.write_text("keep")
    day = STALE_AFTER
    for path, age in (
        (old_file, day + 60),
        (old_dir, day + 60),
        (young, day - 60),
        (other, 2 * day),
    ):
        os.utime(path, (now - age, now - age))
    removed = remove_stale_temporaries(out, now=now)
    assert sorted(removed) == sorted([old_file, old_dir])
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([young.name, other.name, mine.name])
    # Writing the output cleans up the same way.
    os.utime(young, (now - day - 60, now - day - 60))
    with atomic_output(out) as tmp:
        tmp.write_text("new")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([other.name, mine.name, out.name])


def _race(tmp_path: Path, rounds: int) -> list[str]:
    """Two package-tar runs, each PID 1 of its own PID namespace, writing one folder."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1) for PID namespaces (CI runs as root)")
    (tmp_path / "big.bin").write_bytes(os.urandom(4 << 20))
    manifest = tmp_path / "m.json"
    manifest.write_text(
        json.dumps({"package": "p==1", "entries": [{"path": "opt/big.bin", "src": "big.bin"}]})
    )
    out = tmp_path / "out"
    out.mkdir()
    probe = (
        "import os, runpy; assert os.getpid() == 1;"
        " runpy.run_module('pyimage', run_name='__main__')"
    )
    cmd = [unshare, "--pid", "--fork", sys.executable, "-c", probe, "package-tar",
           "--manifest", str(manifest), "--blob", str(out / "p.tar.gz"),
           "--descriptor", str(out / "p.json")]  # fmt: skip
    failures = []
    for k in range(rounds):
        runs = [
            subprocess.Popen(cmd, cwd=TOOLS, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            for _ in range(2)
        ]
        for r in runs:
            _, err = r.communicate(timeout=120)
            if r.returncode != 0:
                failures.append(f"round {k}: exit {r.returncode}: {err.decode().strip()}")
        desc = out / "p.json"
        if not desc.exists():
            failures.append(f"round {k}: the descriptor is gone")
            continue
        d = json.loads(desc.read_text())
        blob = (out / "p.tar.gz").read_bytes()
        if d["digest"] != "sha256:" + hashlib.sha256(blob).hexdigest():
            failures.append(f"round {k}: the blob is not its descriptor's")
        left = [p.name for p in out.iterdir() if p.name.endswith(".tmp")]
        if left:
            failures.append(f"round {k}: temporaries left: {left}")
    return failures


def test_two_runs_as_pid_1_of_two_pid_namespaces_both_succeed(tmp_path: Path) -> None:
    # As two containers or remote workers writing one shared folder: both
    # runs are pid 1, so a pid in the temporary name would be shared.
    assert _race(tmp_path, rounds=8) == []


@pytest.mark.parametrize(
    ("outputs", "inputs", "folders", "needle"),
    [
        ({"--a": "x", "--b": "x"}, {}, [], "--a and --b name the same file"),
        ({"--out": "o"}, {"--in": "o"}, [], "--out and --in name the same file"),
        ({"--out": "link"}, {"--in": "i"}, [], "--out and --in name the same file"),
        ({"--plan-out": "lay/index.json", "--out": "lay"}, {}, ["--out"], "one inside the other"),
        ({"--out": "lay"}, {"--in": "lay/blobs/b"}, ["--out"], "one inside the other"),
        ({"--out": "base/sub"}, {"--base": "base"}, ["--out"], "one inside the other"),
        ({"--out": "base"}, {"--base": "base"}, ["--out"], "name the same file"),
        ({"--out": "."}, {}, ["--out"], "is not a file name"),
        ({"--blob": ""}, {}, [], "is not a file name"),
        ({"--descriptor": "/"}, {}, [], "is not a file name"),
        ({"--blob": "a/.."}, {}, [], "is not a file name"),
        ({"--blob": "nowhere/b"}, {}, [], "its folder nowhere does not exist"),
        ({"--plan-out": "folder"}, {}, [], "is a folder; give the path of a file"),
    ],
)
def test_check_paths_refuses_outputs_over_inputs_in_one_line(  # noqa: PLR0917
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    outputs: dict[str, str],
    inputs: dict[str, str],
    folders: list[str],
    needle: str,
) -> None:
    monkeypatch.chdir(tmp_path)
    Path("i").write_text("input")
    Path("link").symlink_to("i")
    Path("o").write_text("input")
    (tmp_path / "lay" / "blobs").mkdir(parents=True)
    (tmp_path / "base").mkdir()
    (tmp_path / "folder").mkdir()
    with pytest.raises(PyimageError, match=re.escape(needle)) as err:
        check_paths(outputs, inputs, folders)
    assert "\n" not in str(err.value)


def test_check_paths_takes_distinct_outputs_beside_inputs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "base").mkdir()
    check_paths(
        {"--out": "layout", "--plan-out": "layout.plan.json", "--none": None},
        {"--base": "base", "--package": "base-not-inside.json", "--absent": None},
        folders=["--out"],
    )
