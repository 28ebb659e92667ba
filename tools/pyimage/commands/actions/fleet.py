"""A fleet's actions: ``fleet-plan``, ``fleet-merge-group``, ``fleet-check``, ``fleet-report``,
``fleet-state``.

``fleet-plan`` plans every image of FLEET_INPUTS.json (:mod:`pyimage.formats.inputs`)
at once, keeping the layers of ``--previous`` (the current lock) whose
members are unchanged, and writes the lock's next content
(:mod:`pyimage.fleet.plan`). A previous lock that does not parse (a merge
conflict) is planned anew with a note; one of a newer format is an error.

``fleet-merge-group`` merges one shared layer of the lock from the builds the
lock's labels give now (:mod:`pyimage.fleet.groups`): one Bazel action per
group, so that an image depends only on its own groups. When no build of a
member is the lock's (a package bumped since), it writes a "not built"
marker: those images then merge their packages themselves.

``fleet-check`` says whether the lock is the plan made from it, and why not.
``fleet-report`` says what the plan shares and the bytes it stores
(:mod:`pyimage.fleet.report`). ``fleet-state`` writes what every image holds
as built (:mod:`pyimage.fleet.state`), for ``fleet-rollout`` to compare.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from pyimage import jsonio
from pyimage.commands import flags
from pyimage.engine import layer
from pyimage.errors import PyimageError
from pyimage.fleet import check, groups, load, plan, report, state
from pyimage.formats import inputs, lock
from pyimage.formats import state as state_format
from pyimage.fsutil import check_paths, replace_together


def _fleet_plan(args: argparse.Namespace) -> int:
    fleet = inputs.read_inputs(args.inputs)
    check_paths(
        {"--out": args.out},
        {
            "--inputs": args.inputs,
            "--previous": args.previous,
            **inputs.fleet_input_paths(fleet.images),
        },
    )
    previous, note = check.read_previous(args.previous)
    if note:
        print(note)
    where = f"fleet {fleet.fleet}" if fleet.fleet else "the fleet"
    document = plan.plan_lock(load.load_images(fleet.images), previous, fleet.declared, where)
    jsonio.write(args.out, document)
    return 0


def _fleet_merge_group(args: argparse.Namespace) -> int:
    candidates = inputs.members_from_args(args.package)
    check_paths(
        {"--blob": args.blob, "--descriptor": args.descriptor},
        inputs.member_paths(candidates, "--package"),
    )
    members = layer.load_members(candidates)
    reason = groups.write_group(
        args.group, members, Path(args.blob), Path(args.descriptor), flags.compression(args)
    )
    if reason:
        print(f"pyimage: note: {reason}")
    return 0


def _fleet_check(args: argparse.Namespace) -> int:
    fresh = lock.read(args.plan, "fleet plan")
    reasons = check.compare(args.lock, fresh)
    if args.updating:
        for reason in reasons:
            print(f"pyimage: note: {args.lock_path}: {reason}")
        return 0
    if reasons:
        print(f"the fleet lock {args.lock_path} is stale:")
        for reason in reasons:
            print(f"  - {reason}")
        print(f"update it with: bazel run {args.update_target}")
    if args.undeclared:
        print(
            f"{args.fleet_label}: no image follows the lock until MODULE.bazel declares it:"
            f" {args.undeclared}"
        )
    if reasons or args.undeclared:
        return 1
    print(f"the fleet lock {args.lock_path} is up to date")
    return 0


def _fleet_report(args: argparse.Namespace) -> int:
    shared = {gid: Path(descriptor) for gid, descriptor in args.group or []}
    specs = inputs.read_inputs(args.inputs).images
    check_paths(
        {"--out": args.out, "--json": args.json},
        {
            "--inputs": args.inputs,
            "--plan": args.plan,
            "--lock": args.lock,
            **{f"--group {gid}": path for gid, path in shared.items()},
            **inputs.fleet_input_paths(specs),
        },
    )
    made = report.build(load.load_images(specs), args.plan, args.lock, shared)
    text = report.render(made, args.update_target) + "\n"
    outputs = [Path(p) for p in (args.json, args.out) if p]
    with replace_together(outputs) as tmps:
        if args.json:
            tmps[0].write_text(jsonio.dumps(report.to_json(made)), encoding="utf-8")
        if args.out:
            tmps[-1].write_text(text, encoding="utf-8")
    if not args.out:
        sys.stdout.write(text)
    return 0


def _fleet_state(args: argparse.Namespace) -> int:
    specs = inputs.read_inputs(args.inputs).images
    names, layouts, plans, apps = (
        args.image or [],
        args.layout or [],
        args.plan or [],
        args.app_layer or [],
    )
    if not len(names) == len(layouts) == len(plans) == len(apps):
        raise PyimageError(
            "fleet-state: give each --image with one --layout, --plan and --app-layer (its app"
            " layers), in order"
        )
    built = [
        state.BuiltImage(name, Path(layout), Path(plan_json), tuple(Path(a) for a in app))
        for name, layout, plan_json, app in zip(names, layouts, plans, apps, strict=True)
    ]
    check_paths(
        {"--out": args.out},
        {
            "--inputs": args.inputs,
            **{f"--image {b.name} {what}": path for b in built
               for what, path in (("layout", b.layout), ("plan", b.plan),
                                  *((f"app {i}", a) for i, a in enumerate(b.app_layers)))},
            **inputs.fleet_input_paths(specs),
        },
    )  # fmt: skip
    made = state.build(args.fleet_label, load.load_images(specs), built)
    state_format.write(args.out, made)
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the fleet's action commands (``fleet-plan`` ... ``fleet-state``)."""
    p = sub.add_parser("fleet-plan", help="plan all images of a fleet (the lock file's content)")
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--previous", metavar="LOCK.json", help="the current lock, to keep its layers")
    p.add_argument("--out", required=True, metavar="LOCK.json")
    p.set_defaults(func=_fleet_plan)

    p = sub.add_parser(
        "fleet-merge-group", help="merge one shared layer of a fleet lock from its members' builds"
    )
    p.add_argument("--group", required=True, help="the layer's group id (its `group` in the lock)")
    inputs.add_member_flag(p, "--package", "a build of a member of the group (repeat)")
    p.add_argument("--blob", required=True, help="output: the merged blob (.tar.gz or .tar.zst)")
    p.add_argument("--descriptor", required=True, help="output: its descriptor (JSON)")
    flags.add_compression_flags(p, choose=False)
    p.set_defaults(func=_fleet_merge_group)

    p = sub.add_parser("fleet-check", help="say whether a fleet lock is up to date")
    p.add_argument("--lock", metavar="LOCK.json", help="the lock file (none: missing)")
    p.add_argument("--plan", required=True, metavar="LOCK.json", help="the plan made from it")
    p.add_argument("--lock-path", default="the lock", help="the lock's path, for messages")
    p.add_argument("--update-target", default="<fleet>.update", help="the update target")
    p.add_argument("--fleet-label", default="the fleet", help="the fleet's label, for messages")
    p.add_argument(
        "--updating",
        action="store_true",
        help="say what the fleet's `.update` changes, as notes, and succeed",
    )
    p.add_argument(
        "--undeclared",
        metavar="LINES",
        help="the MODULE.bazel lines that would declare the fleet, when it is not declared",
    )
    p.set_defaults(func=_fleet_check)

    p = sub.add_parser(
        "fleet-report",
        help="per image and per layer: what a fleet plan shares, and the bytes it stores",
    )
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--plan", required=True, metavar="LOCK.json", help="the fleet plan")
    p.add_argument("--lock", metavar="LOCK.json", help="the lock (to say whether it is current)")
    p.add_argument(
        "--group",
        nargs=2,
        action="append",
        metavar=("GID", "DESC"),
        help="a shared layer's descriptor (pyimage fleet-merge-group): its exact sizes",
    )
    p.add_argument("--update-target", default="<fleet>.update", help="for the stale-lock line")
    p.add_argument("--out", metavar="FILE", help="write the text here (default: stdout)")
    p.add_argument("--json", metavar="FILE", help="also write the report as JSON")
    p.set_defaults(func=_fleet_report)

    p = sub.add_parser(
        "fleet-state", help="what every image of a fleet holds as built (for fleet-rollout)"
    )
    p.add_argument("--fleet-label", required=True, help="the fleet's label (//:fleet)")
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--image", action="append", metavar="NAME", help="an image's name (repeat)")
    p.add_argument("--layout", action="append", help="its layout (py_image_layers), in order")
    p.add_argument("--plan", action="append", help="its plan report, in order")
    p.add_argument(
        "--app-layer", action="append", nargs="+", help="its app layers (one per binary), in order"
    )
    p.add_argument("--out", required=True, metavar="STATE.json")
    p.set_defaults(func=_fleet_state)
