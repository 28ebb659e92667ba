"""File-system helpers of the layer engine: temp-then-rename outputs and cheap blob links.

Every output is written under a temporary name in the destination's directory and
renamed into place only once it is complete, so a failed or interrupted action
never leaves a half-written file behind. Outputs that belong together (a blob
and the descriptor that records its size and digest) are put in place by
:func:`replace_together`, so that no interruption or concurrent run leaves a
blob beside a descriptor that does not describe it. Blobs that already exist as files (a
cached per-package blob) are placed with a reflink (``FICLONE``), else a hard
link, else a copy, whichever the file system allows first; it is never a
symlink to what ``src`` resolves to: inside Bazel's sandbox every input is a
symlink into the execroot, and a tree artifact holding one would point outside
itself (and dangle once Bazel replants the execroot). :func:`link_blob` makes
the other kind of link, relative and from the paths as given (never resolved),
for blobs that are Bazel outputs going with the tree (see oci_layout).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path

from pyimage.errors import PyimageError

# ioctl number of FICLONE (linux/fs.h: _IOW(0x94, 9, int)).
FICLONE = 0x40049409


def temp_name(path: Path) -> Path:
    """A temporary sibling of ``path``, unique to this process."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield a temporary path to write; rename it to ``path`` on success, remove it on error."""
    tmp = temp_name(path)
    try:
        yield tmp
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


@contextlib.contextmanager
def replace_together(paths: Sequence[Path]) -> Iterator[list[Path]]:
    """Yield a temporary path for each of ``paths``; on success put them all in place.

    The last path describes the others (a descriptor): it is removed first and
    renamed in last, so an interruption leaves the old set or the new files
    without it (read as missing, never as stale). Concurrent writers take
    turns: each holds an exclusive ``flock`` on the folders from that removal
    to the last rename. On error every temporary file is removed.
    """
    paths = [Path(p) for p in paths]
    tmps = [temp_name(p) for p in paths]
    try:
        yield tmps
        folders = sorted({str(p.resolve().parent) for p in paths})
        fds = [os.open(folder, os.O_RDONLY | os.O_DIRECTORY) for folder in folders]
        try:
            for fd in fds:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                except OSError as err:
                    # A file system without locks (some network or FUSE
                    # mounts): the order below still protects an interrupted
                    # run; concurrent runs are then not serialised.
                    if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                        raise
            with contextlib.suppress(FileNotFoundError):
                paths[-1].unlink()
            for tmp, path in zip(tmps, paths, strict=True):
                tmp.replace(path)
        finally:
            for fd in fds:
                os.close(fd)
    except BaseException:
        for tmp in tmps:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
        raise


def _reflink(src: Path, dst: Path) -> bool:
    """Clone ``src`` into a new file ``dst`` with FICLONE; False when unsupported."""
    try:
        with src.open("rb") as fin, dst.open("xb") as fout:
            try:
                fcntl.ioctl(fout.fileno(), FICLONE, fin.fileno())
            except OSError:
                ok = False
            else:
                ok = True
    except OSError:
        ok = False
    if not ok:
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
    return ok


def place_blob(src: Path, dst: Path) -> str:
    """Put the existing file ``src`` at the new path ``dst`` without reading it if possible.

    Returns how: ``"reflink"``, ``"hardlink"`` or ``"copy"``. ``dst`` must not exist.
    A symlink ``src`` is followed: ``dst`` gets the bytes of the file it resolves to.
    """
    if _reflink(src, dst):
        return "reflink"
    try:
        # link(2) on Linux links a symlink itself (CPython's os.link calls it
        # even with follow_symlinks=True): resolve first.
        os.link(os.path.realpath(src), dst)
        return "hardlink"
    except OSError:
        pass
    try:
        shutil.copyfile(src, dst)
    except OSError as err:
        raise PyimageError(
            f"cannot copy blob {src} to {dst}: {err.strerror}; check that it exists and is readable"
        ) from err
    return "copy"


def link_blob(src: Path, dst: Path, home: Path) -> str:
    """Make ``dst`` a relative symlink to the file ``src``, as seen from ``home``.

    ``home`` is the folder ``dst`` will be in once its tree is moved into
    place (the link's text is relative to it). Neither path is resolved: the
    link holds the way from ``home`` to ``src`` as the caller names them, so
    that it holds wherever the two are moved together (a sandbox's execroot,
    then Bazel's). Returns ``"symlink"``.
    """
    if not src.is_file():
        raise PyimageError(f"blob {src} is not a file; rebuild it")
    dst.symlink_to(os.path.relpath(_as_named(src), _as_named(home)))
    return "symlink"


def under(path: Path, where: Path) -> bool:
    """Whether ``path``, as named (not resolved), is ``where`` or inside it."""
    return Path(_as_named(path)).is_relative_to(_as_named(where))


def _as_named(path: Path) -> str:
    """``path`` made absolute and normalized, its symlinks not followed (as resolve() would)."""
    return os.path.abspath(path)  # noqa: PTH100


def remove_tree(path: Path) -> None:
    """Remove a directory tree, ignoring one that is already gone."""
    shutil.rmtree(path, ignore_errors=True)


def check_distinct_paths(
    outputs: dict[str, str | Path | None], inputs: dict[str, str | Path | None] | None = None
) -> None:
    """Refuse an output (flag -> path; None skipped) naming another output's or an input's file.

    An output given twice (``--tar X --blob X``) or over an input would be
    overwritten while it is written or read.
    """
    seen = {os.path.realpath(p): flag for flag, p in (inputs or {}).items() if p}
    for flag, path in outputs.items():
        if not path:
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise PyimageError(
                f"{seen[key]} and {flag} name the same file {path}; give each its own path"
            )
        seen[key] = flag
