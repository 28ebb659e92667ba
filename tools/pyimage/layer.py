"""Merged layers and conflict checks.

A merged layer is the concatenation, in a fixed member order, of each member
blob's first gzip member (its tar without end blocks), followed by one
:data:`~pyimage.tarball.END_MEMBER`. Gzip readers read multi-member files as one
stream and tar readers read concatenated tar bodies as one archive, so this is
a valid ``.tar.gz`` layer, made without decompressing or recompressing
anything. The member order is sorted by package name (then digest), so the
bytes depend only on the member set.

Costs: one streaming pass that copies the compressed bodies into the output
while hashing them (the digest), and, in a second thread, one pass over the
members' uncompressed tars (the ``diff_id``). A single member is its own
layer: its blob and descriptor are reused unchanged.

Conflicts: the same path in two packages of one image is refused unless both
entries are identical (same kind, mode and bytes or link target); directories
may be shared. :func:`check_conflicts` works on descriptors only (their path
index), so it can run over every layer of an image without reading a blob.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyimage import descriptor as desc_mod
from pyimage.descriptor import LayerDescriptor
from pyimage.errors import PyimageError
from pyimage.fsutil import atomic_output, place_blob
from pyimage.tarball import END_BLOCKS, END_MEMBER

CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """A package's cached outputs: descriptor, uncompressed tar and gzip blob."""

    descriptor: LayerDescriptor
    tar: Path | None
    blob: Path

    @property
    def name(self) -> str:
        """The package name (``name==version``)."""
        return self.descriptor.packages[0]


def load_member(descriptor: Path, tar: Path | None, blob: Path) -> Member:
    """Load a member from its three files (``tar`` may be None for a layer used alone)."""
    desc = desc_mod.load(Path(descriptor))
    if len(desc.packages) != 1:
        raise PyimageError(
            f"descriptor {descriptor} is a merged layer of {len(desc.packages)} packages;"
            " merge per-package descriptors only"
        )
    return Member(desc, Path(tar) if tar is not None else None, Path(blob))


def order(members: Iterable[Member]) -> list[Member]:
    """The canonical member order of a layer: by package name, then digest."""
    ordered = sorted(members, key=lambda m: (m.name, m.descriptor.digest))
    for a, b in itertools.pairwise(ordered):
        if a.name == b.name:
            raise PyimageError(f"package {a.name} is given twice for one layer; give it once")
    return ordered


def conflicts(layers: Sequence[tuple[Sequence[str], dict[str, str]]]) -> list[str]:
    """All path conflicts among ``(packages, entries)`` groups, as one-line messages.

    Each group is one package (or one layer with its union index); a path in
    two groups conflicts unless both are directories or their index values are
    equal (same kind, mode and digest or link target). A file or symlink where
    another package has a directory conflicts too.
    """
    owner: dict[str, tuple[str, str]] = {}
    found = []
    for packages, entries in layers:
        who = ", ".join(packages)
        for path, value in entries.items():
            key = path.rstrip("/")
            prev = owner.get(key)
            if prev is None:
                owner[key] = (value, who)
                continue
            if prev[0] == value:
                continue
            found.append(
                f"path {key!r} is in both {prev[1]} and {who} with different contents"
                f" ({prev[0].split(' ')[0]} vs {value.split(' ')[0]})"
            )
    return sorted(found)


def check_conflicts(descriptors: Sequence[LayerDescriptor]) -> None:
    """Raise a one-line error naming both packages and the path for the first conflict.

    Pass every package layer of an image (per-package or merged descriptors):
    a later layer would otherwise shadow an earlier one's file silently.
    """
    found = conflicts([(d.packages, d.entries) for d in descriptors])
    if found:
        more = f" (and {len(found) - 1} more)" if len(found) > 1 else ""
        raise PyimageError(
            f"{found[0]}{more}; remove the file from one package or make them identical"
        )


