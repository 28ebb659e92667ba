"""Two clean builds of the same package set, in different folders, with different
file mtimes and umask, give byte-identical tars, blobs, descriptors and layouts."""

from __future__ import annotations

import hashlib
import json
import os
import random
import subprocess
import sys
from pathlib import Path

from enginekit import TOOLS

# name -> {image path: (bytes, executable)}
PACKAGES: dict[str, dict[str, tuple[bytes, bool]]] = {
    "numpy==2.1.3": {
        "site-packages/numpy/__init__.py": (b"from numpy.core import *\n" * 20, False),
        "site-packages/numpy/core/_multiarray.so": (bytes(range(256)) * 300, True),
        "bin/f2py": (b"#!/usr/bin/env python3\n", True),
    },
    "six==1.16.0": {"site-packages/six.py": (b"PY3 = True\n" * 100, False)},
    "idna==3.7": {
        "site-packages/idna/__init__.py": (b"", False),
        "site-packages/idna/über.py": (b"# non-ASCII name\n", False),
    },
}


def build_all(root: Path, umask: int, mtime: int, seed: int) -> dict[str, bytes]:
    """Write sources (this umask, mtime, order) and build everything via the CLI."""
    src = root / "src"
    out = root / "out"
    out.mkdir(parents=True)
    rng = random.Random(seed)
    env = dict(os.environ, PYTHONPATH=str(TOOLS))
    old = os.umask(umask)
    try:
        layers = []
        for name, files in PACKAGES.items():
            stem = name.replace("==", "-")
            entries = []
            for i, (path, (data, executable)) in enumerate(files.items()):
                f = src / stem / f"file{i}"
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
                f.chmod(0o777 & ~umask if executable else 0o666 & ~umask)
                os.utime(f, (mtime + i, mtime + i))
                entries.append({"path": path, "src": str(f)})  # mode from the source
            entries.append({"path": f"site-packages/{stem}.pth", "symlink": "six.py"})
            rng.shuffle(entries)
            manifest = root / f"{stem}.json"
            manifest.write_text(json.dumps({"package": name, "entries": entries}))
            subprocess.run(
                [
                    *(sys.executable, "-m", "pyimage", "package-tar", "--manifest", str(manifest)),
                    *("--blob", str(out / f"{stem}.tgz")),
                    *("--descriptor", str(out / f"{stem}.desc.json")),
                ],
                env=env,
                check=True,
                cwd=root,
            )
            layers.append(
                {
                    "descriptor": str(out / f"{stem}.desc.json"),
                    "blob": str(out / f"{stem}.tgz"),
                }
            )
        rng.shuffle(layers)
        spec = {"layers": [{"members": layers[:2]}, {"members": layers[2:]}]}
        (root / "layers.json").write_text(json.dumps(spec))
        subprocess.run(
            [
                *(sys.executable, "-m", "pyimage", "layout", "--out", str(out / "layout")),
                *("--layers", str(root / "layers.json")),
            ],
            env=env,
            check=True,
            cwd=root,
            capture_output=True,
        )
    finally:
        os.umask(old)
    return {str(p.relative_to(out)): p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    first = build_all(tmp_path / "one", umask=0o022, mtime=1_000_000_000, seed=1)
    second = build_all(tmp_path / "elsewhere" / "two", umask=0o077, mtime=1_700_000_000, seed=2)
    assert first.keys() == second.keys()
    for name in first:
        assert first[name] == second[name], f"{name} differs between builds"
    # Sanity: the outputs are what we think they are.
    assert any(k.startswith("layout/blobs/sha256/") for k in first)
    desc = json.loads(first["numpy-2.1.3.desc.json"])
    assert desc["digest"] == "sha256:" + hashlib.sha256(first["numpy-2.1.3.tgz"]).hexdigest()
    assert desc["entries"]["bin/f2py"].startswith("f 755 ")
    assert desc["entries"]["site-packages/numpy/__init__.py"].startswith("f 644 ")
