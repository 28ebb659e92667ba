"""Reads what a py_image_layers target built, for the py_tests of this folder."""

import json
import os
import tarfile
from pathlib import Path

SITE = "opt/pyimage/site-packages"
SUFFIXES = (".layout", ".app.tar.gz", ".entrypoint.txt", ".env.txt", ".plan.json")


def outputs(variable: str, suffixes: tuple[str, ...] = SUFFIXES) -> dict[str, Path]:
    """Suffix -> path of each output, from `$(rootpaths ...)` in ``variable``."""
    paths = [Path(p) for p in os.environ[variable].split()]
    found = {}
    for suffix in suffixes:
        matches = [p for p in paths if p.name.endswith(suffix)]
        assert len(matches) == 1, (suffix, paths)
        found[suffix] = matches[0]
    return found


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


def manifest(layout: Path) -> dict[str, object]:
    """The manifest of the layout's one image."""
    index = json.loads((layout / "index.json").read_text())
    return json.loads(blob(layout, index["manifests"][0]["digest"]).read_text())


def members(path: Path) -> dict[str, tarfile.TarInfo]:
    """Name (without a trailing `/`) -> member, of a tar or tar.gz."""
    with tarfile.open(path) as tf:
        return {m.name.rstrip("/"): m for m in tf.getmembers()}


def read_member(path: Path, name: str) -> bytes:
    with tarfile.open(path) as tf:
        f = tf.extractfile(name)
        assert f is not None, name
        return f.read()
