"""A fleet's state (``<fleet>.state.json``): the one owner of its format.

What every image of a fleet holds as built, per platform: its layers bottom to
top (base, interpreter, package, library and app layers), each a digest and a
compressed size, and the same images as two baselines would build them (one
site-packages layer per app; the heavy-list). ``bazel build //:fleet.report``
writes it; ``bazel run //:fleet.report -- --since OLD`` compares the state of
now with an old one (:mod:`pyimage.fleet.rollout`)::

    {"format": "rules_pyimage.fleet-state/v1", "fleet": "//:fleet",
     "images": {"//apps/api:image": {"linux/amd64": {
        "layers": [{"digest": "sha256:...", "size": n, "kind": "base",
                    "packages": [], "exact": true}, ...],
        "metadata_bytes": n,
        "baselines": {"one-layer-per-app": [...], "heavy-list": [...]}}}}}

``kind`` is ``base``, ``interpreter``, ``package``, ``library`` (a first-party
library's layer of its own; a state written before them has none) or ``app``. A baseline's
package layer was never built: its ``digest`` is ``layer-of:<id>``, an id of
its members' builds (another build of a member is another layer), and its
size is worked out from the members (``exact`` false: an upper bound).
``metadata_bytes`` is the image's config and manifest as our layout writes
them (rules_oci's differ by a few bytes), counted apart from the layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pyimage import jsonio
from pyimage.errors import PyimageError
from pyimage.formats.lock import FORMAT_PREFIX as LOCK_FORMAT_PREFIX

FORMAT = "rules_pyimage.fleet-state/v1"
KINDS = ("base", "interpreter", "package", "library", "app")
BASELINES = ("one-layer-per-app", "heavy-list")


@dataclass(frozen=True)
class StateLayer:
    """One layer of an image: its blob's digest (or a baseline's layer id) and size."""

    digest: str
    size: int
    kind: str
    packages: tuple[str, ...] = ()
    exact: bool = True


@dataclass(frozen=True)
class ImageState:
    """One image on one platform."""

    layers: tuple[StateLayer, ...]
    metadata_bytes: int
    baselines: Mapping[str, tuple[StateLayer, ...]] = field(default_factory=dict)


@dataclass(frozen=True)
class FleetState:
    """Every image of a fleet, by (image, platform)."""

    fleet: str
    images: Mapping[tuple[str, str], ImageState]


def _layer_json(lay: StateLayer) -> dict[str, Any]:
    return {
        "digest": lay.digest,
        "exact": lay.exact,
        "kind": lay.kind,
        "packages": list(lay.packages),
        "size": lay.size,
    }


def to_json(state: FleetState) -> dict[str, Any]:
    images: dict[str, dict[str, Any]] = {}
    for (name, platform), image in sorted(state.images.items()):
        images.setdefault(name, {})[platform] = {
            "baselines": {
                b: [_layer_json(lay) for lay in layers] for b, layers in image.baselines.items()
            },
            "layers": [_layer_json(lay) for lay in image.layers],
            "metadata_bytes": image.metadata_bytes,
        }
    return {"fleet": state.fleet, "format": FORMAT, "images": images}


def write(path: str | Path, state: FleetState) -> None:
    jsonio.write(path, to_json(state))


class _Reader:
    """Checks a state document's parts, each error one line naming the file."""

    def __init__(self, path: str | Path, fix: str) -> None:
        self.path = path
        self.fix = fix

    def fail(self, what: str) -> PyimageError:
        return PyimageError(f"fleet state {self.path}: {what}; {self.fix}")

    def layers(self, value: object, where: str) -> tuple[StateLayer, ...]:
        if not isinstance(value, list):
            raise self.fail(f"{where} is not a list of layers")
        out = []
        for item in value:
            ok = (
                isinstance(item, dict)
                and isinstance(item.get("digest"), str)
                and isinstance(item.get("size"), int)
                and not isinstance(item.get("size"), bool)
                and item["size"] >= 0
                and item.get("kind") in KINDS
                and isinstance(item.get("packages", []), list)
                and all(isinstance(p, str) for p in item.get("packages", []))
                and isinstance(item.get("exact", True), bool)
            )
            if not ok:
                raise self.fail(f"{where}: a layer is not {{digest, size, kind, packages}}")
            packages = tuple(item.get("packages", []))
            out.append(
                StateLayer(item["digest"], item["size"], item["kind"], packages, item["exact"])
            )
        return tuple(out)

    def image(self, value: object, where: str) -> ImageState:
        if not isinstance(value, dict):
            raise self.fail(f"{where} is not an object")
        metadata = value.get("metadata_bytes")
        if isinstance(metadata, bool) or not isinstance(metadata, int):
            raise self.fail(f"{where}: 'metadata_bytes' is not a number")
        baselines = value.get("baselines", {})
        if not isinstance(baselines, dict):
            raise self.fail(f"{where}: 'baselines' is not an object")
        return ImageState(
            self.layers(value.get("layers"), f"{where} layers"),
            metadata,
            {b: self.layers(v, f"{where} baseline {b}") for b, v in sorted(baselines.items())},
        )


def read(path: str | Path, fleet: str | None, fix: str) -> FleetState:
    """The state at ``path``, checked to be a state of ``fleet`` (None: of any fleet)."""
    doc = jsonio.load(path, "fleet state", fix)
    reader = _Reader(path, fix)
    kind = doc.get("format") if isinstance(doc, dict) else None
    if isinstance(kind, str) and kind.startswith(LOCK_FORMAT_PREFIX):
        raise reader.fail("this is a fleet lock, not a state: a lock has no image's layers")
    if kind != FORMAT:
        shown = repr(kind) if isinstance(kind, str) else "none"
        raise reader.fail(f"format {shown} is not a fleet state of this rules_pyimage ({FORMAT})")
    if not isinstance(doc.get("fleet"), str):
        raise reader.fail("it names no fleet")
    if fleet not in (None, doc["fleet"]):
        raise reader.fail(f"it is the state of fleet {doc['fleet']!r}, not of {fleet}")
    images = doc.get("images")
    if not isinstance(images, dict):
        raise reader.fail("'images' is not an object")
    out: dict[tuple[str, str], ImageState] = {}
    for name, platforms in sorted(images.items()):
        if not isinstance(platforms, dict):
            raise reader.fail(f"image {name} is not an object of platforms")
        for platform, value in sorted(platforms.items()):
            out[(name, platform)] = reader.image(value, f"image {name} ({platform})")
    return FleetState(doc["fleet"], out)
