"""tools/offline/bazel on the host: what PYIMAGE_KEEP_SERVER=1 keeps.

Runs the real runner (as root, with its chroot; it builds the chroot when
missing) in examples/hello, in an output base of this test's own under
$PYIMAGE_CACHE/output, which it removes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
BAZEL = REPO / "tools" / "offline" / "bazel"
CACHE = Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage"))


def pinned(repo: Path = REPO) -> bool:
    """Whether the namespace of ``repo`` is pinned: an nsfs mount on
    $PYIMAGE_CACHE/ns/<chroot key>-<first 12 hex of sha256(repository path)>."""
    suffix = "-" + hashlib.sha256(str(repo).encode()).hexdigest()[:12]
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        mount_point, fs_type = fields[4], fields[fields.index("-") + 1]
        ours = mount_point.startswith(f"{CACHE}/ns/") and mount_point.endswith(suffix)
        if fs_type == "nsfs" and ours:
            return True
    return False


@pytest.fixture
def output_base() -> Iterator[Path]:
    base = CACHE / "output" / f"runner-test-{os.getpid()}"
    yield base
    subprocess.run([str(BAZEL), f"--output_base={base}", "shutdown"], cwd=REPO / "examples/hello",
                   capture_output=True, check=False, timeout=300)  # fmt: skip
    shutil.rmtree(base, ignore_errors=True)


def server_pid(output_base: Path, *, keep: bool, command: str = "info", repo: Path = REPO) -> str:
    env = dict(os.environ, PYIMAGE_KEEP_SERVER="1" if keep else "0")
    args = {"info": ["info", "server_pid"], "clean": ["clean", "--expunge"]}.get(command, [command])
    bazel = repo / "tools" / "offline" / "bazel"
    r = subprocess.run([str(bazel), f"--output_base={output_base}", *args],
                       cwd=repo / "examples" / "hello", env=env, capture_output=True,
                       text=True, timeout=900, check=False)  # fmt: skip
    assert r.returncode == 0, f"bazel {' '.join(args)} exited {r.returncode}: {r.stderr[-2000:]}"
    return r.stdout.strip()


@pytest.mark.skipif(os.geteuid() != 0, reason="the runner needs root (chroot, mount namespaces)")
def test_a_kept_server_serves_the_next_run_and_shutdown_unpins_its_namespace(output_base):
    first = server_pid(output_base, keep=True)
    assert pinned(), f"no namespace of {REPO} pinned under {CACHE}/ns"
    assert server_pid(output_base, keep=True) == first, "the kept server was not reused"
    server_pid(output_base, keep=True, command="shutdown")
    assert not pinned(), "shutdown left the namespace pinned"
    # Without the setting: a new server, gone when the command ends.
    second = server_pid(output_base, keep=False)
    assert second != first
    assert server_pid(output_base, keep=False) != second


def copy_of_the_repository(to: Path) -> None:
    """The work tree (no .git, no Bazel output links), as a clone would have it."""
    ignore = shutil.ignore_patterns(".git", "bazel-*", "__pycache__", ".*_cache")
    shutil.copytree(REPO, to, symlinks=True, ignore=ignore)


@pytest.mark.skipif(os.geteuid() != 0, reason="the runner needs root (chroot, mount namespaces)")
def test_a_kept_namespace_serves_a_new_clone_at_an_old_clones_path(output_base, tmp_path):
    # CI clones each commit anew at one path, on a machine that may still hold
    # the last run's pinned namespace, whose mount of the repository is the
    # deleted old clone's: the runner must mount the new one.
    clone = tmp_path / "clone"
    copy_of_the_repository(clone)
    try:
        first = server_pid(output_base, keep=True, repo=clone)
        assert pinned(clone), f"no namespace of {clone} pinned under {CACHE}/ns"
        shutil.rmtree(clone)
        copy_of_the_repository(clone)
        second = server_pid(output_base, keep=True, repo=clone)
        assert second != first, "a server in the deleted clone answered"
        # clean --expunge stops the server as shutdown does: it unpins too.
        server_pid(output_base, keep=True, command="clean", repo=clone)
        assert not pinned(clone), "clean --expunge left the namespace pinned"
    finally:
        server_pid(output_base, keep=True, command="shutdown", repo=clone)
