"""Deterministic per-package tar and its compressed blob, written in one streaming pass.

Input is a manifest (JSON)::

    {"package": "six==1.16.0",
     "root": "opt/venv",                       # optional: every path lies under it
     "entries": [
       {"path": "opt/venv/lib/six.py", "src": "/abs/or/relative/source"},
       {"path": "opt/venv/bin/tool", "src": "...", "executable": true},
       {"path": "opt/venv/lib/alias.py", "symlink": "six.py"},
       {"path": "opt/venv/lib/pkg", "src_or_link": "path/of/a/symlink"},
       {"path": "opt/venv/share/empty", "dir": true}],
     "drop_links_into": ["opt/pkgs"]}              # optional

A ``src_or_link`` entry is a ``src`` unless that input is a link Bazel
declared (``ctx.actions.declare_symlink``): one with a relative target is kept
as a link with that target; one with an absolute target names a path of the
build machine (a venv's ``bin/python3`` -> ``/usr/bin/python3``) and is left
out. Symlinks that resolve into a folder of ``drop_links_into`` are left out
too (the app layer's links into pip packages, whose files live elsewhere in
the image).

``executable`` may be omitted (then the file's first bytes decide, see
:func:`looks_executable`) or replaced by ``"mode"`` (an int or octal string;
any execute bit means executable). Relative ``src`` paths are relative to the
manifest's directory.

Output, all pure functions of the manifest's paths, kinds, executable bits,
file bytes and link targets (never of mtimes, owners, umask or host):

* ``<pkg>.tar.gz`` (or ``.tar.zst``), the blob: the package's tar (its
  ``diff_id``) compressed with gzip or zstd
  (:mod:`pyimage.engine.compression`). The tar holds all directory entries
  first (every parent of every entry, sorted by path components, so parents
  precede children), then files and symlinks sorted the same way; mtime 0,
  uid/gid 0, empty user/group names, modes 0755 (directories, executables),
  0644 (other files), 0777 (symlinks); ustar headers plus a PAX extended
  header only where ustar cannot say it (path or link target over 100 bytes
  or not ASCII, file of 8 GiB or more); no padding to a record size beyond
  the two 512-byte end blocks. The blob is three parts: the compressed
  directory entries, the compressed file and symlink entries (both on every
  core), then the compression's constant end (the two zero blocks). This
  split is what lets :mod:`pyimage.engine.layer` merge blobs by
  concatenation while writing each directory only once. The tar itself is
  never written: whoever needs it inflates the blob.
* a descriptor (:mod:`pyimage.engine.descriptor`).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path

from pyimage import jsonio
from pyimage.engine import descriptor as desc_mod
from pyimage.engine import native
from pyimage.engine.compression import CHUNK, DEFAULT, Compression, PartWriter
from pyimage.engine.safety import check_image_path, check_symlink_chains, check_symlink_target
from pyimage.engine.tarformat import (
    BLOCK,
    END_BLOCKS,
    MODE_EXEC,
    MODE_FILE,
    MODE_LINK,
    dir_header,
    sort_key,
    tar_header,
)
from pyimage.errors import PyimageError
from pyimage.fsutil import replace_together


@dataclass(frozen=True)
class Entry:
    """One manifest entry: a file (``src``), a symlink (``target``) or a directory."""

    path: str
    kind: str  # "file", "symlink" or "dir"
    src: Path | None = None
    target: str = ""
    executable: bool | None = None


@dataclass(frozen=True)
class Manifest:
    """A package's files as they will appear in the image."""

    package: str
    entries: tuple[Entry, ...]
    root: str = ""


