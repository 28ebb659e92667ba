"""Plans and fleet locks as files: the one owner of their format.

A plan document (PLAN.json, written by ``pyimage plan``)::

    {"max_layers": 60, "reserved_layers": 2, "images": {name: {
        "base_layers": b, "package_layer_budget": n,
        "layers": [{"packages": [id, ...], "bytes": n, "reason": "..."}]}}}

with each image's package layers bottom to top. A fleet lock (the file a
``py_image_fleet`` keeps in the source tree, written by ``pyimage
fleet-plan``) is a plan document of the whole fleet in which each image
carries its own ``max_layers`` and ``reserved_layers`` (images of one fleet
may differ), and each layer the digest of each member's blob
(``"digests": {id: "sha256:..."}``), marked ``"format":
"rules_pyimage.fleet-lock/v2"``.

A package is its id *and* its bytes: two images of one fleet may hold
``six==1.16.0`` built differently (another platform, a patched wheel, a
second pip hub). The fleet plans such variants as two packages, never one
layer; an image keeps a layer of the lock only where each member's digest is
its own (:meth:`PlanFile.kept_layers`), else it plans the changed packages
itself, and the lock check names them. A merged layer is known by its
:func:`group_id`, a hash of its members' ids and digests, so that no image can
take another variant's merged bytes: the lock's ``.bzl`` form
(:func:`shared_layers_bzl`) lists them for Bazel, which merges each once
(:func:`write_group`).

This module reads, writes and compares these documents; it plans nothing
itself but asks :mod:`pyimage.planner`.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyimage import jsonio, planner
from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer
from pyimage.engine.descriptor import LayerDescriptor
from pyimage.errors import PyimageError
from pyimage.fsutil import atomic_output
from pyimage.inputs import FleetImage

FORMAT = "rules_pyimage.fleet-lock/v2"

#: Image name -> its package layers, each a list of package ids.
Layers = dict[str, list[list[str]]]
#: A package as the fleet knows it: its id and its blob's digest.
Variant = tuple[str, str]


def group_id(members: Iterable[Variant]) -> str:
    """The file name stem of a merged group: a hash of its members' ids and digests."""
    text = "\n".join(f"{pid} {digest}" for pid, digest in sorted(members)).encode("utf-8")
    return hashlib.sha256(text).hexdigest()[:24]


def write_group(
    group: str, candidates: Sequence[layer.Member], blob: Path, descriptor: Path
) -> str | None:
    """Merge the shared layer ``group`` (a :func:`group_id`) from ``candidates``.

    ``candidates`` are the blobs of the packages of the images that hold the
    group (a package id may have several builds among them). The group is
    merged from the one build of each member whose ids and digests hash to
    ``group``. When there is none (a member was rebuilt since the lock was
    written), a "not built" marker is written in its place, which
    :func:`read_group` reads as no layer, and the reason is returned.
    """
    by_id: dict[str, dict[str, layer.Member]] = {}
    for member in candidates:
        if len(member.descriptor.packages) != 1:
            raise PyimageError(f"{member.name}: a shared layer merges single-package blobs")
        by_id.setdefault(member.name, {})[member.descriptor.digest] = member
    for choice in itertools.product(*(builds.values() for _, builds in sorted(by_id.items()))):
        if group_id((m.name, m.descriptor.digest) for m in choice) == group:
            layer.merge(list(choice), blob, descriptor)
            return None
    reason = (
        f"no build of {', '.join(sorted(by_id))} is the bytes the fleet lock records for"
        f" shared layer {group}; the images that hold it merge their own packages until the"
        " fleet's `.update` runs"
    )
    with atomic_output(blob) as tmp:
        tmp.write_bytes(b"")
    jsonio.write(str(descriptor), {"not_built": reason})
    return reason


def read_group(gid: str, descriptor: Path) -> LayerDescriptor | None:
    """The descriptor of the shared layer ``gid`` written by :func:`write_group`; None: not built.

    A shared layer is taken only if it is exactly the group's: its
    descriptor must record the members it was merged from, and their ids
    and digests must hash to ``gid``. Files of another group (other members,
    or another build of the same ids) are refused, never put in an image.
    """
    where = f"shared layer {gid}: descriptor {descriptor}"
    document = jsonio.load(str(descriptor), "shared layer descriptor", "rebuild the fleet")
    if isinstance(document, dict) and "not_built" in document:
        return None
    desc = desc_mod.parse(document, where)
    if len(desc.packages) < 2 or group_id(desc.member_digests().items()) != gid:
        raise PyimageError(
            f"{where} is the merge of {', '.join(desc.packages)} with other members or other"
            " builds than the group's; give the files the fleet wrote for this group"
            " (rebuild the fleet)"
        )
    return desc


