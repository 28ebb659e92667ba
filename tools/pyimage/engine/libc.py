"""Which C library a base image has, read from its layers once (the base's action).

A wheel's ``manylinux_2_X`` tag needs glibc 2.X or newer, a ``musllinux``
tag needs musl (:func:`pyimage.engine.native.libc_need`); the image action
checks its packages against what this module found in the base and wrote
beside the base's copy (:func:`save`, :func:`load`)::

    {"format": "rules_pyimage.base_libc/v1", "libc": "glibc", "version": "2.36",
     "file": "usr/lib/x86_64-linux-gnu/libc.so.6"}

``"libc": null`` when the base has none this module knows (scratch, a layer
compressed with zstd and no zstd program given): then nothing is checked.

glibc is its ``libc.so.6`` (or ``libc-2.X.so``) under ``lib``, ``lib64``,
``usr/lib`` or their ``<triplet>/`` folders, for the image's architecture
(its ELF header; another architecture's copy in a multi-arch base does not
count), its version from the banner every glibc carries ("GNU C Library ...
version 2.36") or from the file name; musl is its ``ld-musl-<arch>.so.1``.
Files a later layer whites out (``.wh.`` files, opaque folders) or replaces
do not count. musl's version is not known (its files do not say it), so a
``musllinux_1_X`` wheel is taken on any musl.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from pyimage import jsonio
from pyimage.engine import native
from pyimage.engine.compression import (
    GZIP,
    LAYER_MEDIA_TYPE,
    MEDIA_TYPES,
    ZSTD,
    Compression,
    CorruptBlobError,
)
from pyimage.engine.oci_layout import BaseImage
from pyimage.engine.tarformat import TarEntry, TarError, TarScanner
from pyimage.errors import PyimageError

FORMAT = "rules_pyimage.base_libc/v1"

_CANDIDATE = re.compile(
    r"(?:usr/)?lib(?:32|64)?/(?:[^/]+/)?(libc\.so\.6|libc-(\d+)\.(\d+)\.so|ld-musl-[^/]+\.so\.1)"
)
_BANNER = re.compile(rb"GNU C Library [^\n\0]{0,200}?version (\d+)\.(\d+)")
_REGULAR = (b"0", b"\0", b"7")
_READ = 1 << 16


@dataclass(frozen=True)
class Libc:
    """A base image's C library."""

    family: str  # "glibc" or "musl"
    version: tuple[int, int] | None
    file: str

    def __str__(self) -> str:
        if self.version is None:
            return self.family
        return f"{self.family} {self.version[0]}.{self.version[1]}"


class _Finder:
    """Gathers the C library files of one platform from a base's layers, bottom to top."""

    def __init__(self, platform: str) -> None:
        self.platform = platform
        self.found: dict[str, Libc] = {}  # from the layers below the current one
        self.layer: dict[str, Libc] = {}  # from the current layer
        self.hidden: list[str] = []  # what the current layer whites out or replaces below

    def want(self, entry: TarEntry) -> bool:
        folder, _, name = entry.name.rpartition("/")
        prefix = folder + "/" if folder else ""
        if name == ".wh..wh..opq":
            self.hidden.append(prefix)  # everything below this folder
            return False
        if name.startswith(".wh."):
            self.hidden.extend([prefix + name[4:], prefix + name[4:] + "/"])
            return False
        if _CANDIDATE.fullmatch(entry.name) is None:
            return False
        self.hidden.append(entry.name)  # this layer's entry replaces a lower one
        return entry.type in _REGULAR or entry.type == b"2"

    def end_layer(self) -> None:
        """Apply the layer's whiteouts to the layers below, then add what it holds."""
        for path in list(self.found):
            if any(path == h or (h.endswith("/") and path.startswith(h)) for h in self.hidden):
                del self.found[path]
        self.found.update(self.layer)
        self.layer, self.hidden = {}, []

    def take(self, entry: TarEntry, data: bytes) -> None:
        match = _CANDIDATE.fullmatch(entry.name)
        assert match is not None
        if entry.type == b"2":
            named = re.fullmatch(r"libc-(\d+)\.(\d+)\.so", entry.linkname.rpartition("/")[2])
            if match.group(1) == "libc.so.6" and named:
                version = (int(named.group(1)), int(named.group(2)))
                self.layer[entry.name] = Libc("glibc", version, entry.name)
            return
        kind = native.classify(entry.name, data[: native.HEAD_BYTES])
        if kind is None or not native.same_platform(kind, self.platform):
            return
        if match.group(1).startswith("ld-musl-"):
            self.layer[entry.name] = Libc("musl", None, entry.name)
            return
        banner = _BANNER.search(data)
        if banner:
            version: tuple[int, int] | None = (int(banner.group(1)), int(banner.group(2)))
        elif match.group(2):
            version = (int(match.group(2)), int(match.group(3)))
        else:
            version = None
        self.layer[entry.name] = Libc("glibc", version, entry.name)

    def result(self) -> Libc | None:
        glibc = [f for f in self.found.values() if f.family == "glibc"]
        if glibc:
            return max(glibc, key=lambda f: (f.version is not None, f.version or (0, 0), f.file))
        musl = sorted(self.found.values(), key=lambda f: f.file)
        return musl[0] if musl else None


