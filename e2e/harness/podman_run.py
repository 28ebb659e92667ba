#!/usr/bin/env python3
"""Run an image from an OCI layout in podman (runc), with no network, in a private store.

    podman_run.py --layout DIR [--tag TAG] [--entrypoint PATH] [--expect-max-depth] [-- ARGS...]

Loads ``oci:DIR:TAG`` into a podman store of its own (``--root``/``--runroot``
in temporary directories, overlay driver, runc, cgroupfs, file events), runs
it with ``--rm --pull=never --network=none`` and 4096 open files/processes,
as production runs it: a read-only root with no tmpfs anywhere
(``--read-only --read-only-tmpfs=false``, so nothing can be written at start)
and a user the image does not have (``--user 4242:4242``, :data:`RUN_AS`),
prints the container's stdout (and its stderr to stderr) and exits with the
container's exit code. The store is removed afterwards, also on failure
(its overlay mounts are undone first).

An image with more layers than podman's overlay store can stack (128) fails
with ``max depth exceeded``; this is reported in one clear line (exit 3).
``--expect-max-depth`` turns that around, for the layer-limit proof: exit 0
when podman fails with ``max depth exceeded``, 1 when the image ran. Needs root,
podman and runc.
"""

from __future__ import annotations

import argparse
import secrets
import subprocess
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import (
    HarnessError,
    last_line,
    main_wrapper,
    mounts_under,
    need_root,
    need_tool,
    progress,
    read_image,
    remove_tree,
)

MAX_DEPTH = "max depth exceeded"
OVERLAY_LIMIT = 128
EXIT_MAX_DEPTH = 3
#: The user and group every e2e image runs as: in no image's /etc/passwd.
RUN_AS = "4242:4242"


@dataclass(frozen=True)
class RunResult:
    """What a run gave: the stage that ended it (``pull`` or ``run``), code and output."""

    stage: str
    returncode: int
    stdout: str
    stderr: str

    @property
    def max_depth_exceeded(self) -> bool:
        """Whether podman refused the image for having too many layers."""
        return MAX_DEPTH in self.stderr or MAX_DEPTH in self.stdout


def store_dir() -> Path:
    """A new private folder for a podman store: short, under /tmp, lowercase hex name.

    podman wants short runroot paths (socket names), and names a pulled image
    after the layout's path, which must be a valid image reference: a
    ``mkdtemp`` suffix such as ``-_bwzx5mu`` (two separators in a row) is not.
    """
    for _ in range(100):
        store = Path("/tmp") / f"pyimg-podman-{secrets.token_hex(6)}"
        try:
            store.mkdir(mode=0o700)
        except FileExistsError:
            continue
        return store
    raise HarnessError("could not create a podman store folder under /tmp")


@contextmanager
def private_podman() -> Iterator[list[str]]:
    """A podman command prefix with its own store in temporary directories; removed after."""
    need_root("podman with a private --root")
    podman = need_tool("podman")
    need_tool("runc")
    store = store_dir()
    progress(f"podman store {store}")
    cmd = [
        podman,
        *("--root", str(store / "root"), "--runroot", str(store / "run")),
        *("--storage-driver", "overlay", "--runtime", "runc"),
        *("--cgroup-manager", "cgroupfs", "--events-backend", "file"),
    ]
    try:
        yield cmd
    finally:
        subprocess.run([*cmd, "rm", "-a", "-f"], capture_output=True, check=False, timeout=120)
        subprocess.run([*cmd, "rmi", "-a", "-f"], capture_output=True, check=False, timeout=120)
        for point in mounts_under(store):
            subprocess.run(["umount", "-l", point], capture_output=True, check=False)
        remove_tree(store)


def pull(podman: list[str], layout: Path, tag: str, timeout: float = 600) -> RunResult | str:
    """Pull ``oci:layout:tag`` into the store of ``podman``: the image id, or the failure."""
    read_image(layout, tag)  # a clear error for a missing layout or tag
    # podman names the image after the layout's path, and a name must be
    # lowercase: pull through a lowercase link in the store's folder.
    link = Path(podman[podman.index("--root") + 1]).parent / "layout"
    link.unlink(missing_ok=True)
    link.symlink_to(layout.resolve(), target_is_directory=True)
    return _pull(podman, ["-q", f"oci:{link}:{tag}"], f"{layout}:{tag}", timeout)


