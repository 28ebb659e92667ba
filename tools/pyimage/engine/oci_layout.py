"""OCI image layout writer: a base image (or scratch) plus package layers.

Reads a base OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``, as ``oci_pull`` writes it), selects the image for the
requested platform (descending through nested image indexes), appends the
package layers and writes a new layout with one image: config (``rootfs.diff_ids``
and ``history`` extended), manifest and ``index.json``.

Blobs are stored once each, by digest. Blobs that already exist as files (the
base's layers, cached per-package blobs) are reflinked, hard-linked or, failing
both, copied; their digests and sizes come from the descriptors, so assembling
a layout from existing blobs reads none of their bytes. Those named in
``link`` (files, or folders holding them) become relative symlinks instead:
under Bazel, each blob that another action wrote (a package's, a shared
layer's, the base copied into bazel-out) and that goes with the layout stays
that action's file, so the layout, a tree artifact, holds metadata only, and
a remote cache moves a blob only when its own action changed (rules_oci's
``oci_image`` links its blobs the same way on Bazel 7+). The JSON blobs of the
base that are read (index, manifests, config) are checked against their digests.
The layout is built in a temporary directory beside the output and renamed into
place at the end.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from pyimage import jsonio
from pyimage.engine import layer
from pyimage.engine.compression import DEFAULT, GZIP, LAYER_MEDIA_TYPE, MEDIA_TYPES, Compression
from pyimage.engine.descriptor import LayerDescriptor
from pyimage.errors import PyimageError
from pyimage.fsutil import link_blob, place_blob, replace_together, temp_name, under

OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json"
INDEX_TYPES = (OCI_INDEX, DOCKER_LIST)
MANIFEST_TYPES = (OCI_MANIFEST, DOCKER_MANIFEST)
# Docker layer media types and their byte-identical OCI equivalents.
LAYER_TYPE_MAP = {
    "application/vnd.docker.image.rootfs.diff.tar.gzip": MEDIA_TYPES[GZIP],
    "application/vnd.docker.image.rootfs.diff.tar": LAYER_MEDIA_TYPE,
}
PACKAGES_ANNOTATION = "dev.rules-pyimage.packages"
REF_NAME = "org.opencontainers.image.ref.name"
HISTORY_CREATED = "1970-01-01T00:00:00Z"
MAX_JSON_BLOB = 64 << 20

#: What a layout checks of a blob it reuses as is (the commands' help says it).
UNREAD_BLOBS = (
    "A one-package layer is its blob as is: its size is checked against its descriptor,"
    " its bytes are not read (assembly reads metadata, not gigabytes), so a stale blob of"
    " the same size is caught only by a reader that checks digests (skopeo, umoci, a"
    " registry). Under Bazel that cannot happen: each blob is its descriptor's own action's"
    " output."
)


@dataclass(frozen=True)
class Platform:
    """An OCI platform: ``os/architecture[/variant]``."""

    os: str
    architecture: str
    variant: str = ""

    @classmethod
    def parse(cls, text: str) -> Platform:
        """Parse ``linux/amd64`` or ``linux/arm64/v8``."""
        parts = text.split("/")
        if len(parts) not in (2, 3) or not all(parts):
            raise PyimageError(f"platform {text!r} is not os/arch[/variant]; e.g. linux/amd64")
        return cls(parts[0], parts[1], parts[2] if len(parts) == 3 else "")

    def matches(self, obj: object) -> bool:
        """Whether an index entry's ``platform`` object is this platform."""
        if not isinstance(obj, dict):
            return False
        if obj.get("os") != self.os or obj.get("architecture") != self.architecture:
            return False
        return not self.variant or obj.get("variant", "") in ("", self.variant)

    def to_json(self) -> dict[str, str]:
        """The ``platform`` object of an index entry."""
        out = {"architecture": self.architecture, "os": self.os}
        if self.variant:
            out["variant"] = self.variant
        return out

    def __str__(self) -> str:
        return "/".join(p for p in (self.os, self.architecture, self.variant) if p)


