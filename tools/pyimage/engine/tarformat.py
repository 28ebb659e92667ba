"""The tar format of rules_pyimage's layers, written and read here only.

Tar: ustar headers, plus a PAX extended header only where ustar cannot say it
(a path or link target over 100 bytes or not ASCII, a file of 8 GiB or more);
mtime 0, uid/gid 0, empty user and group names; entries ordered by path
components (:func:`sort_key`), so a directory precedes its contents; no
padding beyond the two 512-byte end blocks.

The blob that compresses a tar is :mod:`pyimage.engine.compression`'s.
:func:`tar_spans` walks back the entries this module writes (and only those),
for merges.
"""

from __future__ import annotations

from collections.abc import Iterator
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
