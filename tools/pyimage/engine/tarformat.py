"""The layer format of rules_pyimage's tars and blobs, written and read here only.

Tar: ustar headers, plus a PAX extended header only where ustar cannot say it
(a path or link target over 100 bytes or not ASCII, a file of 8 GiB or more);
mtime 0, uid/gid 0, empty user and group names; entries ordered by path
components (:func:`sort_key`), so a directory precedes its contents; no
padding beyond the two 512-byte end blocks.

Blob: deterministic gzip members (:class:`GzipMembers`: no name, mtime 0, XFL
0, OS 255, deflate level 6 with Python's zlib, one member per
:data:`MEMBER_INPUT` bytes of input, compressed on every core), the last one
always the constant :data:`END_MEMBER`; :class:`GunzipMembers` reads them.
:func:`tar_spans` walks back the entries this module writes (and only those),
for merges.
"""

from __future__ import annotations

import collections
import hashlib
import os
import zlib
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from pyimage.errors import PyimageError

BLOCK = 512
END_BLOCKS = b"\0" * (2 * BLOCK)
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
# gzip(1024 zero bytes) with GZIP_HEADER, as a literal so that it never depends on
# the zlib in use: every blob ends with these bytes and a merge appends them once.
END_MEMBER = bytes.fromhex("1f8b08000000000000ff63601805a360148c5400002eafb5ef00040000")
GZIP_LEVEL = 6
CHUNK = 1 << 20
#: Input bytes per gzip member: fixed, so a blob's bytes do not depend on the
#: threads that compressed it (1 MiB costs about 0.25 % in size against one member).
MEMBER_INPUT = 1 << 20
PAX_SIZE_LIMIT = 8 << 30  # ustar's 11 octal digits hold sizes below 8 GiB
MODE_DIR = 0o755
MODE_EXEC = 0o755
MODE_FILE = 0o644
MODE_LINK = 0o777


def sort_key(path: str) -> tuple[bytes, ...]:
    """Order of entries: by path components, so a directory precedes its contents."""
    return tuple(part.encode("utf-8") for part in path.split("/"))


def _octal(value: int, width: int) -> bytes:
    return b"%0*o\0" % (width - 1, value)


def _pax_record(key: str, value: bytes) -> bytes:
    body = b" " + key.encode("ascii") + b"=" + value + b"\n"
    length = len(body) + 1
    while len(str(length).encode()) + len(body) != length:
        length = len(str(length).encode()) + len(body)
    return str(length).encode() + body


def _ascii_stand_in(raw: bytes) -> bytes:
    """A short ASCII name for the ustar field when the real one lives in a PAX record."""
    return raw.decode("utf-8").encode("ascii", "replace")[:100]


def _ustar(name: bytes, mode: int, size: int, typeflag: bytes, linkname: bytes = b"") -> bytes:
    header = b"".join(
        (
            name.ljust(100, b"\0"),
            _octal(mode, 8),
            _octal(0, 8),  # uid
            _octal(0, 8),  # gid
            _octal(size, 12),
            _octal(0, 12),  # mtime
            b" " * 8,  # checksum, filled below
            typeflag,
            linkname.ljust(100, b"\0"),
            b"ustar\x0000",
            b"\0" * 32,  # uname
            b"\0" * 32,  # gname
            _octal(0, 8),  # devmajor
            _octal(0, 8),  # devminor
            b"\0" * 155,  # prefix
            b"\0" * 12,
        )
    )
    checksum = b"%06o\0 " % sum(header)
    return header[:148] + checksum + header[156:]


def tar_header(name: str, mode: int, size: int, typeflag: bytes, linkname: str = "") -> bytes:
    """Header block(s) of one entry: a PAX header first when ustar cannot hold it."""
    raw_name = name.encode("utf-8")
    raw_link = linkname.encode("utf-8")
    records = []
    if len(raw_name) > 100 or not raw_name.isascii():
        records.append(_pax_record("path", raw_name))
        raw_name = _ascii_stand_in(raw_name)
    if len(raw_link) > 100 or not raw_link.isascii():
        records.append(_pax_record("linkpath", raw_link))
        raw_link = _ascii_stand_in(raw_link)
    ustar_size = size
    if size >= PAX_SIZE_LIMIT:
        records.append(_pax_record("size", str(size).encode()))
        ustar_size = 0
    main = _ustar(raw_name, mode, ustar_size, typeflag, raw_link)
    if not records:
        return main
    pax = b"".join(records)
    pax_header = _ustar(b"././@PaxHeader", 0o644, len(pax), b"x")
    return pax_header + pax + b"\0" * (-len(pax) % BLOCK) + main


def dir_header(path: str) -> bytes:
    """The header of a directory entry (``path`` without its trailing slash)."""
    return tar_header(path + "/", MODE_DIR, 0, b"5")


def gzip_member(data: bytes | memoryview) -> bytes:
    """One whole deterministic gzip member of ``data`` (header, deflate, CRC-32, size)."""
    comp = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15, 9)
    body = comp.compress(data) + comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(data).to_bytes(4, "little")
    return GZIP_HEADER + body + crc + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")


