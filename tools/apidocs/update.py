"""Copies a generated file into the source tree: `bazel run //docs:update`.

    update.py GENERATED DEST   (DEST relative to the workspace's root)

Standard library only.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print("usage: update.py GENERATED DEST", file=sys.stderr)
        return 2
    workspace = os.environ.get("BUILD_WORKSPACE_DIRECTORY")
    if not workspace:
        print("update.py: run me with `bazel run` (no BUILD_WORKSPACE_DIRECTORY)", file=sys.stderr)
        return 2
    source, dest = Path(argv[0]), Path(workspace) / argv[1]
    text = source.read_bytes()
    if dest.is_file() and dest.read_bytes() == text:
        print(f"{argv[1]}: up to date")
        return 0
    with tempfile.NamedTemporaryFile(dir=dest.parent, prefix=f".{dest.name}.", delete=False) as f:
        f.write(text)
    Path(f.name).chmod(0o644)
    Path(f.name).replace(dest)
    print(f"{argv[1]}: written")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
