"""Fleet locks and plan documents as files: the one owner of their format.

A plan document (PLAN.json, written by ``pyimage plan``, the planner's
contract with outside benchmarks)::

    {"max_layers": 60, "reserved_layers": 2, "images": {name: {
        "base_layers": b, "package_layer_budget": n,
        "layers": [{"packages": [id, ...], "bytes": n, "reason": "..."}]}}}

A fleet lock (the one file a fleet keeps in the source tree, written by
``pyimage fleet-plan`` and put in place by the fleet's ``.update``)::

    {"format": "rules_pyimage.fleet-lock/v7",
     "declared": {"groups": {"gpu": ["torch", "triton", "nvidia-*"]}, "alone": ["numpy"],
                  "compression": {"gpu": "zstd"}},
     "images": {"//apps/api:image": {
         "base_layers": 1, "max_layers": 60, "reserved_layers": 1,
         "platform": "linux/amd64", "libraries": ["//libs/proto:proto"],
         "layers": [
             {"packages": ["numpy==2.1.3"], "diff_ids": {"numpy==2.1.3": "sha256:..."},
              "reason": "..."},
             {"packages": ["idna==3.7", "six==1.17.0"], "diff_ids": {...},
              "group": "<group id>", "reason": "..."},
             {"packages": ["torch==2.5.1", "triton==3.1.0"], "diff_ids": {...},
              "group": "<group id>", "compression": "zstd", "reason": "..."}]}},
     "packages": {"six==1.17.0": {"sha256:<diff_id>": {
         "compression": "gzip", "label": "@@rules_python~~pip~pypi//six"}}}}

with each image's package layers bottom to top. An image is one platform's:
an image index's images are entries of their own, named by their targets
(``//apps/api:image.linux_arm64``), so that the lock is keyed by image and
platform, and each entry says its platform. A package is its id and its
bytes: the ``diff_id`` of its layer (the digest of its uncompressed tar) and
the compression of its blob, so that a lock written on one machine is not
stale on another whose compressor gives other compressed bytes. ``packages``
names, per build, the Bazel label it is built from: the fleet's shared
layers (those with a ``group``) are merged from those labels, once each.
``declared`` (only when the fleet declares layers) records the layer groups
and packages alone the fleet declares (:mod:`pyimage.planner.declared`),
which the plan honoured and images follow; a group that chooses its
layer's compression (``compression``) has its layers say it
(``"compression"``, only on those): each is a shared layer, even of one
package, merged by the fleet in that compression while the packages' builds
keep theirs. ``libraries`` (only for an image
that has some) lists the first-party libraries that are layers of their own
in the image (``tags = ["pyimage_layer"]``), by label: never merged, never
planned, they count against the image's cap (``reserved_layers`` includes
them); an edit of a library changes no line of the lock.
Bazel reads this file too, through the module extension of
``py/extensions.bzl``, which gives each image its own slice: a lock of that
image alone (the same format), so that an image's build reads nothing of
another's.

Earlier formats, read so that the fleet's ``.update`` migrates them (the one
migration path; a later format extends this list): v6 recorded no group's
own compression (there was none; a v6 lock reads as v7 without it); v5 recorded no
library layers (there were none; a v5 lock reads as v6 without
``libraries``); v4 recorded no
declared layers (none were declared; a v4 lock reads as v5 without
``declared``, and ``.update`` rewrites it as v5); v3 recorded no image's
platform (every image was linux/amd64's); v2 recorded each member's blob
digest (``"digests"``) instead of its ``diff_id``, and no ``packages``; v1
recorded neither.

This module reads, checks and writes these documents and nothing else: what
an image keeps of its lock, how a fleet is planned and what makes a lock
stale are the business of :mod:`pyimage.fleet`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pyimage import jsonio, planner
from pyimage.errors import PyimageError
from pyimage.formats import inputs

#: The format this code writes.
VERSION = 7
FORMAT_PREFIX = "rules_pyimage.fleet-lock/v"
FORMAT = f"{FORMAT_PREFIX}{VERSION}"
#: What each earlier version records of a member's bytes.
MARKS = {0: None, 1: None, 2: "digests", **dict.fromkeys(range(3, VERSION + 1), "diff_ids")}

_FIX = "rewrite it with the fleet's `.update` target"
_FORMAT_RE = re.compile(re.escape(FORMAT_PREFIX) + r"([0-9]+)")
#: An image's platform: OCI's ``os/arch[/variant]``, lowercase.
_PLATFORM_RE = re.compile(r"[a-z0-9_]+/[a-z0-9_]+(/[a-z0-9_]+)?")

#: Image name -> its package layers, each a list of package ids.
Layers = dict[str, list[list[str]]]


class NewerFormatError(PyimageError):
    """A lock of a newer format than this code reads: never read as another, never overwritten."""


@dataclass(frozen=True)
class LockLayer:
    """One package layer of an image in a lock or plan document."""

    packages: tuple[str, ...]
    #: Package id -> the mark of the bytes it was planned with: its diff_id
    #: (v3), its blob's digest (v2); empty in v1 and plan documents.
    marks: dict[str, str] = field(default_factory=dict)
    reason: str = ""
    #: The group id of a shared layer of several packages (v3), or of a declared
    #: group's layer of its own compression (v7).
    group: str | None = None
    #: The layer's compression when a declared group chooses it (v7), else None.
    compression: str | None = None


@dataclass(frozen=True)
class LockImage:
    """An image's entry: its layers and, in a lock, its cap, reserved layers and platform."""

    layers: tuple[LockLayer, ...]
    settings: dict[str, int] = field(default_factory=dict)
    #: The image's platform, ``os/arch[/variant]`` (v4; empty before and in plan documents).
    platform: str = ""
    #: The labels of its first-party libraries of their own layers, sorted (v6).
    libraries: tuple[str, ...] = ()


