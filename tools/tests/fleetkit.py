"""Helpers of the fleet tests: packages built once, FLEET_INPUTS.json, the actions Bazel runs."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

from enginekit import build_package, pyimage

from pyimage.engine import layer
from pyimage.engine.compression import DEFAULT, Compression
from pyimage.fleet.groups import Build, build_of

MIB = 1 << 20


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    """Run pyimage; fail the test unless it exits 0."""
    r = pyimage(*args)
    assert r.returncode == 0, r.stderr
    return r


class Fleet:
    """Packages built once (in ``compression``); images as FLEET_INPUTS.json entries."""

    def __init__(self, root: Path, compression: Compression = DEFAULT) -> None:
        self.root = root
        self.compression = compression
        self.members: dict[str, layer.Member] = {}

    def package(self, pid: str, size: int = 2000, variant: str = "") -> str:
        """Build ``pid``; a ``variant`` is the same id with other bytes, kept as ``pid/variant``."""
        name = pid.split("==", maxsplit=1)[0]
        text = f"{pid} {variant}".encode()
        body = (text * (size // len(text) + 1))[:size]
        key = f"{pid}/{variant}" if variant else pid
        workdir = self.root / variant if variant else self.root
        workdir.mkdir(exist_ok=True)
        spec = {f"sp/{name}/__init__.py": body}
        self.members[key] = build_package(workdir, pid, spec, self.compression)
        return key

    def build(self, key: str) -> Build:
        """The build (id, diff_id, compression) of the package built as ``key``."""
        return build_of(self.members[key].descriptor)

    def label(self, key: str) -> str:
        """The label the rules would name for ``key``: its hub's, as rules_python 1.x has it."""
        name, _, variant = key.partition("/")
        hub = "pypi_patched" if variant else "pypi"
        return f"@@rules_python~~pip~{hub}//{name.split('==')[0]}"

    def entry(
        self,
        pids: list[str],
        max_layers: int = 20,
        reserved: int = 1,
        platform: str = "linux/amd64",
    ) -> dict[str, object]:
        """An image of FLEET_INPUTS.json holding the packages ``pids``."""
        return {
            "max_layers": max_layers,
            "reserved_layers": reserved,
            "base": None,
            "platform": platform,
            "packages": [
                {
                    "descriptor": str(self.members[p].descriptor_path),
                    "blob": str(self.members[p].blob),
                    "label": self.label(p),
                }
                for p in pids
            ],
        }

    def inputs(self, images: dict[str, dict[str, object]], **more: object) -> Path:
        """Write FLEET_INPUTS.json of ``images`` (and ``more`` of its keys: ``fleet``,
        ``declared``); its path."""
        path = self.root / "inputs.json"
        path.write_text(json.dumps({"images": images, **more}))
        return path

    def package_args(self, pids: list[str], flag: str = "--package") -> list[str]:
        """``flag DESC BLOB`` for each of ``pids``."""
        args = []
        for p in pids:
            args += [flag, str(self.members[p].descriptor_path), str(self.members[p].blob)]
        return args


def plan(
    fleet: Fleet,
    images: dict[str, list[str]],
    out: Path,
    *more: str,
    label: str | None = None,
    declared: dict | None = None,
) -> dict:
    """``fleet-plan`` of ``images`` (name -> package keys) into ``out``, the fleet called
    ``label`` and declaring ``declared`` when given; the lock document."""
    entries = {name: fleet.entry(pids) for name, pids in images.items()}
    keys = {"fleet": label, "declared": declared}
    inputs = fleet.inputs(entries, **{k: v for k, v in keys.items() if v is not None})
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(out), *more)
    return json.loads(out.read_text())


def groups_of(lock: dict, image: str | None = None) -> dict[str, list[str]]:
    """The shared layers of a lock document (of one image): group id -> package ids."""
    return {
        lay["group"]: lay["packages"]
        for name, entry in lock["images"].items()
        if image in (None, name)
        for lay in entry["layers"]
        if "group" in lay
    }


