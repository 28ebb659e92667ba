"""What a fleet's plan shares, and what it saves (``pyimage fleet-report``).

From the fleet's images (:mod:`pyimage.fleet.load`), its plan (the lock's
next content: the lock's own when the lock is current) and, when given, the
lock and the descriptors of the fleet's shared layers (``fleet-merge-group``),
the report says:

* per image, its package layers: size and how many images share each;
* per distinct layer (a layer is its member set: same members, same bytes),
  the images that hold it, its blob digest and compressed size, its tar size;
* totals: the compressed bytes the fleet stores once, beside one
  site-packages layer per app (the usual build) and beside no sharing at all
  (what the images pull, each on a node of its own); with declared layers,
  beside the automatic plan of the same images too (nothing declared).

Digests are those of the blobs the images use: a single-package layer's own
blob, a shared layer of the lock from its descriptor. A merged layer the
fleet did not build (not in the lock, or a member rebuilt since; an image
merges it itself) has no digest here, and its sizes are worked out from its
members' descriptors (:func:`pyimage.engine.layer.merged_size`), as is the
one-layer-per-app baseline; a size that is only an upper bound (members with
identical duplicate files) is marked ``~``. ``--json`` writes the same as JSON.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from pyimage import planner
from pyimage.engine import layer
from pyimage.errors import PyimageError
from pyimage.fleet import check, groups
from pyimage.fleet import plan as fleet_plan
from pyimage.fleet.load import FleetImage
from pyimage.formats import lock
from pyimage.text import MIB, members_text


@dataclass
class FleetLayer:
    """One distinct package layer of the fleet."""

    packages: tuple[str, ...]
    tar_bytes: int
    blob_bytes: int
    digest: str | None  # None: the fleet does not build this layer (sizes worked out)
    exact: bool = True  # False: the sizes are an upper bound
    images: list[str] = field(default_factory=list)


def _distinct(members: Iterable[layer.Member]) -> list[layer.Member]:
    """Members once each (the same package blob appears in every image that holds it)."""
    return list({m.descriptor.digest: m for m in members}.values())


def _layer(
    members: Sequence[layer.Member], shared: dict[str, Path], into: str | None
) -> FleetLayer:
    """A layer of the plan: ``into`` is its compression when a declared group chooses it."""
    ids = tuple(sorted(p for m in members for p in m.descriptor.packages))
    gid = groups.shared_id([groups.build_of(m.descriptor) for m in members], into)
    if gid is None:
        d = members[0].descriptor
        return FleetLayer(ids, d.tar_size, d.size, d.digest)
    found = groups.read_group(gid, shared[gid]) if gid in shared else None
    if found is not None:
        return FleetLayer(ids, found.tar_size, found.size, found.digest)
    size = layer.merged_size(members, into)
    return FleetLayer(ids, size.tar, size.blob, None, size.exact)


@dataclass(frozen=True)
class FleetReport:
    """Everything the report says, ready for text or JSON."""

    images: dict[str, list[int]]  # image -> indexes into layers, in image order
    settings: dict[str, dict[str, int]]  # image -> base_layers, reserved_layers, max_layers
    layers: list[FleetLayer]
    stale: list[str]  # why the lock is not the plan ([] when current)
    totals: dict[str, int]


def build(
    images: Sequence[FleetImage],
    plan_path: str,
    lock_path: str | None,
    shared: dict[str, Path],
) -> FleetReport:
    """The report of the plan at ``plan_path`` for ``images``.

    When the plan holds layers the fleet declares, the totals also give what
    the automatic plan of the same images (nothing declared) would store and
    pull, so that the declaration's cost shows.
    """
    plan = lock.read(plan_path, "fleet plan")
    by_name = {im.name: im for im in images}
    layers, per_image = _layers(by_name, plan.layers(), shared, plan_path, plan.declared)
    settings = {
        name: {
            "base_layers": by_name[name].base_layers,
            "reserved_layers": by_name[name].reserved_layers,
            "max_layers": by_name[name].max_layers,
        }
        for name in per_image
    }
    # A site-packages layer per app: apps with the same builds of the same
    # packages would share it (not two platforms' images of one index: the
    # same ids, other bytes).
    one_layer: dict[frozenset[tuple[str, str]], layer.MergedSize] = {}
    for im in images:
        if im.members:
            builds = frozenset((p, m.descriptor.digest) for p, m in im.members.items())
            one_layer[builds] = layer.merged_size(_distinct(im.members.values()))
    every = _distinct(m for im in images for m in im.members.values())
    totals = {
        "fleet_blob_bytes": sum(lay.blob_bytes for lay in layers),
        "fleet_layers": len(layers),
        "no_sharing_blob_bytes": _pulled(layers, per_image),
        "one_layer_per_app_blob_bytes": sum(size.blob for size in one_layer.values()),
        "one_layer_per_app_exact": all(size.exact for size in one_layer.values()),
        "one_layer_per_app_layers": len(one_layer),
        "packages_blob_bytes": sum(m.descriptor.size for m in every),
    }
    if plan.declared:
        auto = lock.parse(fleet_plan.plan_lock(images, None), "the automatic plan")
        auto_layers, auto_images = _layers(
            by_name, auto.layers(), shared, "the automatic plan", planner.NOTHING
        )
        totals["automatic_blob_bytes"] = sum(lay.blob_bytes for lay in auto_layers)
        totals["automatic_pulled_blob_bytes"] = _pulled(auto_layers, auto_images)
        totals["automatic_exact"] = all(lay.exact for lay in auto_layers)
    return FleetReport(per_image, settings, layers, check.compare(lock_path, plan), totals)


def _layers(
    by_name: dict[str, FleetImage],
    planned: lock.Layers,
    shared: dict[str, Path],
    plan_path: str,
    declared: planner.Declared,
) -> tuple[list[FleetLayer], dict[str, list[int]]]:
    """The distinct layers of a plan, and each image's (indexes into them, in its order);
    ``declared``: the plan's declaration (its groups' own compressions)."""
    layers: list[FleetLayer] = []
    # A layer is its members' builds and its compression: other builds of an id (or
    # another compression) are other layers.
    index: dict[tuple[tuple[tuple[str, str], ...], str | None], int] = {}
    per_image: dict[str, list[int]] = {}
    for name in sorted(planned):
        im = by_name.get(name)
        if im is None:
            raise PyimageError(
                f"{plan_path}: image {name} is not in the fleet's inputs; re-plan the fleet"
            )
        per_image[name] = []
        for group in planned[name]:
            members = [_member(im, p, plan_path) for p in sorted(group)]
            into = declared.compression_of(group)
            key = (tuple((m.name, m.descriptor.digest) for m in members), into)
            if key not in index:
                index[key] = len(layers)
                layers.append(_layer(members, shared, into))
            layers[index[key]].images.append(name)
            per_image[name].append(index[key])
    return layers, per_image


def _pulled(layers: list[FleetLayer], per_image: dict[str, list[int]]) -> int:
    """The compressed bytes every image pulls on a node of its own (nothing shared)."""
    return sum(layers[k].blob_bytes for ks in per_image.values() for k in ks)


def _member(im: FleetImage, package: str, plan_path: str) -> layer.Member:
    member = im.members.get(package)
    if member is None:
        raise PyimageError(
            f"{plan_path}: image {im.name}: package {package} is not in the image; "
            "re-plan the fleet"
        )
    return member


def _size(lay: FleetLayer) -> str:
    """A layer's compressed size; ``~`` marks an upper bound (see merged_size)."""
    return f"{' ' if lay.exact else '~'}{lay.blob_bytes / MIB:9.2f} MiB"


