"""Remote cache and remote execution: the e2e images built against a real BuildGrid.

A cache-only BuildGrid (e2e/harness/buildgrid.py, from PyPI) serves Bazel's
--remote_cache. One build fills it from a fresh output base; builds from
other fresh output bases must then get every action of ours from it.

A second BuildGrid executes (its scheduler in a private PostgreSQL, one
buildbox worker in the offline Bazel chroot): every action of ours must run
on the worker and give the bytes of the local build; then Build without the
Bytes (--remote_download_minimal) must leave every package's tar and blob on
the server, also after a package bump.

Execution logs are written into the scratch workspace: Bazel runs in the
runner's chroot, which sees the workspace but not pytest's temporary folders.

Slow (each fresh output base fetches the fleet's 131 wheels again; about 20
minutes in all): run by `tools/test e2e`.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from buildgrid import EXEC_FLAGS, BuildGrid
from e2ekit import BAZEL, CACHE, bazel, scratch_copy
from harnesslib import executed_spawns, in_spoke_of
from test_e2e import copy_outputs

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (chroot)")

#: The mnemonics of the actions rules_pyimage registers.
OURS = {
    "PyImageBase",
    "PyImagePackageLayer",
    "PyImageLayer",
    "PyImageLayout",
    "PyImageFleetPlan",
    "PyImageFleetMerge",
}
# (app, image): api_zstd is api's binary with zstd layers; multiarch's
# linux/arm64 image (aarch64 wheels, an arm64 base) is built by the x86-64
# worker too. (Its linux/amd64 image is built as api's are: left out, as the
# tests' time is counted.)
IMAGES = [
    ("api", "image"),
    ("worker", "image"),
    ("api_zstd", "image"),
    ("multiarch", "image.linux_arm64"),
]
TARGETS = [f"//apps/{app}:{image}.layers" for app, image in IMAGES]


def copy_images(workspace: Path, dest: Path) -> list[Path]:
    """Copy every image's `.layers` outputs under ``dest``: a folder per image."""
    return [copy_outputs(workspace, app, dest, target=image).layout.parent for app, image in IMAGES]


def output_base(tag: str) -> Path:
    """A fresh Bazel output base under the runner's output root (mounted in the chroot)."""
    path = CACHE / "output" / f"remote-{tag}-{os.getpid()}"
    assert not path.exists(), path
    return path


def drop_output_base(ws: Path, path: Path) -> None:
    subprocess.run([str(BAZEL), f"--output_base={path}", "clean", "--expunge"],
                   cwd=ws, check=False, capture_output=True)  # fmt: skip
    shutil.rmtree(path, ignore_errors=True)


def ours(log: Path) -> list[dict[str, object]]:
    """The spawns of our actions in an execution log."""
    return [s for s in executed_spawns(log) if s.get("mnemonic") in OURS]


def remote_hit(spawn: dict[str, object]) -> bool:
    """Whether Bazel took this spawn's result from the remote cache (7.x: runner + cacheHit)."""
    return spawn.get("runner") == "remote cache hit" and spawn.get("cacheHit") is True