def _pull(podman: list[str], args: list[str], what: str, timeout: float) -> RunResult | str:
    """``podman pull ARGS``: the image id it printed, or the failure."""
    pulled = subprocess.run(
        [*podman, "pull", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if pulled.returncode != 0:
        return RunResult("pull", pulled.returncode, pulled.stdout, pulled.stderr)
    ids = pulled.stdout.split()
    if not ids:
        raise HarnessError(f"podman pull of {what} printed no image id")
    return ids[-1]


def pull_from_registry(
    podman: list[str], reference: str, platform: str, timeout: float = 600
) -> RunResult | str:
    """Pull ``reference`` (an image or index of a local, plain-HTTP registry) for ``platform``
    (``os/arch[/variant]``: podman picks that image of an index) into the store of
    ``podman``: the image id, or the failure."""
    args = ["-q", "--tls-verify=false", "--platform", platform, f"docker://{reference}"]
    return _pull(podman, args, f"{reference} ({platform})", timeout)


def run_pulled(
    podman: list[str],
    image: str,
    args: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout: float = 600,
) -> RunResult:
    """Run a pulled image as production runs it (see the module docstring)."""
    cmd = [*podman, "run", "--rm", "--pull=never", "--network=none"]
    cmd += ["--read-only", "--read-only-tmpfs=false", "--user", RUN_AS]
    cmd += ["--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"]
    if entrypoint is not None:
        cmd += ["--entrypoint", entrypoint]
    try:
        ran = subprocess.run(
            [*cmd, image, *args], capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"the container ran longer than {timeout:.0f}s") from None
    return RunResult("run", ran.returncode, ran.stdout, ran.stderr)


def run_image(
    layout: Path,
    tag: str,
    args: Sequence[str] = (),
    entrypoint: str | None = None,
    timeout: float = 600,
) -> RunResult:
    """Load ``oci:layout:tag`` into a private store and run it; return what happened."""
    read_image(layout, tag)  # a clear error for a missing layout or tag, before any store
    with private_podman() as podman:
        image = pull(podman, layout, tag, timeout)
        if isinstance(image, RunResult):
            return image
        return run_pulled(podman, image, args, entrypoint, timeout)


def describe_max_depth(layout: Path, tag: str, result: RunResult) -> str:
    """One line saying that the image has too many layers for podman's overlay store."""
    layers = len(read_image(layout, tag).layers)
    return (
        f"{MAX_DEPTH}: podman could not {result.stage} {layout}:{tag}: it has {layers} layers, "
        f"podman's overlay store stacks at most {OVERLAY_LIMIT} "
        f"(podman: {last_line(result.stderr or result.stdout)})"
    )


def main(argv: list[str] | None = None) -> int:
    """Command line; the exit code is the container's (see the module docstring)."""
    p = argparse.ArgumentParser(prog="podman_run.py", description=__doc__.split("\n")[0])
    p.add_argument("--layout", required=True, type=Path)
    p.add_argument("--tag", default="latest")
    p.add_argument("--entrypoint", default=None, help="override the image's entrypoint")
    p.add_argument("--expect-max-depth", action="store_true", help="succeed only on max depth")
    p.add_argument("--timeout", type=float, default=600)
    p.add_argument("args", nargs="*", help="arguments for the container (after --)")
    args = p.parse_args(argv)
    if not args.layout.is_dir():
        raise HarnessError(f"--layout {args.layout} is not a directory")
    result = run_image(args.layout, args.tag, args.args, args.entrypoint, args.timeout)
    sys.stdout.write(result.stdout)
    sys.stdout.flush()
    if result.max_depth_exceeded:
        reason = describe_max_depth(args.layout, args.tag, result)
        print(f"podman_run.py: {reason}", file=sys.stderr)
        return 0 if args.expect_max_depth else EXIT_MAX_DEPTH
    sys.stderr.write(result.stderr)
    if args.expect_max_depth:
        print(
            f"podman_run.py: error: expected {MAX_DEPTH!r}, but the image "
            f"{'ran' if result.stage == 'run' else 'failed to load'} "
            f"(exit {result.returncode}: {last_line(result.stderr or result.stdout)})",
            file=sys.stderr,
        )
        return 1
    if result.stage == "pull":
        raise HarnessError(f"podman pull failed: {last_line(result.stderr)}")
    return result.returncode


if __name__ == "__main__":
    main_wrapper("podman_run.py", main)()
