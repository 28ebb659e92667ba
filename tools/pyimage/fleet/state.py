"""A fleet's state, from what its images built (``pyimage fleet-state``).

Each image's layers come from its layout (index, manifest and config: no
layer blob is read), its plan report (how many base and interpreter layers
lead) and its app layers' blobs (one per binary; a digest is its file's sha256). The
baselines are the same images with their pip packages laid out as the
usual builds do (:mod:`pyimage.planner.baselines`): one site-packages layer
per app, and the heavy-list; their base, interpreter and app layers are
ours. See :mod:`pyimage.formats.state` for the document.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from pyimage import jsonio
from pyimage.engine import layer, oci_layout
from pyimage.errors import PyimageError
from pyimage.fleet import groups
from pyimage.fleet.load import FleetImage
from pyimage.formats import plan_report
from pyimage.formats import state as state_format
from pyimage.formats.state import FleetState, ImageState, StateLayer
from pyimage.planner import baselines

#: The baselines of a state (the names its format lists) -> the strategy that lays out one
#: image's packages.
BASELINES: dict[str, baselines.Baseline] = dict(
    zip(state_format.BASELINES, (baselines.one_layer, baselines.heavy_list), strict=True)
)


@dataclass(frozen=True)
class BuiltImage:
    """The outputs of one image's ``py_image_layers``."""

    name: str
    layout: Path
    plan: Path
    app_layers: tuple[Path, ...]


def _file_digest(path: Path) -> tuple[str, int]:
    sha = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while chunk := f.read(1 << 20):
                sha.update(chunk)
                size += len(chunk)
    except OSError as err:
        raise PyimageError(f"app layer {path}: cannot read it ({err.strerror}); rebuild") from err
    return f"sha256:{sha.hexdigest()}", size


def _kinds(plan: Mapping[str, object], count: int, where: Path) -> list[str]:
    """The kind of each layer of a layout, from its plan report's counts."""
    base = int(plan["base_layers"])  # type: ignore[call-overload]
    interpreter = 1 if plan.get("interpreter_layer") else 0
    packages = int(plan["package_layers"])  # type: ignore[call-overload]
    libraries = len(plan.get("libraries", []))  # type: ignore[arg-type]
    if base + interpreter + packages + libraries != count:
        raise PyimageError(
            f"{where}: the plan report counts {base + interpreter + packages + libraries} layers,"
            f" the layout has {count}; rebuild the image (its outputs are of two builds)"
        )
    kinds = ["base"] * base + ["interpreter"] * interpreter + ["package"] * packages
    return kinds + ["library"] * libraries


def image_layers(built: BuiltImage) -> tuple[str, int, list[StateLayer]]:
    """(platform, metadata bytes, layers bottom to top, the app layers last) of one built image."""
    summary = oci_layout.summarize(built.layout)
    where = f"plan report {built.plan}"
    plan = plan_report.check(jsonio.load(built.plan, "plan report", "rebuild the image"), where)
    kinds = _kinds(plan, len(summary.layers), built.layout)
    layers = []
    for kind, lay in zip(kinds, summary.layers, strict=True):
        notes = lay.get("annotations")
        held = notes.get(oci_layout.PACKAGES_ANNOTATION, "") if isinstance(notes, dict) else ""
        packages = tuple(p for p in str(held).split(",") if p) if kind == "package" else ()
        size = lay["size"]
        assert isinstance(size, int)
        layers.append(StateLayer(str(lay["digest"]), size, kind, packages))
    for app in built.app_layers:
        digest, size = _file_digest(app)
        layers.append(StateLayer(digest, size, "app"))
    return summary.platform, summary.metadata_bytes, layers


def _baseline_layer(members: Sequence[layer.Member]) -> StateLayer:
    ids = tuple(sorted(p for m in members for p in m.descriptor.packages))
    if len(members) == 1:
        d = members[0].descriptor
        return StateLayer(d.digest, d.size, "package", ids)
    size = layer.merged_size(members)
    gid = groups.group_id(groups.build_of(m.descriptor) for m in members)
    return StateLayer(f"layer-of:{gid}", size.blob, "package", ids, size.exact)


def _baselines(image: FleetImage, ours: list[StateLayer]) -> dict[str, tuple[StateLayer, ...]]:
    """Each baseline's layers of ``image``: ours, with its own package layers."""
    sizes = {p: m.descriptor.size for p, m in image.members.items()}
    below = [lay for lay in ours if lay.kind in ("base", "interpreter")]
    app = [lay for lay in ours if lay.kind in ("library", "app")]
    out = {}
    for name, strategy in BASELINES.items():
        planned = strategy(sizes, {image.name: sorted(image.members)}, {image.name: 0}, 0, 0)
        packages = [
            _baseline_layer([image.members[p] for p in group]) for group in planned[image.name]
        ]
        out[name] = tuple(below + packages + app)
    return out


def build(fleet: str, images: Sequence[FleetImage], built: Sequence[BuiltImage]) -> FleetState:
    """The state of ``fleet``: every image as built, and as the baselines would build it."""
    by_name = {im.name: im for im in images}
    states: dict[tuple[str, str], ImageState] = {}
    for one in built:
        image = by_name.get(one.name)
        if image is None:
            raise PyimageError(
                f"image {one.name} is built but not in the fleet's inputs; list it in the fleet"
            )
        platform, metadata, layers = image_layers(one)
        if (one.name, platform) in states:
            raise PyimageError(f"image {one.name} ({platform}) is given twice; give it once")
        states[(one.name, platform)] = ImageState(
            tuple(layers), metadata, _baselines(image, layers)
        )
    return FleetState(fleet, states)
