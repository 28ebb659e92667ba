"""The tar format of rules_pyimage's layers, written and read here only.

Tar: ustar headers, plus a PAX extended header only where ustar cannot say it
(a path or link target over 100 bytes or not ASCII, a file of 8 GiB or more);
mtime 0, uid/gid 0, empty user and group names; entries ordered by path
components (:func:`sort_key`), so a directory precedes its contents; no
padding beyond the two 512-byte end blocks.

The blob that compresses a tar is :mod:`pyimage.engine.compression`'s.
:func:`tar_spans` walks back the entries this module writes (and only those),
for merges. :class:`TarScanner` reads the tars other tools wrote (a base
image's layers: ustar, GNU and PAX headers) as a stream, for what an image
needs to know about its base.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from pyimage.errors import PyimageError

BLOCK = 512
END_BLOCKS = b"\0" * (2 * BLOCK)
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


class TarError(PyimageError):
    """A tar :class:`TarScanner` cannot follow (corrupt, truncated, or a form it does not know)."""


@dataclass(frozen=True)
class TarEntry:
    """One entry of a tar read by :class:`TarScanner`."""

    name: str  # without a leading "./" or "/", nor a trailing "/"
    type: bytes  # the typeflag: b"0" file, b"2" symlink, b"5" directory, ...
    size: int
    linkname: str = ""


def _number(field: bytes, where: str) -> int:
    """An octal header field, or GNU's base-256 one (first byte 0x80)."""
    if field[:1] == b"\x80":
        return int.from_bytes(field[1:], "big")
    text = field.rstrip(b"\0 ").lstrip(b" ")
    try:
        return int(text or b"0", 8)
    except ValueError:
        raise TarError(f"{where}: a tar header has a bad number {field!r}") from None


def _pax_records(data: bytes, where: str) -> dict[str, str]:
    """The ``length key=value\\n`` records of a PAX header; a malformed one is refused."""
    out = {}
    pos = 0
    while pos < len(data) and data[pos : pos + 1] != b"\0":
        space = data.find(b" ", pos, pos + 21)
        digits = data[pos:space] if space > pos else b""
        length = int(digits) if digits.isdigit() else 0
        end = pos + length
        if length <= len(digits) + 1 or end > len(data) or data[end - 1 : end] != b"\n":
            raise TarError(f"{where}: a PAX header is malformed; re-pull the base")
        key, _, value = data[space + 1 : end - 1].partition(b"=")
        out[key.decode("utf-8", "replace")] = value.decode("utf-8", "surrogateescape")
        pos = end
    return out


#: Headers that describe the next entry: PAX extended and global, GNU long name and link.
_META_TYPES = (b"x", b"g", b"L", b"K")
#: Entries whose size field does not count data: links, devices, directories, fifos.
_NO_DATA_TYPES = (b"1", b"2", b"3", b"4", b"5", b"6")


