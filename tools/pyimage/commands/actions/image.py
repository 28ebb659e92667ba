"""``pyimage image``: an image's package layers planned under its cap, its layout and plan report.

The image action of the Bazel rule ``py_image_layers``; the work is
:mod:`pyimage.fleet.image`'s. This parses the command line, checks the
outputs against every input and reads the files::

    pyimage image --out DIR --plan-out PLAN.json --max-layers N [--reserved K]
                  [--base DIR] [--platform linux/amd64] [--tag TAG]
                  [--image-name NAME] [--fleet-lock SLICE.json]
                  [--fleet-group GID DESC BLOB ...]
                  [--interpreter DESC BLOB] [--package DESC BLOB ...]
                  [--library DESC BLOB ...] [--link PATH ...]
                  [--python-version 3.N] [--compression zstd --zstd PATH]
                  [--base-libc LIBC.json]
                  [--index-image NAME PLATFORM BASE ...] [--index-package NAME DESC ...]
                  [--declared JSON]

``--reserved`` counts the layers the image has besides its base and package
layers: its app layers (one per binary), the interpreter's when
``--interpreter`` is given, and one per ``--library`` (a first-party
library's layer of its own, after the packages', never merged).
``--fleet-lock`` is the image's slice of its fleet's lock (a lock of this
image alone, as the module extension of py/extensions.bzl writes it).
``--index-image`` names another image of the image index this image is one
of (another platform's: its name, platform and base layout, ``-`` for
scratch) and ``--index-package`` each of its packages' descriptors: the
image is planned with them, each package known by its bytes, so that those
of the same bytes on every platform (pure-Python wheels) get the same
layers, byte for byte, in every platform's image. ``--declared`` is the
layers the image declares, ``{"groups": {NAME: [PATTERN]}, "alone":
[PATTERN]}`` (an image of a fleet follows its lock's instead).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from pyimage import planner
from pyimage.commands import flags
from pyimage.engine import descriptor, layer, libc, oci_layout
from pyimage.errors import PyimageError
from pyimage.fleet import image
from pyimage.formats import inputs, lock
from pyimage.fsutil import check_paths


def _siblings(images: list[list[str]], packages: list[list[str]]) -> list[image.Sibling]:
    """The index's other images (``--index-image``) with their packages (``--index-package``)."""
    held: dict[str, dict[str, descriptor.LayerDescriptor]] = {name: {} for name, _, _ in images}
    for name, path in packages:
        if name not in held:
            raise PyimageError(f"--index-package {name}: no --index-image of that name")
        desc = descriptor.load(Path(path))
        for pid in desc.packages:
            held[name][pid] = desc
    out = []
    for name, platform, base in images:
        plat = oci_layout.Platform.parse(platform)
        layers = oci_layout.read_base(Path(base), plat).layer_count if base != "-" else 0
        out.append(image.Sibling(name, platform, held[name], layers))
    return out


def _declared(text: str | None, name: str) -> planner.Declared:
    """The image's own declared layers (``--declared``)."""
    if not text:
        return planner.NOTHING
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise PyimageError(f"--declared: not JSON ({err.msg}); rebuild with Bazel") from err
    return inputs.declared_of(value, f"image {name}")