def render(report: FleetReport, update_target: str) -> str:
    """The report as text."""
    lines = [f"fleet plan: {len(report.images)} images, {len(report.layers)} distinct layers"]
    if report.stale:
        lines.append(f"the lock is stale; this is the plan `bazel run {update_target}` writes:")
        lines += [f"  - {reason}" for reason in report.stale]
    else:
        lines.append("the lock is current: the images build exactly these layers")
    for name, ks in report.images.items():
        s = report.settings[name]
        total = s["base_layers"] + len(ks) + s["reserved_layers"]
        lines.append("")
        lines.append(
            f"image {name}: {total} layers of at most {s['max_layers']} "
            f"({s['base_layers']} base, {len(ks)} package, {s['reserved_layers']} own)"
        )
        for number, k in enumerate(ks, 1):
            lay = report.layers[k]
            shared = f"{len(lay.images)} images" if len(lay.images) > 1 else "this image"
            shown = members_text(lay.packages)
            lines.append(f"  {number:>3} {_size(lay)}  L{k + 1:<3} {shared:<10}  {shown}")
    lines.append("")
    lines.append("layers (blob digest, compressed size, tar size, images that share it):")
    lines.append(
        "  (not built: a merged layer not in the lock, which each image merges itself; or one"
        " of another platform's builds, which its images merge)"
    )
    for k, lay in enumerate(report.layers):
        digest = lay.digest[7:19] if lay.digest else "(not built)"
        lines.append(
            f"  L{k + 1:<3} {digest:<12} {_size(lay)}  tar {lay.tar_bytes / MIB:.2f} MiB  "
            f"{len(lay.images)} images: {', '.join(lay.images)}"
        )
        lines.append(f"        {len(lay.packages)} packages: {members_text(lay.packages, 8)}")
    t = report.totals
    fleet = t["fleet_blob_bytes"]
    rows = [
        ("this fleet plan, each layer once", fleet, " ", t["fleet_layers"]),
        (
            "one site-packages layer per app",
            t["one_layer_per_app_blob_bytes"],
            " " if t["one_layer_per_app_exact"] else "~",
            t["one_layer_per_app_layers"],
        ),
        ("this plan if images shared nothing", t["no_sharing_blob_bytes"], " ", None),
        ("every package once (the floor)", t["packages_blob_bytes"], " ", None),
    ]
    if "automatic_blob_bytes" in t:
        # What the declared layers cost: the plan of the same images without them.
        mark = " " if t["automatic_exact"] else "~"
        rows += [
            ("automatic plan, nothing declared", t["automatic_blob_bytes"], mark, None),
            ("it, if images shared nothing", t["automatic_pulled_blob_bytes"], mark, None),
        ]
    lines.append("")
    lines.append("totals: compressed package-layer bytes a registry stores (~: an upper bound)")
    for label, n, mark, count in rows:
        ratio = f"{n / fleet:5.2f}x this plan" if fleet else ""
        layers = f"  {count} layers" if count is not None else ""
        lines.append(f"  {label:<36} {mark}{n / MIB:10.2f} MiB  {ratio}{layers}")
    return "\n".join(lines)


def to_json(report: FleetReport) -> dict[str, Any]:
    """The report as a JSON document (layers numbered from 0, as in ``images``)."""
    return {
        "format": "rules_pyimage.fleet-report/v1",
        "images": {
            name: {**report.settings[name], "layers": ks} for name, ks in report.images.items()
        },
        "layers": [{**asdict(lay), "packages": list(lay.packages)} for lay in report.layers],
        "lock_current": not report.stale,
        "stale": report.stale,
        "totals": report.totals,
    }