@dataclass
class BaseImage:
    """The selected image of a base layout: its config and layer descriptors."""

    root: Path | None
    config: dict[str, object]
    layers: list[dict[str, object]] = field(default_factory=list)
    manifest_annotations: dict[str, str] = field(default_factory=dict)

    @property
    def layer_count(self) -> int:
        """Number of layers of the base (the planner counts them against the cap)."""
        return len(self.layers)

    def layer_blobs(self) -> list[tuple[str, Path]]:
        """Each layer's media type and blob file, bottom to top (none for scratch)."""
        if self.root is None:
            return []
        return [
            (str(lay["mediaType"]), _blob_path(self.root, str(lay["digest"])))
            for lay in self.layers
        ]

    @property
    def env(self) -> list[str]:
        """The ``KEY=VALUE`` environment its config records (none: [])."""
        config = self.config.get("config")
        env = config.get("Env") if isinstance(config, dict) else None
        return [str(e) for e in env] if isinstance(env, list) else []


def scratch(platform: Platform) -> BaseImage:
    """An empty base: no layers, a minimal config for ``platform``."""
    config: dict[str, object] = {"architecture": platform.architecture, "os": platform.os}
    if platform.variant:
        config["variant"] = platform.variant
    config.update({"config": {}, "rootfs": {"type": "layers", "diff_ids": []}, "history": []})
    return BaseImage(root=None, config=config)


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _sha(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def _blob_path(root: Path, digest: str) -> Path:
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise PyimageError(f"base layout {root}: bad digest {digest!r}; re-pull the base image")
    return root / "blobs" / "sha256" / hexpart


def _read_json_file(path: Path, what: str) -> object:
    return jsonio.load(path, what, "re-pull the base image")


def _read_json_blob(
    root: Path,
    desc: object,
    what: str,
    kind: str = "base layout",
    fix: str = "re-pull the base image",
) -> dict[str, object]:
    """Read a small JSON blob named by an OCI descriptor, checking size and digest."""
    where = f"{kind} {root}"
    if not isinstance(desc, dict) or not isinstance(desc.get("digest"), str):
        raise PyimageError(f"{where}: {what} descriptor is malformed; {fix}")
    digest = str(desc["digest"])
    path = _blob_path(root, digest)
    try:
        size = path.stat().st_size
        if size > MAX_JSON_BLOB:
            raise PyimageError(f"{where}: {what} blob {digest} is too big for JSON; {fix}")
        data = path.read_bytes()
    except FileNotFoundError as err:
        raise PyimageError(f"{where}: {what} blob {digest} is missing; {fix}") from err
    if _sha(data) != digest or ("size" in desc and desc["size"] != len(data)):
        raise PyimageError(
            f"{where}: {what} blob {digest} does not match its digest or size;"
            f" the layout is corrupt, {fix}"
        )
    obj = jsonio.parse(data, f"{where}: {what} blob {digest}", fix)
    if not isinstance(obj, dict):
        raise PyimageError(f"{where}: {what} blob {digest} is not a JSON object; {fix}")
    return obj


def _select(root: Path, index: dict[str, object], platform: Platform, depth: int = 0) -> dict:
    """Pick the image manifest descriptor for ``platform`` in an index, recursively.

    Exactly one image may be the platform's: an index that lists two (two
    manifests, or one here and one in a nested index) is refused naming both,
    never read by taking the first.
    """
    if depth > 8:
        raise PyimageError(f"base layout {root}: image indexes nested too deep; re-pull the base")
    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise PyimageError(f"base layout {root}: index lists no manifests; re-pull the base")
    candidates = [e for e in entries if isinstance(e, dict) and platform.matches(e.get("platform"))]
    if not candidates:
        candidates = [e for e in entries if isinstance(e, dict) and "platform" not in e]
    found: list[dict] = []
    errors: list[PyimageError] = []
    for entry in candidates:
        media = entry.get("mediaType")
        if media in INDEX_TYPES:
            nested = _read_json_blob(root, entry, "nested index")
            try:
                found.append(_select(root, nested, platform, depth + 1))
            except PyimageError as err:
                errors.append(err)
        elif media in MANIFEST_TYPES or media is None:
            found.append(entry)
    if len(found) > 1:
        digests = " and ".join(str(e.get("digest")) for e in found[:2])
        raise PyimageError(
            f"base layout {root}: the index lists {len(found)} images for platform {platform}"
            f" ({digests}); keep one (re-pull the base or pick its digest)"
        )
    if found:
        return found[0]
    if errors:
        raise errors[0]
    seen = sorted(
        "/".join(str(p.get(k, "")) for k in ("os", "architecture") if isinstance(p, dict))
        for p in (e.get("platform") for e in entries if isinstance(e, dict))
        if p
    )
    raise PyimageError(
        f"base layout {root}: no image for platform {platform} (has: {', '.join(seen) or 'none'});"
        " pick another platform or base"
    )


def _check_config_platform(root: Path, config: dict[str, object], platform: Platform) -> None:
    """The base config must state its os and architecture, and they must be ``platform``."""
    if not all(isinstance(config.get(k), str) and config[k] for k in ("os", "architecture")):
        raise PyimageError(
            f"base layout {root}: the config of the image for {platform} does not state its"
            " os and architecture (the OCI image spec requires both); re-pull the base or"
            " fix its config"
        )
    if not platform.matches(config):
        variant = config.get("variant")
        said = "/".join(str(p) for p in (config["os"], config["architecture"], variant) if p)
        raise PyimageError(
            f"base layout {root}: the image the index gives for {platform} has a config for"
            f" {said}; the index labels it wrongly, fix it or re-pull the base"
        )


def read_base(root: Path, platform: Platform) -> BaseImage:
    """Read the base layout at ``root`` and select the image for ``platform``."""
    root = Path(root)
    if not root.is_dir():
        raise PyimageError(f"base layout {root} is not a directory; give an OCI image layout")
    marker = _read_json_file(root / "oci-layout", "base layout marker")
    if not isinstance(marker, dict) or "imageLayoutVersion" not in marker:
        raise PyimageError(f"base layout {root}: oci-layout is malformed; re-pull the base")
    index = _read_json_file(root / "index.json", "base layout index")
    if not isinstance(index, dict):
        raise PyimageError(f"base layout {root}: index.json is not an object; re-pull the base")
    entry = _select(root, index, platform)
    manifest = _read_json_blob(root, entry, "manifest")
    if manifest.get("mediaType", entry.get("mediaType", OCI_MANIFEST)) not in MANIFEST_TYPES:
        raise PyimageError(f"base layout {root}: selected manifest is not an image manifest")
    config = _read_json_blob(root, manifest.get("config"), "config")
    _check_config_platform(root, config, platform)
    layers = manifest.get("layers", [])
    if not isinstance(layers, list):
        raise PyimageError(f"base layout {root}: manifest 'layers' is not a list; re-pull it")
    out_layers = []
    for item in layers:
        if not isinstance(item, dict) or not isinstance(item.get("size"), int):
            raise PyimageError(f"base layout {root}: a layer descriptor is malformed; re-pull it")
        path = _blob_path(root, str(item.get("digest")))
        try:
            size = path.stat().st_size
        except FileNotFoundError as err:
            raise PyimageError(
                f"base layout {root}: layer blob {item['digest']} is missing;"
                " re-pull the base image"
            ) from err
        if size != item["size"]:
            raise PyimageError(
                f"base layout {root}: layer blob {item['digest']} has {size} bytes, manifest"
                f" says {item['size']}; the layout is truncated, re-pull the base image"
            )
        media = str(item.get("mediaType", ""))
        if "foreign" in media or "nondistributable" in media:
            raise PyimageError(
                f"base layout {root}: layer {item['digest']} is foreign ({media});"
                " use a base without foreign layers"
            )
        new = dict(item)
        new["mediaType"] = LAYER_TYPE_MAP.get(media, media)
        out_layers.append(new)
    rootfs = config.get("rootfs")
    diff_ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
    if not isinstance(diff_ids, list) or len(diff_ids) != len(out_layers):
        raise PyimageError(
            f"base layout {root}: config's rootfs.diff_ids do not match the manifest's layers;"
            " re-pull the base image"
        )
    annotations = manifest.get("annotations", {})
    return BaseImage(
        root=root,
        config=config,
        layers=out_layers,
        manifest_annotations=dict(annotations) if isinstance(annotations, dict) else {},
    )


@dataclass(frozen=True)
class LayerInput:
    """One package layer to append: its members (one member = reuse its blob as is).

    ``compression`` is the layer's when it is not its members' (a declared
    group's own: their files are compressed again, see :func:`layer.merge`).
    """

    members: tuple[layer.Member, ...]
    compression: str | None = None


@dataclass
class LayoutResult:
    """What :func:`write_layout` produced."""

    manifest_digest: str
    config_digest: str
    layers: list[LayerDescriptor]
    base_layers: int
    placed: dict[str, str] = field(default_factory=dict)  # digest -> how it was stored


class _BlobStore:
    """The blobs/sha256 directory of the layout being written; each digest once."""

    def __init__(
        self, root: Path, final: Path, link: Sequence[Path], settings: Compression
    ) -> None:
        self.dir = root / "blobs" / "sha256"
        self.settings = settings
        self.dir.mkdir(parents=True)
        # Where the blobs will be once the layout is in place (links are relative to it).
        self.final_dir = final / "blobs" / "sha256"
        self.link = link
        self.placed: dict[str, str] = {}

    def path(self, digest: str) -> Path:
        return self.dir / digest.split(":", 1)[1]

    def put_bytes(self, data: bytes) -> str:
        digest = _sha(data)
        if digest not in self.placed:
            self.path(digest).write_bytes(data)
            self.placed[digest] = "write"
        return digest

    def put_file(self, src: Path, digest: str, size: int, what: str) -> None:
        if digest in self.placed:
            return
        try:
            have = src.stat().st_size
        except OSError as err:
            raise PyimageError(
                f"{what}: blob {src} cannot be read ({err.strerror}); rebuild it"
            ) from err
        if have != size:
            raise PyimageError(
                f"{what}: blob {src} has {have} bytes, its descriptor says {size}; rebuild it"
            )
        if any(under(src, where) for where in self.link):
            self.placed[digest] = link_blob(src, self.path(digest), self.final_dir)
        else:
            self.placed[digest] = place_blob(src, self.path(digest))

    def put_merged(self, members: Sequence[layer.Member], into: str | None) -> LayerDescriptor:
        tmp = temp_name(self.dir / "merge")
        desc = layer.merge(members, tmp, check=False, settings=self.settings, into=into)
        if desc.digest in self.placed:
            tmp.unlink()
        else:
            tmp.replace(self.path(desc.digest))
            self.placed[desc.digest] = "merge"
        return desc


def _history(config: dict[str, object], descs: Sequence[LayerDescriptor]) -> list[object]:
    history = config.get("history")
    out = list(history) if isinstance(history, list) else []
    for d in descs:
        out.append(
            {
                "created": HISTORY_CREATED,
                "created_by": "rules_pyimage: " + " ".join(d.packages),
                "comment": f"{len(d.packages)} package(s)",
            }
        )
    return out


def _check_layers(layers: Sequence[LayerInput], check_conflicts: bool) -> None:
    """Refuse empty layers, a package in two places, and (optionally) path conflicts."""
    seen: set[str] = set()
    for spec in layers:
        if not spec.members:
            raise PyimageError("a layer has no packages; drop it or give it members")
        for m in spec.members:
            for name in m.descriptor.packages:
                if name in seen:
                    raise PyimageError(
                        f"package {name} is given twice for one image; put it in one layer"
                    )
                seen.add(name)
    if check_conflicts:
        layer.check_conflicts([m.descriptor for spec in layers for m in spec.members])


def write_layout(
    out: Path,
    layers: Sequence[LayerInput],
    *,
    base: BaseImage | None = None,
    platform: str = "linux/amd64",
    tag: str = "latest",
    check_conflicts: bool = True,
    link: Sequence[Path] = (),
    sidecar: tuple[Path, Callable[[LayoutResult], bytes]] | None = None,
    settings: Compression = DEFAULT,
) -> LayoutResult:
    """Write an OCI layout at ``out``: ``base`` (or scratch) plus ``layers``, bottom to top.

    ``base`` is the base image as :func:`read_base` read it for ``platform``
    (a base is read once, by whoever counts its layers).

    Path conflicts across all package layers are refused first (metadata only)
    unless ``check_conflicts`` is False. Existing blobs named in ``link`` (or
    inside a folder it names) are linked (relative symlinks), the others
    placed (see the module's docstring). ``out`` is replaced atomically, and
    only when it is absent, an empty folder or a previous layout
    (:func:`check_out_dir`). ``sidecar`` is a file that describes the layout
    (a plan report) and its bytes, made from the result: it is put in place
    with the layout as one unit (:func:`pyimage.fsutil.replace_together`),
    so that no interruption leaves a layout beside a report of another.
    Merges of zstd packages, and layers compressed as zstd, run the zstd program of
    ``settings``.
    """
    out = Path(out)
    check_out_dir(out)
    plat = Platform.parse(platform)
    image = base if base is not None else scratch(plat)
    _check_layers(layers, check_conflicts)
    paths = [out] + ([sidecar[0]] if sidecar else [])
    out.parent.mkdir(parents=True, exist_ok=True)
    with replace_together(paths, check=lambda: check_out_dir(out)) as tmps:
        tmps[0].mkdir()
        result = _write_tree(
            tmps[0],
            out,
            image=image,
            plat=plat,
            tag=tag,
            layers=layers,
            link=link,
            settings=settings,
        )
        if sidecar:
            tmps[1].write_bytes(sidecar[1](result))
    return result


def _write_tree(
    tmp: Path,
    out: Path,
    *,
    image: BaseImage,
    plat: Platform,
    tag: str,
    layers: Sequence[LayerInput],
    link: Sequence[Path],
    settings: Compression,
) -> LayoutResult:
    """Write the layout into the new folder ``tmp`` that will be moved to ``out``."""
    store = _BlobStore(tmp, out, link, settings)
    manifest_layers: list[dict[str, object]] = []
    for item in image.layers:
        assert image.root is not None
        digest = str(item["digest"])
        size = item["size"]
        assert isinstance(size, int)
        store.put_file(_blob_path(image.root, digest), digest, size, "base layer")
        manifest_layers.append(item)
    descs = []
    for spec in layers:
        ordered = layer.order(spec.members)
        d = ordered[0].descriptor
        if len(ordered) == 1 and spec.compression in (None, d.compression):
            store.put_file(ordered[0].blob, d.digest, d.size, f"package {d.label}")
        else:
            d = store.put_merged(ordered, spec.compression)
        descs.append(d)
        manifest_layers.append(
            {
                "mediaType": d.media_type,
                "digest": d.digest,
                "size": d.size,
                "annotations": {PACKAGES_ANNOTATION: ",".join(d.packages)},
            }
        )
    config = dict(image.config)
    rootfs = dict(config.get("rootfs") or {})  # type: ignore[call-overload]
    rootfs["type"] = "layers"
    rootfs["diff_ids"] = list(rootfs.get("diff_ids", [])) + [d.diff_id for d in descs]
    config["rootfs"] = rootfs
    config["history"] = _history(config, descs)
    config_bytes = _dumps(config)
    config_digest = store.put_bytes(config_bytes)
    manifest: dict[str, object] = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": manifest_layers,
    }
    if image.manifest_annotations:
        manifest["annotations"] = image.manifest_annotations
    manifest_bytes = _dumps(manifest)
    manifest_digest = store.put_bytes(manifest_bytes)
    index = {
        "schemaVersion": 2,
        "mediaType": OCI_INDEX,
        "manifests": [
            {
                "mediaType": OCI_MANIFEST,
                "digest": manifest_digest,
                "size": len(manifest_bytes),
                "platform": plat.to_json(),
                "annotations": {REF_NAME: tag},
            }
        ],
    }
    (tmp / "index.json").write_bytes(_dumps(index))
    (tmp / "oci-layout").write_bytes(OCI_LAYOUT_MARKER)
    return LayoutResult(
        manifest_digest=manifest_digest,
        config_digest=config_digest,
        layers=descs,
        base_layers=image.layer_count,
        placed=store.placed,
    )


