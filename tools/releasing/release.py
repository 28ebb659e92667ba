"""Makes the release archive of rules_pyimage: what a user's Bazel fetches.

    tools/release VERSION [--commit REV] [--out-dir DIR]

Writes ``rules_pyimage-VERSION.tar.gz``, the files of a commit (HEAD by
default) that a module user needs, under ``rules_pyimage-VERSION/``, with
``module(version = ...)`` set to VERSION, and prints the ``archive_override``
lines a MODULE.bazel takes until the module is in the Bazel Central Registry.

The archive is a function of the files it holds and VERSION only: entries in
path order, owner 0, a fixed time, gzip without name or time. Two runs on one
machine give the same bytes (the gzip stream is Python's zlib's).

Standard library only.
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import os
import re
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

MODULE = "rules_pyimage"

#: Where releases are published (the GitHub release of tag ``v<version>``).
#: `.bcr/source.template.json` has the same pattern for the BCR's publish flow.
URL_PATTERN = "https://github.com/rules-pyimage/rules_pyimage/releases/download/v{version}/rules_pyimage-{version}.tar.gz"

#: What the archive holds: files at these paths, or under these folders.
INCLUDE = (
    "BUILD.bazel",
    "CHANGELOG.md",
    "LICENSE",
    "MODULE.bazel",
    "README.md",
    "docs/",
    "oci/",
    "py/",
    "tools/pyimage/",
    # The BCR's presubmit (.bcr/presubmit.yml) builds this test module from
    # the archive.
    "examples/quickstart/",
    # --config=offline (this repository's runner) registers its toolchains
    # (`@rules_pyimage//tools/offline:python3_11_toolchain`, the C toolchain
    # without tools of no_cc.bzl, ...), so the archive must have them to be
    # tested offline; `manual`, never built otherwise.
    "tools/offline/BUILD.bazel",
    "tools/offline/no_cc.bzl",
)

#: Left out of what INCLUDE takes: analysis tests and their fixtures.
EXCLUDE = ("py/tests/",)

#: A path part that only a build or a tool run makes, never a source.
BUILD_OUTPUT = re.compile(r"^(bazel-.*|__pycache__|.*\.pyc|\.pytest_cache|\.ruff_cache)$")

#: Semantic Versioning 2.0.0, without a leading "v".
SEMVER = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*)(?:\.(?:0|[1-9]\d*|\d*[A-Za-z-][0-9A-Za-z-]*))*))?"
    r"(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)

#: The one `version = "..."` of MODULE.bazel's module() call.
MODULE_VERSION = re.compile(r'(module\(\s*name = "rules_pyimage",\s*version = )"[^"]*"', re.S)

#: Every entry's modification time: 2000-01-01T00:00:00Z (a fixed, valid one).
MTIME = 946684800


class ReleaseError(Exception):
    """Bad input: one line for the user, nothing written."""


@dataclass(frozen=True)
class Entry:
    path: str
    mode: str  # git's: 100644, 100755 or 120000
    data: bytes


def _git(repo: Path, *args: str, data: bytes | None = None) -> bytes:
    proc = subprocess.run(["git", *args], cwd=repo, input=data, capture_output=True, check=False)
    if proc.returncode != 0:
        message = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ReleaseError(f"git {' '.join(args)}: {message[-1] if message else 'failed'}")
    return proc.stdout


def resolve_commit(repo: Path, commit: str | None) -> str:
    """The commit to archive: the one given, or HEAD of a clean work tree."""
    if commit is None:
        dirty = _git(repo, "status", "--porcelain", "--untracked-files=no").strip()
        if dirty:
            raise ReleaseError(
                "the work tree has uncommitted changes: commit them, or name the commit "
                "to release with --commit (e.g. --commit HEAD)"
            )
        commit = "HEAD"
    try:
        return (
            _git(repo, "rev-parse", "--verify", "--quiet", f"{commit}^{{commit}}").decode().strip()
        )
    except ReleaseError:
        raise ReleaseError(f"--commit {commit}: no such commit in {repo}") from None


def wanted(path: str) -> bool:
    if any(path.startswith(e) for e in EXCLUDE):
        return False
    return any(path == i or (i.endswith("/") and path.startswith(i)) for i in INCLUDE)


def entries(repo: Path, commit: str) -> list[Entry]:
    """The commit's files that INCLUDE takes, in path order."""
    listing = _git(repo, "ls-tree", "-r", "-z", "--full-tree", commit).split(b"\0")
    picked: list[tuple[str, str, str]] = []
    for line in filter(None, listing):
        meta, path = line.decode().split("\t", 1)
        mode, kind, obj = meta.split()
        if not wanted(path):
            continue
        if any(BUILD_OUTPUT.match(part) for part in path.split("/")):
            raise ReleaseError(f"{path}: a build output is committed; remove it from git first")
        if kind != "blob":
            raise ReleaseError(f"{path}: a {kind} (submodule) cannot go into the archive")
        picked.append((path, mode, obj))
    picked.sort()
    blobs = _cat_blobs(repo, [obj for _, _, obj in picked])
    return [Entry(path, mode, blobs[obj]) for path, mode, obj in picked]