def _image(args: argparse.Namespace) -> int:
    packages = inputs.members_from_args(args.package)
    interpreter = inputs.members_from_args([args.interpreter] if args.interpreter else None)
    libraries = inputs.members_from_args(args.library)
    groups = args.fleet_group or []
    check_paths(
        {"--out": args.out, "--plan-out": args.plan_out},
        {
            "--base": args.base,
            "--base-libc": args.base_libc,
            "--fleet-lock": args.fleet_lock,
            **inputs.member_paths(packages + interpreter, "--package"),
            **inputs.member_paths(libraries, "--library"),
            **{f"--fleet-group {g[0]} {i}": Path(p) for g in groups for i, p in enumerate(g[1:])},
            **{f"--link {i}": p for i, p in enumerate(args.link, 1)},
        },
        folders=["--out"],
    )
    plat = oci_layout.Platform.parse(args.platform)
    spec = image.ImageSpec(
        name=args.image_name,
        max_layers=args.max_layers,
        packages=layer.load_members(packages),
        interpreter=layer.load_members(interpreter)[0] if interpreter else None,
        libraries=layer.load_members(libraries),
        reserved=args.reserved,
        base=oci_layout.read_base(Path(args.base), plat) if args.base else None,
        platform=args.platform,
        tag=args.tag,
        lock=lock.read(args.fleet_lock, "fleet lock") if args.fleet_lock else None,
        shared=image.fleet_groups(groups),
        link=[Path(p) for p in args.link],
        python_version=args.python_version or "",
        compression=flags.compression(args),
        base_libc=libc.load(Path(args.base_libc)) if args.base_libc else None,
        siblings=_siblings(args.index_image or [], args.index_package or []),
        declared=_declared(args.declared, args.image_name),
    )
    image.build(spec, Path(args.out), Path(args.plan_out))
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``image``."""
    p = sub.add_parser(
        "image",
        help="plan an image's package layers under the cap and write its OCI layout",
        description="Plan an image's package layers under the cap and write its OCI layout"
        f" and its plan report, as one unit. {oci_layout.UNREAD_BLOBS}",
    )
    p.add_argument("--out", required=True, help="output OCI layout directory")
    p.add_argument("--plan-out", required=True, help="output plan report (JSON)")
    p.add_argument("--max-layers", type=int, default=planner.DEFAULT_MAX_LAYERS)
    p.add_argument(
        "--reserved",
        type=int,
        help="layers besides base and packages: app, interpreter and library layers (default:"
        " 1 for the app, +1 with --interpreter, +1 per --library)",
    )
    p.add_argument("--base", help="base OCI layout directory (default: scratch)")
    p.add_argument("--platform", default="linux/amd64", help="os/arch[/variant] of the base")
    p.add_argument(
        "--base-libc",
        metavar="LIBC.json",
        help="the base's C library (pyimage layout --libc-out), checked against the wheels",
    )
    p.add_argument(
        "--index-image",
        nargs=3,
        action="append",
        metavar=("NAME", "PLATFORM", "BASE"),
        help="another platform's image of the image index this image is one of, its base "
        "layout (- for scratch) (repeat): planned together, so that packages of the same bytes "
        "get the same layers in every platform's image",
    )
    p.add_argument(
        "--index-package",
        nargs=2,
        action="append",
        metavar=("NAME", "DESC"),
        help="a package descriptor of the --index-image NAME (repeat)",
    )
    p.add_argument("--tag", default="latest", help="tag recorded in index.json")
    p.add_argument("--image-name", default="image", help="the image's name in plans and locks")
    p.add_argument("--fleet-lock", metavar="SLICE.json", help="the image's slice of a fleet lock")
    p.add_argument(
        "--fleet-group",
        nargs=3,
        action="append",
        metavar=("GID", "DESC", "BLOB"),
        help="a shared layer of the fleet (pyimage fleet-merge-group), by its group id",
    )
    inputs.add_member_flag(p, "--interpreter", "the interpreter's layer", repeat=False)
    inputs.add_member_flag(p, "--package", "a package's descriptor and blob (repeat)")
    inputs.add_member_flag(
        p, "--library", "a first-party library's layer, after the packages' (repeat)"
    )
    p.add_argument(
        "--link",
        action="append",
        metavar="PATH",
        default=[],
        help="a blob given above (or a folder of them: the base) to link with a relative "
        "symlink rather than copy; it must stay where it is, beside the layout (repeat)",
    )
    p.add_argument(
        "--python-version",
        metavar="3.N",
        help="the Python the packages' bytecode is for (checked against them and the base)",
    )
    p.add_argument(
        "--declared",
        metavar="JSON",
        help='the layers the image declares: {"groups": {NAME: [PATTERN]}, "alone": [PATTERN]}',
    )
    flags.add_compression_flags(p, choose=True)
    p.set_defaults(func=_image)