#: The ``__init__.py`` files rules_python adds to a wheel's folders that have
#: none (pkgutil-style namespace shims): two lines, a marker comment then the
#: ``extend_path`` call. They are not the wheel's: merged into one
#: site-packages folder, one package's shim would shadow (or clash with)
#: another package's real ``__init__.py``. Every spelling rules_python has
#: written is matched: the marker names ``bazelbuild/rules_python`` (to 1.2)
#: or ``bazel-contrib/rules_python`` (1.3 on); the call quotes ``pkgutil``
#: with ' (to 1.4, written at repository time) or " (1.5 on, build-time
#: copies of ``namespace_pkg_tmpl.py``), and ends in a ruff comment (noqa
#: F821) from 2.1.
RULES_PYTHON_SHIM = re.compile(
    rb"# __path__ manipulation added by [\w.-]+/rules_python to support namespace pkgs\.\r?\n"
    rb"__path__ = __import__\((['\"])pkgutil\1\)\.extend_path\(__path__, __name__\)"
    rb"(?:  # noqa: F821)?\r?\n?"
)

#: No shim is longer than this; a bigger ``__init__.py`` is never read whole.
_SHIM_MAX_BYTES = 256


def is_rules_python_shim(data: bytes) -> bool:
    """Whether ``data`` is exactly one of rules_python's namespace ``__init__.py`` shims."""
    return RULES_PYTHON_SHIM.fullmatch(data) is not None


def _is_rules_python_shim(entry: Entry) -> bool:
    if entry.kind != "file" or entry.src is None or entry.path.rsplit("/", 1)[-1] != "__init__.py":
        return False
    try:
        with entry.src.open("rb") as f:
            return is_rules_python_shim(f.read(_SHIM_MAX_BYTES + 1))
    except OSError as err:
        raise PyimageError(
            f"package: cannot read {entry.src} for {entry.path!r}: {err.strerror}; check the source"
        ) from err


def drop_rules_python_shims(manifest: Manifest) -> Manifest:
    """``manifest`` without rules_python's generated namespace ``__init__.py`` shims.

    In one site-packages folder Python's implicit namespace packages (PEP 420)
    do what the shims did in Bazel's one-folder-per-package runfiles.
    """
    kept = tuple(e for e in manifest.entries if not _is_rules_python_shim(e))
    return Manifest(manifest.package, kept, manifest.root)


def _parse_mode(package: str, path: str, value: object) -> bool:
    if isinstance(value, str):
        try:
            value = int(value, 8)
        except ValueError:
            value = None
    if not isinstance(value, int) or isinstance(value, bool):
        raise PyimageError(
            f"package {package}: entry {path!r} has a bad mode {value!r}; give an octal string"
        )
    return bool(value & 0o111)


def _parse_entry(package: str, root: str, item: object, base: Path, where: str) -> Entry | None:
    """Validate one manifest entry; None for a declared link that is left out."""
    if not isinstance(item, dict):
        raise PyimageError(f"{where}: entry {item!r} is not an object; fix the manifest")
    path = item.get("path")
    check_image_path(package, path)  # type: ignore[arg-type]
    assert isinstance(path, str)
    if root and not (path == root or path.startswith(root + "/")):
        raise PyimageError(
            f"package {package}: path {path!r} is outside the package root {root!r};"
            " move it under the root"
        )
    kinds = [k for k in ("src", "symlink", "src_or_link", "dir") if k in item]
    if len(kinds) != 1:
        raise PyimageError(
            f"package {package}: entry {path!r} needs exactly one of"
            " 'src', 'symlink', 'src_or_link', 'dir'"
        )
    if kinds == ["symlink"]:
        return Entry(
            path, "symlink", target=check_symlink_target(package, path, item["symlink"], root)
        )
    if kinds == ["src_or_link"]:
        src = _nonempty(package, path, item, "src_or_link")
        target = _declared_link(package, path, base, src)
        if target is not None and target.startswith("/"):
            return None
        if target is not None:
            return Entry(path, "symlink", target=check_symlink_target(package, path, target, root))
        item = {**item, "src": item["src_or_link"]}
    if kinds == ["dir"]:
        return Entry(path, "dir")
    executable = None
    if "executable" in item:
        executable = bool(item["executable"])
    elif "mode" in item:
        executable = _parse_mode(package, path, item["mode"])
    src = _nonempty(package, path, item, "src")
    return Entry(path, "file", src=base / src, executable=executable)


