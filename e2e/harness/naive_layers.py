#!/usr/bin/env python3
"""A naive image for the layer-limit proof: one layer per package, no cap.

    naive_layers.py --base DIR --out DIR [--packages N] [--package DESC BLOB ...]
                    [--tag TAG] [--platform linux/amd64]

Writes an OCI layout of the base plus one layer per package, on top of the
base's layers, the way a rule with one layer per package and no cap would.
The packages are real ones given by their per-package descriptor and blob
(``--package DESC BLOB``, repeatable: the per-package action's outputs, in the
order given) followed by N tiny generated ones (``--packages N``:
``naive-pkg-0001==1.0`` ..., each one file ``opt/naive/pkg_NNNN.txt`` holding
``pkg_NNNN``, made with the project's layer engine, ``tools/pyimage``). The
image has ``base layers + packages`` layers; podman's overlay store runs at
most 128 and fails above with ``max depth exceeded`` (see ``podman_run.py
--expect-max-depth``). Prints a JSON summary with the layer count.
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

from pyimage.engine import layer, package
from pyimage.engine.oci_layout import LayerInput, Platform, read_base, write_layout
from pyimage.errors import PyimageError

MAX_PACKAGES = 10000


def package_path(i: int) -> str:
    """The image path of package ``i``'s only file."""
    return f"opt/naive/pkg_{i:04d}.txt"


def load_packages(pairs: list[tuple[Path, Path]]) -> list[layer.Member]:
    """Members from ``(descriptor, blob)`` pairs; HarnessError naming a bad one."""
    members = []
    for desc, blob in pairs:
        if not blob.is_file():
            raise HarnessError(f"package blob {blob} does not exist")
        try:
            members.append(layer.load_member(desc, blob))
        except PyimageError as e:
            raise HarnessError(str(e)) from None
    return members


def make(
    base: Path,
    out: Path,
    packages: int,
    *,
    tag: str = "latest",
    platform: str = "linux/amd64",
    real: list[tuple[Path, Path]] | None = None,
) -> dict[str, object]:
    """Write ``out``: ``base``, a layer per ``real`` package, ``packages`` one-file layers."""
    if not 0 <= packages <= MAX_PACKAGES:
        raise HarnessError(f"--packages must be between 0 and {MAX_PACKAGES}, got {packages}")
    members = load_packages(real or [])
    if not members and not packages:
        raise HarnessError("no packages: give --packages N and/or --package DESC BLOB")
    base_layers = len(read_image(base).layers)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="naive-", dir=out.parent) as tmp:
        work = Path(tmp)
        for i in range(1, packages + 1):
            name = f"naive-pkg-{i:04d}==1.0"
            src = work / f"pkg_{i:04d}.src"
            src.write_text(f"pkg_{i:04d}\n")
            manifest = package.parse_manifest(
                {"package": name, "entries": [{"path": package_path(i), "src": str(src)}]},
                work,
                f"naive package {i}",
            )
            blob = work / f"pkg_{i:04d}.tar.gz"
            desc = package.write_package(manifest, blob)
            members.append(layer.Member(desc, blob))
        try:
            result = write_layout(
                out,
                [LayerInput((m,)) for m in members],
                base=read_base(base, Platform.parse(platform)),
                platform=platform,
                tag=tag,
            )
        except PyimageError as e:
            raise HarnessError(str(e)) from None
    return {
        "layout": str(out),
        "tag": tag,
        "base_layers": base_layers,
        "package_layers": len(members),
        "layers": base_layers + len(members),
        "manifest": result.manifest_digest,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the summary as JSON."""
    p = argparse.ArgumentParser(prog="naive_layers.py", description=__doc__.split("\n")[0])
    p.add_argument("--base", required=True, type=Path, help="base OCI layout (one image)")
    p.add_argument("--out", required=True, type=Path, help="output OCI layout")
    p.add_argument("--packages", type=int, default=0, help="number of generated packages")
    p.add_argument(
        "--package",
        nargs=2,
        action="append",
        default=[],
        type=Path,
        metavar=("DESC", "BLOB"),
        help="a real package: its descriptor and blob (repeatable)",
    )
    p.add_argument("--tag", default="latest")
    p.add_argument("--platform", default="linux/amd64")
    args = p.parse_args(argv)
    if not args.base.is_dir():
        raise HarnessError(f"--base {args.base} is not a directory")
    real = [(d, b) for d, b in args.package]
    print(
        json.dumps(
            make(
                args.base, args.out, args.packages, tag=args.tag, platform=args.platform, real=real
            )
        )
    )
    return 0


if __name__ == "__main__":
    main_wrapper("naive_layers.py", main)()