@dataclass(frozen=True)
class LayoutSummary:
    """What a layout of ours holds, read from its index, manifest and config alone."""

    platform: str
    layers: list[dict[str, object]]  # the manifest's layer descriptors, bottom to top
    metadata_bytes: int  # the manifest's and the config's sizes


def summarize(root: Path) -> LayoutSummary:
    """Read the one image of a layout ``write_layout`` wrote (no layer blob is read)."""
    fix = "rebuild the image"
    index = jsonio.load(Path(root) / "index.json", f"image layout {root}: index", fix)
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list) or len(manifests) != 1:
        raise PyimageError(f"image layout {root}: index.json lists no single image; {fix}")
    entry = manifests[0]
    manifest = _read_json_blob(root, entry, "manifest", "image layout", fix)
    config_desc = manifest.get("config")
    _read_json_blob(root, config_desc, "config", "image layout", fix)
    layers = manifest.get("layers")
    platform = entry.get("platform") if isinstance(entry, dict) else None
    ok = isinstance(layers, list) and all(
        isinstance(lay, dict) and isinstance(lay.get("digest"), str)
        and isinstance(lay.get("size"), int) for lay in layers
    ) and isinstance(platform, dict)  # fmt: skip
    if not ok:
        raise PyimageError(f"image layout {root}: its manifest or platform is malformed; {fix}")
    assert isinstance(config_desc, dict) and isinstance(platform, dict)
    plat = Platform(
        str(platform.get("os")), str(platform.get("architecture")), str(platform.get("variant", ""))
    )
    return LayoutSummary(
        str(plat),
        list(layers),
        int(entry["size"]) + int(config_desc["size"]),  # type: ignore[arg-type]
    )