def _nonempty(package: str, path: str, item: dict[str, object], key: str) -> str:
    value = item[key]
    if not isinstance(value, str) or not value:
        raise PyimageError(f"package {package}: entry {path!r} has an empty {key!r}; fix it")
    return value


def _declared_link(package: str, path: str, base: Path, src: str) -> str | None:
    """The target of input ``src`` (under ``base``) if a rule declared it a link, else None.

    Bazel stages an input as the file itself or as an absolute symlink to it
    (sandbox), whose target ends with the input's own path; any other symlink
    is one a rule declared (``ctx.actions.declare_symlink``), with the
    target the rule gave it.
    """
    link = base / src
    try:
        if not link.is_symlink():
            return None
        target = str(link.readlink())
    except OSError as err:
        raise PyimageError(
            f"package {package}: cannot read {link} for {path!r}: {err.strerror}; check the source"
        ) from err
    staged = target.startswith("/") and posixpath.normpath(target).endswith(
        "/" + posixpath.normpath(src)
    )
    return None if staged else target


def _links_into(entry: Entry, folders: list[str]) -> bool:
    """Whether the symlink ``entry`` resolves to one of ``folders`` or below."""
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(entry.path), entry.target))
    return any(resolved == f or resolved.startswith(f + "/") for f in folders)


def parse_manifest(obj: object, base: Path, where: str) -> Manifest:
    """Validate a decoded manifest; relative sources resolve against ``base``."""
    if not isinstance(obj, dict):
        raise PyimageError(f"{where}: not a JSON object; see docs/layer-engine.md")
    package = obj.get("package")
    if not isinstance(package, str) or not package:
        raise PyimageError(f"{where}: missing 'package' name; add it")
    root = obj.get("root", "")
    if not isinstance(root, str):
        raise PyimageError(f"{where}: 'root' must be a string path; fix it")
    root = root.strip("/")
    if root:
        check_image_path(package, root)
    raw = obj.get("entries")
    if not isinstance(raw, list) or not raw:
        raise PyimageError(f"{where}: package {package} has no 'entries'; list its files")
    entries = []
    seen: set[str] = set()
    for item in raw:
        entry = _parse_entry(package, root, item, base, where)
        if entry is None:
            continue
        if entry.path in seen:
            raise PyimageError(
                f"package {package}: path {entry.path!r} is listed twice; list it once"
            )
        seen.add(entry.path)
        entries.append(entry)
    drop = obj.get("drop_links_into", [])
    if not isinstance(drop, list) or not all(isinstance(d, str) and d for d in drop):
        raise PyimageError(f"{where}: 'drop_links_into' must be a list of paths; fix it")
    folders = [d.strip("/") for d in drop]
    entries = [e for e in entries if not (e.kind == "symlink" and _links_into(e, folders))]
    links = {e.path: e.target for e in entries if e.kind == "symlink"}
    check_symlink_chains(package, links, root)
    return Manifest(package=package, entries=tuple(entries), root=root)


def load_manifest(path: Path, src_root: Path | None = None) -> Manifest:
    """Read and validate a manifest file.

    Relative ``src`` paths resolve against ``src_root`` when given (Bazel
    actions pass their working directory, the execroot), else against the
    manifest's own directory.
    """
    path = Path(path)
    obj = jsonio.load(path, "manifest", "fix the rule that writes it")
    base = path.parent if src_root is None else Path(src_root)
    return parse_manifest(obj, base, f"manifest {path}")


# --- tar headers -------------------------------------------------------------


# --- streaming writer --------------------------------------------------------


class _Sink:
    """Takes tar bytes; writes the compressed parts of the blob, hashing the tar and the blob."""

    def __init__(self, parts: PartWriter, end: bytes) -> None:
        self.parts = parts
        self.end = end
        self.tar_hash = hashlib.sha256()
        self.tar_size = 0
        self.parts.start()

    def write(self, data: bytes | memoryview) -> None:
        self.tar_hash.update(data)
        self.tar_size += len(data)
        self.parts.write(data)

    def cut(self) -> tuple[int, int]:
        """End the current part and start the next; return (tar, blob) sizes so far."""
        self.parts.end()
        sizes = (self.tar_size, self.parts.size)
        self.parts.start()
        return sizes

    def finish(self) -> tuple[int, int]:
        """Close the last part, append the end blocks and their constant; return body sizes."""
        self.parts.end()
        body_sizes = (self.tar_size, self.parts.size)
        self.tar_hash.update(END_BLOCKS)
        self.tar_size += len(END_BLOCKS)
        self.parts.emit(self.end)
        return body_sizes


