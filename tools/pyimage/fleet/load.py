"""The images of FLEET_INPUTS.json, their packages' descriptors and bases read once."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyimage import planner
from pyimage.engine import layer, oci_layout
from pyimage.errors import PyimageError
from pyimage.formats.inputs import FleetImageSpec


@dataclass(frozen=True)
class FleetImage:
    """One image of a fleet: its settings, base layer count and packages (id -> member)."""

    name: str
    max_layers: int
    reserved_layers: int
    base_layers: int
    members: dict[str, layer.Member]
    #: Package id -> the label it is built from (when the inputs say).
    labels: dict[str, str] = field(default_factory=dict)
    base: Path | None = None
    #: Its platform, ``os/arch[/variant]``.
    platform: str = "linux/amd64"
    #: The labels of its first-party libraries of their own layers.
    libraries: tuple[str, ...] = ()


def load_image(spec: FleetImageSpec) -> FleetImage:
    """Read the descriptors and the base an image's spec names; check its cap."""
    platform = oci_layout.Platform.parse(spec.platform)
    base_layers = oci_layout.read_base(spec.base, platform).layer_count if spec.base else 0
    members: dict[str, layer.Member] = {}
    labels: dict[str, str] = {}
    for item in spec.packages:
        member = layer.load_member(item.descriptor, item.blob)
        for pkg in member.descriptor.packages:
            other = members.get(pkg)
            if other is not None and other.descriptor.digest != member.descriptor.digest:
                raise PyimageError(
                    f"image '{spec.name}' holds two builds of {pkg} ({other.descriptor.digest} in"
                    f" {other.blob} and {member.descriptor.digest} in {member.blob});"
                    " an image takes one: depend on one of them"
                )
            members[pkg] = member
            if item.label:
                labels[pkg] = item.label
    image = FleetImage(
        spec.name,
        spec.max_layers,
        spec.reserved_layers,
        base_layers,
        members,
        labels,
        spec.base,
        str(platform),
        spec.libraries,
    )
    planner.check_max_layers(image.max_layers)
    planner.package_budget(
        planner.Image(spec.name, tuple(members), base_layers),
        image.max_layers,
        image.reserved_layers,
    )
    return image


def load_images(specs: Sequence[FleetImageSpec]) -> list[FleetImage]:
    """:func:`load_image` of each spec, in their order; all of one compression.

    A fleet has one compression: a layer's identity includes it, so images
    of two would share no layer (refused in one line, naming one of each).
    """
    images = [load_image(spec) for spec in specs]
    seen: dict[str, str] = {}
    for im in images:
        for member in im.members.values():
            seen.setdefault(member.descriptor.compression, im.name)
    if len(seen) > 1:
        (a, im_a), (b, im_b) = sorted(seen.items())[:2]
        raise PyimageError(
            f"images '{im_a}' ({a}) and '{im_b}' ({b}) of one fleet have two compressions;"
            " give every image of a fleet the same `compression`"
        )
    return images