@dataclass(frozen=True)
class LockPackage:
    """One build of a package in a lock (v3 on): how it is compressed, what builds it."""

    compression: str
    label: str


@dataclass(frozen=True)
class LockFile:
    """A plan document or a fleet lock, read and checked once."""

    path: str
    document: Mapping[str, Any] = field(repr=False)
    #: 0 for a plan document (no format), else the lock format's version.
    version: int
    images: dict[str, LockImage]
    #: (package id, diff_id) -> its build (v3).
    packages: dict[tuple[str, str], LockPackage] = field(default_factory=dict)
    #: The layers the fleet declares (v5; none before and in plan documents).
    declared: planner.Declared = planner.NOTHING

    @property
    def current(self) -> bool:
        """Whether this is a lock of the format this code writes."""
        return self.version == VERSION

    @property
    def marks(self) -> str | None:
        """What the document records of each member's bytes: ``diff_ids``, ``digests`` or None."""
        return MARKS[self.version]

    @property
    def format_name(self) -> str:
        return f"{FORMAT_PREFIX}{self.version}" if self.version else "a plan document"

    def layers(self) -> Layers:
        """Image name -> its package layers (lists of ids), as the planner takes them."""
        return {name: [list(lay.packages) for lay in im.layers] for name, im in self.images.items()}


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PyimageError(f"{what} must be a JSON object; {_FIX}")
    return value


def _version(document: Mapping[str, Any], path: str) -> int:
    """The format version of a document: 0 for a plan document."""
    text = document.get("format")
    if text is None:
        return 0
    found = _FORMAT_RE.fullmatch(text) if isinstance(text, str) else None
    if found is None:
        raise PyimageError(f"{path}: format {text!r} is not a fleet lock's; {_FIX}")
    version = int(found.group(1))
    if version > VERSION or version == 0:
        raise NewerFormatError(
            f"{path} is in format {text}, which this rules_pyimage does not read (it reads"
            f" up to {FORMAT}); upgrade rules_pyimage, or rewrite the lock with this one's"
            " `.update`"
        )
    return version


def _layer(record: Any, where: str, marks: str | None) -> LockLayer:
    record = _object(record, f"{where}: a layer")
    members = record.get("packages")
    if not isinstance(members, list) or not all(isinstance(p, str) for p in members):
        raise PyimageError(f'{where}: a layer needs "packages", a list of ids; {_FIX}')
    recorded = record.get(marks, {}) if marks else {}
    if not isinstance(recorded, dict) or not all(
        isinstance(recorded.get(p, ""), str) for p in members
    ):
        raise PyimageError(f'{where}: a layer has "{marks}" that are not {{id: digest}}; {_FIX}')
    group = record.get("group")
    if group is not None and not isinstance(group, str):
        raise PyimageError(f'{where}: a layer has a "group" that is not a string; {_FIX}')
    compression = record.get("compression")
    if compression is not None and compression not in planner.COMPRESSIONS:
        raise PyimageError(
            f'{where}: a layer has "compression" {compression!r}, not one of'
            f" {', '.join(planner.COMPRESSIONS)}; {_FIX}"
        )
    reason = record.get("reason", "")
    return LockLayer(
        tuple(members),
        {p: recorded[p] for p in members if p in recorded},
        reason if isinstance(reason, str) else str(reason),
        group,
        compression,
    )


