"""How a layer blob is compressed: gzip members or zstd frames, written and read here only.

A blob is the compression of a tar in *parts* (see
:mod:`pyimage.engine.package`): each part compressed on its own, so that a
merge can copy a package's files part byte for byte, then a constant end
(:meth:`Compression.end`, the two 512-byte zero blocks). Every runtime reads
the concatenation as one stream: gzip readers take multi-member files, zstd
readers concatenated frames.

gzip (:class:`GzipMembers`): no name, mtime 0, XFL 0, OS 255, deflate level 6
with Python's zlib, one member per :data:`MEMBER_INPUT` bytes of a part,
compressed on every core; the bytes are zlib's on any machine.

zstd (:class:`ZstdFrames`): one frame per part from the ``zstd`` binary
(``-<level> -T<threads>``, reading a pipe, checksummed). zstd's multi-threaded
mode gives the same bytes for any ``-T`` of 1 or more, so the bytes are those
of the zstd version in use (aspect_bazel_lib's toolchain pins 1.5.6); a lock
records ``diff_id`` and compression only, so another zstd never makes it stale.
The end is a hand-written frame (one RLE block), the same for every zstd.

:meth:`Compression.inflate` reads the parts of a blob back, refusing a
truncated or corrupt member or frame (:class:`CorruptBlobError`).
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import hashlib
import os
import shutil
import subprocess
import threading
import zlib
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import BinaryIO, Protocol

from pyimage.errors import PyimageError

CHUNK = 1 << 20
GZIP = "gzip"
ZSTD = "zstd"
LAYER_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
#: Compression -> the OCI media type of its layers.
MEDIA_TYPES = {GZIP: LAYER_MEDIA_TYPE + "+gzip", ZSTD: LAYER_MEDIA_TYPE + "+zstd"}
#: Compression -> the file suffix of its blobs.
SUFFIXES = {GZIP: ".tar.gz", ZSTD: ".tar.zst"}
#: The zstd levels a layer may use (20 and above need ``--ultra`` and much memory).
ZSTD_LEVELS = range(1, 20)
DEFAULT_ZSTD_LEVEL = 3

GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
GZIP_LEVEL = 6
#: gzip(1024 zero bytes) with GZIP_HEADER, as a literal so that it never depends on
#: the zlib in use: every gzip blob ends with these bytes and a merge appends them once.
END_MEMBER = bytes.fromhex("1f8b08000000000000ff63601805a360148c5400002eafb5ef00040000")
#: A zstd frame of 1024 zero bytes: magic; a single-segment header with a 2-byte
#: content size (1024 - 256); one last RLE block of 1024 copies of the byte 0.
END_FRAME = bytes.fromhex("28b52ffd" + "60" + "0003" + "032000" + "00")
ZSTD_MAGIC = END_FRAME[:4]
#: Input bytes per gzip member: fixed, so a blob's bytes do not depend on the
#: threads that compressed it (1 MiB costs about 0.25 % in size against one member).
MEMBER_INPUT = 1 << 20

Feed = Callable[[bytes | memoryview], object]


class CorruptBlobError(ValueError):
    """Compressed bytes that do not decompress (truncated, corrupt, or another format)."""


class PartWriter(Protocol):
    """Writes a blob part by part to ``out``, hashing and counting every byte written."""

    hash: hashlib._Hash
    size: int

    def start(self) -> None: ...
    def write(self, data: bytes | memoryview) -> None: ...
    def end(self) -> None: ...
    def emit(self, data: bytes | memoryview) -> None: ...
    def close(self) -> None: ...
    def __enter__(self) -> PartWriter: ...
    def __exit__(self, *exc: object) -> None: ...


def compress_threads() -> int:
    """How many threads compress: the CPUs this process may run on (at most 16)."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        cpus = os.cpu_count() or 1
    return max(1, min(cpus, 16))


