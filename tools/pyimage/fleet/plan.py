"""The next lock of a fleet: every image planned at once, keeping the last lock's layers.

A package is its id and its build (:data:`pyimage.fleet.groups.Build`: its
``diff_id`` and compression): two images of one fleet may hold ``six==1.16.0``
built differently (another platform, a patched wheel, a second pip hub). The
fleet plans such builds as two packages, never one layer. A layer of the
last lock is kept where each member is still the bytes it records (its
``diff_id``; a v2 lock's blob digest, read once to migrate it), else its
packages are planned again like a new version.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from pyimage import planner
from pyimage.fleet.groups import Build, build_of, build_of_planner_id, planner_id, shared_id
from pyimage.fleet.load import FleetImage
from pyimage.formats import lock
from pyimage.formats.lock import LockFile, LockImage, LockLayer, LockPackage
from pyimage.planner.declared import check_compressions, check_used


def _own_mark(image: FleetImage, pid: str, marks: str | None) -> str | None:
    """What a lock of this kind records of ``pid``'s bytes in ``image`` (None: nothing)."""
    desc = image.members[pid].descriptor
    return {"diff_ids": desc.diff_id, "digests": desc.digest}.get(marks or "")


def _previous_id(
    image: FleetImage | None, pid: str, recorded: str | None, marks: str | None
) -> str:
    """The planner's id of a member of a previous layer of ``image``.

    The image's own build when the previous lock records its bytes, or records
    none (a lock from before digests: its layout is kept); otherwise an id
    that matches nothing, so that a rebuilt package is planned again like a
    new version.
    """
    if image is None or pid not in image.members:
        return f"{pid}  "
    if recorded is not None and recorded != _own_mark(image, pid, marks):
        return f"{pid}  "
    return planner_id(build_of(image.members[pid].descriptor))


def _prior(images: Sequence[FleetImage], previous: LockFile) -> dict[str, list[list[str]]]:
    """The previous layers of each image, in planner ids, for the planner to keep."""
    by_name = {im.name: im for im in images}
    out = {}
    for name, entry in previous.images.items():
        image = by_name.get(name)
        out[name] = [
            [_previous_id(image, p, lay.marks.get(p), previous.marks) for p in lay.packages]
            for lay in entry.layers
        ]
    return out


def _labels(images: Sequence[FleetImage]) -> dict[Build, str]:
    """The label each build is made from: the first, sorted, that an image names."""
    out: dict[Build, str] = {}
    for im in images:
        for pid, label in im.labels.items():
            build = build_of(im.members[pid].descriptor)
            if build not in out or label < out[build]:
                out[build] = label
    return out


def plan_lock(
    images: Sequence[FleetImage],
    previous: LockFile | None,
    declared: planner.Declared = planner.NOTHING,
    where: str = "the fleet",
) -> dict[str, object]:
    """The lock document of ``images``, keeping the layers of ``previous`` that still fit.

    The layers the fleet ``declares`` come first (each pattern must match a
    package of some image; errors begin with ``where``), and the lock records
    them; a group's layer of its own compression says so, and is a shared layer
    (:func:`~pyimage.fleet.groups.shared_id`) even of one package.

    Caps and reserved layers may differ between images: the planner's one cap
    is the largest, and each image's base is counted larger by the
    difference, so that every image gets exactly its own budget. The lock
    records each image's real ``base_layers``, ``max_layers`` and
    ``reserved_layers``. A layer kept from ``previous`` (the same members)
    keeps its reason there: an unchanged fleet rewrites no line of its lock.
    """
    top = max(im.max_layers for im in images)
    sizes: dict[str, int] = {}
    for im in images:
        for member in im.members.values():
            sizes[planner_id(build_of(member.descriptor))] = member.descriptor.tar_size
    check_used(declared, sizes, where)
    for compression in {build_of_planner_id(q)[2] for q in sizes}:  # a fleet has one
        check_compressions(declared, compression, where)
    planned = planner.plan_fleet(
        [planner.Package(pid, size) for pid, size in sizes.items()],
        [
            planner.Image(
                im.name,
                tuple(sorted(planner_id(build_of(m.descriptor)) for m in im.members.values())),
                im.base_layers + im.reserved_layers + (top - im.max_layers),
            )
            for im in images
        ],
        top,
        reserved_layers=0,
        previous=_prior(images, previous) if previous else None,
        declared=declared,
        where=where,
    )
    labels = _labels(images)
    entries: dict[str, LockImage] = {}
    builds: dict[tuple[str, str], LockPackage] = {}
    for im, img in zip(images, [planned.image(im.name) for im in images], strict=True):
        old = _reasons(previous.images.get(im.name)) if previous else {}
        layers = []
        for lay in img.layers:
            members = [build_of_planner_id(key) for key in lay.packages]
            ids = tuple(pid for pid, _, _ in members)
            why = old.get(tuple(sorted(ids)))
            reason = why if why is not None and lay.reason == planner.REASON_KEPT else lay.reason
            into = declared.compression_of(ids)
            gid = shared_id(members, into)
            layers.append(LockLayer(ids, {p: d for p, d, _ in members}, reason, gid, into))
            for build in members:
                builds[build[:2]] = LockPackage(build[2], labels.get(build, ""))
        settings = {
            "base_layers": im.base_layers,
            "max_layers": im.max_layers,
            "reserved_layers": im.reserved_layers,
        }
        entries[im.name] = LockImage(tuple(layers), settings, im.platform, im.libraries)
    return lock.lock_document(entries, builds, declared)


def _reasons(entry: LockImage | None) -> Mapping[tuple[str, ...], str]:
    """The recorded reason of each layer of an image's entry, by its sorted members."""
    if entry is None:
        return {}
    return {tuple(sorted(lay.packages)): lay.reason for lay in entry.layers}