_SETTINGS = ("base_layers", "max_layers", "reserved_layers")


def _image(name: str, entry: Any, path: str, version: int) -> LockImage:
    marks = MARKS[version]
    where = f"{path}: image '{name}'"
    entry = _object(entry, where)
    layers = entry.get("layers")
    if not isinstance(layers, list):
        raise PyimageError(f'{where} has no "layers" list; {_FIX}')
    settings = {k: entry[k] for k in _SETTINGS if isinstance(entry.get(k), int)}
    platform = entry.get("platform", "")
    if version >= 4 and not (isinstance(platform, str) and _PLATFORM_RE.fullmatch(platform)):
        raise PyimageError(f'{where} needs a "platform" such as "linux/amd64"; {_FIX}')
    layers_read = tuple(_layer(lay, where, marks) for lay in layers)
    libraries = entry.get("libraries", [])
    if not isinstance(libraries, list) or not all(isinstance(x, str) and x for x in libraries):
        raise PyimageError(f'{where}: "libraries" must be a list of labels; {_FIX}')
    return LockImage(
        layers_read, settings, platform if version >= 4 else "", tuple(sorted(libraries))
    )


def _packages(value: Any, path: str) -> dict[tuple[str, str], LockPackage]:
    out: dict[tuple[str, str], LockPackage] = {}
    for pid, builds in _object(value, f'{path}: "packages"').items():
        for diff_id, build in _object(builds, f"{path}: package '{pid}'").items():
            entry = _object(build, f"{path}: package '{pid}' {diff_id}")
            label, compression = entry.get("label"), entry.get("compression")
            if not isinstance(label, str) or not isinstance(compression, str):
                raise PyimageError(
                    f"{path}: package '{pid}' {diff_id} needs a 'label' and a 'compression'; {_FIX}"
                )
            out[(pid, diff_id)] = LockPackage(compression, label)
    return out


def parse(document: Any, path: str) -> LockFile:
    """A plan document or lock (of any format this code reads) from its decoded JSON."""
    data = _object(document, path)
    version = _version(data, path)
    images = {
        name: _image(name, entry, path, version)
        for name, entry in _object(data.get("images"), f'{path}: "images"').items()
    }
    # v3 records the builds as v4 and v5 do.
    packages = _packages(data.get("packages", {}), path) if version >= 3 else {}
    return LockFile(path, data, version, images, packages, _declared(data, path, version))


def _declared(data: Mapping[str, Any], path: str, version: int) -> planner.Declared:
    """The declaration a v5 lock records (none when it has no ``declared``)."""
    if version < 5 or "declared" not in data:
        return planner.NOTHING
    try:
        return inputs.declared_of(data["declared"], f'{path}: "declared"')
    except PyimageError as err:
        raise PyimageError(f"{err}; {_FIX}") from err


def read(path: str, what: str = "plan") -> LockFile:
    """Read and check a plan document or lock (``what`` names it in errors)."""
    return parse(jsonio.load(path, what, _FIX), path)


def plan_document(plan: planner.Plan) -> dict[str, Any]:
    """The plan document of a plan (``pyimage plan``'s output)."""
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


def lock_document(
    images: Mapping[str, LockImage],
    packages: Mapping[tuple[str, str], LockPackage],
    declared: planner.Declared = planner.NOTHING,
) -> dict[str, Any]:
    """The lock document (current format) of ``images``, the builds they hold and the
    layers the fleet declares."""
    out_images = {}
    for name, entry in sorted(images.items()):
        layers = []
        for lay in entry.layers:
            record: dict[str, Any] = {
                "packages": list(lay.packages),
                "diff_ids": dict(lay.marks),
                "reason": lay.reason,
            }
            if lay.group is not None:
                record["group"] = lay.group
            if lay.compression is not None:
                record["compression"] = lay.compression
            layers.append(record)
        out_images[name] = {**entry.settings, "layers": layers, "platform": entry.platform}
        if entry.libraries:
            out_images[name]["libraries"] = list(entry.libraries)
    table: dict[str, dict[str, dict[str, str]]] = {}
    for (pid, diff_id), build in sorted(packages.items()):
        table.setdefault(pid, {})[diff_id] = {
            "compression": build.compression,
            "label": build.label,
        }
    out: dict[str, Any] = {"format": FORMAT, "images": out_images, "packages": table}
    if declared:
        out["declared"] = declared.to_json()
    return out


def same(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    """Whether two documents hold the same values (their text may differ in layout)."""
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def members(entry: LockImage) -> Sequence[str]:
    """Every package id of an image's entry."""
    return [p for lay in entry.layers for p in lay.packages]