class TarScanner:
    """Walks a tar fed in chunks of any size, without keeping it.

    ``want(entry)`` is asked of every entry; for those it answers True (and
    that are at most ``max_data`` bytes), ``take(entry, data)`` gets the whole
    data. Reads ustar, GNU (long names, base-256 sizes) and PAX headers;
    stops at the end blocks. ``where`` names the tar in errors.
    """

    def __init__(
        self,
        where: str,
        want: Callable[[TarEntry], bool],
        take: Callable[[TarEntry, bytes], None],
        max_data: int = 64 << 20,
    ) -> None:
        self.where = where
        self.want = want
        self.take = take
        self.max_data = max_data
        self.buf = bytearray()
        self.entry: TarEntry | None = None  # the entry whose data comes next
        self.keep = False
        self.size = 0  # data bytes of the current entry
        self.left = 0  # data (and padding) bytes of the current entry still to come
        self.data = bytearray()
        self.long: dict[str, str] = {}  # GNU L/K and PAX values for the next header
        self.sparse_blocks = False  # GNU sparse extension headers come next
        self.sparse_entry: tuple[TarEntry, int, bool] = (TarEntry("", b"S", 0), 0, False)
        self.ended = False

    def feed(self, chunk: bytes | memoryview) -> None:
        """Take the next bytes of the tar."""
        if self.ended:
            return
        self.buf += chunk
        while not self.ended:
            if self.left:
                n = min(self.left, len(self.buf))
                if n == 0:
                    return
                if self.keep:
                    self.data += self.buf[:n]
                del self.buf[:n]
                self.left -= n
                if not self.left:
                    self._done()
                continue
            if len(self.buf) < BLOCK:
                return
            header = bytes(self.buf[:BLOCK])
            del self.buf[:BLOCK]
            if self.sparse_blocks:
                self.sparse_blocks = header[504] != 0  # another extension block follows
                if not self.sparse_blocks:
                    self._expect(*self.sparse_entry)
                continue
            self._header(header)

    def finish(self) -> None:
        """Refuse a tar that ended inside an entry."""
        if self.left or self.sparse_blocks or (self.buf and not self.ended):
            raise TarError(f"{self.where}: the tar is truncated")

    def _header(self, header: bytes) -> None:
        if header == bytes(BLOCK):
            self.ended = True
            return
        if header[257:262] != b"ustar":
            raise TarError(f"{self.where}: not a tar (no ustar header); re-pull the base")
        summed = sum(header[:148]) + 8 * 32 + sum(header[156:])
        if summed != _number(header[148:156], self.where):
            raise TarError(f"{self.where}: a tar header's checksum is wrong; re-pull the base")
        kind = header[156:157]
        size = _number(header[124:136], self.where)
        if kind in _META_TYPES:
            if size > self.max_data:
                raise TarError(f"{self.where}: a tar header of {size} bytes; re-pull the base")
            self._expect(TarEntry("", kind, size), size, keep=True)
            return
        name = header[:100].split(b"\0", 1)[0]
        if header[257:263] == b"ustar\0" and header[345:346] != b"\0":
            name = header[345:500].split(b"\0", 1)[0] + b"/" + name  # POSIX ustar's prefix
        path = self.long.pop("path", name.decode("utf-8", "surrogateescape"))
        linkname = header[157:257].split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        pax_size = self.long.pop("size", "")
        if pax_size:
            if not pax_size.isdigit():
                raise TarError(f"{self.where}: a PAX size {pax_size!r} is not a number")
            size = int(pax_size)
        entry = TarEntry(
            path.removeprefix("./").strip("/"), kind, size, self.long.pop("linkpath", linkname)
        )
        self.long.clear()
        data_size = 0 if kind in _NO_DATA_TYPES else entry.size
        keep = data_size <= self.max_data and self.want(entry)
        if kind == b"S":
            keep = False  # old GNU sparse: its data is not the file's bytes
            if header[482] != 0:  # extension headers come first, then the data
                self.sparse_blocks = True
                self.sparse_entry = (entry, data_size, keep)
                return
        self._expect(entry, data_size, keep=keep)

    def _expect(self, entry: TarEntry, data_size: int, keep: bool) -> None:
        """The data of ``entry`` comes next: ``data_size`` bytes, then padding."""
        self.entry = entry
        self.keep = keep
        self.size = data_size
        self.data = bytearray()
        self.left = data_size + (-data_size % BLOCK)
        if not self.left:
            self._done()

    def _done(self) -> None:
        entry, data = self.entry, bytes(self.data[: self.size])
        self.data = bytearray()
        self.left = 0
        assert entry is not None
        if entry.type == b"x":
            self.long.update(_pax_records(data, self.where))
        elif entry.type == b"L":
            self.long["path"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif entry.type == b"K":
            self.long["linkpath"] = data.split(b"\0", 1)[0].decode("utf-8", "surrogateescape")
        elif entry.type != b"g" and self.keep:
            self.take(entry, data)
