"""The input documents of pyimage's commands, each read and checked here.

* FLEET.json and IMAGE.json: what ``pyimage plan`` plans (the planner's
  contract with outside benchmarks, see docs/layer-planning.md);
* FLEET_INPUTS.json: what the Bazel rule ``py_image_fleet`` hands the
  ``fleet-*`` commands: the fleet's label and the layers it declares (see
  :mod:`pyimage.planner.declared`; both optional), and per image (named by
  its label) its cap, the layers it reserves (app, and the interpreter when
  it has one), its base layout (or none), its platform and its packages'
  cached outputs with the label each is built from::

    {"fleet": "//:fleet",
     "declared": {"groups": {"gpu": ["torch", "nvidia-*"]}, "alone": ["numpy"]},
     "images": {"//apps/api:image": {
        "max_layers": 60, "reserved_layers": 1, "base": "path/to/layout" | null,
        "platform": "linux/amd64",
        "packages": [{"descriptor": "...json", "blob": "...tar.gz",
                      "label": "@@rules_python~~pip~pypi//six"}]}}}

* LAYERS.json: the layers ``pyimage layout`` writes,
  ``{"layers": [{"members": [{"descriptor", "blob"}]}]}``;
* the ``DESC BLOB`` pairs of the command line.

They are parsed into paths and numbers: reading the files they name (the
descriptors, a base layout) is the business of the modules that use them.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from pyimage import jsonio, planner
from pyimage.errors import PyimageError

_FIX_PLAN_INPUT = "see the fleet format in docs/layer-planning.md"
_FIX_BAZEL_INPUT = "rebuild it with Bazel"


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PyimageError(f"{what} must be a JSON object")
    return value


def _count(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise PyimageError(f"{what} {json.dumps(value)} must be a non-negative integer")
    return value


# --- FLEET.json and IMAGE.json (`pyimage plan`) --------------------------------


def _size(path: str, pkg: str, value: Any) -> int:
    entry = _object(value, f"{path}: package '{pkg}'")
    if "installed_bytes" not in entry:
        raise PyimageError(f"{path}: package '{pkg}' has no installed_bytes; add its size")
    return _count(entry["installed_bytes"], f"{path}: package '{pkg}' has installed_bytes")


def _packages(path: str, value: Any) -> list[planner.Package]:
    table = _object(value, f'{path}: "packages"')
    return [planner.Package(pkg, _size(path, pkg, entry)) for pkg, entry in table.items()]


def _base_layers(path: str, name: str, entry: Mapping[str, Any]) -> int:
    return _count(entry.get("base_layers", 0), f"{path}: image '{name}' has base_layers")


def _package_list(path: str, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise PyimageError(f"{path}: image '{name}' packages must be a list of ids")
    return tuple(value)


def read_fleet(path: str) -> tuple[list[planner.Package], list[planner.Image]]:
    """Packages and images of a FLEET.json file."""
    data = _object(jsonio.load(path, "fleet", _FIX_PLAN_INPUT), path)
    for key in ("packages", "images"):
        if key not in data:
            raise PyimageError(f'{path}: no "{key}" object; see the fleet format in docs')
    packages = _packages(path, data["packages"])
    images = []
    for name, entry in _object(data["images"], f'{path}: "images"').items():
        obj = _object(entry, f"{path}: image '{name}'")
        packages_of = _package_list(path, name, obj.get("packages", []))
        images.append(planner.Image(name, packages_of, _base_layers(path, name, obj)))
    return packages, images


def read_image(path: str) -> tuple[list[planner.Package], planner.Image]:
    """Packages and the image of an IMAGE.json file (single-image form)."""
    data = _object(jsonio.load(path, "image", _FIX_PLAN_INPUT), path)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise PyimageError(f'{path}: "name" must be the image name, a non-empty string')
    packages = _packages(path, data.get("packages", {}))
    image = planner.Image(name, tuple(p.id for p in packages), _base_layers(path, name, data))
    return packages, image


# --- FLEET_INPUTS.json (`pyimage fleet-*`) -------------------------------------


class MemberSpec(NamedTuple):
    """A layer's files, as a document names them: descriptor, blob, and its label if known."""

    descriptor: Path
    blob: Path
    label: str | None = None


@dataclass(frozen=True)
class FleetImageSpec:
    """One image of FLEET_INPUTS.json, as written: settings and paths."""

    name: str
    max_layers: int
    reserved_layers: int
    platform: str
    base: Path | None
    packages: tuple[MemberSpec, ...]
    #: The labels of its first-party libraries of their own layers.
    libraries: tuple[str, ...] = ()


_MEMBER_KEYS = ("blob", "descriptor")


def _member(item: Any, where: str, labelled: bool = False) -> MemberSpec:
    keys = (*_MEMBER_KEYS, "label") if labelled else _MEMBER_KEYS
    ok = (
        isinstance(item, dict)
        and set(_MEMBER_KEYS) <= set(item) <= set(keys)
        and all(isinstance(item[k], str) and item[k] for k in item)
    )
    if not ok:
        named = "a 'descriptor' and a 'blob' path" + (" (and a 'label')" if labelled else "")
        raise PyimageError(f"{where} {item!r} needs exactly {named}; fix the file")
    return MemberSpec(Path(item["descriptor"]), Path(item["blob"]), item.get("label"))


@dataclass(frozen=True)
class FleetInputs:
    """FLEET_INPUTS.json, read: the fleet (how messages name it), its declared layers
    and its images."""

    fleet: str
    declared: planner.Declared
    images: list[FleetImageSpec]


