"""Helpers shared by the tests: build packages, run the pyimage command line and container tools."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import zlib
from collections.abc import Mapping
from pathlib import Path

import pytest

from pyimage.engine import layer, package
from pyimage.engine.compression import DEFAULT, SUFFIXES, Compression
from pyimage.engine.descriptor import LayerDescriptor

TOOLS = Path(__file__).resolve().parent.parent

# A package spec maps image paths to file bytes, ("link", target) or ("exec", bytes).
Spec = Mapping[str, "bytes | tuple[str, bytes | str]"]


def file_stem(name: str) -> str:
    """A layer's name as a file name: ``six==1.17.0`` -> ``six__1.17.0``,
    ``library://libs/a:a`` -> ``library____libs_a_a``."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", name)


def write_manifest(workdir: Path, name: str, spec: Spec, root: str = "") -> Path:
    """Write the sources of ``spec`` under ``workdir`` and a manifest naming them."""
    src_dir = workdir / "src" / file_stem(name)
    src_dir.mkdir(parents=True, exist_ok=True)
    entries: list[dict[str, object]] = []
    for i, (path, value) in enumerate(sorted(spec.items())):
        if isinstance(value, tuple) and value[0] == "link":
            entries.append({"path": path, "symlink": value[1]})
            continue
        executable = isinstance(value, tuple) and value[0] == "exec"
        data = value[1] if isinstance(value, tuple) else value
        assert isinstance(data, bytes)
        src = src_dir / f"f{i}"
        src.write_bytes(data)
        entries.append({"path": path, "src": str(src), "executable": executable})
    manifest = {"package": name, "entries": entries}
    if root:
        manifest["root"] = root
    out = workdir / f"{file_stem(name)}.manifest.json"
    out.write_text(json.dumps(manifest))
    return out


def build_package(
    workdir: Path, name: str, spec: Spec, compression: Compression = DEFAULT
) -> layer.Member:
    """Build one package: manifest, blob, descriptor; return it as a merge member."""
    manifest = write_manifest(workdir, name, spec)
    stem = workdir / file_stem(name)
    blob, desc = (Path(f"{stem}{ext}") for ext in (SUFFIXES[compression.name], ".json"))
    d: LayerDescriptor = package.write_package(
        package.load_manifest(manifest), blob, desc, compression=compression
    )
    return layer.Member(d, blob, desc)


def mixed_bytes(size: int, seed: bytes = b"pyimage") -> bytes:
    """``size`` bytes that compress like wheel contents (text and incompressible runs).

    Made from SHA-256 alone, so they are the same on every machine and Python.
    """
    out = bytearray()
    block = 0
    while len(out) < size:
        digest = hashlib.sha256(seed + block.to_bytes(8, "little")).digest()
        if digest[0] & 1:
            out += digest * 64  # 2 KiB of a repeating run: compresses well
        else:
            for i in range(64):
                out += hashlib.sha256(digest + bytes([i])).digest()  # 2 KiB of noise
        block += 1
    return bytes(out[:size])


def gzip_members(blob: bytes) -> list[tuple[int, int]]:
    """The (start, end) byte ranges of the gzip members of ``blob``, read with zlib."""
    ranges = []
    pos = 0
    while pos < len(blob):
        inflate = zlib.decompressobj(wbits=31)
        inflate.decompress(blob[pos:])
        assert inflate.eof, f"gzip member at byte {pos} is truncated"
        end = len(blob) - len(inflate.unused_data)
        ranges.append((pos, end))
        pos = end
    return ranges


def tar_of(member: layer.Member) -> bytes:
    """The uncompressed tar of a member's blob (its ``diff_id``'s bytes), by gzip or zstd."""
    if member.descriptor.compression == "zstd":
        return unzstd(member.blob.read_bytes())
    return gzip.decompress(member.blob.read_bytes())


def unzstd(data: bytes) -> bytes:
    """``data`` decompressed by the zstd program (skips the test when there is none)."""
    zstd = need_tool("zstd")
    return subprocess.run(
        [zstd, "-dc", "--format=zstd"], input=data, capture_output=True, check=True
    ).stdout


def need_tool(name: str) -> str:
    """The path of a tool, or skip the test with the reason (CI installs it)."""
    path = shutil.which(name)
    if path is None:
        pytest.skip(f"{name} is not installed (apt-get install it to run this test)")
    return path


def need_root() -> None:
    """Skip unless running as root (umoci unpack and podman with a private root need it)."""
    if os.geteuid() != 0:
        pytest.skip("needs root (umoci unpack / podman with a private --root)")


def run(*cmd: str, timeout: float = 120, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run a tool; fail the test with its output when it fails."""
    r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=False, **kw)  # type: ignore[call-overload]
    if r.returncode != 0:
        pytest.fail(f"{' '.join(cmd)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def umoci_unpack(layout: Path, tag: str, bundle: Path) -> Path:
    """Unpack with umoci (strict: checks digests, sizes, diff_ids); return the rootfs."""
    need_root()
    umoci = need_tool("umoci")
    run(umoci, "unpack", "--image", f"{layout}:{tag}", str(bundle))
    return bundle / "rootfs"


def pyimage(*args: str, **kw: object) -> subprocess.CompletedProcess[str]:
    """Run ``python3 -m pyimage ARGS`` from tools/ and return the result (not checked)."""
    return subprocess.run(  # type: ignore[call-overload]
        [sys.executable, "-m", "pyimage", *args],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
        **kw,
    )