@dataclass(frozen=True)
class Compression:
    """A blob's compression: ``gzip``, or ``zstd`` at ``level`` with the ``zstd`` binary."""

    name: str = GZIP
    level: int = DEFAULT_ZSTD_LEVEL
    zstd: str = ""

    @staticmethod
    def of(name: str, level: int | None = None, zstd: str | None = None) -> Compression:
        """Check a compression the user asked for; one-line errors name the setting."""
        if name not in MEDIA_TYPES:
            raise PyimageError(
                f"unknown compression {name!r}; use one of: {', '.join(sorted(MEDIA_TYPES))}"
            )
        level = DEFAULT_ZSTD_LEVEL if level is None else level
        if level not in ZSTD_LEVELS:
            raise PyimageError(
                f"zstd level {level} is out of range; use {ZSTD_LEVELS.start} to"
                f" {ZSTD_LEVELS.stop - 1} (default {DEFAULT_ZSTD_LEVEL})"
            )
        # gzip keeps the zstd settings too: a layer of its image may be zstd's
        # (a declared group's own compression).
        return Compression(name, level, zstd or "")

    def named(self, name: str) -> Compression:
        """This compression's settings (zstd program and level) for a blob of ``name``."""
        return self if name == self.name else dataclasses.replace(self, name=name)

    @staticmethod
    def of_media_type(media_type: str, where: str) -> str:
        """The compression of a layer media type; ``where`` names the layer in errors."""
        for name, known in MEDIA_TYPES.items():
            if known == media_type:
                return name
        raise PyimageError(
            f"{where}: media type {media_type!r} is neither gzip nor zstd; rebuild it"
        )

    @property
    def media_type(self) -> str:
        """The OCI media type of the layers it writes."""
        return MEDIA_TYPES[self.name]

    @property
    def end(self) -> bytes:
        """The constant last bytes of every blob: the compressed tar end blocks."""
        return END_FRAME if self.name == ZSTD else END_MEMBER

    def binary(self) -> str:
        """The zstd program: the one given, else ``zstd`` on PATH."""
        found = self.zstd or shutil.which("zstd")
        if not found:
            raise PyimageError(
                "compression zstd needs the zstd program: pass --zstd PATH (Bazel passes"
                " aspect_bazel_lib's zstd toolchain) or install zstd"
            )
        return found

    def writer(
        self, out: BinaryIO, digest: hashlib._Hash | None = None, threads: int | None = None
    ) -> PartWriter:
        """A part writer to ``out`` on ``threads`` threads (default: every CPU)."""
        threads = compress_threads() if threads is None else max(1, threads)
        if self.name == ZSTD:
            return ZstdFrames(out, self.binary(), self.level, digest, threads)
        return GzipMembers(out, digest, threads)

    def inflate(self, source: Callable[[Feed], None], emit: Callable[[bytes], object]) -> None:
        """Decompress the whole members or frames ``source`` feeds; pass the bytes to ``emit``.

        Raises :class:`CorruptBlobError` unless the input decompresses and ends at
        the end of a member or frame; errors of ``source`` and ``emit`` pass through.
        """
        if self.name == ZSTD:
            _unzstd(self.binary(), source, emit)
            return
        inflate = GunzipMembers(emit)
        try:
            source(inflate.feed)
            inflate.finish()
        except zlib.error as err:
            raise CorruptBlobError(str(err)) from err

    def part_bound(self, data: bytes) -> tuple[int, bool]:
        """(bytes, exact) of one part holding ``data``, without writing it.

        gzip: ``data`` compressed here (exact; keep it small). zstd: the
        frame's upper bound (stored blocks, largest header, checksum), no process run.
        """
        if self.name == ZSTD:
            blocks = max(1, -(-len(data) // (128 << 10)))
            return 4 + 14 + 3 * blocks + len(data) + 4, False
        cuts = [data[i : i + MEMBER_INPUT] for i in range(0, len(data), MEMBER_INPUT)]
        return sum(len(gzip_member(cut)) for cut in cuts or [b""]), True


#: The default: gzip, which needs no program.
DEFAULT = Compression()


def gzip_member(data: bytes | memoryview) -> bytes:
    """One whole deterministic gzip member of ``data`` (header, deflate, CRC-32, size)."""
    comp = zlib.compressobj(GZIP_LEVEL, zlib.DEFLATED, -15, 9)
    body = comp.compress(data) + comp.flush(zlib.Z_FINISH)
    crc = zlib.crc32(data).to_bytes(4, "little")
    return GZIP_HEADER + body + crc + (len(data) & 0xFFFFFFFF).to_bytes(4, "little")


class _Output:
    """Writes to ``out``, hashing and counting every byte."""

    def __init__(self, out: BinaryIO, digest: hashlib._Hash | None) -> None:
        self.out = out
        self.hash = digest if digest is not None else hashlib.sha256()
        self.size = 0
        self.part_size: int | None = None  # None: no part open

    def __enter__(self) -> _Output:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()  # type: ignore[attr-defined]

    def _write_out(self, data: bytes | memoryview) -> None:
        if data:
            self.out.write(data)
            self.hash.update(data)
            self.size += len(data)

    def emit(self, data: bytes | memoryview) -> None:
        """Write already-compressed bytes (whole members or frames) as they are."""
        assert self.part_size is None, "emit() inside a part"
        self._write_out(data)


class GzipMembers(_Output):
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
        super().__init__(out, digest)
        self.threads = compress_threads() if threads is None else max(1, threads)
        self.pool = ThreadPoolExecutor(self.threads, "pyimage-gzip") if self.threads > 1 else None
        self.pending: collections.deque[Future[bytes]] = collections.deque()
        self.buf = bytearray()

    def close(self) -> None:
        """Stop the threads (members not yet written are dropped)."""
        for fut in self.pending:
            fut.cancel()
        self.pending.clear()
        if self.pool is not None:
            self.pool.shutdown(wait=True)
            self.pool = None

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


def _first_line(raw: bytes) -> str:
    lines = [line.strip() for line in raw.decode("utf-8", "replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no message"


def _spawn(argv: list[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(
            argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE
        )
    except OSError as err:
        raise PyimageError(
            f"cannot run zstd program {argv[0]} ({err.strerror}); give a working zstd"
        ) from err


def _close_pipes(proc: subprocess.Popen[bytes]) -> None:
    """Close a finished (or killed) process's pipes; closing one twice does nothing."""
    for pipe in (proc.stdin, proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()


class ZstdFrames(_Output):
    """Writes one zstd frame per part to ``out`` with the ``zstd`` program, hashing every byte.

    Each part is piped through its own ``zstd -<level> -T<threads>`` process; a
    thread copies its output to ``out`` as it comes, so memory stays flat.
    """

    def __init__(
        self,
        out: BinaryIO,
        binary: str,
        level: int,
        digest: hashlib._Hash | None = None,
        threads: int = 1,
    ) -> None:
        super().__init__(out, digest)
        self.argv = [binary, f"-{level}", f"-T{threads}", "-q", "-c", "--no-progress"]
        self.proc: subprocess.Popen[bytes] | None = None
        self.reader: threading.Thread | None = None
        self.errors: list[BaseException] = []

    def close(self) -> None:
        """Stop a part's process, if one still runs (its frame is dropped)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()
            proc.wait()
            if self.reader is not None:
                self.reader.join()
            _close_pipes(proc)

    def _copy_out(self, proc: subprocess.Popen[bytes]) -> None:
        try:
            fd = proc.stdout.fileno()  # type: ignore[union-attr]
            while chunk := os.read(fd, CHUNK):
                self._write_out(chunk)
        except BaseException as err:  # re-raised by the writing thread
            self.errors.append(err)
            proc.kill()

    def start(self) -> None:
        """Begin a part: start its zstd process."""
        assert self.part_size is None, "start() inside a part"
        self.part_size = 0
        self.errors = []
        self.proc = _spawn(self.argv)
        self.reader = threading.Thread(target=self._copy_out, args=(self.proc,), name="zstd-out")
        self.reader.start()

    def _failed(self) -> PyimageError | BaseException:
        proc = self.proc
        assert proc is not None and self.reader is not None
        self.reader.join()
        rc = proc.wait()
        if self.errors:
            return self.errors[0]
        stderr = proc.stderr.read() if proc.stderr else b""  # type: ignore[union-attr]
        return PyimageError(
            f"zstd program {self.argv[0]} failed (exit {rc}: {_first_line(stderr)});"
            " check that it is a working zstd"
        )

    def write(self, data: bytes | memoryview) -> None:
        """Add ``data`` to the current part."""
        assert self.proc is not None and self.proc.stdin is not None, "write() outside a part"
        self.part_size = (self.part_size or 0) + len(data)
        try:
            self.proc.stdin.write(data)
        except BrokenPipeError:
            raise self._failed() from None

    def end(self) -> None:
        """Finish the part: close zstd's input and write all of its frame."""
        proc = self.proc
        assert proc is not None and proc.stdin is not None, "end() outside a part"
        with contextlib.suppress(BrokenPipeError):
            proc.stdin.close()
        assert self.reader is not None
        self.reader.join()
        if proc.wait() != 0 or self.errors:
            raise self._failed()
        _close_pipes(proc)
        self.proc = None
        self.part_size = None


def _unzstd(binary: str, source: Callable[[Feed], None], emit: Callable[[bytes], object]) -> None:
    """Decompress the zstd frames ``source`` feeds (zstd format only) through ``emit``."""
    proc = _spawn([binary, "-d", "-c", "-q", "--no-progress"])
    errors: list[BaseException] = []
    head = bytearray()

    def checked(data: bytes | memoryview) -> None:
        # zstd -d also reads gzip, xz and lz4: a part must begin as a zstd frame.
        if len(head) < len(ZSTD_MAGIC):
            head.extend(bytes(data[: len(ZSTD_MAGIC) - len(head)]))
            if not ZSTD_MAGIC.startswith(bytes(head)):
                raise CorruptBlobError("not a zstd frame (another format?)")
        proc.stdin.write(data)  # type: ignore[union-attr]

    def feed_in() -> None:
        stdin = proc.stdin
        assert stdin is not None
        try:
            source(checked)
        except BrokenPipeError:
            pass  # zstd stopped: its exit status says why
        except BaseException as err:  # re-raised below
            errors.append(err)
            proc.kill()
        finally:
            with contextlib.suppress(BrokenPipeError):
                stdin.close()

    writer = threading.Thread(target=feed_in, name="unzstd-in")
    writer.start()
    try:
        fd = proc.stdout.fileno()  # type: ignore[union-attr]
        while chunk := os.read(fd, CHUNK):
            emit(chunk)
    except BaseException:
        proc.kill()
        raise
    finally:
        writer.join()
        rc = proc.wait()
        stderr = proc.stderr.read() if proc.stderr else b""
        _close_pipes(proc)
    if errors:
        raise errors[0]
    if rc != 0:
        raise CorruptBlobError(f"zstd: {_first_line(stderr)}")
    if len(head) < len(ZSTD_MAGIC) and head:
        raise CorruptBlobError("truncated zstd frame")
