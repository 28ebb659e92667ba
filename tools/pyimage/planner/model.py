"""The planner's model: its inputs and outputs, its limits, and their one validation.

Sizes are bytes of the uncompressed package tars; ``Package.id`` is
``name==version``. Every check of input the planner relies on is here, each
failing with one :class:`~pyimage.errors.PyimageError` line.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from pyimage.errors import PyimageError

#: Docker's classic layer store refuses images of more than 125 layers.
MAX_LAYERS_LIMIT = 125
#: Default cap on all layers of an image (base + reserved + packages); see
#: docs/layer-planning.md for the measurements behind it.
DEFAULT_MAX_LAYERS = 60
#: Layers the fleet command reserves on top of the base: interpreter and app.
FLEET_RESERVED_LAYERS = 2
#: A layer under this size costs a request and an extraction for little gain.
SMALL_LAYER_BYTES = 1 << 20
REASON_LARGE = "large package alone"
REASON_KEPT = "kept from previous plan"
REASON_CAP = "merged to fit the cap"
REASON_SMALL = "merged small layers"


@dataclass(frozen=True)
class Package:
    """One pip package version: ``id`` is ``name==version``."""

    id: str
    bytes: int


@dataclass(frozen=True)
class Image:
    """An image: its package ids and how many layers its base image has."""

    name: str
    packages: tuple[str, ...]
    base_layers: int = 0


@dataclass(frozen=True)
class Layer:
    """One planned package layer: sorted member ids, total bytes, why."""

    packages: tuple[str, ...]
    bytes: int
    reason: str


@dataclass(frozen=True)
class ImagePlan:
    """The package layers of one image, bottom to top."""

    name: str
    layers: tuple[Layer, ...]
    budget: int
    base_layers: int


@dataclass(frozen=True)
class Plan:
    """A fleet plan: one :class:`ImagePlan` per image, sorted by name."""

    images: tuple[ImagePlan, ...]
    max_layers: int
    reserved_layers: int

    def image(self, name: str) -> ImagePlan:
        """The plan of the image called ``name``."""
        for img in self.images:
            if img.name == name:
                return img
        raise KeyError(name)


#: A previous plan: image name -> its package layers, each a list of ids.
PreviousPlan = Mapping[str, Sequence[Sequence[str]]]
#: A plan as plain layers: image name -> its package layers (ids).
PlanLayers = Mapping[str, Sequence[Sequence[str]]]


def check_max_layers(max_layers: int) -> None:
    """Refuse a cap the runtimes cannot load."""
    if max_layers > MAX_LAYERS_LIMIT:
        raise PyimageError(
            f"max_layers {max_layers} is above {MAX_LAYERS_LIMIT}: Docker's layer store "
            f"refuses images of more than {MAX_LAYERS_LIMIT} layers ('max depth exceeded'); "
            f"use at most {MAX_LAYERS_LIMIT}"
        )
    if max_layers < 1:
        raise PyimageError(f"max_layers {max_layers} must be at least 1")


def package_budget(image: Image, max_layers: int, reserved_layers: int) -> int:
    """Package layers ``image`` may have under the cap; errors if none fit."""
    budget = max_layers - image.base_layers - reserved_layers
    if budget < (1 if image.packages else 0):
        need = image.base_layers + reserved_layers + (1 if image.packages else 0)
        fix = (
            f"raise max_layers to at least {need}"
            if need <= MAX_LAYERS_LIMIT
            else f"no cap can hold it (at most {MAX_LAYERS_LIMIT} layers): use a base with"
            f" fewer layers, or reserve fewer than {reserved_layers}"
        )
        raise PyimageError(
            f"image '{image.name}': max_layers {max_layers} leaves no room for a package "
            f"layer (base {image.base_layers} + reserved {reserved_layers} layers); {fix}"
        )
    return budget


def validate(
    packages: Sequence[Package], images: Sequence[Image], reserved_layers: int
) -> dict[str, int]:
    """Package id -> size, once every package and image is checked (one error line)."""
    if reserved_layers < 0:
        raise PyimageError(f"reserved_layers {reserved_layers} must not be negative")
    sizes: dict[str, int] = {}
    for pkg in packages:
        if not isinstance(pkg.id, str) or not pkg.id:
            raise PyimageError(f"package id {pkg.id!r} must be a non-empty 'name==version'")
        if pkg.id in sizes:
            raise PyimageError(f"package '{pkg.id}' is listed twice; list each package once")
        if isinstance(pkg.bytes, bool) or not isinstance(pkg.bytes, int) or pkg.bytes < 0:
            raise PyimageError(
                f"package '{pkg.id}': size {pkg.bytes!r} must be a non-negative integer "
                "number of bytes"
            )
        sizes[pkg.id] = pkg.bytes
    names: set[str] = set()
    for img in images:
        if img.name in names:
            raise PyimageError(f"image '{img.name}' is listed twice; give each image once")
        names.add(img.name)
        if (
            isinstance(img.base_layers, bool)
            or not isinstance(img.base_layers, int)
            or img.base_layers < 0
        ):
            raise PyimageError(
                f"image '{img.name}': base_layers {img.base_layers!r} must be a "
                "non-negative integer"
            )
        seen: set[str] = set()
        for p in img.packages:
            if p not in sizes:
                raise PyimageError(
                    f"image '{img.name}' uses package '{p}' that has no size; add it to "
                    "the packages with its installed_bytes"
                )
            if p in seen:
                raise PyimageError(f"image '{img.name}' lists package '{p}' twice; list it once")
            seen.add(p)
    return sizes
