"""Merged layers and conflict checks.

Every package blob is three compressed parts (gzip members or zstd frames,
:mod:`pyimage.engine.compression`): its directories, its files and
symlinks, then the compression's constant end. A merged layer is:

1. one fresh part holding the union of the members' directory entries
   (headers only: small, built from the descriptors' path index);
2. each member's files part, copied byte for byte, in canonical order
   (package name, then digest), so the bytes depend only on the member set;
3. one constant end.

All members of a layer have one compression (a layer's identity includes it).
A layer may be written in another (``into``: a declared group's own): each
member's files part is then inflated and compressed again, part by part as
the packages' own blobs are, so that the layer is byte for byte the merge of
the same packages built in that compression. gzip readers read multi-member
files and zstd readers concatenated frames as one stream, and tar readers read
concatenated tar streams as one archive, so this is a valid ``.tar.gz`` or
``.tar.zst``; and each path occurs once in it, which containers/storage (podman) requires:
it refuses a layer with duplicate paths. An identical file shared by two
members (a namespace ``__init__.py``, allowed by the conflict check) is kept in
the first member only; the later member's files part is then re-tarred and
recompressed (the only other case that recompresses anything).

Costs: one streaming pass that copies the compressed parts into the output
while hashing them (the digest) and, in a second thread, one pass that
inflates the same parts (the ``diff_id``), so that the actions that merge
need only the packages' blobs and descriptors (no uncompressed tar is kept
or read: with a remote cache, half the bytes to fetch or stage). Every byte
read is checked: the whole blob against its descriptor's digest, the
inflated part against its sizes. A single member is its own layer: its blob
and descriptor are reused unchanged.

Conflicts: the same path in two packages of one image is refused unless both
entries are identical (same kind, mode and bytes or link target); directories
may be shared. :func:`check_conflicts` works on descriptors only (their path
index), so it can run over every layer of an image without reading a blob.
"""

from __future__ import annotations

import hashlib
import itertools
import tempfile
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyimage.engine import descriptor as desc_mod
from pyimage.engine.compression import DEFAULT, Compression, CorruptBlobError
from pyimage.engine.descriptor import LayerDescriptor
from pyimage.engine.tarformat import END_BLOCKS, dir_header, sort_key, tar_spans
from pyimage.errors import PyimageError
from pyimage.fsutil import place_blob, replace_together

CHUNK = 1 << 20


@dataclass(frozen=True)
class Member:
    """A package's cached outputs: its descriptor and blob."""

    descriptor: LayerDescriptor
    blob: Path
    #: The descriptor's file, when it was read from one.
    descriptor_path: Path | None = None

    @property
    def name(self) -> str:
        """The package name (``name==version``); for an already merged layer, all of them."""
        return ",".join(self.descriptor.packages)


def load_member(descriptor: Path, blob: Path) -> Member:
    """Load a member from its descriptor and blob.

    The descriptor may be a merged layer's: it can then be a layer on its own,
    but :func:`merge` takes per-package members only (merges stay flat).
    """
    return Member(desc_mod.load(Path(descriptor)), Path(blob), Path(descriptor))


def load_members(files: Iterable[Sequence[Path]]) -> list[Member]:
    """Members from ``(descriptor, blob, ...)`` tuples (their first two items)."""
    return [load_member(item[0], item[1]) for item in files]


def order(members: Iterable[Member]) -> list[Member]:
    """The canonical member order of a layer: by package name, then digest."""
    ordered = sorted(members, key=lambda m: (m.name, m.descriptor.digest))
    for a, b in itertools.pairwise(ordered):
        if a.name == b.name:
            raise PyimageError(f"package {a.name} is given twice for one layer; give it once")
    return ordered


def _describe(value: str) -> str:
    kind, _, rest = value.partition(" ")
    if kind == "d":
        return "a directory"
    if kind == "l":
        return f"a symlink to {rest!r}"
    return f"a file with mode {rest.split(' ')[0]}"


def _differ(a: str, b: str) -> str:
    """How two index values differ, for an error message."""
    if a.startswith("f ") and b.startswith("f ") and a.split(" ")[1] == b.split(" ")[1]:
        return "two files with different bytes"
    return f"{_describe(a)} vs {_describe(b)}"


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
                f" ({_differ(prev[0], value)})"
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


