"""One image: its package layers planned under its cap, then its OCI layout and plan report.

What the image action does (``pyimage image``). It reads metadata only
(descriptors, the base's JSON blobs): the planner sizes packages by their
uncompressed tar size; a layer of one package reuses that package's cached
blob as is, and a merged layer concatenates the members' compressed parts
(see docs/layer-engine.md). An image of a fleet follows its slice of the
fleet lock (:mod:`pyimage.fleet.follow`) and takes the fleet's shared layers
(:mod:`pyimage.fleet.groups`) where they are exactly its own bytes: a fleet
of one is an image planned alone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyimage import jsonio, planner
from pyimage.engine import descriptor, layer, libc, native, oci_layout
from pyimage.engine.compression import DEFAULT, Compression
from pyimage.errors import PyimageError
from pyimage.fleet import groups
from pyimage.fleet.follow import Followed, follow
from pyimage.formats import lock
from pyimage.planner.declared import check_compressions, check_used

#: How a first-party library's layer names itself (its descriptor's package): ``library:<label>``.
LIBRARY_PREFIX = "library:"


@dataclass(frozen=True)
class Sibling:
    """Another platform's image of the same image index, as its image action plans it."""

    name: str
    platform: str
    #: Its packages: id -> descriptor (their bytes are of its platform).
    packages: dict[str, descriptor.LayerDescriptor]
    base_layers: int = 0


@dataclass(frozen=True)
class ImageSpec:
    """What the image action is given, its files read."""

    name: str
    max_layers: int
    packages: Sequence[layer.Member]
    interpreter: layer.Member | None = None
    #: First-party libraries of their own layers (each after the package layers, never merged).
    libraries: Sequence[layer.Member] = ()
    reserved: int | None = None  # default: one app layer, the interpreter and library layers
    base: oci_layout.BaseImage | None = None
    platform: str = "linux/amd64"
    tag: str = "latest"
    lock: lock.LockFile | None = None
    #: The fleet's shared layers, by group id (read with groups.read_group).
    shared: dict[str, layer.Member] = field(default_factory=dict)
    #: Blobs (or folders of them) to link rather than copy.
    link: Sequence[Path] = ()
    #: The Python (``3.N``) the packages' bytecode is for; "" for none.
    python_version: str = ""
    #: The image's compression: its packages' must be it (with the zstd program to merge).
    compression: Compression = DEFAULT
    #: The base's C library (:mod:`pyimage.engine.libc`); None: unknown, not checked.
    base_libc: libc.Libc | None = None
    #: The other images of the image index this image is one of (its other platforms'):
    #: the image is planned with them, so that the packages of the same bytes (pure-Python
    #: wheels) get the same layers in every platform's image.
    siblings: Sequence[Sibling] = ()
    #: The layers the image declares (:mod:`pyimage.planner.declared`), for it and its
    #: siblings; an image of a fleet follows its lock's declaration instead.
    declared: planner.Declared = planner.NOTHING


_FLAG = "--@rules_pyimage//py:python_version"


def check_bytecode(spec: ImageSpec) -> None:
    """Every package's bytecode is for the image's Python, and so is the base's Python.

    The base's Python is known where its config records ``PYTHON_VERSION``
    (the official ``python`` images do).
    """
    for member in [*spec.packages, *spec.libraries]:
        if member.descriptor.bytecode != spec.python_version:
            have = member.descriptor.bytecode or "none"
            raise PyimageError(
                f"{_kind(member)} {_owner(member)} has bytecode for {have}, the image's is for"
                f" {spec.python_version or 'none'}; build them with the same {_FLAG}"
            )
    env = spec.base.env if spec.base else []
    said = [e.split("=", 1)[1] for e in env if e.startswith("PYTHON_VERSION=")]
    if spec.python_version and said:
        minor = ".".join(said[0].split(".")[:2])
        if minor != spec.python_version:
            raise PyimageError(
                f"the base image's Python is {said[0]} (its PYTHON_VERSION) but the layers'"
                f" bytecode is for {spec.python_version}; set {_FLAG}={minor}"
            )