def merge_group(fleet: Fleet, gid: str, keys: list[str], out: Path) -> subprocess.CompletedProcess:
    """``fleet-merge-group`` of ``gid`` from the builds ``keys``, into ``out/<gid>.*``."""
    args = ["fleet-merge-group", "--group", gid, *fleet.package_args(keys)]
    return ok(*args, "--blob", str(out / f"{gid}.tar.gz"), "--descriptor", str(out / f"{gid}.json"))


def merge_shared(fleet: Fleet, lock: dict, held: dict[str, list[str]], out: Path) -> list[str]:
    """What the module extension's group targets do: one merge per group of ``lock``, from the
    builds the images hold now (``held``: image -> package keys); the group ids."""
    out.mkdir(exist_ok=True)
    for gid, members in groups_of(lock).items():
        holders = [
            n for n, e in lock["images"].items() if any(x.get("group") == gid for x in e["layers"])
        ]
        keys = sorted({k for n in holders for k in held.get(n, []) if k.split("/")[0] in members})
        merge_group(fleet, gid, keys, out)
    return sorted(groups_of(lock))


def slice_of(lock_path: Path, image: str, out: Path) -> Path:
    """The slice of one image, as the module extension writes it: a lock of it alone."""
    lock = json.loads(lock_path.read_text())
    entry = lock["images"][image]
    held = {(p, lay["diff_ids"][p]) for lay in entry["layers"] for p in lay["packages"]}
    packages: dict[str, dict[str, object]] = {}
    for pid, builds in lock.get("packages", {}).items():
        for diff_id, build in builds.items():
            if (pid, diff_id) in held:
                packages.setdefault(pid, {})[diff_id] = build
    doc = {"format": lock["format"], "images": {image: entry}, "packages": packages}
    if "declared" in lock:
        doc["declared"] = lock["declared"]
    out.write_text(json.dumps(doc))
    return out


def image_args(
    fleet: Fleet, name: str, keys: list[str], *, lock: Path, merged: Path | None, out: Path
) -> list[str]:
    """``pyimage image`` of ``name`` holding ``keys``, following ``lock``, with the groups
    merged into ``merged`` that its slice names."""
    args = ["image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--max-layers", "20"]
    args += ["--image-name", name, "--fleet-lock", str(lock)]
    if merged is not None:
        doc = json.loads(lock.read_text())
        for gid in groups_of(doc, name) if name in doc["images"] else {}:
            if (merged / f"{gid}.json").exists():
                args += ["--fleet-group", gid, str(merged / f"{gid}.json")]
                args += [str(merged / f"{gid}.tar.gz")]
    return args + fleet.package_args(keys)


def image_plan(
    fleet: Fleet, name: str, keys: list[str], *, lock: Path, merged: Path, out: Path
) -> dict:
    """Run :func:`image_args`; the image's plan report."""
    ok(*image_args(fleet, name, keys, lock=lock, merged=merged, out=out))
    return json.loads(Path(f"{out}.plan.json").read_text())


def layout_file(layout: Path, path: str) -> bytes:
    """The bytes of ``path`` as the image of an OCI layout holds it (its topmost layer)."""
    index = json.loads((layout / "index.json").read_text())
    blobs = layout / "blobs" / "sha256"
    manifest = json.loads((blobs / index["manifests"][0]["digest"].split(":")[1]).read_text())
    found = None
    for desc in manifest["layers"]:
        with tarfile.open(blobs / desc["digest"].split(":")[1], "r:gz") as tar:
            member = next((m for m in tar.getmembers() if m.name == path), None)
            if member is not None:
                extracted = tar.extractfile(member)
                assert extracted is not None
                found = extracted.read()
    assert found is not None, f"{path} is in no layer of {layout}"
    return found


def member_file(member: layer.Member, path: str) -> bytes:
    """The bytes of ``path`` in a package's own blob."""
    with tarfile.open(member.blob, "r:gz") as tar:
        extracted = tar.extractfile(path)
        assert extracted is not None
        return extracted.read()
