"""TarScanner: other tools' tars (Python's tarfile: GNU, PAX, ustar), read as a stream."""

from __future__ import annotations

import io
import shutil
import subprocess
import tarfile
import time
from pathlib import Path

import pytest

from pyimage.engine.tarformat import TarEntry, TarScanner
from pyimage.errors import PyimageError

LONG = "usr/share/" + "/".join(["deep" * 10] * 4) + "/file.txt"


def a_tar(fmt: int) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=fmt) as tar:
        for name, data in (("./etc/os-release", b"ID=test\n"), (LONG, b"x" * 1000)):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("lib/libc.so.6")
        link.type, link.linkname = tarfile.SYMTYPE, "x" * 150 + "/libc-2.24.so"
        tar.addfile(link)
        folder = tarfile.TarInfo("var/empty/")
        folder.type = tarfile.DIRTYPE
        tar.addfile(folder)
    return out.getvalue()


def scan(data: bytes, chunk: int, want: str = "") -> tuple[list[TarEntry], dict[str, bytes]]:
    seen: list[TarEntry] = []
    taken: dict[str, bytes] = {}

    def wanted(entry: TarEntry) -> bool:
        seen.append(entry)
        return entry.name == want

    scanner = TarScanner("tar t", wanted, lambda e, d: taken.__setitem__(e.name, d))
    for i in range(0, len(data), chunk):
        scanner.feed(data[i : i + chunk])
    scanner.finish()
    return seen, taken


@pytest.mark.parametrize("fmt", [tarfile.GNU_FORMAT, tarfile.PAX_FORMAT])
@pytest.mark.parametrize("chunk", [1, 511, 4096, 1 << 20])
def test_entries_and_data_in_any_chunking(fmt: int, chunk: int) -> None:
    seen, taken = scan(a_tar(fmt), chunk, want=LONG)
    assert [(e.name, e.type, e.size) for e in seen] == [
        ("etc/os-release", b"0", 8),
        (LONG, b"0", 1000),
        ("lib/libc.so.6", b"2", 0),
        ("var/empty", b"5", 0),
    ]
    assert seen[2].linkname == "x" * 150 + "/libc-2.24.so"
    assert taken == {LONG: b"x" * 1000}


def test_a_ustar_prefix_is_part_of_the_name() -> None:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(LONG)
        tar.addfile(info, io.BytesIO(b""))
    seen, _ = scan(out.getvalue(), 512)
    assert [e.name for e in seen] == [LONG]


def test_a_truncated_or_corrupt_tar_is_refused_naming_it() -> None:
    data = a_tar(tarfile.PAX_FORMAT)
    with pytest.raises(PyimageError, match=r"^tar t: the tar is truncated$"):
        scan(data[:1500], 512)
    broken = bytearray(data)
    broken[0] ^= 1  # the first header's name: its checksum no longer matches
    with pytest.raises(PyimageError, match=r"^tar t: a tar header's checksum is wrong"):
        scan(bytes(broken), 512)
    with pytest.raises(PyimageError, match=r"^tar t: not a tar"):
        scan(b"PK\x03\x04" + bytes(1020), 512)


@pytest.mark.parametrize(
    "record", [b"0 path=x\n", b"9 a=bcde\n-9 x=y\n", b"99 path=x\n", b"8 path=x"]
)
def test_a_malformed_pax_record_is_refused_at_once(record: bytes) -> None:
    info = tarfile.TarInfo("./PaxHeaders/x")
    info.type, info.size = tarfile.XHDTYPE, len(record)
    data = info.tobuf(tarfile.USTAR_FORMAT) + record + bytes(-len(record) % 512) + bytes(1024)
    start = time.monotonic()
    with pytest.raises(PyimageError, match=r"^tar t: a PAX header is malformed"):
        scan(data, 512)
    assert time.monotonic() - start < 5


def test_gnu_sparse_files_and_their_extension_headers_are_stepped_over(tmp_path: Path) -> None:
    gnu_tar = shutil.which("tar")
    if gnu_tar is None:
        pytest.fail("GNU tar is needed (Debian's tar package)")
    holes = tmp_path / "in" / "holes"
    holes.parent.mkdir()
    with holes.open("wb") as f:  # 40 data runs between holes: old GNU sparse needs extension blocks
        for i in range(40):
            f.seek(i * 65536)
            f.write(b"data%d" % i)
    (tmp_path / "in" / "zz-after").write_bytes(b"after")
    tar = tmp_path / "t.tar"
    subprocess.run(
        [gnu_tar, "--sparse", "--format=oldgnu", "-cf", str(tar), "-C", str(tmp_path / "in"), "."],
        check=True,
    )
    seen, taken = scan(tar.read_bytes(), 4096, want="zz-after")
    assert [e.type for e in seen if e.name == "holes"] == [b"S"]
    assert taken == {"zz-after": b"after"}
