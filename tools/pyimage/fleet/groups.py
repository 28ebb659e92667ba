"""A fleet's shared layers: their ids, and their merge from the builds they name.

A layer of several packages that a fleet lock gives several images is one
group, merged once (``pyimage fleet-merge-group``, one Bazel action per
group) and then taken as is by every image that holds it; so is a declared
group's layer of its own compression, even of one package (it is
compressed again: worth doing once). A group is known by its
:func:`group_id`, a hash of its members' ids, ``diff_id`` and the layer's
compression: a group of other members, or of another build of the same ids,
is another group, and an image never takes its bytes (:func:`read_group`).
The fleet merges a group of its own compression from its members built in
that compression (the same bytes as compressing them again: see
:func:`pyimage.engine.layer.merge`).
"""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Iterable, Sequence
from pathlib import Path

from pyimage import jsonio
from pyimage.engine import descriptor as desc_mod
from pyimage.engine import layer
from pyimage.engine.compression import DEFAULT, Compression
from pyimage.engine.descriptor import LayerDescriptor
from pyimage.errors import PyimageError
from pyimage.fsutil import replace_together

#: A package as a fleet knows it: its id, its diff_id and its compression.
Build = tuple[str, str, str]


def build_of(desc: LayerDescriptor) -> Build:
    """The build a package's descriptor describes."""
    return desc.packages[0], desc.diff_id, desc.compression


def planner_id(build: Build) -> str:
    """The planner's id of a build: one package is two to the planner when its bytes differ
    (another platform, a patched wheel, a second pip hub). A space sorts before every
    character of a package id, so these ids sort as the package ids do."""
    return " ".join(build)


def build_of_planner_id(planner_id: str) -> Build:
    """The build a :func:`planner_id` names."""
    pid, diff_id, compression = planner_id.rsplit(" ", 2)
    return pid, diff_id, compression


def group_id(members: Iterable[Build], into: str | None = None) -> str:
    """The id of a shared layer: a hash of its members' ids, diff_ids and compression.

    ``into``: the layer's compression when it is not its members' (a declared
    group's own); the id is then that of the same members built in it.
    """
    lines = sorted(f"{pid} {diff_id} {into or comp}" for pid, diff_id, comp in members)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()[:24]


def shared_id(members: Sequence[Build], into: str | None = None) -> str | None:
    """The :func:`group_id` of a layer a fleet merges once, or None: a layer of one
    package in its own compression is that package's blob."""
    if len(members) == 1 and into in (None, members[0][2]):
        return None
    return group_id(members, into)


def write_group(
    group: str,
    candidates: Sequence[layer.Member],
    blob: Path,
    descriptor: Path,
    settings: Compression = DEFAULT,
) -> str | None:
    """Merge the shared layer ``group`` (a :func:`group_id`) from ``candidates``.

    ``candidates`` are builds of the group's members, as the labels the lock
    names give them now (a package id may have several builds among them).
    The group is merged from the one build of each member whose ids,
    diff_ids and compression hash to ``group``. When there is none (a member
    was bumped or rebuilt since the lock was written), a "not built" marker
    is written in its place, which :func:`read_group` reads as no layer, and
    the reason is returned: the images that hold the group then merge their
    own packages. Merges of zstd packages run the zstd program of ``settings``.
    """
    by_id: dict[str, dict[str, layer.Member]] = {}
    for member in candidates:
        if len(member.descriptor.packages) != 1:
            raise PyimageError(f"{member.name}: a shared layer merges single-package blobs")
        by_id.setdefault(member.name, {})[member.descriptor.digest] = member
    for choice in itertools.product(*(builds.values() for _, builds in sorted(by_id.items()))):
        if group_id(build_of(m.descriptor) for m in choice) == group:
            layer.merge(list(choice), blob, descriptor, settings=settings)
            return None
    reason = (
        f"no build of {', '.join(sorted(by_id))} here is the bytes the fleet lock records for"
        f" shared layer {group}: bumped or rebuilt since the lock was written (the images"
        " that hold it merge their own packages until the fleet's `.update` runs), or built"
        " for another platform than the layer's (its images merge it for their own)"
    )
    with replace_together([blob, descriptor]) as (blob_tmp, desc_tmp):
        blob_tmp.write_bytes(b"")
        desc_tmp.write_text(jsonio.dumps({"not_built": reason}), encoding="utf-8")
    return reason


def read_group(gid: str, descriptor: Path) -> LayerDescriptor | None:
    """The descriptor of the shared layer ``gid`` written by :func:`write_group`; None: not built.

    A shared layer is taken only if it is exactly the group's: its
    descriptor must record the builds it was merged from, and they must hash
    to ``gid``. Files of another group (other members, or another build of
    the same ids) are refused, never put in an image.
    """
    where = f"shared layer {gid}: descriptor {descriptor}"
    document = jsonio.load(str(descriptor), "shared layer descriptor", "rebuild the fleet")
    if isinstance(document, dict) and "not_built" in document:
        return None
    desc = desc_mod.parse(document, where)
    held = [(pid, diff_id, desc.compression) for pid, diff_id in desc.member_builds().items()]
    if group_id(held) != gid:
        raise PyimageError(
            f"{where} is the merge of {', '.join(desc.packages)} with other members or other"
            " builds than the group's; give the files the fleet wrote for this group"
            " (rebuild the image)"
        )
    return desc