def shared_layers(document: Mapping[str, Any]) -> dict[str, dict[str, list[str]]]:
    """What Bazel needs to know of a fleet lock when it loads the BUILD files.

    ``{"groups": {group id: [package id, ...]}, "images": {image: [group id,
    ...]}}``: each layer of several packages (recorded with their digests) by
    its :func:`group_id`, and the images that hold it. The fleet's rule
    declares one merge per group, and gives each image only its own groups.
    """
    groups: dict[str, list[str]] = {}
    images: dict[str, list[str]] = {}
    for name, entry in sorted(document.get("images", {}).items()):
        for lay in entry.get("layers", []):
            members, digests = lay.get("packages", []), lay.get("digests") or {}
            if len(members) < 2 or not all(p in digests for p in members):
                continue
            gid = group_id((p, digests[p]) for p in members)
            groups[gid] = sorted(members)
            images.setdefault(name, []).append(gid)
    return {"groups": dict(sorted(groups.items())), "images": images}


def _starlark(value: Any, indent: str = "") -> str:
    """``value`` (dicts, lists, strings) as Starlark, formatted as buildifier formats it."""
    inner = indent + "    "
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f"{inner}{_starlark(k)}: {_starlark(v, inner)},\n" for k, v in value.items()]
        return "{\n" + "".join(items) + indent + "}"
    if isinstance(value, list):
        if not value:
            return "[]"
        items = [f"{inner}{_starlark(v, inner)},\n" for v in value]
        return "[\n" + "".join(items) + indent + "]"
    raise TypeError(f"no Starlark form of {value!r}")


#: The name the `.bzl` form of a lock gives its shared layers.
SHARED_LAYERS_NAME = "SHARED_LAYERS"


def shared_layers_bzl(
    document: Mapping[str, Any], lock_path: str, bzl_path: str, update_target: str
) -> str:
    """The ``.bzl`` form of a fleet lock's shared layers (:func:`shared_layers`).

    Written beside the lock (at ``bzl_path``, which the Bazel rule names) by
    the fleet's ``.update``; its BUILD file loads it and passes it to
    ``py_image_fleet(shared_layers = ...)``.
    """
    name = lock_path.rsplit("/", 1)[-1]
    return (
        f'"""The shared layers of the fleet lock {name}, as Bazel reads them when it loads\n'
        "the BUILD file: each layer of several packages (by a hash of its members'\n"
        "ids and digests) and the images that hold it.\n\n"
        f"Written with the lock by `bazel run {update_target}`; do not edit. Load it in\n"
        "the fleet's BUILD file and pass it on:\n\n"
        f'    load(":{bzl_path.rsplit("/", 1)[-1]}", "{SHARED_LAYERS_NAME}")\n'
        f"    py_image_fleet(..., shared_layers = {SHARED_LAYERS_NAME})\n"
        '"""\n\n'
        f"{SHARED_LAYERS_NAME} = {_starlark(shared_layers(document))}\n"
    )


def _planner_id(pid: str, digest: str) -> str:
    """The planner's id of a variant. A space sorts before every character of a
    package id, so these ids sort as the package ids do."""
    return f"{pid} {digest}"


def _previous_planner_id(image: FleetImage | None, pid: str, recorded: str | None) -> str:
    """The planner's id of a member of a previous layer of ``image``.

    The image's own build when the previous lock records that digest, or
    records none (a lock from before digests: its layout is kept); otherwise
    an id that matches nothing, so that a rebuilt package is planned again
    like a new version.
    """
    member = image.members.get(pid) if image else None
    if member is None or recorded not in (None, member.descriptor.digest):
        return _planner_id(pid, "")
    return _planner_id(pid, member.descriptor.digest)


def _variant(planner_id: str) -> Variant:
    pid, _, digest = planner_id.rpartition(" ")
    return pid, digest


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PyimageError(f"{what} must be a JSON object")
    return value


def layers_of(document: Any, path: str) -> Layers:
    """Image name -> package layers of a plan document read from ``path``, checked."""
    data = _object(document, path)
    images = _object(data.get("images"), f'{path}: "images"')
    out: Layers = {}
    for name, entry in images.items():
        layers = _object(entry, f"{path}: image '{name}'").get("layers")
        if not isinstance(layers, list):
            raise PyimageError(f"{path}: image '{name}' has no \"layers\" list")
        out[name] = []
        for lay in layers:
            record = _object(lay, f"{path}: a layer of image '{name}'")
            members = record.get("packages")
            if not isinstance(members, list) or not all(isinstance(p, str) for p in members):
                raise PyimageError(
                    f"{path}: a layer of image '{name}' needs \"packages\", a list of ids"
                )
            digests = record.get("digests", {})
            if not isinstance(digests, dict) or not all(
                isinstance(digests.get(p, ""), str) for p in members
            ):
                raise PyimageError(
                    f"{path}: a layer of image '{name}' has \"digests\" that are not"
                    " {id: digest}; rewrite the lock with the fleet's `.update` target"
                )
            out[name].append(members)
    return out