class _Buffer:
    """Gathers small writes into chunks of CHUNK bytes before they reach the sink."""

    def __init__(self, sink: _Sink) -> None:
        self.sink = sink
        self.buf = bytearray(CHUNK)
        self.view = memoryview(self.buf)
        self.used = 0

    def flush(self) -> None:
        if self.used:
            self.sink.write(self.view[: self.used])
            self.used = 0

    def write(self, data: bytes) -> None:
        if self.used + len(data) > CHUNK:
            self.flush()
        if len(data) >= CHUNK:
            self.sink.write(data)
            return
        self.view[self.used : self.used + len(data)] = data
        self.used += len(data)

    def copy_file(self, fd: int, size: int, file_hash: hashlib._Hash, where: str) -> None:
        """Stream exactly ``size`` bytes of ``fd`` (then padding) through the buffer."""
        left = size
        while left:
            if self.used == CHUNK:
                self.flush()
            want = min(left, CHUNK - self.used)
            got = os.readv(fd, [self.view[self.used : self.used + want]])
            if got == 0:
                raise PyimageError(f"{where} shrank while being read; rebuild when it is stable")
            file_hash.update(self.view[self.used : self.used + got])
            self.used += got
            left -= got
        if os.read(fd, 1):
            raise PyimageError(f"{where} grew while being read; rebuild when it is stable")
        self.write(b"\0" * (-size % BLOCK))


def _open_source(package: str, entry: Entry) -> tuple[int, os.stat_result]:
    """Open a file entry's source without blocking on fifos; refuse non-regular files."""
    where = f"package {package}: source {entry.src} of {entry.path!r}"
    try:
        fd = os.open(entry.src, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)  # type: ignore[arg-type]
    except FileNotFoundError as err:
        raise PyimageError(f"{where} does not exist; rebuild its inputs") from err
    except OSError as err:
        raise PyimageError(f"{where} cannot be opened ({err.strerror}); make it readable") from err
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        kind = (
            "a directory; list its files instead"
            if stat.S_ISDIR(st.st_mode)
            else "a device, fifo or socket; only regular files can go in a layer"
        )
        raise PyimageError(f"{where} is {kind}")
    return fd, st


def _tree(manifest: Manifest) -> list[tuple[str, Entry]]:
    """All entries plus implied parent directories, sorted; file-vs-directory clashes refused."""
    nodes: dict[str, Entry] = {}
    for entry in manifest.entries:
        nodes[entry.path] = entry
    for entry in manifest.entries:
        parts = entry.path.split("/")
        for i in range(1, len(parts)):
            parent = "/".join(parts[:i])
            have = nodes.get(parent)
            if have is None:
                nodes[parent] = Entry(parent, "dir")
            elif have.kind != "dir":
                raise PyimageError(
                    f"package {manifest.package}: {parent!r} is a {have.kind} but also the"
                    f" parent of {entry.path!r}; keep one of them"
                )
    return sorted(nodes.items(), key=lambda item: sort_key(item[0]))


#: What an executable file starts with: a script's ``#!`` or an ELF header.
EXECUTABLE_MAGIC = (b"#!", b"\x7fELF")


def looks_executable(head: bytes) -> bool:
    """Whether a file whose first bytes are ``head`` is made executable in a layer.

    Not the source's execute bit: Bazel does not carry it to remote executors
    (it stages every input file executable), so a layer built there would
    differ from one built locally. Scripts (``#!``) and ELF files (programs,
    shared libraries) get 0755; everything else 0644, wherever it is built.
    """
    return head.startswith(EXECUTABLE_MAGIC)


