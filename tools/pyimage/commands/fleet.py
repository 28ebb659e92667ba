"""Fleet plans in Bazel: ``pyimage fleet-plan``, ``fleet-merge-group`` and ``fleet-check``.

``fleet-plan`` plans every image of FLEET_INPUTS.json (:mod:`pyimage.inputs`)
at once, keeping the layers of ``--previous`` (the current lock) whose members
are unchanged, and writes the lock file's next content (:mod:`pyimage.lock`)
and, with ``--shared-layers-out``, its ``.bzl`` form: the shared layers Bazel
reads when it loads the fleet's BUILD file.

``fleet-merge-group`` merges one shared layer (a group of the ``.bzl`` form)
from the packages of the images that hold it: one Bazel action per group, so
that an image depends only on its own groups. When no build of the members is
the lock's (a package rebuilt since), it writes a "not built" marker: those
images then merge their packages themselves.

``fleet-check`` says whether the lock (and the shared layers the BUILD file
passes) is the plan made from it, and why not.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyimage import inputs, jsonio, lock
from pyimage.fsutil import check_paths, replace_together


def _fleet_plan(args: argparse.Namespace) -> int:
    previous = lock.read(args.previous, "fleet lock") if args.previous else None
    images = inputs.read_inputs(args.inputs)
    check_paths(
        {"--out": args.out, "--shared-layers-out": args.shared_layers_out},
        {"--inputs": args.inputs, "--previous": args.previous, **inputs.fleet_input_paths(images)},
    )
    document = lock.plan_lock(images, previous)
    outputs = [Path(args.out)]
    if args.shared_layers_out:
        outputs.insert(0, Path(args.shared_layers_out))
    with replace_together(outputs) as tmps:
        if args.shared_layers_out:
            text = lock.shared_layers_bzl(
                document, args.lock_path, args.shared_layers_path, args.update_target
            )
            tmps[0].write_text(text, encoding="utf-8")
        tmps[-1].write_text(jsonio.dumps(document), encoding="utf-8")
    return 0


def _fleet_merge_group(args: argparse.Namespace) -> int:
    candidates = inputs.members_from_args(args.package)
    check_paths(
        {"--blob": args.blob, "--descriptor": args.descriptor},
        inputs.member_paths(candidates, "--package"),
    )
    reason = lock.write_group(args.group, candidates, Path(args.blob), Path(args.descriptor))
    if reason:
        print(f"pyimage: note: {reason}")
    return 0


def _fleet_check(args: argparse.Namespace) -> int:
    plan = lock.read(args.plan, "fleet plan")
    reasons = lock.compare(args.lock, plan)
    unwired: list[str] = []
    if args.shared_layers_given:
        stale, unwired = lock.compare_shared_layers(
            args.shared_layers_given,
            plan,
            args.shared_layers_path,
            args.fleet_label,
            args.update_target,
        )
        reasons += stale
    if reasons:
        print(f"the fleet lock {args.lock_path} is stale:")
        for reason in reasons:
            print(f"  - {reason}")
        print(f"update it with: bazel run {args.update_target}")
    for reason in unwired:
        print(reason)
    if reasons or unwired:
        return 1
    print(f"the fleet lock {args.lock_path} is up to date")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fleet-plan``, ``fleet-merge`` and ``fleet-check``."""
    p = sub.add_parser("fleet-plan", help="plan all images of a fleet (the lock file's content)")
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--previous", metavar="LOCK.json", help="the current lock, to keep its layers")
    p.add_argument("--out", required=True, metavar="PLAN.json")
    p.add_argument("--shared-layers-out", metavar="FILE.bzl", help="also write its .bzl form")
    p.add_argument("--lock-path", default="fleet.lock.json", help="the lock's path, for the .bzl")
    p.add_argument("--shared-layers-path", default="fleet.lock.bzl", help="the .bzl form's path")
    p.add_argument("--update-target", default="<fleet>.update", help="the update target")
    p.set_defaults(func=_fleet_plan)

    p = sub.add_parser(
        "fleet-merge-group", help="merge one shared layer of a fleet lock from its members' builds"
    )
    p.add_argument("--group", required=True, help="the layer's group id (see the lock's .bzl form)")
    inputs.add_member_flag(p, "--package", "a package of an image holding the group (repeat)")
    p.add_argument("--blob", required=True, help="output: the merged blob (.tar.gz)")
    p.add_argument("--descriptor", required=True, help="output: its descriptor (JSON)")
    p.set_defaults(func=_fleet_merge_group)

    p = sub.add_parser("fleet-check", help="say whether a fleet lock is up to date")
    p.add_argument("--lock", metavar="LOCK.json", help="the lock file (none: missing)")
    p.add_argument("--plan", required=True, metavar="PLAN.json", help="the plan made from it")
    p.add_argument("--lock-path", default="the lock", help="the lock's path, for messages")
    p.add_argument("--update-target", default="<fleet>.update", help="the update target")
    p.add_argument(
        "--shared-layers-given",
        metavar="JSON",
        help="the shared layers the fleet's BUILD file passes (checked against the plan's)",
    )
    p.add_argument("--shared-layers-path", default="fleet.lock.bzl", help="the .bzl form's path")
    p.add_argument("--fleet-label", default="the fleet", help="the fleet's label, for messages")
    p.set_defaults(func=_fleet_check)