def _cat_blobs(repo: Path, objects: list[str]) -> dict[str, bytes]:
    out = _git(repo, "cat-file", "--batch", data="".join(f"{o}\n" for o in objects).encode())
    blobs: dict[str, bytes] = {}
    pos = 0
    while pos < len(out):
        header_end = out.index(b"\n", pos)
        obj, _kind, size = out[pos:header_end].decode().split()
        start = header_end + 1
        blobs[obj] = out[start : start + int(size)]
        pos = start + int(size) + 1
    return blobs


def set_version(module_bazel: bytes, version: str) -> bytes:
    text, count = MODULE_VERSION.subn(rf'\1"{version}"', module_bazel.decode())
    if count != 1:
        raise ReleaseError(
            'MODULE.bazel: no module(name = "rules_pyimage", version = "...") to set the version in'
        )
    return text.encode()


def archive_bytes(files: list[Entry], version: str) -> bytes:
    """The .tar.gz of ``files`` under ``rules_pyimage-VERSION/``."""
    prefix = f"{MODULE}-{version}"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for entry in files:
            info = tarfile.TarInfo(f"{prefix}/{entry.path}")
            info.mtime = MTIME
            info.uid = info.gid = 0
            info.uname = info.gname = ""
            if entry.mode == "120000":
                info.type = tarfile.SYMTYPE
                info.linkname = entry.data.decode()
                info.mode = 0o777
                tar.addfile(info)
                continue
            info.mode = 0o755 if entry.mode == "100755" else 0o644
            info.size = len(entry.data)
            tar.addfile(info, io.BytesIO(entry.data))
    packed = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=packed, compresslevel=9, mtime=0) as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


def override_lines(version: str, archive: bytes) -> str:
    """The archive_override a MODULE.bazel takes for this archive."""
    integrity = "sha256-" + base64.b64encode(hashlib.sha256(archive).digest()).decode()
    return (
        "archive_override(\n"
        f'    module_name = "{MODULE}",\n'
        f'    integrity = "{integrity}",\n'
        f'    strip_prefix = "{MODULE}-{version}",\n'
        f'    urls = ["{URL_PATTERN.format(version=version)}"],\n'
        ")\n"
    )


def release(repo: Path, version: str, commit: str | None, out_dir: Path) -> tuple[Path, str]:
    """Writes the archive; returns its path and the archive_override lines."""
    if not SEMVER.match(version):
        raise ReleaseError(f"version '{version}' is not semver: give MAJOR.MINOR.PATCH, e.g. 0.1.0")
    if not out_dir.is_dir():
        raise ReleaseError(f"--out-dir {out_dir}: no such folder; create it first")
    rev = resolve_commit(repo, commit)
    files = [
        Entry(e.path, e.mode, set_version(e.data, version)) if e.path == "MODULE.bazel" else e
        for e in entries(repo, rev)
    ]
    archive = archive_bytes(files, version)
    target = out_dir / f"{MODULE}-{version}.tar.gz"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=out_dir)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(archive)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, override_lines(version, archive)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="tools/release", description=__doc__.split("\n")[0])
    parser.add_argument("version", help="the release's version, semver: e.g. 0.1.0")
    parser.add_argument("--commit", help="the commit to archive (default: HEAD of a clean tree)")
    parser.add_argument("--out-dir", type=Path, default=Path.cwd(), help="default: here")
    args = parser.parse_args(argv)
    repo = Path(__file__).resolve().parents[2]
    try:
        target, lines = release(repo, args.version, args.commit, args.out_dir)
    except ReleaseError as err:
        print(f"tools/release: error: {err}", file=sys.stderr)
        return 2
    digest = hashlib.sha256(target.read_bytes()).hexdigest()
    print(f"# {target} (sha256 {digest})")
    print(f'bazel_dep(name = "{MODULE}", version = "{args.version}")')
    print(lines, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