def check_platform(spec: ImageSpec) -> None:
    """No package (nor the interpreter) holds native code or a wheel of another platform.

    What a cross-build gets wrong (the build machine's wheels in another
    platform's image) fails here, naming the package, a file and both platforms.
    """
    for member in spec.packages:
        why = native.foreign(member.descriptor.native, member.descriptor.wheel_tags, spec.platform)
        if why:
            raise PyimageError(
                f"package {member.name}: {why}, but image {spec.name} is {spec.platform};"
                f" resolve its wheels for {spec.platform} (docs/guide.md, Platforms)"
            )
    if spec.base_libc is not None:
        for member in spec.packages:
            why = libc.mismatch(spec.base_libc, member.descriptor.wheel_tags, spec.platform)
            if why:
                base = spec.base_libc
                raise PyimageError(
                    f"package {member.name}: {why}, but image {spec.name}'s base has {base}"
                    f" ({base.file}); resolve a wheel for {base} or use another base"
                    " (docs/guide.md, Platforms)"
                )
    if spec.interpreter:
        desc = spec.interpreter.descriptor
        why = native.foreign(desc.native, desc.wheel_tags, spec.platform)
        if why:
            raise PyimageError(
                f"interpreter {spec.interpreter.name}: {why}, but image {spec.name} is"
                f" {spec.platform}; use a Python toolchain for {spec.platform} or a base"
                " image's python3 (docs/guide.md, Platforms)"
            )


def _kind(member: layer.Member) -> str:
    """How messages name a layer's owner: ``package six==1.17.0``, ``library //libs/g:g``."""
    return "library" if member.name.startswith(LIBRARY_PREFIX) else "package"


def _owner(member: layer.Member) -> str:
    return member.name.removeprefix(LIBRARY_PREFIX)


def check_compression(spec: ImageSpec) -> None:
    """Every package layer (and the interpreter's and libraries') has the image's compression."""
    want = spec.compression.name
    interpreter = [spec.interpreter] if spec.interpreter else []
    for member in [*spec.packages, *interpreter, *spec.libraries]:
        have = member.descriptor.compression
        if have != want:
            raise PyimageError(
                f"{_kind(member)} {_owner(member)} is compressed with {have}, the image with"
                f" {want};"
                " build them with the same `compression`"
            )


def fleet_groups(given: Sequence[Sequence[str]]) -> dict[str, layer.Member]:
    """The fleet's shared layers given as ``(GID, DESC, BLOB)``, each checked to be its group.

    Those the fleet could not build (a package changed) are left out.
    """
    out: dict[str, layer.Member] = {}
    for gid, desc_file, blob in given:
        desc = groups.read_group(gid, Path(desc_file))
        if desc is not None:
            out[gid] = layer.Member(desc, Path(blob), Path(desc_file))
    return out


def _by_id(packages: Sequence[layer.Member]) -> dict[str, layer.Member]:
    by_id: dict[str, layer.Member] = {}
    for member in packages:
        for pkg in member.descriptor.packages:
            if pkg in by_id:
                raise PyimageError(f"package {pkg} is given twice; give each package once")
            by_id[pkg] = member
    return by_id


def _layer_input(
    packages: tuple[str, ...],
    by_id: dict[str, layer.Member],
    shared: dict[str, layer.Member],
    into: str | None,
) -> oci_layout.LayerInput:
    """A planned layer: the fleet's merged blob of that group when there is one.

    A shared layer is known by its members' builds and the layer's
    compression (:func:`groups.shared_id`; ``into``, a declared group's
    own): one is used only when it was merged from exactly this image's
    bytes; else the image merges (or compresses again) its own packages (the
    same bytes when they are the lock's).
    """
    gid = groups.shared_id([groups.build_of(by_id[pid].descriptor) for pid in packages], into)
    if gid in shared:
        return oci_layout.LayerInput((shared[gid],))
    return oci_layout.LayerInput(tuple(by_id[pid] for pid in packages), into)


def _reason(lay: planner.Layer, followed: Followed) -> str:
    """A layer's reason; a layer of the fleet lock (its members those of a layer the image
    follows: the same bytes) says the lock's own reason."""
    key = tuple(sorted(lay.packages))
    why = followed.reasons.get(key)
    if why is not None and key in {tuple(sorted(k)) for k in followed.layers or ()}:
        return f"fleet lock: {why}"
    return lay.reason


#: What the planner gets of an image (:func:`index_plan_input`): the image, its siblings,
#: the packages, and planner id -> the image's package id.
PlanInput = tuple[planner.Image, list[planner.Image], list[planner.Package], dict[str, str]]