def tree_digests(root: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file below ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def server() -> Iterator[BuildGrid]:
    with BuildGrid() as bg:
        yield bg


@pytest.fixture(scope="module")
def workspace(bases: dict[str, Path]) -> Iterator[Path]:
    """A copy of the e2e workspace outside the repository (absolute paths)."""
    with scratch_copy() as ws:
        yield ws


@pytest.fixture(scope="module")
def filled(server: BuildGrid, workspace: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache filled by a build from a fresh output base; that build's outputs."""
    ob = output_base("fill")
    log = workspace / "fill.json"
    out = tmp_path_factory.mktemp("fill")
    try:
        bazel(workspace, f"--output_base={ob}", "build", f"--remote_cache={server.url}",
              f"--execution_log_json_file={log}", *TARGETS)  # fmt: skip
        copy_images(workspace, out)
    finally:
        drop_output_base(workspace, ob)
    spawns = ours(log)
    assert spawns and not [s for s in spawns if remote_hit(s)], "the cache was not empty"
    return out


def test_second_build_from_a_fresh_output_base_gets_all_our_actions_from_the_cache(
    server: BuildGrid, workspace: Path, filled: Path, tmp_path: Path
) -> None:
    ob = output_base("hit")
    log = workspace / "hit.json"
    try:
        r = bazel(workspace, f"--output_base={ob}", "build", f"--remote_cache={server.url}",
                  f"--execution_log_json_file={log}", *TARGETS)  # fmt: skip
        copied = copy_images(workspace, tmp_path / "out")
    finally:
        drop_output_base(workspace, ob)
    spawns = ours(log)
    by_mnemonic: dict[str, int] = {}
    for s in spawns:
        by_mnemonic[str(s["mnemonic"])] = by_mnemonic.get(str(s["mnemonic"]), 0) + 1
    missed = [f"{s['mnemonic']} {s.get('targetLabel')}" for s in spawns if not remote_hit(s)]
    summary = [ln for ln in r.stderr.splitlines() if "processes:" in ln]
    print("our actions from the cache:", by_mnemonic, summary)
    assert {"PyImagePackageLayer", "PyImageLayer", "PyImageLayout"} <= set(by_mnemonic)
    assert by_mnemonic["PyImagePackageLayer"] >= 10, by_mnemonic
    assert missed == [], missed
    for got in copied:
        assert tree_digests(got) == tree_digests(filled / got.name), got.name


@pytest.fixture(scope="module")
def executor() -> Iterator[BuildGrid]:
    with BuildGrid(execution=True) as bg:
        yield bg


@pytest.fixture(scope="module")
def remote_output_base(workspace: Path) -> Iterator[Path]:
    """One fresh output base for the remote-execution tests (its wheels fetched once)."""
    ob = output_base("exec")
    try:
        yield ob
    finally:
        drop_output_base(workspace, ob)


#: BuildGrid 0.4.4 sometimes fails an upload when two actions send the same
#: small blob at once (seen in CI: small files shared by django's package
#: action and the fleet merge); Bazel then fails the build with one of these
#: (the second when a single upload failed).
TRANSIENT_UPLOAD = ("errors during bulk transfer", "Error while uploading artifact with digest")


ATTEMPTS = 3


def remote_build(ws: Path, log: Path | None, *args: str) -> tuple[str, list[dict[str, object]]]:
    """``bazel ARGS`` (a build against the executor); Bazel's stderr and our spawns.

    A build that fails only on the server's transient upload error is run
    again, up to ``ATTEMPTS`` times in all, saying so (the actions that
    finished are not run again); the spawns of every attempt are returned,
    each with its ``attempt`` number.
    """
    spawns: list[dict[str, object]] = []
    for attempt in range(1, ATTEMPTS + 1):
        extra = []
        if log is not None:
            extra = [f"--execution_log_json_file={log.with_suffix(f'.{attempt}.json')}"]
        cmd = [str(BAZEL), *args, *extra]
        print("+", " ".join(cmd), file=sys.stderr)
        r = subprocess.run(cmd, cwd=ws, capture_output=True, text=True, check=False)
        if log is not None and log.with_suffix(f".{attempt}.json").exists():
            spawns += [{**s, "attempt": attempt} for s in ours(log.with_suffix(f".{attempt}.json"))]
        if r.returncode == 0:
            return r.stderr, spawns
        if attempt < ATTEMPTS and any(text in r.stderr for text in TRANSIENT_UPLOAD):
            print(f"attempt {attempt} hit the server's transient upload error: {r.stderr[-600:]}")
            continue
        pytest.fail(f"bazel {' '.join(args)} exited {r.returncode}:\n{r.stderr[-5000:]}")
    raise AssertionError("unreachable")


def not_run_remotely(spawns: list[dict[str, object]]) -> list[str]:
    """The spawns that did not run on the executor.

    A remote cache hit counts as run remotely only in a later attempt: the
    executor's cache starts empty and only its worker fills it, so the hit is
    an action the worker ran during an earlier attempt, perhaps one still in
    flight when Bazel gave that attempt up (then that attempt's log lacks it).
    """
    return [
        f"{s['mnemonic']} {s.get('targetLabel')}: {s.get('runner')} (attempt {s['attempt']})"
        for s in spawns
        if not s.get("remotable")
        or not (s.get("runner") == "remote" or (remote_hit(s) and int(str(s["attempt"])) > 1))
    ]


def count(spawns: list[dict[str, object]]) -> dict[str, int]:
    out: dict[str, int] = {}
    for s in spawns:
        key = f"{s['mnemonic']} ({s.get('runner')})"
        out[key] = out.get(key, 0) + 1
    return out


def package_files(ws: Path) -> list[Path]:
    """Package action outputs (layer.tar, .tar.gz, .json) present in the workspace's bazel-out.

    (Not ``layer.manifest.json``: Bazel writes that input file itself, locally.)
    """
    out = (ws / "bazel-out").resolve()
    return sorted(
        p
        for name in ("layer.tar", "layer.tar.gz", "layer.json")
        for p in out.glob(f"*/bin/external/*/pkg.pyimage/{name}")
    )


def test_remote_execution_runs_every_action_of_ours_on_the_worker_with_local_bytes(
    executor: BuildGrid, workspace: Path, filled: Path, remote_output_base: Path, tmp_path: Path
) -> None:
    stderr, spawns = remote_build(
        workspace, workspace / "exec.json", f"--output_base={remote_output_base}", "build",
        f"--remote_executor={executor.url}", *EXEC_FLAGS, *TARGETS,
    )  # fmt: skip
    copied = copy_images(workspace, tmp_path / "out")
    print("our actions:", count(spawns), [ln for ln in stderr.splitlines() if "processes:" in ln])
    assert {str(s["mnemonic"]) for s in spawns} >= {"PyImagePackageLayer", "PyImageLayout"}
    assert not_run_remotely(spawns) == [], count(spawns)
    # The worker's bytes are the local build's (`filled` ran every action here).
    for got in copied:
        assert tree_digests(got) == tree_digests(filled / got.name), got.name


def test_build_without_the_bytes_leaves_package_blobs_remote_also_after_a_bump(
    executor: BuildGrid, workspace: Path, remote_output_base: Path
) -> None:
    flags = [f"--output_base={remote_output_base}"]
    build = ["build", f"--remote_executor={executor.url}", *EXEC_FLAGS,
             "--remote_download_minimal"]  # fmt: skip
    targets = [f"//apps/{app}:image.layers" for app in ("api", "web", "worker")]
    bazel(workspace, *flags, "clean")  # outputs gone; fetched wheels kept
    remote_build(workspace, None, *flags, *build, *targets)
    assert package_files(workspace) == [], "a package's output was downloaded"
    lock = workspace / "requirements_lock.txt"
    pinned = lock.read_text()
    log = workspace / "bump.json"
    try:
        lock.write_text(pinned.replace("six==1.17.0\n", "six==1.16.0\n"))
        _, spawns = remote_build(workspace, log, *flags, *build, *targets)
        ran = [s for s in spawns if s.get("runner") == "remote"]
        print("after bumping six:", count(spawns))
        packages = [s.get("targetLabel", "") for s in ran if s["mnemonic"] == "PyImagePackageLayer"]
        assert len(packages) == 1 and in_spoke_of(packages[0], "six"), count(spawns)
        assert all(s.get("runner") in ("remote", "remote cache hit") for s in spawns)
        assert package_files(workspace) == [], "a package's output was downloaded"
    finally:
        lock.write_text(pinned)