Feed = Callable[[bytes | memoryview], None]


def _read_range(path: Path, start: int, length: int, feed: Feed, what: str) -> None:
    """Stream bytes ``[start, start + length)`` of ``path`` to ``feed`` in chunks."""
    buf = bytearray(CHUNK)
    view = memoryview(buf)
    try:
        with path.open("rb", buffering=0) as fin:
            fin.seek(start)
            left = length
            while left:
                got = fin.readinto(view[: min(left, CHUNK)])
                if not got:
                    raise PyimageError(
                        f"{what} {path} is shorter than its descriptor says; rebuild it"
                    )
                feed(view[:got])
                left -= got
    except OSError as err:
        raise PyimageError(f"cannot read {what} {path} ({err.strerror}); rebuild it") from err


@dataclass
class _Part:
    """The files part of one member in a merge; ``skip`` lists duplicate paths to drop."""

    member: Member
    compression: Compression
    skip: set[str] = field(default_factory=set)

    def feed_tar(self, feed: Feed) -> None:
        """Stream this part's uncompressed tar bytes (without skipped entries) to ``feed``.

        Inflated from the files member of the member's blob.
        """
        if not self.skip:
            _inflate_files_part(self.member, feed, self.compression)
            return
        # Duplicates to drop: the files part is walked entry by entry, from a
        # temporary copy of it (small: only packages with shared files get here).
        d = self.member.descriptor
        with tempfile.TemporaryDirectory(prefix="pyimage-part-") as tmp:
            part = Path(tmp) / "files.tar"
            with part.open("wb") as out:
                _inflate_files_part(self.member, out.write, self.compression)
            for name, lo, hi in tar_spans(part, 0, d.tar_body_size - d.tar_dirs_size):
                if name not in self.skip:
                    _read_range(part, lo, hi - lo, feed, "tar")


def _inflate_files_part(member: Member, feed: Feed, compression: Compression) -> None:
    """Stream the uncompressed files part of ``member``'s blob (the part after the dirs)."""
    d = member.descriptor
    want = d.tar_body_size - d.tar_dirs_size
    got = [0]

    def emit(chunk: bytes) -> None:
        got[0] += len(chunk)
        if got[0] > want:
            raise PyimageError(
                f"package {member.name}: blob {member.blob} holds more than its descriptor says;"
                " rebuild the package"
            )
        if chunk:
            feed(chunk)

    def source(inflate: Feed) -> None:
        _read_range(
            member.blob, d.blob_dirs_size, d.blob_body_size - d.blob_dirs_size, inflate, "blob"
        )

    try:  # at most CHUNK bytes out at a time: memory stays flat
        compression.inflate(source, emit)
    except CorruptBlobError as err:
        raise PyimageError(
            f"package {member.name}: blob {member.blob} is corrupt ({err}); rebuild the package"
        ) from err
    if got[0] != want:
        raise PyimageError(
            f"package {member.name}: blob {member.blob} does not match its descriptor;"
            " rebuild the package"
        )


def _plan_parts(ordered: Sequence[Member], compression: Compression) -> tuple[bytes, list[_Part]]:
    """The union directory part and, per member, the paths already given by an earlier one."""
    dirs = sorted(
        {p.rstrip("/") for m in ordered for p, v in m.descriptor.entries.items() if v == "d"},
        key=sort_key,
    )
    seen: set[str] = set()
    parts = []
    for m in ordered:
        files = {p for p, v in m.descriptor.entries.items() if v != "d"}
        parts.append(_Part(m, compression, files & seen))
        seen |= files
    return b"".join(dir_header(p) for p in dirs), parts


def layer_compression(members: Sequence[Member], settings: Compression) -> Compression:
    """The one compression of ``members``' blobs, with ``settings``' zstd program and level.

    A layer's identity includes its compression: members of two compressions
    are refused, naming one of each.
    """
    names = {m.descriptor.compression: m for m in members}
    if len(names) > 1:
        (a, ma), (b, mb) = sorted(names.items())[:2]
        raise PyimageError(
            f"packages {ma.name} ({a}) and {mb.name} ({b}) cannot share a layer; build every"
            " package of an image, or of a fleet, with one compression"
        )
    return settings.named(next(iter(names), settings.name))