#: The ``oci-layout`` file every layout of ours holds.
OCI_LAYOUT_MARKER = _dumps({"imageLayoutVersion": "1.0.0"})

_HEX64 = re.compile(r"[0-9a-f]{64}")


def check_out_dir(out: Path) -> None:
    """Refuse an ``--out`` that is not absent, an empty folder or a previous layout of ours.

    Writing a layout replaces ``out``: whatever else is there (a mistyped
    path, a home folder, a user's file under ``blobs/``) must never be
    deleted. A previous layout of ours is exactly: the ``oci-layout`` file we
    write, an ``index.json`` file, and ``blobs/sha256/`` holding only files or
    symlinks named by their sha256.
    """
    if out.is_symlink() or (out.exists() and not out.is_dir()):
        raise PyimageError(f"--out {out} is not a folder; give a new or empty folder")
    if not out.exists():
        return
    odd = _not_our_layout(out)
    if odd is not None:
        raise PyimageError(
            f"--out {out} holds {odd}, so it is not a previous layout of rules_pyimage;"
            " give a new or empty folder (only a previous layout is replaced)"
        )


def _not_our_layout(out: Path) -> str | None:
    """What in the existing folder ``out`` is not part of a layout of ours; None if nothing."""
    try:
        names = sorted(p.name for p in out.iterdir())
        if not names:
            return None
        marker = out / "oci-layout"
        if not _is_file(marker) or marker.read_bytes() != OCI_LAYOUT_MARKER:
            return "no oci-layout file of ours"
        for name in names:
            path = out / name
            if name in ("oci-layout", "index.json") and _is_file(path):
                continue
            if name != "blobs" or not _is_folder(path):
                return f"{name!r}"
            for algo in sorted(path.iterdir()):
                if algo.name != "sha256" or not _is_folder(algo):
                    return f"'blobs/{algo.name}'"
                for blob in sorted(algo.iterdir()):
                    if not _HEX64.fullmatch(blob.name) or _is_folder(blob):
                        return f"'blobs/sha256/{blob.name}'"
    except OSError as err:
        raise PyimageError(
            f"--out {out}: cannot read it: {err.strerror}; check its permissions"
        ) from err
    return None


def _is_file(path: Path) -> bool:
    return path.is_file() and not path.is_symlink()


def _is_folder(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()
