"""Fleet plans in Bazel: ``pyimage fleet-plan`` and ``pyimage fleet-merge``.

The rule ``py_image_fleet`` writes FLEET_INPUTS.json at analysis time: for each
image (named by its label) its cap, the layers it reserves (app, and the
interpreter when it has one), its base layout (or none) and its packages'
cached outputs::

    {"images": {"//apps/api:image": {
        "max_layers": 60, "reserved_layers": 1, "base": "path/to/layout" | null,
        "platform": "linux/amd64",
        "packages": [{"descriptor": "...json", "blob": "...tar.gz"}]}}}

(a package may also name its ``"tar"``; merges read it then instead of
inflating the blob).

``fleet-plan`` plans every image at once (sizes from the descriptors, base
layer counts from the base layouts), keeping the layers of ``--previous``
(the current lock) whose members are unchanged, and writes the plan: the lock
file's next content, in the PLAN.json format of ``pyimage plan``.

``fleet-merge`` writes, for every layer of several packages in the lock, its
merged blob once, into one folder shared by all the images of the fleet:
``<group id>.tar.gz`` and ``<group id>.json``, the id hashing the sorted
member ids (:func:`group_id`). Layers whose members are not all in the fleet
any more are skipped: images then plan those packages again themselves.
"""

from __future__ import annotations

import argparse
import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyimage.commands.plan import (
    load_json,
    plan_layers,
    plan_to_json,
    read_previous,
    write_json_atomic,
)
from pyimage.engine import layer, oci_layout
from pyimage.errors import PyimageError
from pyimage.planner import plan


def group_id(packages: Sequence[str]) -> str:
    """The file name stem of a merged group: a hash of its sorted member ids."""
    text = "\n".join(sorted(packages)).encode("utf-8")
    return hashlib.sha256(text).hexdigest()[:24]


@dataclass(frozen=True)
class FleetImage:
    """One image of FLEET_INPUTS.json, its packages loaded from their descriptors."""

    name: str
    max_layers: int
    reserved_layers: int
    base_layers: int
    members: dict[str, layer.Member]


def _int(entry: dict[str, Any], key: str, where: str) -> int:
    value = entry.get(key)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise PyimageError(f"{where}: '{key}' must be a non-negative integer")
    return value


def read_inputs(path: str) -> list[FleetImage]:
    """Read FLEET_INPUTS.json: each image's cap, reserved layers, base and packages."""
    doc = load_json(path)
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, dict) or not images:
        raise PyimageError(f"{path}: needs an 'images' object with at least one image")
    out = []
    for name in sorted(images):
        entry = images[name]
        where = f"{path}: image '{name}'"
        if not isinstance(entry, dict):
            raise PyimageError(f"{where} must be an object")
        platform = oci_layout.Platform.parse(str(entry.get("platform", "linux/amd64")))
        base = entry.get("base")
        base_layers = oci_layout.read_base(Path(base), platform).layer_count if base else 0
        members: dict[str, layer.Member] = {}
        items = entry.get("packages", [])
        if not isinstance(items, list):
            raise PyimageError(f"{where}: 'packages' must be a list")
        for item in items:
            ok = (
                isinstance(item, dict)
                and all(isinstance(item.get(k), str) and item[k] for k in ("descriptor", "blob"))
                and isinstance(item.get("tar", ""), str)
            )
            if not ok:
                raise PyimageError(
                    f"{where}: package item {item!r} needs 'descriptor' and 'blob' paths"
                    " (and an optional 'tar'); fix the inputs file"
                )
            tar = item.get("tar")  # optional: merges inflate the blob without it
            member = layer.load_member(
                Path(item["descriptor"]), Path(tar) if tar else None, Path(item["blob"])
            )
            for pkg in member.descriptor.packages:
                members[pkg] = member
        image = FleetImage(
            name,
            _int(entry, "max_layers", where),
            _int(entry, "reserved_layers", where),
            base_layers,
            members,
        )
        plan.check_max_layers(image.max_layers)
        if image.max_layers - base_layers - image.reserved_layers < 1:
            raise PyimageError(
                f"image {name}: max_layers {image.max_layers} leaves no package layer beside "
                f"its base's {base_layers} and its {image.reserved_layers} reserved layers; "
                "raise its max_layers"
            )
        out.append(image)
    return out


