"""``pyimage plan``: the layer planner (:mod:`pyimage.planner`) from and to JSON files.

Fleet form (the contract external benchmarks call)::

    pyimage plan --fleet FLEET.json --max-layers N [--previous PLAN.json] --out PLAN.json

FLEET.json is ``{"packages": {id: {"installed_bytes": n}}, "images": {name:
{"packages": [id, ...], "base_layers": b}}}``; 2 layers per image are reserved
(interpreter, app) unless ``--reserved-layers`` says otherwise.

Single-image form (the Bazel image rule, without a fleet plan)::

    pyimage plan --image IMAGE.json --max-layers N [--reserved-layers R]
                 [--previous PLAN.json] --out PLAN.json

IMAGE.json is ``{"name": name, "base_layers": b, "packages": {id:
{"installed_bytes": n}}}``. Both forms write PLAN.json as ``{"images": {name:
{"layers": [{"packages": [...], "bytes": n, "reason": "..."}], ...}}}``,
layers bottom to top, keys sorted. The output is written to a temporary file
next to ``--out`` and renamed at the end: on any error no output is left.
"""

from __future__ import annotations

import argparse

from pyimage import jsonio, planner
from pyimage.formats import inputs, lock
from pyimage.fsutil import check_paths


def run_plan(args: argparse.Namespace) -> int:
    """Plan from ``--fleet`` or ``--image`` and write ``--out``."""
    check_paths(
        {"--out": args.out},
        {"--fleet": args.fleet, "--image": args.image, "--previous": args.previous},
    )
    if args.fleet:
        packages, images = inputs.read_fleet(args.fleet)
    else:
        packages, image = inputs.read_image(args.image)
        images = [image]
    previous = lock.read(args.previous).layers() if args.previous else None
    plan = planner.plan_fleet(
        packages,
        images,
        args.max_layers,
        reserved_layers=args.reserved_layers,
        previous=previous,
    )
    jsonio.write(args.out, lock.plan_document(plan))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plan`` subcommand."""
    p = subparsers.add_parser(
        "plan",
        help="plan the package layers of a fleet or of one image",
        description="Plan capped, shared package layers (docs/layer-planning.md).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--fleet", metavar="FLEET.json", help="plan every image of a fleet")
    src.add_argument("--image", metavar="IMAGE.json", help="plan one image alone")
    p.add_argument(
        "--max-layers",
        type=int,
        default=planner.DEFAULT_MAX_LAYERS,
        metavar="N",
        help=f"cap on all layers of an image, base included (default {planner.DEFAULT_MAX_LAYERS})",
    )
    p.add_argument(
        "--reserved-layers",
        type=int,
        default=planner.FLEET_RESERVED_LAYERS,
        metavar="R",
        help="layers added on top of the base outside this plan (default 2: interpreter, app)",
    )
    p.add_argument("--previous", metavar="PLAN.json", help="last plan: keep unchanged layers")
    p.add_argument("--out", required=True, metavar="PLAN.json", help="where to write the plan")
    p.set_defaults(func=run_plan)