@dataclass(frozen=True)
class PlanFile:
    """A plan document or a fleet lock, read once: its text's value and its layers."""

    path: str
    document: Mapping[str, Any]
    layers: Layers = field(repr=False)

    def digests(self, image: str) -> list[dict[str, str]]:
        """Per layer of ``image``: the digest the lock records for each member (may be none)."""
        entry = self.document["images"].get(image)
        return [dict(lay.get("digests", {})) for lay in entry["layers"]] if entry else []

    def kept_layers(
        self, image: str, own: Mapping[str, str]
    ) -> tuple[list[list[str]] | None, list[str]]:
        """The layers of ``image`` whose every member is the image's own bytes.

        ``own`` maps the image's package ids to their blob digests. Returns
        the layers to keep (None: the image is not in the lock) and the ids of
        the image's packages whose bytes are not the lock's (sorted).
        """
        if image not in self.layers:
            return None, []
        kept, changed = [], set()
        for members, digests in zip(self.layers[image], self.digests(image), strict=True):
            if not all(p in own for p in members):
                continue
            if len(members) == 1 and not digests:
                kept.append(members)  # a lock from before digests: a package's own blob
                continue
            stale = {p for p in members if digests.get(p) != own[p]}
            changed |= stale
            if not stale:
                kept.append(members)
        return kept, sorted(changed)

    @property
    def current_format(self) -> bool:
        """Whether the document is a lock of this format (with package digests)."""
        return self.document.get("format") == FORMAT

    def reasons(self, image: str) -> dict[tuple[str, ...], str]:
        """The recorded reason of each layer of ``image``, by its sorted members."""
        entry = self.document["images"].get(image)
        if entry is None:
            return {}
        return {
            tuple(sorted(lay["packages"])): str(lay.get("reason", "")) for lay in entry["layers"]
        }


def read(path: str, what: str = "plan") -> PlanFile:
    """Read and check a plan document or lock (``what`` names it in errors)."""
    document = jsonio.load(path, what, "write it with `pyimage plan` or the fleet's `.update`")
    return PlanFile(path, document, layers_of(document, path))


def plan_document(plan: planner.Plan) -> dict[str, Any]:
    """The plan document of a plan."""
    images = {}
    for img in plan.images:
        images[img.name] = {
            "base_layers": img.base_layers,
            "package_layer_budget": img.budget,
            "layers": [
                {"packages": list(lay.packages), "bytes": lay.bytes, "reason": lay.reason}
                for lay in img.layers
            ],
        }
    return {
        "max_layers": plan.max_layers,
        "reserved_layers": plan.reserved_layers,
        "images": images,
    }


def plan_lock(images: Sequence[FleetImage], previous: PlanFile | None) -> dict[str, Any]:
    """The fleet lock of ``images``, keeping the layers of ``previous`` that still fit.

    Each package is planned by its id and digest: two variants of one id are
    two packages, so no layer ever holds one for the images of the other.
    Caps and reserved layers may differ between images: the planner's one cap
    is the largest, and each image's base is counted larger by the difference,
    so that every image gets exactly its own budget. The lock records each
    image's real ``base_layers``, ``max_layers`` and ``reserved_layers``. A
    layer kept from ``previous`` (the same members) keeps its reason
    there: an unchanged fleet rewrites no line of its lock.
    """
    top = max(im.max_layers for im in images)
    sizes: dict[str, int] = {}
    for im in images:
        for pid, member in im.members.items():
            sizes[_planner_id(pid, member.descriptor.digest)] = member.descriptor.tar_size
    # The previous layers of an image, for the planner to keep where their
    # members are all still in the image with the bytes the lock records.
    prior = None
    if previous is not None:
        by_image = {im.name: im for im in images}
        prior = {
            name: [
                [_previous_planner_id(by_image.get(name), p, digests.get(p)) for p in members]
                for members, digests in zip(layers, previous.digests(name), strict=True)
            ]
            for name, layers in previous.layers.items()
        }
    planned = planner.plan_fleet(
        [planner.Package(pid, size) for pid, size in sizes.items()],
        [
            planner.Image(
                im.name,
                tuple(sorted(_planner_id(p, m.descriptor.digest) for p, m in im.members.items())),
                im.base_layers + im.reserved_layers + (top - im.max_layers),
            )
            for im in images
        ],
        top,
        reserved_layers=0,
        previous=prior,
    )
    doc = plan_document(planned)
    for im in images:
        entry = doc["images"][im.name]
        entry["base_layers"] = im.base_layers
        entry["max_layers"] = im.max_layers
        entry["reserved_layers"] = im.reserved_layers
        old = previous.reasons(im.name) if previous else {}
        for lay in entry["layers"]:
            variants = [_variant(key) for key in lay["packages"]]
            lay["packages"] = [pid for pid, _ in variants]
            lay["digests"] = dict(variants)
            why = old.get(tuple(sorted(lay["packages"])))
            if why is not None and lay["reason"] == planner.REASON_KEPT:
                lay["reason"] = why
    del doc["reserved_layers"]
    del doc["max_layers"]
    doc["format"] = FORMAT
    return doc