def merge(
    members: Iterable[Member],
    blob_path: Path,
    descriptor_path: Path | None = None,
    check: bool = True,
    settings: Compression = DEFAULT,
    *,
    into: str | None = None,
) -> LayerDescriptor:
    """Write the merged layer of ``members`` to ``blob_path``; return its descriptor.

    One member of the layer's compression: its blob is placed (reflink, hard
    link or copy) and its descriptor returned unchanged. Otherwise: see the
    module docstring. ``into`` is the layer's compression when it is not the
    members' (their files parts are compressed again). The path conflicts
    among members are checked first unless ``check`` is False. ``settings``
    gives the zstd program (and level) that zstd members and layers need.
    """
    ordered = order(members)
    if not ordered:
        raise PyimageError("a layer needs at least one package; give one or more members")
    if check:
        check_conflicts([m.descriptor for m in ordered])
    compression = layer_compression(ordered, settings)
    target = compression.named(into or compression.name)
    outputs = [Path(p) for p in (blob_path, descriptor_path) if p is not None]
    with replace_together(outputs) as tmps:
        if len(ordered) == 1 and target == compression:
            result = ordered[0].descriptor
            place_blob(ordered[0].blob, tmps[0])
        else:
            result = _merge_many(ordered, tmps[0], compression, target)
        if descriptor_path is not None:
            desc_mod.save(result, tmps[1])
    return result


@dataclass(frozen=True)
class MergedSize:
    """The sizes :func:`merge` would give, worked out from the descriptors alone."""

    blob: int
    tar: int
    exact: bool  # False when an upper bound (see merged_size)


def merged_size(members: Iterable[Member], into: str | None = None) -> MergedSize:
    """The blob and tar sizes of ``merge(members, into=into)`` without reading any blob or tar.

    Only the union directory part is compressed (it is small; a zstd one is
    bounded, not compressed: no zstd runs here); the files parts are reused as
    they are, exactly as :func:`merge` does. A member whose files repeat an
    earlier member's would be recompressed without them: the size is then an
    upper bound. A layer of another compression than its members' is
    estimated by their blobs' sizes (not exact: no compressor runs here).
    """
    ordered = order(members)
    compression = layer_compression(ordered, DEFAULT)
    again = into not in (None, compression.name)
    if len(ordered) == 1:
        d = ordered[0].descriptor
        return MergedSize(d.size, d.tar_size, not again)
    dirs, parts = _plan_parts(ordered, compression)
    dirs_size, exact = compression.part_bound(dirs)
    ds = [m.descriptor for m in ordered]
    blob = dirs_size + sum(d.blob_body_size - d.blob_dirs_size for d in ds) + len(compression.end)
    tar = len(dirs) + sum(d.tar_body_size - d.tar_dirs_size for d in ds) + len(END_BLOCKS)
    return MergedSize(blob, tar, exact and not again and not any(part.skip for part in parts))


def _copy_body_checked(member: Member, feed: Feed) -> None:
    """Feed the files part of a member's blob, checking the whole blob against its descriptor.

    The merge reads the blob anyway: the few bytes around the files part are
    read too, so that a blob its descriptor does not describe (left by an
    interrupted or concurrent run, or a stale file) is refused, never merged.
    """
    d, blob = member.descriptor, member.blob
    try:
        size = blob.stat().st_size
    except OSError as err:
        raise PyimageError(f"cannot read blob {blob} ({err.strerror}); rebuild it") from err
    if size != d.size:
        raise PyimageError(
            f"package {member.name}: blob {blob} has {size} bytes, its descriptor says {d.size};"
            " rebuild the package"
        )
    check = hashlib.sha256()

    def both(data: bytes | memoryview) -> None:
        check.update(data)
        feed(data)

    _read_range(blob, 0, d.blob_dirs_size, check.update, "blob")
    _read_range(blob, d.blob_dirs_size, d.blob_body_size - d.blob_dirs_size, both, "blob")
    _read_range(blob, d.blob_body_size, d.size - d.blob_body_size, check.update, "blob")
    if "sha256:" + check.hexdigest() != d.digest:
        raise PyimageError(
            f"package {member.name}: blob {blob} does not match its descriptor's digest;"
            " rebuild the package"
        )


def _discard(data: bytes | memoryview) -> None:
    """A feed that keeps nothing (a blob read only to check it)."""