def read(base: BaseImage | None, platform: str, zstd: str = "") -> tuple[Libc | None, str]:
    """The C library of ``base`` for ``platform`` (``os/arch``), or None; and a note.

    Reads every layer once, streaming; ``zstd`` is the program that inflates
    zstd layers (without it, a base with one has no C library known). A layer
    that does not decompress is refused; a tar this reader does not follow
    leaves the C library unknown and says why in the note (the base is not
    refused for a check that only guards).
    """
    if base is None:
        return None, ""
    finder = _Finder(platform)
    for media_type, blob in base.layer_blobs():
        where = f"base layer {blob.name[:12]} ({base.root})"
        scanner = TarScanner(where, finder.want, finder.take)
        try:
            if not _inflate(media_type, blob, scanner.feed, zstd, where):
                return None, f"{where} is zstd and no zstd program was given"
            scanner.finish()
        except TarError as err:
            return None, str(err)
        finder.end_layer()
    return finder.result(), ""


def _inflate(
    media_type: str, blob: Path, emit: Callable[[bytes], object], zstd: str, where: str
) -> bool:
    """Pass the tar of a layer blob to ``emit``; False when there is no program for it."""
    if media_type == LAYER_MEDIA_TYPE:
        _feed(blob, emit, where)
        return True
    if media_type not in (MEDIA_TYPES[GZIP], MEDIA_TYPES[ZSTD]):
        raise PyimageError(f"{where}: unknown layer media type {media_type!r}; re-pull the base")
    if media_type == MEDIA_TYPES[ZSTD] and not zstd:
        return False
    settings = Compression(ZSTD, zstd=zstd) if media_type == MEDIA_TYPES[ZSTD] else Compression()
    try:
        settings.inflate(lambda feed: _feed(blob, feed, where), emit)
    except CorruptBlobError as err:
        raise PyimageError(f"{where} does not decompress ({err}); re-pull the base") from err
    return True


def _feed(blob: Path, feed: Callable[[bytes], object], where: str) -> None:
    try:
        with blob.open("rb") as f:
            while chunk := f.read(_READ):
                feed(chunk)
    except OSError as err:
        raise PyimageError(f"{where} cannot be read ({err.strerror}); re-pull the base") from err


def mismatch(libc: Libc, tags: tuple[str, ...], platform: str) -> str | None:
    """What a wheel of ``tags`` needs that ``libc`` is not, in a ``platform`` image; None if none.

    It can when one of its tags for the platform needs no C library
    (``any``, ``linux_*``) or one ``libc`` has: the same family, and for glibc
    a version no newer (an unknown version satisfies any).
    """
    needs = []
    for tag in tags:
        plat = native.tag_platform(tag)
        if plat is not None and not native.same_platform(plat, platform):
            continue
        need = native.libc_need(tag)
        if need is None:
            return None
        family, version = need
        if family == libc.family and (libc.version is None or version <= libc.version):
            return None
        needs.append((family != libc.family, version, family, tag))
    if not needs:
        return None
    other_family, version, family, tag = min(needs)
    newer = "" if other_family else " or newer"
    return f"its wheel needs {family} {version[0]}.{version[1]}{newer} ({tag})"


def to_json(libc: Libc | None) -> dict[str, object]:
    """The facts file's object."""
    if libc is None:
        return {"format": FORMAT, "libc": None}
    version = f"{libc.version[0]}.{libc.version[1]}" if libc.version else None
    return {"format": FORMAT, "libc": libc.family, "version": version, "file": libc.file}


def save(libc: Libc | None, path: Path) -> None:
    """Write the facts file at ``path`` (put in place whole)."""
    jsonio.write(path, to_json(libc))


def load(path: Path) -> Libc | None:
    """Read a facts file :func:`save` wrote."""
    obj = jsonio.load(path, "base libc file", "rebuild it")
    where = f"base libc file {path}"
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise PyimageError(f"{where}: not a {FORMAT} file; rebuild it")
    family = obj.get("libc")
    if family is None:
        return None
    version = obj.get("version")
    file = obj.get("file")
    ok = (
        family in ("glibc", "musl")
        and (version is None or (isinstance(version, str) and re.fullmatch(r"\d+\.\d+", version)))
        and isinstance(file, str)
    )
    if not ok:
        raise PyimageError(f"{where}: 'libc', 'version' or 'file' is malformed; rebuild it")
    major, _, minor = str(version or "").partition(".")
    return Libc(str(family), (int(major), int(minor)) if version else None, str(file))