def compare(lock_path: str | None, fresh: PlanFile) -> list[str]:
    """Why the lock is not the plan ``fresh`` made from it: one line per reason, none if current."""
    if not lock_path:
        return ["there is no lock file yet"]
    old = jsonio.load(lock_path, "fleet lock", "rewrite it with the fleet's `.update` target")
    if old == fresh.document:
        return []
    try:
        old_layers = layers_of(old, lock_path)
    except PyimageError as err:
        raise PyimageError(
            f"{lock_path}: not a fleet lock ({err}); rewrite it with the fleet's `.update` target"
        ) from err
    if old.get("format") != FORMAT:
        return [
            f"the lock is in format {old.get('format')!r}, not {FORMAT!r} (which records each"
            " package's digest)"
        ]
    new_layers = fresh.layers
    old_images, new_images = old["images"], fresh.document["images"]
    reasons = []
    for name in sorted(set(old_layers) | set(new_layers)):
        if name not in old_layers:
            reasons.append(f"image {name} is not in the lock")
            continue
        if name not in new_layers:
            reasons.append(f"image {name} is in the lock but no longer in the fleet")
            continue
        before = len(reasons)
        had = {p for lay in old_layers[name] for p in lay}
        has = {p for lay in new_layers[name] for p in lay}
        for p in sorted(has - had):
            reasons.append(f"image {name}: package {p} is not in the lock")
        for p in sorted(had - has):
            reasons.append(f"image {name}: package {p} is in the lock but not in the image")
        was, now = _member_digests(old_images[name]), _member_digests(new_images[name])
        for p in sorted(q for q in had & has if was.get(q) != now.get(q)):
            reasons.append(
                f"image {name}: package {p} is not the bytes the lock records"
                f" ({now.get(p) or 'none'} where the lock has {was.get(p) or 'none'})"
            )
        if len(reasons) == before and old_images[name] != new_images[name]:
            reasons.append(f"image {name}: its layers or settings differ from the lock")
    return reasons or ["the lock differs from the plan (format or settings)"]


def _member_digests(image_entry: Mapping[str, Any]) -> dict[str, str]:
    """Package id -> the digest recorded for it in an image's entry of a plan or lock."""
    return {
        p: str(d)
        for lay in image_entry.get("layers", [])
        for p, d in (lay.get("digests") or {}).items()
    }


def compare_shared_layers(
    given_path: str, plan: PlanFile, bzl_path: str, fleet_label: str, update_target: str
) -> tuple[list[str], list[str]]:
    """Why the shared layers a fleet's BUILD file passes are not those of its plan.

    ``given_path`` holds ``{"given": bool, "groups": ..., "images": ...}``:
    what ``py_image_fleet(shared_layers = ...)`` was given (written by the
    rule). Returns the reasons the fleet's ``.update`` fixes (the ``.bzl``
    form is stale) and those it does not (the BUILD file passes none), one
    line each; none when they agree.
    """
    given = jsonio.load(given_path, "shared layers", "rebuild the fleet")
    fresh = shared_layers(plan.document)
    bzl = bzl_path.rsplit("/", 1)[-1]
    if not isinstance(given, dict):
        raise PyimageError(f"{given_path}: not the shared layers of a fleet; rebuild the fleet")
    if not given.get("given"):
        if not fresh["groups"]:
            return [], []
        return [], [
            f"{fleet_label} is not given its lock's shared layers, so each image merges them"
            f' itself: add `load(":{bzl}", "{SHARED_LAYERS_NAME}")` to its BUILD file and'
            f" `shared_layers = {SHARED_LAYERS_NAME}` to the py_image_fleet (`bazel run"
            f" {update_target}` writes {bzl})"
        ]
    if {k: given.get(k) for k in fresh} != fresh:
        return [f"{bzl} is not the shared layers of the plan (it is written with the lock)"], []
    return [], []