def _bytecode_of(member: Member) -> str:
    version = member.descriptor.bytecode
    return f"bytecode for Python {version}" if version else "no bytecode"


def _mergeable(ordered: list[Member], compression: Compression) -> str:
    """Check that ``ordered`` can be merged into one layer; return their bytecode's Python."""
    for m in ordered:
        if len(m.descriptor.packages) != 1:
            raise PyimageError(
                f"layer of {m.name} is already merged; merge the per-package descriptors instead"
            )
        if m.descriptor.size - m.descriptor.blob_body_size != len(compression.end):
            raise PyimageError(
                f"package {m.name}: its blob does not end with the standard end part;"
                " rebuild it with this pyimage"
            )
    versions = sorted({m.descriptor.bytecode for m in ordered})
    if len(versions) > 1:
        a, b = (next(m for m in ordered if m.descriptor.bytecode == v) for v in versions[:2])
        raise PyimageError(
            f"packages {a.name} ({_bytecode_of(a)}) and {b.name} ({_bytecode_of(b)}) cannot"
            " share a layer; build every package of an image with one python_version and"
            " precompile setting"
        )
    return versions[0]


def _merge_many(
    ordered: list[Member], blob_path: Path, compression: Compression, target: Compression
) -> LayerDescriptor:
    """The merge of ``ordered`` (blobs of ``compression``) as a blob of ``target``."""
    version = _mergeable(ordered, compression)
    dirs, parts = _plan_parts(ordered, compression)
    again = target.name != compression.name
    tar_hash = hashlib.sha256()
    tar_size = [0]
    errors: list[BaseException] = []

    def feed_diff(data: bytes | memoryview) -> None:
        tar_hash.update(data)
        tar_size[0] += len(data)

    def run_diff() -> None:
        try:
            feed_diff(dirs)
            for part in parts:
                part.feed_tar(feed_diff)
        except BaseException as err:  # re-raised in the caller's thread
            errors.append(err)

    worker = threading.Thread(target=run_diff, name="pyimage-diff-id")
    worker.start()
    try:
        with blob_path.open("wb", buffering=0) as out, target.writer(out) as gz:  # type: ignore[arg-type]
            gz.start()
            gz.write(dirs)
            gz.end()
            gz_dirs = gz.size
            for part in parts:
                if part.skip or again:
                    # Identical duplicates (allowed by the conflict check) must not
                    # appear twice in one layer: containers/storage refuses that.
                    # Only then, or in a layer of another compression, is this
                    # member's files part recompressed: its blob is checked
                    # against its descriptor first, as a copied one is.
                    _copy_body_checked(part.member, _discard)
                    gz.start()
                    part.feed_tar(gz.write)
                    gz.end()
                else:
                    _copy_body_checked(part.member, gz.emit)
            gz_body = gz.size
            gz.emit(target.end)
            worker.join()
            if errors:
                raise errors[0]
    finally:
        worker.join()
    tar_hash.update(END_BLOCKS)
    entries: dict[str, str] = {}
    for m in ordered:
        entries.update(m.descriptor.entries)
    return LayerDescriptor(
        packages=tuple(m.name for m in ordered),
        digest="sha256:" + gz.hash.hexdigest(),
        size=gz.size,
        blob_dirs_size=gz_dirs,
        blob_body_size=gz_body,
        diff_id="sha256:" + tar_hash.hexdigest(),
        tar_size=tar_size[0] + len(END_BLOCKS),
        tar_dirs_size=len(dirs),
        tar_body_size=tar_size[0],
        entries=entries,
        media_type=target.media_type,
        members={m.name: m.descriptor.diff_id for m in ordered},
        bytecode=version,
        bytecode_skipped=tuple(sorted({p for m in ordered for p in m.descriptor.bytecode_skipped})),
        native=_native_of(ordered),
        wheel_tags=tuple(sorted({t for m in ordered for t in m.descriptor.wheel_tags})),
    )


def _native_of(ordered: Sequence[Member]) -> dict[str, str]:
    """The members' native platforms, each with the first member's file for it."""
    native: dict[str, str] = {}
    for m in ordered:
        for plat, path in m.descriptor.native.items():
            native.setdefault(plat, path)
    return dict(sorted(native.items()))