def compress_threads() -> int:
    """How many threads compress: the CPUs this process may run on (at most 16)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 16))


class GzipMembers:
    """Writes deterministic gzip members to ``out``, hashing and counting every byte.

    The bytes between :meth:`start` and :meth:`end` (a *part*) become one gzip
    member per :data:`MEMBER_INPUT` bytes of input, cut at fixed offsets of the
    part, each compressed on its own: so ``threads`` threads compress at once
    and the output never depends on how many there are. Members leave in
    order; at most ``2 * threads`` are in flight, so memory stays flat. Use as
    a context manager (it owns a thread pool) or call :meth:`close`.
    """

    def __init__(
        self, out: BinaryIO, digest: hashlib._Hash | None = None, threads: int | None = None
    ) -> None:
        self.out = out
        self.hash = digest if digest is not None else hashlib.sha256()
        self.size = 0
        self.threads = compress_threads() if threads is None else max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, "pyimage-gzip") if self.threads > 1 else None
        self.pending: collections.deque[Future[bytes]] = collections.deque()
        self.buf = bytearray()
        self.part_size: int | None = None  # None: no part open

    def __enter__(self) -> GzipMembers:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Stop the threads (members not yet written are dropped)."""
        for fut in self.pending:
            fut.cancel()
        self.pending.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

    def _write_out(self, data: bytes | memoryview) -> None:
        if data:
            self.out.write(data)
            self.hash.update(data)
            self.size += len(data)

    def _drain(self, keep: int) -> None:
        while len(self.pending) > keep:
            self._write_out(self.pending.popleft().result())

    def _submit(self, data: bytes) -> None:
        self.part_size = (self.part_size or 0) + len(data)
        if self.pool is None:
            self._write_out(gzip_member(data))
            return
        self.pending.append(self.pool.submit(gzip_member, data))
        self._drain(2 * self.threads)

    def emit(self, data: bytes | memoryview) -> None:
        """Write already-compressed bytes (whole members) as they are."""
        assert self.part_size is None, "emit() inside a part"
        self._write_out(data)

    def start(self) -> None:
        """Begin a part."""
        assert self.part_size is None, "start() inside a part"
        self.part_size = 0

    def write(self, data: bytes | memoryview) -> None:
        """Add ``data`` to the current part."""
        assert self.part_size is not None, "write() outside a part"
        self.buf += data
        if len(self.buf) >= MEMBER_INPUT:
            view = memoryview(self.buf)
            cut = len(self.buf) - len(self.buf) % MEMBER_INPUT
            for pos in range(0, cut, MEMBER_INPUT):
                self._submit(bytes(view[pos : pos + MEMBER_INPUT]))
            rest = bytes(view[cut:])
            view.release()
            self.buf = bytearray(rest)

    def end(self) -> None:
        """Finish the part: its last member (an empty part is one empty member), all written."""
        assert self.part_size is not None, "end() outside a part"
        if self.buf or not self.part_size:
            self._submit(bytes(self.buf))
        self.buf = bytearray()
        self._drain(0)
        self.part_size = None


class GunzipMembers:
    """Inflates a run of whole gzip members (headers and trailers checked) as one stream.

    :meth:`feed` takes compressed bytes and passes the inflated bytes, at most
    :data:`CHUNK` at a time, to ``emit``; :meth:`finish` raises ``zlib.error``
    unless the input ended exactly at the end of a member.
    """

    def __init__(self, emit: Callable[[bytes], object]) -> None:
        self.emit = emit
        self.inflate = zlib.decompressobj(wbits=31)
        self.fresh = True  # the current member has had no input yet

    def feed(self, data: bytes | memoryview) -> None:
        """Inflate ``data``, starting a new member wherever one ends."""
        while data:
            self.fresh = False
            self.emit(self.inflate.decompress(data, CHUNK))
            while self.inflate.unconsumed_tail:
                self.emit(self.inflate.decompress(self.inflate.unconsumed_tail, CHUNK))
            data = b""
            if self.inflate.eof:
                data = self.inflate.unused_data
                self.inflate = zlib.decompressobj(wbits=31)
                self.fresh = True

    def finish(self) -> None:
        """Emit what is left; raise ``zlib.error`` unless the input ended with a whole member."""
        if self.fresh:
            return
        self.emit(self.inflate.flush())
        if not self.inflate.eof:
            raise zlib.error("the last gzip member is truncated")
        rest = self.inflate.unused_data
        self.inflate = zlib.decompressobj(wbits=31)
        self.fresh = True
        if rest:
            self.feed(rest)
            self.finish()


def _pax_path_and_size(records: bytes) -> tuple[str | None, int | None]:
    path = size = None
    pos = 0
    while pos < len(records):
        space = records.index(b" ", pos)
        length = int(records[pos:space])
        key, _, value = records[space + 1 : pos + length - 1].partition(b"=")
        if key == b"path":
            path = value.decode("utf-8")
        elif key == b"size":
            size = int(value)
        pos += length
    return path, size


def tar_spans(path: Path, start: int, end: int) -> Iterator[tuple[str, int, int]]:
    """Walk the tar entries of ``path`` in ``[start, end)``: (name, span start, span end).

    A span covers the entry's PAX header (if any), its header and padded data.
    Only the subset of tar that this module writes is understood.
    """
    with path.open("rb") as f:
        pos = start
        while pos < end:
            span = pos
            f.seek(pos)
            header = f.read(512)
            name = size = None
            if len(header) == 512 and header[156:157] == b"x":
                pax_len = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
                name, size = _pax_path_and_size(f.read(pax_len))
                pos += 512 + pax_len + (-pax_len % 512)
                f.seek(pos)
                header = f.read(512)
            if len(header) != 512 or header[257:262] != b"ustar":
                raise PyimageError(f"tar {path} is corrupt at byte {pos}; rebuild the package")
            if name is None:
                name = header[:100].rstrip(b"\0").decode("utf-8")
            if size is None:
                size = int(header[124:136].rstrip(b"\0 ") or b"0", 8)
            pos += 512 + size + (-size % 512)
            yield name.rstrip("/"), span, pos