def _copy_prefix(src: Path, length: int, out: int, digest: hashlib._Hash) -> None:
    """Copy the first ``length`` bytes of ``src`` to fd ``out``, hashing them."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    with src.open("rb", buffering=0) as fin:
        left = length
        while left:
            got = fin.readinto(view[: min(left, CHUNK)])
            if not got:
                raise PyimageError(f"blob {src} is shorter than its descriptor says; rebuild it")
            digest.update(view[:got])
            written = 0
            while written < got:
                written += os.write(out, view[written:got])
            left -= got


def _hash_prefixes(parts: Sequence[tuple[Path, int]], digest: hashlib._Hash) -> None:
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    for path, length in parts:
        with path.open("rb", buffering=0) as fin:
            left = length
            while left:
                got = fin.readinto(view[: min(left, CHUNK)])
                if not got:
                    raise PyimageError(
                        f"tar {path} is shorter than its descriptor says; rebuild it"
                    )
                digest.update(view[:got])
                left -= got


def diff_id_of(members: Sequence[Member]) -> str:
    """sha256 of the merged tar: the members' tar bodies then the end blocks."""
    digest = hashlib.sha256()
    parts = []
    for m in members:
        if m.tar is None:
            raise PyimageError(f"package {m.name}: its .tar is needed to merge it; pass it")
        parts.append((m.tar, m.descriptor.tar_body_size))
    _hash_prefixes(parts, digest)
    digest.update(END_BLOCKS)
    return "sha256:" + digest.hexdigest()


def merge(
    members: Iterable[Member],
    blob_path: Path,
    descriptor_path: Path | None = None,
    check: bool = True,
) -> LayerDescriptor:
    """Write the merged layer of ``members`` to ``blob_path``; return its descriptor.

    One member: its blob is placed (reflink, hard link or copy) and its
    descriptor returned unchanged. Several: see the module docstring. The path
    conflicts among members are checked first unless ``check`` is False.
    """
    ordered = order(members)
    if not ordered:
        raise PyimageError("a layer needs at least one package; give one or more members")
    if check:
        check_conflicts([m.descriptor for m in ordered])
    if len(ordered) == 1:
        result = ordered[0].descriptor
        with atomic_output(Path(blob_path)) as tmp:
            place_blob(ordered[0].blob, tmp)
    else:
        result = _merge_many(ordered, Path(blob_path))
    if descriptor_path is not None:
        desc_mod.save(result, Path(descriptor_path))
    return result


def _merge_many(ordered: list[Member], blob_path: Path) -> LayerDescriptor:
    for m in ordered:
        if m.descriptor.size - m.descriptor.gzip_body_size != len(END_MEMBER):
            raise PyimageError(
                f"package {m.name}: its blob does not end with the standard end member;"
                " rebuild it with this pyimage"
            )
    errors: list[BaseException] = []

    # diff_id_of returns a finished digest; keep it rather than re-hashing.
    diff_box: list[str] = []

    def run_diff() -> None:
        try:
            diff_box.append(diff_id_of(ordered))
        except BaseException as err:
            errors.append(err)

    worker = threading.Thread(target=run_diff, name="pyimage-diff-id")
    worker.start()
    blob_digest = hashlib.sha256()
    try:
        with atomic_output(blob_path) as tmp:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
            try:
                for m in ordered:
                    _copy_prefix(m.blob, m.descriptor.gzip_body_size, fd, blob_digest)
                blob_digest.update(END_MEMBER)
                os.write(fd, END_MEMBER)
            finally:
                os.close(fd)
            worker.join()
            if errors:
                raise errors[0]
    finally:
        worker.join()
    entries: dict[str, str] = {}
    for m in ordered:
        entries.update(m.descriptor.entries)
    gz_body = sum(m.descriptor.gzip_body_size for m in ordered)
    tar_body = sum(m.descriptor.tar_body_size for m in ordered)
    return LayerDescriptor(
        packages=tuple(m.name for m in ordered),
        digest="sha256:" + blob_digest.hexdigest(),
        size=gz_body + len(END_MEMBER),
        gzip_body_size=gz_body,
        diff_id=diff_box[0],
        tar_size=tar_body + len(END_BLOCKS),
        tar_body_size=tar_body,
        entries=entries,
    )
