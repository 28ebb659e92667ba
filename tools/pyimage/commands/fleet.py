"""Fleet plans in Bazel: ``pyimage fleet-plan``, ``fleet-merge`` and ``fleet-check``.

``fleet-plan`` plans every image of FLEET_INPUTS.json (:mod:`pyimage.inputs`)
at once, keeping the layers of ``--previous`` (the current lock) whose members
are unchanged, and writes the lock file's next content (:mod:`pyimage.lock`).

``fleet-merge`` writes, for every layer of several packages in the lock, its
merged blob once, into one folder shared by all the images of the fleet
(:func:`pyimage.lock.group_files`). Layers whose members are not all in the
fleet any more are skipped: images then plan those packages again themselves.

``fleet-check`` says whether the lock is the plan made from it, and why not.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

from pyimage import inputs, jsonio, lock
from pyimage.engine import layer


def _fleet_plan(args: argparse.Namespace) -> int:
    previous = lock.read(args.previous, "fleet lock") if args.previous else None
    jsonio.write(args.out, lock.plan_lock(inputs.read_inputs(args.inputs), previous))
    return 0


def merge_groups(
    images: Sequence[inputs.FleetImage], lock_path: str | None, out: Path
) -> list[str]:
    """Write every multi-package layer of the lock once into ``out``; return their ids.

    A layer is merged from the members of an image whose packages are all the
    bytes the lock records; layers of changed packages are skipped (those
    images plan them again themselves), and variants of one id are never
    mixed: each group is named by its members' ids and digests.
    """
    out.mkdir(parents=True, exist_ok=True)
    if not lock_path:
        return []
    plan_file = lock.read(lock_path, "fleet lock")
    done: dict[str, None] = {}
    for im in images:
        own = {pid: m.descriptor.digest for pid, m in im.members.items()}
        kept, _ = plan_file.kept_layers(im.name, own)
        for group in kept or []:
            if len(group) < 2:
                continue
            variants = [(p, own[p]) for p in group]
            gid = lock.group_id(variants)
            if gid not in done:
                blob, descriptor = lock.group_files(out, variants)
                layer.merge([im.members[p] for p in group], blob, descriptor)
                done[gid] = None
    return sorted(done)


def _fleet_merge(args: argparse.Namespace) -> int:
    merge_groups(inputs.read_inputs(args.inputs), args.lock, Path(args.out))
    return 0


def _fleet_check(args: argparse.Namespace) -> int:
    reasons = lock.compare(args.lock, args.plan)
    if not reasons:
        print(f"the fleet lock {args.lock_path} is up to date")
        return 0
    print(f"the fleet lock {args.lock_path} is stale:")
    for reason in reasons:
        print(f"  - {reason}")
    print(f"update it with: bazel run {args.update_target}")
    return 1


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``fleet-plan``, ``fleet-merge`` and ``fleet-check``."""
    p = sub.add_parser("fleet-plan", help="plan all images of a fleet (the lock file's content)")
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--previous", metavar="LOCK.json", help="the current lock, to keep its layers")
    p.add_argument("--out", required=True, metavar="PLAN.json")
    p.set_defaults(func=_fleet_plan)

    p = sub.add_parser("fleet-merge", help="write each merged layer of a fleet lock once")
    p.add_argument("--inputs", required=True, metavar="FLEET_INPUTS.json")
    p.add_argument("--lock", metavar="LOCK.json", help="the lock file (none: no merged layers)")
    p.add_argument("--out", required=True, metavar="DIR")
    p.set_defaults(func=_fleet_merge)

    p = sub.add_parser("fleet-check", help="say whether a fleet lock is up to date")
    p.add_argument("--lock", metavar="LOCK.json", help="the lock file (none: missing)")
    p.add_argument("--plan", required=True, metavar="PLAN.json", help="the plan made from it")
    p.add_argument("--lock-path", default="the lock", help="the lock's path, for messages")
    p.add_argument("--update-target", default="<fleet>.update", help="the update target")
    p.set_defaults(func=_fleet_check)
