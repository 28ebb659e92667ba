"""``pyimage package-tar`` and ``pyimage layout``: a package's layer, an OCI layout.

Thin argparse wrappers over :mod:`pyimage.engine.package` (with
:mod:`pyimage.engine.bytecode`) and :mod:`pyimage.engine.oci_layout`; see
docs/layer-engine.md for the file formats.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from pyimage.commands import flags
from pyimage.engine import bytecode, layer, libc, oci_layout, package
from pyimage.formats import inputs
from pyimage.fsutil import check_paths


def _package_tar(args: argparse.Namespace) -> int:
    src_root = Path(args.src_root) if args.src_root else None
    manifest = package.load_manifest(Path(args.manifest), src_root)
    sources = {f"the source of {e.path!r} in --manifest": e.src for e in manifest.entries if e.src}
    check_paths(
        {"--blob": args.blob, "--descriptor": args.descriptor},
        {"--manifest": args.manifest, **sources},
    )
    if args.drop_rules_python_shims:
        manifest = package.drop_rules_python_shims(manifest)
    compression = flags.compression(args)
    if not args.python_version:
        package.write_package(
            manifest, Path(args.blob), Path(args.descriptor), compression=compression
        )
        return 0
    with tempfile.TemporaryDirectory(prefix="pyimage-bytecode-") as tmp:
        manifest, done = bytecode.add_bytecode(
            manifest, args.python_version, Path(tmp), python=args.python
        )
        package.write_package(
            manifest,
            Path(args.blob),
            Path(args.descriptor),
            bytecode=(done.python_version, done.skipped),
            compression=compression,
        )
    return 0


def _layout(args: argparse.Namespace) -> int:
    specs = inputs.read_layers_file(Path(args.layers)) if args.layers else []
    specs += [(m,) for m in inputs.members_from_args(args.layer)]
    every = [m for spec in specs for m in spec]
    check_paths(
        {"--out": args.out, "--libc-out": args.libc_out},
        {"--base": args.base, "--layers": args.layers, **inputs.member_paths(every, "layer")},
        folders=["--out"],
    )
    layers = [oci_layout.LayerInput(tuple(layer.load_members(spec))) for spec in specs]
    plat = oci_layout.Platform.parse(args.platform)
    base = oci_layout.read_base(Path(args.base), plat) if args.base else None
    if args.libc_out:
        found, note = libc.read(base, args.platform, args.zstd or "")
        if note:
            print(f"pyimage: warning: {note}; wheels are not checked against its C library")
        libc.save(found, Path(args.libc_out))
    result = oci_layout.write_layout(
        Path(args.out),
        layers,
        base=base,
        platform=args.platform,
        tag=args.tag,
        settings=flags.compression(args),
    )
    if not args.quiet:
        summary = {
            "manifest": result.manifest_digest,
            "config": result.config_digest,
            "base_layers": result.base_layers,
            "layers": len(result.layers),
        }
        print(json.dumps(summary))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``package-tar`` and ``layout``."""
    p = sub.add_parser(
        "package-tar", help="write a package's deterministic layer: blob and descriptor"
    )
    p.add_argument("--manifest", required=True, help="package manifest JSON")
    p.add_argument(
        "--src-root",
        help="folder that relative 'src' paths are relative to (default: the manifest's folder)",
    )
    p.add_argument(
        "--drop-rules-python-shims",
        action="store_true",
        help="leave out the namespace __init__.py shims rules_python adds to wheels",
    )
    p.add_argument(
        "--python-version",
        metavar="3.N",
        help="add the bytecode of every module, for this Python",
    )
    p.add_argument(
        "--python",
        metavar="PATH",
        help="the interpreter that compiles it, of that version (default: pyimage's own)",
    )
    flags.add_compression_flags(p, choose=True)
    p.add_argument("--blob", required=True, help="output blob (.tar.gz, or .tar.zst for zstd)")
    p.add_argument("--descriptor", required=True, help="output descriptor JSON")
    p.set_defaults(func=_package_tar)

    p = sub.add_parser(
        "layout",
        help="write an OCI layout: base plus package layers",
        description=f"Write an OCI layout: base plus package layers. {oci_layout.UNREAD_BLOBS}",
    )
    p.add_argument("--out", required=True, help="output OCI layout directory")
    p.add_argument("--base", help="base OCI layout directory (default: scratch)")
    p.add_argument("--platform", default="linux/amd64", help="os/arch[/variant] of the image")
    p.add_argument("--tag", default="latest", help="ref name of the image in index.json")
    p.add_argument("--layers", help="LAYERS.json: layers and their members, bottom to top")
    inputs.add_member_flag(p, "--layer", "a one-package layer appended after --layers (repeat)")
    p.add_argument(
        "--libc-out",
        metavar="FILE",
        help="also write the C library the base has (JSON; read from its layers)",
    )
    p.add_argument("--quiet", action="store_true", help="print no summary (Bazel's actions)")
    flags.add_compression_flags(p, choose=False)
    p.set_defaults(func=_layout)
