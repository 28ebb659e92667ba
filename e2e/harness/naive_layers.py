#!/usr/bin/env python3
"""A naive image for the layer-limit proof: one layer per package, no cap.

    naive_layers.py --base DIR --out DIR --packages N [--tag TAG] [--platform linux/amd64]

Makes N tiny packages ``naive-pkg-0001==1.0`` ... (each one file,
``opt/naive/pkg_NNNN.txt`` holding ``pkg_NNNN``) with the project's layer engine
(``tools/pyimage``: per-package tar and blob) and writes an OCI layout of the
base plus one layer per package, on top of the base's layers, the way a rule
with one layer per package and no cap would. The image has ``base layers + N``
layers; podman's overlay store runs at most 128 and fails above with ``max
depth exceeded`` (see ``podman_run.py --expect-max-depth``). Prints a JSON
summary with the layer count.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import TOOLS, HarnessError, main_wrapper, read_image

sys.path.insert(0, str(TOOLS))

from pyimage import layer, tarball
from pyimage.errors import PyimageError
from pyimage.oci_layout import LayerInput, write_layout

MAX_PACKAGES = 10000


def package_path(i: int) -> str:
    """The image path of package ``i``'s only file."""
    return f"opt/naive/pkg_{i:04d}.txt"


def make(
    base: Path, out: Path, packages: int, tag: str = "latest", platform: str = "linux/amd64"
) -> dict[str, object]:
    """Write ``out``: ``base`` plus ``packages`` one-file layers; return a summary."""
    if not 1 <= packages <= MAX_PACKAGES:
        raise HarnessError(f"--packages must be between 1 and {MAX_PACKAGES}, got {packages}")
    base_layers = len(read_image(base).layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="naive-", dir=out.parent) as tmp:
        work = Path(tmp)
        members = []
        for i in range(1, packages + 1):
            name = f"naive-pkg-{i:04d}==1.0"
            src = work / f"pkg_{i:04d}.src"
            src.write_text(f"pkg_{i:04d}\n")
            manifest = tarball.parse_manifest(
                {"package": name, "entries": [{"path": package_path(i), "src": str(src)}]},
                work,
                f"naive package {i}",
            )
            blob = work / f"pkg_{i:04d}.tar.gz"
            desc = tarball.write_package(manifest, None, blob)
            members.append(layer.Member(desc, None, blob))
        try:
            result = write_layout(
                out,
                [LayerInput((m,)) for m in members],
                base=base,
                platform=platform,
                tag=tag,
            )
        except PyimageError as e:
            raise HarnessError(str(e)) from None
    return {
        "layout": str(out),
        "tag": tag,
        "base_layers": base_layers,
        "package_layers": packages,
        "layers": base_layers + packages,
        "manifest": result.manifest_digest,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the summary as JSON."""
    p = argparse.ArgumentParser(prog="naive_layers.py", description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, type=Path, help="base OCI layout (one image)")
    p.add_argument("--out", required=True, type=Path, help="output OCI layout")
    p.add_argument("--packages", required=True, type=int, help="number of one-file packages")
    p.add_argument("--tag", default="latest")
    p.add_argument("--platform", default="linux/amd64")
    args = p.parse_args(argv)
    if not args.base.is_dir():
        raise HarnessError(f"--base {args.base} is not a directory")
    print(json.dumps(make(args.base, args.out, args.packages, args.tag, args.platform)))
    return 0


if __name__ == "__main__":
    main_wrapper("naive_layers.py", main)()