def plan_inputs(images: Sequence[FleetImage], previous: str | None) -> dict[str, Any]:
    """The fleet plan of ``images`` as a PLAN.json document (the lock's content).

    Caps and reserved layers may differ between images: the planner's one cap
    is the largest, and each image's base is counted larger by the difference,
    so that every image gets exactly its own budget. The document records each
    image's real ``base_layers``, ``max_layers`` and ``reserved_layers``.
    """
    top = max(im.max_layers for im in images)
    sizes: dict[str, int] = {}
    for im in images:
        for pid, member in im.members.items():
            sizes[pid] = member.descriptor.tar_size
    planned = plan.plan_fleet(
        [plan.Package(pid, size) for pid, size in sizes.items()],
        [
            plan.Image(
                im.name,
                tuple(sorted(im.members)),
                im.base_layers + im.reserved_layers + (top - im.max_layers),
            )
            for im in images
        ],
        top,
        reserved_layers=0,
        previous=read_previous(previous) if previous else None,
    )
    doc = plan_to_json(planned)
    if previous:
        _keep_reasons(doc, load_json(previous))
    for im in images:
        entry = doc["images"][im.name]
        entry["base_layers"] = im.base_layers
        entry["max_layers"] = im.max_layers
        entry["reserved_layers"] = im.reserved_layers
    del doc["reserved_layers"]
    del doc["max_layers"]
    doc["format"] = "rules_pyimage.fleet-lock/v1"
    return doc


def _keep_reasons(doc: dict[str, Any], old: Any) -> None:
    """Layers kept from the old lock keep its reason: an unchanged fleet rewrites no line."""
    reasons: dict[tuple[str, tuple[str, ...]], str] = {}
    for name, entry in (old.get("images", {}) if isinstance(old, dict) else {}).items():
        for lay in entry.get("layers", []):
            reasons[(name, tuple(lay.get("packages", [])))] = lay.get("reason", "")
    for name, entry in doc["images"].items():
        for lay in entry["layers"]:
            key = (name, tuple(lay["packages"]))
            if key in reasons and lay["reason"] == plan.REASON_KEPT:
                lay["reason"] = reasons[key]


def _fleet_plan(args: argparse.Namespace) -> int:
    write_json_atomic(args.out, plan_inputs(read_inputs(args.inputs), args.previous))
    return 0


def merge_groups(images: Sequence[FleetImage], lock: str | None, out: Path) -> list[str]:
    """Write every multi-package layer of ``lock`` once into ``out``; return their ids."""
    out.mkdir(parents=True, exist_ok=True)
    if not lock:
        return []
    members: dict[str, layer.Member] = {}
    for im in images:
        members.update(im.members)
    done = []
    groups = {tuple(sorted(g)) for layers in read_previous(lock).values() for g in layers}
    for group in sorted(g for g in groups if len(g) > 1):
        if not all(p in members for p in group):
            continue  # a member changed: the images plan these packages again
        gid = group_id(group)
        layer.merge([members[p] for p in group], out / f"{gid}.tar.gz", out / f"{gid}.json")
        done.append(gid)
    return done


def _fleet_merge(args: argparse.Namespace) -> int:
    merge_groups(read_inputs(args.inputs), args.lock, Path(args.out))
    return 0


def compare(lock: str | None, fresh: str) -> list[str]:
    """Why ``lock`` is not ``fresh`` (the plan made from it): one line per reason."""
    new = load_json(fresh)
    if not lock:
        return ["there is no lock file yet"]
    old = load_json(lock)
    if old == new:
        return []
    reasons = []
    try:
        old_layers = plan_layers(old, lock)
    except PyimageError as err:
        raise PyimageError(
            f"{lock}: not a fleet lock ({err}); rewrite it with the fleet's `.update` target"
        ) from err
    new_layers = plan_layers(new, fresh)
    old_images, new_images = old["images"], new["images"]
    for name in sorted(set(old_layers) | set(new_layers)):
        if name not in old_layers:
            reasons.append(f"image {name} is not in the lock")
            continue
        if name not in new_layers:
            reasons.append(f"image {name} is in the lock but no longer in the fleet")
            continue
        had = {p for lay in old_layers[name] for p in lay}
        has = {p for lay in new_layers[name] for p in lay}
        for p in sorted(has - had):
            reasons.append(f"image {name}: package {p} is not in the lock")
        for p in sorted(had - has):
            reasons.append(f"image {name}: package {p} is in the lock but not in the image")
        if had == has and old_images[name] != new_images[name]:
            reasons.append(f"image {name}: its layers or settings differ from the lock")
    return reasons or ["the lock differs from the plan (format or settings)"]


def _fleet_check(args: argparse.Namespace) -> int:
    reasons = compare(args.lock, args.plan)
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
