"""``pyimage merge``, ``check-conflicts`` and ``base-info``: the engine's parts, by hand.

No Bazel action runs these: they show what an image action does inside
(one merged layer, the conflict check, the base's layer count).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer, oci_layout
from pyimage.formats import inputs
from pyimage.fsutil import check_paths


def _merge(args: argparse.Namespace) -> int:
    specs = inputs.members_from_args(args.member)
    check_paths(
        {"--blob": args.blob, "--descriptor": args.descriptor},
        inputs.member_paths(specs, "--member"),
    )
    layer.merge(layer.load_members(specs), Path(args.blob), Path(args.descriptor))
    return 0


def _check_conflicts(args: argparse.Namespace) -> int:
    layer.check_conflicts([desc_mod.load(Path(p)) for p in args.descriptors])
    return 0


def _base_info(args: argparse.Namespace) -> int:
    image = oci_layout.read_base(Path(args.base), oci_layout.Platform.parse(args.platform))
    print(json.dumps({"base_layers": image.layer_count}))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``merge``, ``check-conflicts`` and ``base-info``."""
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

    p = sub.add_parser("base-info", help="print the layer count of a base layout's image")
    p.add_argument("--base", required=True, help="base OCI layout directory")
    p.add_argument("--platform", default="linux/amd64", help="os/arch[/variant]")
    p.set_defaults(func=_base_info)