def read_inputs(path: str) -> FleetInputs:
    """Read FLEET_INPUTS.json: the fleet's declared layers, and each image's cap, reserved
    layers, base and packages."""
    doc = jsonio.load(path, "fleet inputs", _FIX_BAZEL_INPUT)
    images = doc.get("images") if isinstance(doc, dict) else None
    if not isinstance(images, dict) or not images:
        raise PyimageError(f"{path}: needs an 'images' object with at least one image")
    fleet = doc.get("fleet", "")
    if not isinstance(fleet, str):
        raise PyimageError(f"{path}: 'fleet' must be the fleet's label")
    where = f"fleet {fleet}" if fleet else f"{path}: the fleet"
    return FleetInputs(
        fleet,
        declared_of(doc.get("declared", {}), where),
        [_fleet_image(name, images[name], f"{path}: image '{name}'") for name in sorted(images)],
    )


def declared_of(value: Any, where: str) -> planner.Declared:
    """A declaration as the rules write it, ``{"groups": {name: [pattern]}, "alone":
    [pattern], "compression": {name: "zstd"}}`` (each may be left out), checked;
    errors begin with ``where``."""
    record = _object(value, f"{where}: its declared layers")
    groups, alone = record.get("groups", {}), record.get("alone", [])
    chosen = record.get("compression", {})
    if not isinstance(groups, dict) or not all(isinstance(v, list) for v in groups.values()):
        raise PyimageError(f"{where}: layer_groups must map names to lists of packages")
    if not isinstance(alone, list):
        raise PyimageError(f"{where}: alone_packages must be a list of packages")
    if not isinstance(chosen, dict) or not all(isinstance(v, str) for v in chosen.values()):
        raise PyimageError(f"{where}: group_compression must map group names to gzip or zstd")
    return planner.declared(groups, alone, where, chosen)


def _fleet_image(name: str, entry: Any, where: str) -> FleetImageSpec:
    if not isinstance(entry, dict):
        raise PyimageError(f"{where} must be an object")
    platform = entry.get("platform", "linux/amd64")
    if not isinstance(platform, str):
        raise PyimageError(f"{where}: 'platform' must be a string such as linux/amd64")
    base = entry.get("base")
    if base is not None and (not isinstance(base, str) or not base):
        raise PyimageError(f"{where}: 'base' must be the path of an OCI layout, or null")
    items = entry.get("packages", [])
    if not isinstance(items, list):
        raise PyimageError(f"{where}: 'packages' must be a list")
    libraries = entry.get("libraries", [])
    if not isinstance(libraries, list) or not all(isinstance(x, str) and x for x in libraries):
        raise PyimageError(f"{where}: 'libraries' must be a list of labels")
    return FleetImageSpec(
        name,
        _count(entry.get("max_layers"), f"{where}: 'max_layers'"),
        _count(entry.get("reserved_layers"), f"{where}: 'reserved_layers'"),
        platform,
        Path(base) if base else None,
        tuple(_member(item, f"{where}: package item", labelled=True) for item in items),
        tuple(sorted(libraries)),
    )


def fleet_input_paths(images: Sequence[FleetImageSpec]) -> dict[str, Path]:
    """Every file or folder FLEET_INPUTS.json names, by how messages name them."""
    out: dict[str, Path] = {}
    for im in images:
        if im.base is not None:
            out[f"the base of {im.name}"] = im.base
        out.update(member_paths(im.packages, f"a package of {im.name}:"))
    return out


# --- LAYERS.json (`pyimage layout`) --------------------------------------------


def read_layers_file(path: Path) -> list[tuple[MemberSpec, ...]]:
    """Read a LAYERS.json: ``{"layers": [{"members": [{"descriptor", "blob"}]}]}``."""
    obj = jsonio.load(path, "layers file", "fix it")
    raw = obj.get("layers") if isinstance(obj, dict) else None
    if not isinstance(raw, list):
        raise PyimageError(f"layers file {path}: needs a 'layers' list; see docs/layer-engine.md")
    out = []
    for i, item in enumerate(raw):
        members = item.get("members") if isinstance(item, dict) else None
        if not isinstance(members, list) or not members:
            raise PyimageError(f"layers file {path}: layer {i} has no 'members' list; fix it")
        out.append(tuple(_member(m, f"layers file {path}: layer {i} member") for m in members))
    return out


# --- DESC BLOB pairs of the command line ----------------------------------------


def add_member_flag(
    parser: argparse.ArgumentParser, flag: str, help: str, *, repeat: bool = True
) -> None:
    """Add ``flag DESC BLOB`` (repeatable unless ``repeat`` is False) to ``parser``."""
    if repeat:
        parser.add_argument(
            flag, nargs=2, action="append", metavar=("DESC", "BLOB"), default=[], help=help
        )
    else:
        parser.add_argument(flag, nargs=2, metavar=("DESC", "BLOB"), help=help)


def members_from_args(pairs: Sequence[Sequence[str]] | None) -> list[MemberSpec]:
    """The ``DESC BLOB`` pairs of a flag (argparse checks there are two)."""
    return [MemberSpec(Path(desc), Path(blob)) for desc, blob in pairs or []]


def member_paths(members: Sequence[MemberSpec], flag: str) -> dict[str, Path]:
    """The files of ``members`` by how messages name them (``--package 2 blob``)."""
    out: dict[str, Path] = {}
    for i, m in enumerate(members, 1):
        out[f"{flag} {i} descriptor"] = m.descriptor
        out[f"{flag} {i} blob"] = m.blob
    return out
