"""The layer descriptor: a small JSON file beside each layer blob.

A descriptor holds everything later actions need about a layer without reading
its bytes: the digest and size of the compressed blob (the OCI layer
descriptor), the digest and size of the uncompressed tar (the ``diff_id``), the
split points that the merge needs, the packages it holds and an index of its
paths for conflict checks. Example (one package)::

    {
      "format": "rules_pyimage.layer/v2",
      "packages": ["six==1.16.0"],
      "media_type": "application/vnd.oci.image.layer.v1.tar+gzip",
      "digest": "sha256:...", "size": 12345,
      "blob_dirs_size": 61,
      "blob_body_size": 12316,
      "diff_id": "sha256:...", "tar_size": 40960,
      "tar_dirs_size": 1024,
      "tar_body_size": 39936,
      "entries": {
        "site-packages/": "d",
        "site-packages/six.py": "f 644 sha256:<hex of the file's bytes>",
        "bin/tool": "f 755 sha256:...",
        "site-packages/link": "l six.py"
      },
      "bytecode": {"python": "3.11", "skipped": ["site-packages/py2only.py"]},
      "native": {"linux/amd64": "site-packages/_six_speedups.cpython-311-x86_64-linux-gnu.so"},
      "wheel_tags": ["cp311-cp311-manylinux_2_17_x86_64"]
    }

The blob is three compressed parts (gzip members or zstd frames, as its
``media_type`` says; :mod:`pyimage.engine.compression`): the directory
entries (``blob_dirs_size`` bytes), then the files and symlinks (up to
``blob_body_size``), then the compression's constant end (the two 512-byte
end blocks).
The tar splits at the same points: ``tar_dirs_size`` bytes of directory
entries, ``tar_body_size`` bytes without the end blocks. Directory keys of
``entries`` end in ``/``; its values are ``d``, ``l <target>`` or ``f <mode>
sha256:<hex>`` (mode 644 or 755). A merged layer's descriptor lists all its
packages, the union of their entries and, under ``"members"``, the
``diff_id`` of each package layer it was merged from (``{id: "sha256:..."}``),
so that a merged layer says exactly which builds it holds. ``bytecode``,
present when the layer carries precompiled bytecode, says for which Python
and which modules did not compile (for a merged layer, all of its members').
``native``, present when the layer holds native code, maps each platform
(``os/arch``) its native files are for to the first such file; ``wheel_tags``
are the tags of its wheels' ``*.dist-info/WHEEL`` files
(:mod:`pyimage.engine.native`; for a merged layer, the union of its
members').
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from pyimage import jsonio
from pyimage.engine.compression import GZIP, MEDIA_TYPES, Compression
from pyimage.errors import PyimageError

FORMAT = "rules_pyimage.layer/v3"
MEDIA_TYPE_GZIP = MEDIA_TYPES[GZIP]
SIZE_FIELDS = (
    "size",
    "blob_dirs_size",
    "blob_body_size",
    "tar_size",
    "tar_dirs_size",
    "tar_body_size",
)
DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")
_ENTRY_RE = re.compile(r"d|l .+|f (644|755) sha256:[0-9a-f]{64}", re.DOTALL)


@dataclass(frozen=True)
class LayerDescriptor:
    """What is known about one layer blob (a package's blob or a merged one)."""

    packages: tuple[str, ...]
    digest: str
    size: int
    blob_dirs_size: int
    blob_body_size: int
    diff_id: str
    tar_size: int
    tar_dirs_size: int
    tar_body_size: int
    entries: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    media_type: str = MEDIA_TYPE_GZIP
    #: A merged layer's packages -> the diff_ids of the layers merged ({} for one package).
    members: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: The Python version (``3.N``) the layer's bytecode is for; "" when it has none.
    bytecode: str = ""
    #: Modules (paths in the image) that did not compile and have no bytecode.
    bytecode_skipped: tuple[str, ...] = ()
    #: Each platform (``os/arch``) of its native files -> the first such file.
    native: dict[str, str] = field(default_factory=dict, compare=False, hash=False)
    #: The tags of its wheels (``py3-none-any``, ``cp311-cp311-manylinux_2_17_x86_64``).
    wheel_tags: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        """The JSON object written to disk (keys in a fixed order)."""
        return {
            "format": FORMAT,
            "packages": list(self.packages),
            "media_type": self.media_type,
            "digest": self.digest,
            "size": self.size,
            "blob_dirs_size": self.blob_dirs_size,
            "blob_body_size": self.blob_body_size,
            "diff_id": self.diff_id,
            "tar_size": self.tar_size,
            "tar_dirs_size": self.tar_dirs_size,
            "tar_body_size": self.tar_body_size,
            "entries": dict(sorted(self.entries.items())),
            **({"members": dict(sorted(self.members.items()))} if self.members else {}),
            **(
                {"bytecode": {"python": self.bytecode, "skipped": list(self.bytecode_skipped)}}
                if self.bytecode
                else {}
            ),
            **({"native": dict(sorted(self.native.items()))} if self.native else {}),
            **({"wheel_tags": sorted(self.wheel_tags)} if self.wheel_tags else {}),
        }

    def member_builds(self) -> dict[str, str]:
        """Each package of the layer -> the diff_id of its own layer (this one's, for one)."""
        return dict(self.members) if self.members else {self.packages[0]: self.diff_id}

    @property
    def compression(self) -> str:
        """How the blob is compressed: ``gzip`` or ``zstd`` (from the media type)."""
        return Compression.of_media_type(self.media_type, f"layer {self.label}")

    @property
    def label(self) -> str:
        """A short human name: the package, or the first package and a count."""
        if len(self.packages) == 1:
            return self.packages[0]
        return f"{self.packages[0]} (+{len(self.packages) - 1} more)"


def dump(desc: LayerDescriptor) -> str:
    """Serialise a descriptor deterministically (sorted entries, no whitespace noise)."""
    return json.dumps(desc.to_json(), indent=1, ensure_ascii=False) + "\n"


def save(desc: LayerDescriptor, path: Path) -> None:
    """Write ``desc`` to ``path``, a temporary that ``fsutil.replace_together`` puts in place."""
    Path(path).write_text(dump(desc), encoding="utf-8")


def _need(obj: dict[str, object], key: str, kind: type, where: str) -> object:
    value = obj.get(key)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise PyimageError(f"{where}: field {key!r} missing or not {kind.__name__}; rebuild it")
    return value


def parse(obj: object, where: str) -> LayerDescriptor:
    """Validate a decoded descriptor JSON object; ``where`` names it in errors."""
    if not isinstance(obj, dict) or obj.get("format") != FORMAT:
        raise PyimageError(f"{where}: not a {FORMAT} descriptor; rebuild it with this pyimage")
    packages = _need(obj, "packages", list, where)
    if not packages or not all(isinstance(p, str) and p for p in packages):
        raise PyimageError(f"{where}: 'packages' must be a non-empty list of names; rebuild it")
    ints = {k: int(_need(obj, k, int, where)) for k in SIZE_FIELDS}  # type: ignore[call-overload]
    if not (
        0 <= ints["blob_dirs_size"] <= ints["blob_body_size"] <= ints["size"]
        and 0 <= ints["tar_dirs_size"] <= ints["tar_body_size"] <= ints["tar_size"]
    ):
        raise PyimageError(f"{where}: sizes are inconsistent; rebuild it")
    for key in ("digest", "diff_id"):
        if not DIGEST_RE.match(str(obj.get(key))):
            raise PyimageError(f"{where}: field {key!r} is not a sha256 digest; rebuild it")
    entries = obj.get("entries", {})
    if not isinstance(entries, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in entries.items()
    ):
        raise PyimageError(f"{where}: 'entries' must map paths to strings; rebuild it")
    for path, value in entries.items():
        if not _ENTRY_RE.fullmatch(value) or path.endswith("/") != (value == "d"):
            raise PyimageError(
                f"{where}: entry {path!r} has the malformed value {value!r} (not d, l TARGET"
                " or f MODE DIGEST); rebuild it"
            )
    members = _members(obj, packages, where)
    bytecode, skipped = _bytecode(obj, where)
    native, tags = _platform_facts(obj, where)
    media_type = obj.get("media_type")
    Compression.of_media_type(str(media_type), where)
    return LayerDescriptor(
        packages=tuple(packages),
        digest=str(obj["digest"]),
        size=ints["size"],
        blob_dirs_size=ints["blob_dirs_size"],
        blob_body_size=ints["blob_body_size"],
        diff_id=str(obj["diff_id"]),
        tar_size=ints["tar_size"],
        tar_dirs_size=ints["tar_dirs_size"],
        tar_body_size=ints["tar_body_size"],
        entries=entries,
        media_type=str(media_type),
        members=members,
        bytecode=bytecode,
        bytecode_skipped=skipped,
        native=native,
        wheel_tags=tags,
    )


def _platform_facts(obj: dict[str, object], where: str) -> tuple[dict[str, str], tuple[str, ...]]:
    """The ``native`` and ``wheel_tags`` fields ({} and () when absent)."""
    native = obj.get("native", {})
    tags = obj.get("wheel_tags", [])
    ok = (
        isinstance(native, dict)
        and all(isinstance(k, str) and "/" in k and isinstance(v, str) for k, v in native.items())
        and isinstance(tags, list)
        and all(isinstance(t, str) and t for t in tags)
    )
    if not ok:
        raise PyimageError(
            f"{where}: 'native' must map os/arch to a path and 'wheel_tags' list tags; rebuild it"
        )
    return dict(native), tuple(tags)  # type: ignore[arg-type]


def _bytecode(obj: dict[str, object], where: str) -> tuple[str, tuple[str, ...]]:
    """The ``bytecode`` field: (Python version, modules skipped), ("", ()) when absent."""
    value = obj.get("bytecode")
    if value is None:
        return "", ()
    ok = (
        isinstance(value, dict)
        and set(value) == {"python", "skipped"}
        and isinstance(value["python"], str)
        and re.fullmatch(r"3\.\d+", value["python"]) is not None
        and isinstance(value["skipped"], list)
        and all(isinstance(p, str) for p in value["skipped"])
    )
    if not ok:
        raise PyimageError(
            f"{where}: 'bytecode' must be {{python: '3.N', skipped: [paths]}}; rebuild it"
        )
    return str(value["python"]), tuple(value["skipped"])  # type: ignore[index, arg-type]


def _members(obj: dict[str, object], packages: list[str], where: str) -> dict[str, str]:
    """The ``members`` of a merged layer's descriptor, checked against its packages."""
    members = obj.get("members", {})
    ok = isinstance(members, dict) and all(
        isinstance(v, str) and DIGEST_RE.match(v) for v in members.values()
    )
    if ok and members:
        ok = len(packages) > 1 and sorted(members) == sorted(packages)
    if not ok:
        raise PyimageError(
            f"{where}: 'members' must map each of its packages to a sha256 digest; rebuild it"
        )
    return dict(members)  # type: ignore[arg-type]


def load(path: Path) -> LayerDescriptor:
    """Read and validate a descriptor file."""
    where = f"descriptor {path}"
    return parse(jsonio.load(path, "descriptor", "rebuild it"), where)