def _write_file(package: str, entry: Entry, buf: _Buffer, scan: native.Scan) -> str:
    """Stream one file entry into ``buf``; return its index value (kind, mode, digest).

    ``scan`` looks at what platform the file is for (its first bytes, its name).
    """
    fd, st = _open_source(package, entry)
    try:
        head = os.pread(fd, native.HEAD_BYTES, 0)
        scan.add(entry.path, head, st.st_size, lambda offset, size: os.pread(fd, size, offset))
        executable = entry.executable
        if executable is None:
            executable = looks_executable(head)
        mode = MODE_EXEC if executable else MODE_FILE
        buf.write(tar_header(entry.path, mode, st.st_size, b"0"))
        file_hash = hashlib.sha256()
        buf.copy_file(fd, st.st_size, file_hash, f"package {package}: source {entry.src}")
    except OSError as err:
        if err.errno in (errno.ENOSPC, errno.EDQUOT):
            raise PyimageError(
                f"package {package}: writing its layer failed ({err.strerror});"
                " free disk space and run again"
            ) from err
        raise PyimageError(
            f"package {package}: reading {entry.src} failed ({err.strerror}); check the file"
        ) from err
    finally:
        os.close(fd)
    return f"f {mode:o} sha256:{file_hash.hexdigest()}"


def write_package(
    manifest: Manifest,
    blob_path: Path,
    descriptor_path: Path | None = None,
    *,
    threads: int | None = None,
    bytecode: tuple[str, tuple[str, ...]] = ("", ()),
    compression: Compression = DEFAULT,
) -> desc_mod.LayerDescriptor:
    """Write the package's blob (gzip unless ``compression`` says) and descriptor; return it.

    Streams every source once, in chunks of 1 MiB; memory use does not grow with
    file size. Compresses on ``threads`` threads (default: every CPU); the
    bytes do not depend on it. ``bytecode`` is recorded in the descriptor: the
    Python version of the bytecode the manifest holds (see
    :mod:`pyimage.engine.bytecode`) and the modules left without; so are the
    platforms of its native files and its wheel's tags
    (:mod:`pyimage.engine.native`). Both outputs appear together or not at all.
    """
    entries_index: dict[str, str] = {}
    scan = native.Scan()
    outputs = [Path(p) for p in (blob_path, descriptor_path) if p is not None]
    with replace_together(outputs) as tmps, contextlib.ExitStack() as stack:
        gz_out = stack.enter_context(tmps[0].open("wb"))
        writer = compression.writer(gz_out, threads=threads)
        sink = _Sink(stack.enter_context(writer), compression.end)
        buf = _Buffer(sink)
        tree = _tree(manifest)
        for path, entry in tree:
            if entry.kind == "dir":
                buf.write(dir_header(path))
                entries_index[path + "/"] = "d"
        buf.flush()
        tar_dirs, gz_dirs = sink.cut()
        for path, entry in tree:
            if entry.kind == "dir":
                continue
            if entry.kind == "symlink":
                buf.write(tar_header(path, MODE_LINK, 0, b"2", entry.target))
                entries_index[path] = "l " + entry.target
            else:
                entries_index[path] = _write_file(manifest.package, entry, buf, scan)
        buf.flush()
        tar_body, gz_body = sink.finish()
        stack.close()  # the blob is complete
        result = desc_mod.LayerDescriptor(
            packages=(manifest.package,),
            digest="sha256:" + sink.parts.hash.hexdigest(),
            size=sink.parts.size,
            blob_dirs_size=gz_dirs,
            blob_body_size=gz_body,
            diff_id="sha256:" + sink.tar_hash.hexdigest(),
            tar_size=sink.tar_size,
            tar_dirs_size=tar_dirs,
            tar_body_size=tar_body,
            entries=entries_index,
            media_type=compression.media_type,
            bytecode=bytecode[0],
            bytecode_skipped=bytecode[1],
            native=dict(sorted(scan.native.items())),
            wheel_tags=tuple(sorted(scan.tags)),
        )
        if descriptor_path is not None:
            desc_mod.save(result, tmps[1])
    return result