def index_plan_input(spec: ImageSpec, by_id: dict[str, layer.Member]) -> PlanInput:
    """What the planner gets for an image of an index: the image and its siblings (the
    index's images of the other platforms), each package known by its build as a fleet
    knows it (:func:`groups.planner_id`: a wheel of the same bytes on every platform is one
    package, another platform's build of the same release another), so that each
    platform's action plans the same images; and planner id -> this image's package id.

    Without siblings: the image alone, its ids as they are.
    """
    base_layers = spec.base.layer_count if spec.base else 0
    if not spec.siblings:
        image = planner.Image(spec.name, tuple(sorted(by_id)), base_layers)
        packages = [planner.Package(pid, m.descriptor.tar_size) for pid, m in by_id.items()]
        return image, [], packages, {pid: pid for pid in by_id}
    own = {groups.planner_id(groups.build_of(m.descriptor)): pid for pid, m in by_id.items()}
    sizes = {qid: by_id[pid].descriptor.tar_size for qid, pid in own.items()}
    siblings = []
    for sib in spec.siblings:
        ids = [groups.planner_id(groups.build_of(desc)) for desc in sib.packages.values()]
        sizes.update(zip(ids, (desc.tar_size for desc in sib.packages.values()), strict=True))
        siblings.append(planner.Image(sib.name, tuple(sorted(ids)), sib.base_layers))
    image = planner.Image(spec.name, tuple(sorted(own)), base_layers)
    return image, siblings, [planner.Package(q, n) for q, n in sorted(sizes.items())], own


def _declaration(
    spec: ImageSpec, image: planner.Image, siblings: Sequence[planner.Image]
) -> planner.Declared:
    """The declared layers the image is planned with: its lock's, or its own.

    An image of a fleet follows the declaration its lock records (the
    fleet's: its shared layers stay byte-identical), holding any part of it;
    one of its own there is refused. Its own must each match a package of the
    image or of its index's other platforms.
    """
    if spec.lock is not None:
        if spec.declared:
            raise PyimageError(
                f"image {spec.name} follows a fleet lock and declares layers of its own;"
                " declare them on the fleet (layer_groups, alone_packages of py_image_fleet)"
            )
        return spec.lock.declared
    held = [p for im in (image, *siblings) for p in im.packages]
    check_used(spec.declared, held, f"image {spec.name}")
    check_compressions(spec.declared, spec.compression.name, f"image {spec.name}")
    return spec.declared


def _plan(
    spec: ImageSpec, given: PlanInput, reserved: int, followed: Followed
) -> tuple[planner.ImagePlan, planner.Declared]:
    """The image's package layers (of its own package ids), planned under its cap from
    ``given`` (:func:`index_plan_input`), and the declaration they were planned with."""
    image, siblings, packages, own = given
    declared = _declaration(spec, image, siblings)
    planned = planner.plan_image(
        image,
        packages,
        spec.max_layers,
        reserved_layers=reserved,
        previous=followed.layers,
        alongside=siblings,
        declared=declared,
        where=f"image {spec.name}",
    )
    layers = tuple(
        dataclasses.replace(lay, packages=tuple(sorted(own[q] for q in lay.packages)))
        for lay in planned.layers
    )
    return dataclasses.replace(planned, layers=layers), declared


def _reserved(spec: ImageSpec, own: int) -> int:
    """The image's reserved layers: its app layers and the ``own`` ones its layout holds
    (interpreter, libraries); an error when that leaves no app layer."""
    reserved = spec.reserved if spec.reserved is not None else 1 + own
    if reserved < own + 1:
        raise PyimageError(
            f"--reserved {reserved} leaves no app layer beside the interpreter and"
            f" {len(spec.libraries)} library layers; give at least {own + 1}"
        )
    return reserved


def _automatic(
    spec: ImageSpec, by_id: dict[str, layer.Member], given: PlanInput, reserved: int
) -> list[layer.MergedSize] | None:
    """The sizes of the image's package layers in the automatic plan (nothing declared) of
    ``given``, worked out from the descriptors; None unless the image declares its own
    layers (an image of a fleet follows the fleet's: its report compares the fleet's two
    plans)."""
    if not spec.declared or spec.lock is not None:
        return None
    image, siblings, packages, own = given
    plain = planner.plan_image(
        image, packages, spec.max_layers, reserved_layers=reserved, alongside=siblings
    )
    return [layer.merged_size([by_id[own[q]] for q in lay.packages]) for lay in plain.layers]


