"""Subcommands of the layer engine: package-tar, merge, check-conflicts, layout, base-info.

Thin argparse wrappers over :mod:`pyimage.engine.package`, :mod:`pyimage.engine.layer` and
:mod:`pyimage.engine.oci_layout`; see docs/layer-engine.md for the file formats.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyimage import inputs
from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer, oci_layout, package
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
    package.write_package(manifest, Path(args.blob), Path(args.descriptor))
    return 0


def _merge(args: argparse.Namespace) -> int:
    members = inputs.members_from_args(args.member)
    check_paths(
        {"--blob": args.blob, "--descriptor": args.descriptor},
        inputs.member_paths(members, "--member"),
    )
    layer.merge(members, Path(args.blob), Path(args.descriptor))
    return 0


def _check_conflicts(args: argparse.Namespace) -> int:
    layer.check_conflicts([desc_mod.load(Path(p)) for p in args.descriptors])
    return 0


def _layout(args: argparse.Namespace) -> int:
    layers = inputs.read_layers_file(Path(args.layers)) if args.layers else []
    layers += [oci_layout.LayerInput((m,)) for m in inputs.members_from_args(args.layer)]
    members = [m for spec in layers for m in spec.members]
    check_paths(
        {"--out": args.out},
        {"--base": args.base, "--layers": args.layers, **inputs.member_paths(members, "layer")},
        folders=["--out"],
    )
    result = oci_layout.write_layout(
        Path(args.out),
        layers,
        base=Path(args.base) if args.base else None,
        platform=args.platform,
        tag=args.tag,
    )
    if args.quiet:
        return 0
    print(
        json.dumps(
            {
                "manifest": result.manifest_digest,
                "config": result.config_digest,
                "base_layers": result.base_layers,
                "layers": len(result.layers),
            }
        )
    )
    return 0


def _base_info(args: argparse.Namespace) -> int:
    image = oci_layout.read_base(Path(args.base), oci_layout.Platform.parse(args.platform))
    print(json.dumps({"base_layers": image.layer_count}))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    """Add the engine's subcommands to the pyimage CLI."""
    p = sub.add_parser(
        "package-tar", help="write a package's deterministic layer: gzip blob and descriptor"
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
    p.add_argument("--blob", required=True, help="output .tar.gz blob")
    p.add_argument("--descriptor", required=True, help="output descriptor JSON")
    p.set_defaults(func=_package_tar)

    p = sub.add_parser("merge", help="merge package blobs into one layer by concatenation")
    inputs.add_member_flag(p, "--member", "a package's descriptor and blob (repeat; one or more)")
    p.add_argument("--blob", required=True, help="output layer blob")
    p.add_argument("--descriptor", required=True, help="output layer descriptor JSON")
    p.set_defaults(func=_merge)

    p = sub.add_parser(
        "check-conflicts", help="refuse the same path with different contents in two packages"
    )
    p.add_argument("descriptors", nargs="+", help="descriptors of every package of the image")
    p.set_defaults(func=_check_conflicts)

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
    p.add_argument("--quiet", action="store_true", help="print no summary (Bazel's actions)")
    p.set_defaults(func=_layout)

    p = sub.add_parser("base-info", help="print the layer count of a base layout's image")
    p.add_argument("--base", required=True, help="base OCI layout directory")
    p.add_argument("--platform", default="linux/amd64", help="os/arch[/variant]")
    p.set_defaults(func=_base_info)
