"""``pyimage report``: explain a plan and score it against known strategies.

::

    pyimage report --fleet FLEET.json --plan PLAN.json [--max-layers N]
                   [--reserved-layers R] [--bumps K] [--json]

Prints, per image, its package layers bottom to top (size, members, reason),
then a fleet table of the metrics of :mod:`pyimage.planner.metrics` for the plan and,
computed in the same run, for each baseline of :mod:`pyimage.planner.baselines`. The
bump metric re-plans with :func:`pyimage.planner.plan.plan_fleet` (the plan file is
the "before" plan of our row). ``--json`` prints the same as one JSON object.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

from pyimage import jsonio
from pyimage.errors import PyimageError
from pyimage.formats import inputs, lock
from pyimage.planner import FLEET_RESERVED_LAYERS
from pyimage.planner.metrics import Layers, Metrics, score
from pyimage.text import MIB, layer_line


def _check_plan(images: Mapping[str, Sequence[str]], plan: Layers, path: str) -> None:
    for name in plan:
        if name not in images:
            raise PyimageError(
                f"{path}: image '{name}' is not in the fleet; give the plan of this fleet"
            )
    for name, pkgs in images.items():
        if name not in plan:
            raise PyimageError(f"{path}: no layers for image '{name}'; re-run pyimage plan")
        got = [p for layer in plan[name] for p in layer]
        if sorted(got) != sorted(pkgs):
            raise PyimageError(
                f"{path}: image '{name}' layers do not hold exactly its packages; "
                "re-run pyimage plan for this fleet"
            )


def render(
    raw_plan: Mapping[str, Any],
    sizes: Mapping[str, int],
    rows: Mapping[str, tuple[Metrics, bool]],
    max_layers: int,
) -> str:
    """The readable report: per-image layers, then the metrics table."""
    lines: list[str] = []
    for name in sorted(raw_plan["images"]):
        layers = raw_plan["images"][name]["layers"]
        total = sum(sizes[p] for lay in layers for p in lay["packages"])
        lines.append(f"image {name}: {len(layers)} package layers, {total / MIB:.1f} MiB")
        for k, lay in enumerate(layers, 1):
            members = lay["packages"]
            size = sum(sizes[p] for p in members)
            lines.append(layer_line(k, size, members, lay.get("reason", "")))
        lines.append("")
    lines.append(f"fleet metrics at max_layers {max_layers} (1.0 is ideal; small: layers < 1 MiB)")
    header = "{:28} {:>8} {:>7} {:>7} {:>6} {:>5} {:>5}".format(
        "strategy", "storage", "pair", "bump", "small", "maxL", "over"
    )
    lines.append(header)
    for name, (m, respects) in rows.items():
        label = name if respects else name + " *"
        lines.append(
            f"{label:28} {m.storage:8.4f} {m.pair:7.4f} {m.bump:7.3f} {m.small:6.2f} "
            f"{m.max_layers:>5} {m.over_cap:>5}"
        )
    lines.append("* ignores the cap; over = images over max_layers")
    return "\n".join(lines)


def run_report(args: argparse.Namespace) -> int:
    """Read the fleet and the plan, print the report."""
    packages, image_list = inputs.read_fleet(args.fleet)
    sizes = {p.id: p.bytes for p in packages}
    images = {im.name: list(im.packages) for im in image_list}
    base_layers = {im.name: im.base_layers for im in image_list}
    plan_file = lock.read(args.plan)
    raw, plan = plan_file.document, plan_file.layers()
    _check_plan(images, plan, args.plan)
    max_layers = args.max_layers
    if max_layers is None:
        max_layers = raw.get("max_layers")
        if not isinstance(max_layers, int):
            raise PyimageError(f"{args.plan}: no max_layers recorded; pass --max-layers N")
    rows = score(
        sizes,
        images,
        base_layers=base_layers,
        reserved_layers=args.reserved_layers,
        max_layers=max_layers,
        plan=plan,
        bumps=args.bumps,
    )
    if args.json:
        doc = {
            "max_layers": max_layers,
            "images": raw["images"],
            "metrics": {name: {**asdict(m), "respects_cap": ok} for name, (m, ok) in rows.items()},
        }
        print(jsonio.dumps(doc), end="")
    else:
        print(render(raw, sizes, rows, max_layers))
    return 0


def _count(text: str) -> int:
    """A non-negative integer argument."""
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a non-negative integer")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand."""
    p = subparsers.add_parser(
        "report",
        help="explain a plan and compare it with known layering strategies",
        description="Per-image layers with reasons, and fleet metrics beside baselines.",
    )
    p.add_argument("--fleet", required=True, metavar="FLEET.json")
    p.add_argument("--plan", required=True, metavar="PLAN.json")
    p.add_argument("--max-layers", type=int, metavar="N", help="default: the plan's max_layers")
    p.add_argument("--reserved-layers", type=int, default=FLEET_RESERVED_LAYERS, metavar="R")
    p.add_argument(
        "--bumps", type=_count, default=30, metavar="K", help="bumps sampled (default 30)"
    )
    p.add_argument("--json", action="store_true", help="print JSON instead of tables")
    p.set_defaults(func=run_report)
