"""File-system helpers of the layer engine: temp-then-rename outputs and cheap blob links.

Every output is written under a temporary name in the destination's directory and
renamed into place only once it is complete, so a failed or interrupted action
never leaves a half-written file behind. A temporary is named
``.<name>.<random>.tmp`` (:func:`temp_name`): 64 random bits, so that two runs
never share one, even with the same pid in two PID namespaces (containers,
remote workers) or on two hosts writing one shared folder. A run that is
killed leaves its temporary behind; the next run writing that output removes
those left for more than :data:`STALE_AFTER` seconds (24 hours) and never a
younger one, which another run may still be writing
(:func:`remove_stale_temporaries`). Outputs that belong together (a blob
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
import re
import secrets
import shutil
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path

from pyimage.errors import PyimageError

# ioctl number of FICLONE (linux/fs.h: _IOW(0x94, 9, int)).
FICLONE = 0x40049409


#: Seconds after which a temporary left by a killed run is removed.
STALE_AFTER = 24 * 3600

_RANDOM_HEX = 16


def temp_name(path: Path) -> Path:
    """A new temporary sibling of ``path``: ``.<name>.<random>.tmp``.

    Unique across processes, PID namespaces and hosts (64 random bits, not a
    pid). Temporaries of ``path`` that a killed run left more than
    :data:`STALE_AFTER` seconds ago are removed first.
    """
    remove_stale_temporaries(path)
    return path.with_name(f".{path.name}.{secrets.token_hex(_RANDOM_HEX // 2)}.tmp")


def remove_stale_temporaries(path: Path, now: float | None = None) -> list[Path]:
    """Remove the temporaries of ``path`` (files or folders) older than :data:`STALE_AFTER`.

    Only names :func:`temp_name` makes for ``path`` are touched, and only
    those whose modification time is more than 24 hours old: a younger one
    may belong to a run still writing it. Returns what was removed.
    """
    pattern = re.compile(rf"\.{re.escape(path.name)}\.[0-9a-f]{{{_RANDOM_HEX}}}\.tmp")
    limit = (time.time() if now is None else now) - STALE_AFTER
    removed = []
    try:
        children = list(path.parent.iterdir())
    except OSError:
        return removed  # a missing folder: the caller's own error says so
    for old in children:
        if not pattern.fullmatch(old.name):
            continue
        try:
            st = old.lstat()
        except FileNotFoundError:
            continue
        if st.st_mtime >= limit:
            continue
        if old.is_dir() and not old.is_symlink():
            remove_tree(old)
        else:
            with contextlib.suppress(FileNotFoundError):
                old.unlink()
        removed.append(old)
    return removed


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
def replace_together(
    paths: Sequence[Path], check: Callable[[], None] | None = None
) -> Iterator[list[Path]]:
    """Yield a temporary path for each of ``paths``; on success put them all in place.

    The caller makes each temporary a file or a folder (a layout). The last
    path describes the others (a descriptor, a plan report): it is removed
    first and renamed in last, so an interruption leaves the old set or the
    new files without it (read as missing, never as stale). A folder replaces
    the folder at its path by two renames (the old one moved aside to a
    temporary name, then removed). Concurrent writers take turns: each holds
    an exclusive ``flock`` on the folders from that removal to the last
    rename, and runs ``check`` first (whether what is there may be replaced).
    On error every temporary is removed.
    """
    paths = [Path(p) for p in paths]
    if not paths:
        yield []
        return
    tmps = [temp_name(p) for p in paths]
    try:
        yield tmps
        with _locked({p.resolve().parent for p in paths}):
            if check is not None:
                check()
            if len(paths) > 1:
                with contextlib.suppress(FileNotFoundError):
                    paths[-1].unlink()
            for tmp, path in zip(tmps, paths, strict=True):
                _put(tmp, path)
    except BaseException:
        for tmp in tmps:
            _remove(tmp)
        raise


@contextlib.contextmanager
def _locked(folders: set[Path]) -> Iterator[None]:
    """Hold an exclusive ``flock`` on each of ``folders`` (in a fixed order)."""
    fds = [os.open(folder, os.O_RDONLY | os.O_DIRECTORY) for folder in sorted(folders)]
    try:
        for fd in fds:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except OSError as err:
                # A file system without locks (some network or FUSE mounts):
                # the order of the renames still protects an interrupted run;
                # concurrent runs are then not serialised.
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL):
                    raise
        yield
    finally:
        for fd in fds:
            os.close(fd)


def _put(tmp: Path, path: Path) -> None:
    """Rename ``tmp`` to ``path``; a folder there is moved aside and removed."""
    if tmp.is_dir() and path.is_dir() and not path.is_symlink():
        aside = temp_name(path)
        path.rename(aside)
        try:
            tmp.rename(path)
        except BaseException:
            aside.rename(path)
            raise
        remove_tree(aside)
        return
    tmp.replace(path)


def _remove(path: Path) -> None:
    """Remove a file or folder that may be missing."""
    if path.is_dir() and not path.is_symlink():
        remove_tree(path)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


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
        with contextlib.suppress(FileNotFoundError):
            dst.unlink()
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PyimageError(
                f"cannot copy blob {src} to {dst}: {err.strerror}; free disk space and run again"
            ) from err
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


#: Paths by what names them in messages (a flag, or a flag and an item).
Named = Mapping[str, "str | Path | None"]


def check_paths(outputs: Named, inputs: Named | None = None, folders: Iterable[str] = ()) -> None:
    """The one check of a command's outputs against each other and against its inputs.

    ``outputs`` and ``inputs`` map what names a path in messages (``--blob``,
    ``--package 3``) to the path (None: not given). ``folders`` names the
    outputs that are folders (a layout); the others are files. Refused, in
    one line naming both: an output that is not a file name (empty, ``.``,
    ``..``, ``/``), whose folder does not exist, or that is a folder where a
    file is written; two outputs that are one path or one inside the other;
    an output that is an input, lies inside an input folder, or holds an
    input (a folder output). Paths are compared as they resolve (symlinks
    followed), so a link to an input is that input.
    """
    folders = set(folders)
    seen: list[tuple[str, str, str | Path]] = []  # the outputs: (resolved, name, as given)
    for name, path in outputs.items():
        if path is None:
            continue
        _check_output_name(name, str(path), name in folders)
        key = os.path.realpath(path)
        for other, other_name, other_path in seen:
            _refuse_overlap(other_name, other_path, other, name, key)
        seen.append((key, name, path))
    for name, path in (inputs or {}).items():
        if path is None or path == "":
            continue
        key = os.path.realpath(path)
        for other, other_name, other_path in seen:
            _refuse_overlap(other_name, other_path, other, name, key)


def _check_output_name(name: str, given: str, folder: bool) -> None:
    path = Path(given)
    if given in ("", ".") or path.name in ("", ".", ".."):
        raise PyimageError(f"{name} {given!r} is not a file name; give a path such as out/x")
    parent = path.parent
    if not parent.is_dir():
        raise PyimageError(f"{name} {path}: its folder {parent} does not exist; create it first")
    if not folder and path.is_dir() and not path.is_symlink():
        raise PyimageError(f"{name} {path} is a folder; give the path of a file to write")


def _inside(inner: str, outer: str) -> bool:
    return inner != outer and os.path.commonpath([inner, outer]) == outer


def _refuse_overlap(out_name: str, out: str | Path, out_key: str, name: str, key: str) -> None:
    """Refuse the output ``out_name`` (resolved ``out_key``) overlapping ``name`` (``key``)."""
    if out_key == key:
        raise PyimageError(
            f"{out_name} and {name} name the same file {out}; give each its own path"
        )
    if _inside(out_key, key) or _inside(key, out_key):
        raise PyimageError(
            f"{out_name} {out} and {name} {key} lie one inside the other; give the output a"
            " path of its own, outside every input"
        )