def _cost(automatic: list[layer.MergedSize], written: list[descriptor.LayerDescriptor]) -> dict:
    """What the image's declaration costs beside the automatic plan: layers and the
    compressed bytes of its package layers (what the registry stores, and a node pulls
    with nothing else of it at hand), each way."""
    return {
        "package_layers": len(written),
        "blob_bytes": sum(d.size for d in written),
        "automatic_package_layers": len(automatic),
        "automatic_blob_bytes": sum(size.blob for size in automatic),
        "automatic_exact": all(size.exact for size in automatic),
    }


def _followed(spec: ImageSpec, by_id: dict[str, layer.Member]) -> Followed:
    """What the image keeps of its fleet lock's layers (nothing without a lock)."""
    if spec.lock is None:
        return Followed(None, {}, "")
    descriptors = {p: m.descriptor for p, m in by_id.items()}
    followed = follow(spec.lock, spec.name, descriptors, spec.platform)
    if followed.note:
        print(followed.note)
    return followed


def build(spec: ImageSpec, out: Path, plan_out: Path) -> dict[str, object]:
    """Plan the image, write its layout at ``out`` and its plan report at ``plan_out``.

    Both are put in place as one unit. Returns the report.
    """
    by_id = _by_id(spec.packages)
    check_bytecode(spec)
    check_platform(spec)
    check_compression(spec)
    interpreter = [spec.interpreter] if spec.interpreter else []
    libraries = list(spec.libraries)
    own = len(interpreter) + len(libraries)  # reserved layers the layout holds
    reserved = _reserved(spec, own)
    base_layers = spec.base.layer_count if spec.base else 0
    followed = _followed(spec, by_id)
    given = index_plan_input(spec, by_id)
    planned, declared = _plan(spec, given, reserved, followed)
    chosen = [declared.compression_of(lay.packages) for lay in planned.layers]
    layers = [oci_layout.LayerInput(tuple(interpreter))] if interpreter else []
    layers += [
        _layer_input(lay.packages, by_id, spec.shared, into)
        for lay, into in zip(planned.layers, chosen, strict=True)
    ]
    layers += [oci_layout.LayerInput((lib,)) for lib in libraries]
    automatic = _automatic(spec, by_id, given, reserved)
    written: list[dict[str, object]] = []

    def report(result: oci_layout.LayoutResult) -> bytes:
        first = len(interpreter)
        package_layers = result.layers[first : first + len(planned.layers)]
        library_layers = result.layers[first + len(planned.layers) :]
        written.append(
            {
                "max_layers": spec.max_layers,
                "base_layers": base_layers,
                "interpreter_layer": bool(interpreter),
                "package_layers": len(planned.layers),
                "library_layers": len(libraries),
                "app_layers": reserved - own,
                "total_layers": base_layers + len(layers) + reserved - own,
                "manifest": result.manifest_digest,
                "fleet_lock": spec.lock is not None,
                "bytecode": spec.python_version or None,
                "layers": [
                    {
                        "packages": list(lay.packages),
                        "bytes": lay.bytes,
                        "reason": _reason(lay, followed),
                        "digest": desc.digest,
                        **({"compression": into} if into else {}),
                        **(
                            {"bytecode_skipped": list(desc.bytecode_skipped)}
                            if desc.bytecode_skipped
                            else {}
                        ),
                    }
                    for lay, desc, into in zip(planned.layers, package_layers, chosen, strict=True)
                ],
                "libraries": [
                    {"library": _owner(lib), "bytes": lib.descriptor.tar_size, "digest": d.digest}
                    for lib, d in zip(libraries, library_layers, strict=True)
                ],
                **({"declared_cost": _cost(automatic, package_layers)} if automatic else {}),
            }
        )
        return jsonio.dumps(written[0]).encode("utf-8")

    oci_layout.write_layout(
        out,
        layers,
        base=spec.base,
        platform=spec.platform,
        tag=spec.tag,
        link=spec.link,
        sidecar=(plan_out, report),
        settings=spec.compression,
    )
    return written[0]
