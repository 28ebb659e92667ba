"""Fleet plans as Bazel drives them: fleet-plan, fleet-merge-group, fleet-check, image."""

from __future__ import annotations

import json
import subprocess
import tarfile
from pathlib import Path

import pytest
from enginekit import build_package, pyimage, tar_of

from pyimage import lock as lock_mod
from pyimage.engine import layer
from pyimage.lock import compare, group_id, read

MIB = 1 << 20


def ok(*args: str) -> subprocess.CompletedProcess[str]:
    r = pyimage(*args)
    assert r.returncode == 0, r.stderr
    return r


class Fleet:
    """Packages built once; images as FLEET_INPUTS.json entries."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.members: dict[str, layer.Member] = {}

    def package(self, pid: str, size: int = 2000, variant: str = "") -> str:
        """Build ``pid``; a ``variant`` is the same id with other bytes, kept as ``pid/variant``."""
        name = pid.split("==", maxsplit=1)[0]
        text = f"{pid} {variant}".encode()
        body = (text * (size // len(text) + 1))[:size]
        key = f"{pid}/{variant}" if variant else pid
        workdir = self.root / variant if variant else self.root
        workdir.mkdir(exist_ok=True)
        self.members[key] = build_package(workdir, pid, {f"sp/{name}/__init__.py": body})
        return key

    def entry(self, pids: list[str], max_layers: int = 20, reserved: int = 1) -> dict[str, object]:
        return {
            "max_layers": max_layers,
            "reserved_layers": reserved,
            "base": None,
            "packages": [
                {
                    "descriptor": str(self.members[p].blob.with_suffix("").with_suffix(".json")),
                    "blob": str(self.members[p].blob),
                }
                for p in pids
            ],
        }

    def inputs(self, images: dict[str, dict[str, object]]) -> Path:
        path = self.root / "inputs.json"
        path.write_text(json.dumps({"images": images}))
        return path


@pytest.fixture()
def fleet(tmp_path: Path) -> Fleet:
    f = Fleet(tmp_path)
    for pid in ["big==1", "six==1", "idna==1", "attrs==1", "only-a==1", "only-b==1"]:
        f.package(pid, 8 * MIB if pid == "big==1" else 2000)
    return f


def merge_shared(inputs: Path, lock: Path, out: Path) -> list[str]:
    """What py_image_fleet does with the lock's shared layers: one ``fleet-merge-group``
    per group, from the packages of the images that hold it, into ``out``; their ids."""
    out.mkdir(exist_ok=True)
    shared = lock_mod.shared_layers(json.loads(lock.read_text()))
    images = json.loads(inputs.read_text())["images"]
    for gid, members in shared["groups"].items():
        args = ["fleet-merge-group", "--group", gid]
        for name, gids in shared["images"].items():
            for p in images.get(name, {}).get("packages", []) if gid in gids else []:
                member = layer.load_member(Path(p["descriptor"]), Path(p["blob"]))
                if member.name in members:
                    args += ["--package", p["descriptor"], p["blob"]]
        ok(*args, "--blob", str(out / f"{gid}.tar.gz"), "--descriptor", str(out / f"{gid}.json"))
    return sorted(shared["groups"])


def group_args(merged: Path, flag: str, *, blobs: bool = True) -> list[str]:
    """``flag GID DESC [BLOB]`` for each shared layer :func:`merge_shared` wrote in ``merged``."""
    args = []
    for descriptor in sorted(merged.glob("*.json")):
        args += [flag, descriptor.stem, str(descriptor)]
        args += [str(descriptor.with_suffix(".tar.gz"))] if blobs else []
    return args


def image_args(
    fleet: Fleet, name: str, pids: list[str], *, lock: Path, merged: Path, out: Path
) -> list[str]:
    args = ["image", "--out", str(out), "--plan-out", str(out) + ".plan.json", "--max-layers", "20"]
    args += ["--image-name", name, "--fleet-lock", str(lock), *group_args(merged, "--fleet-group")]
    for p in pids:
        m = fleet.members[p]
        args += ["--package", str(m.blob.with_suffix("").with_suffix(".json")), str(m.blob)]
    return args


def image_layout(
    fleet: Fleet, name: str, pids: list[str], *, lock: Path, merged: Path, out: Path
) -> dict:
    ok(*image_args(fleet, name, pids, lock=lock, merged=merged, out=out))
    return json.loads(Path(str(out) + ".plan.json").read_text())


def test_images_share_the_fleets_merged_groups_byte_for_byte(fleet: Fleet, tmp_path: Path) -> None:
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    a, b = [*shared, "only-a==1"], [*shared, "only-b==1"]
    inputs = fleet.inputs({"//a:image": fleet.entry(a), "//b:image": fleet.entry(b)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    doc = json.loads(lock.read_text())
    # The small packages both images use form one group, the same in both.
    groups = {tuple(lay["packages"]) for im in doc["images"].values() for lay in im["layers"]}
    small_shared = ("attrs==1", "idna==1", "six==1")
    assert small_shared in groups, groups
    merged = tmp_path / "merged"
    merge_shared(inputs, lock, merged)
    variants = [(p, fleet.members[p].descriptor.digest) for p in small_shared]
    assert (merged / f"{group_id(variants)}.tar.gz").is_file()
    plan_a = image_layout(fleet, "//a:image", a, lock=lock, merged=merged, out=tmp_path / "a")
    plan_b = image_layout(fleet, "//b:image", b, lock=lock, merged=merged, out=tmp_path / "b")
    # Each layer says why the lock made it, not merely that it was kept.
    lock_why = {
        tuple(lay["packages"]): lay["reason"] for lay in doc["images"]["//a:image"]["layers"]
    }
    assert {tuple(lay["packages"]): lay["reason"] for lay in plan_a["layers"]} == {
        g: f"fleet lock: {why}" for g, why in lock_why.items()
    }
    digest_a = {tuple(lay["packages"]): lay["digest"] for lay in plan_a["layers"]}
    digest_b = {tuple(lay["packages"]): lay["digest"] for lay in plan_b["layers"]}
    assert digest_a[small_shared] == digest_b[small_shared]
    assert digest_a[("big==1",)] == digest_b[("big==1",)]
    # The group's blob in the layouts is the fleet's merged blob.
    blob = tmp_path / "a" / "blobs" / "sha256" / digest_a[small_shared].split(":")[1]
    assert blob.read_bytes() == (merged / f"{group_id(variants)}.tar.gz").read_bytes()


def test_a_new_package_builds_without_updating_the_lock_and_check_says_so(
    fleet: Fleet, tmp_path: Path
) -> None:
    pids = ["big==1", "six==1", "idna==1"]
    inputs = fleet.inputs({"//a:image": fleet.entry(pids)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    fresh = tmp_path / "fresh.json"
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(fresh))
    assert compare(str(lock), read(str(fresh), "fleet plan")) == []
    # A new dependency, lock not updated: the image still has every package.
    grown = [*pids, "attrs==1"]
    inputs = fleet.inputs({"//a:image": fleet.entry(grown)})
    merged = tmp_path / "merged"
    merge_shared(inputs, lock, merged)
    plan = image_layout(fleet, "//a:image", grown, lock=lock, merged=merged, out=tmp_path / "a")
    assert sorted(p for lay in plan["layers"] for p in lay["packages"]) == sorted(grown)
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(fresh))
    r = pyimage(
        "fleet-check",
        "--lock",
        str(lock),
        "--plan",
        str(fresh),
        "--update-target",
        "//:fleet.update",
    )
    assert r.returncode == 1
    assert "package attrs==1 is not in the lock" in r.stdout
    assert "bazel run //:fleet.update" in r.stdout
    r = pyimage("fleet-check", "--plan", str(fresh), "--update-target", "//:fleet.update")
    assert r.returncode == 1 and "no lock file" in r.stdout
    # A lock of the wrong shape is bad input (exit 2), not a stale lock (exit 1).
    for bad in (
        "[1]",
        '{"images": 5}',
        '{"images": {"//a:image": {"layers": [{"packages": [1]}]}}}',
    ):
        lock.write_text(bad)
        r = pyimage("fleet-check", "--lock", str(lock), "--plan", str(fresh))
        lines = r.stderr.strip().splitlines()
        assert r.returncode == 2 and len(lines) == 1, (bad, r.stderr)
        assert "not a fleet lock" in lines[0] and "`.update`" in lines[0], lines


def test_bumping_a_package_keeps_every_other_layer_of_the_lock(
    fleet: Fleet, tmp_path: Path
) -> None:
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    images = {"//a:image": fleet.entry([*shared, "only-a==1"]), "//b:image": fleet.entry(shared)}
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(lock))
    fleet.package("six==2")
    images = {
        "//a:image": fleet.entry(["big==1", "six==2", "idna==1", "attrs==1", "only-a==1"]),
        "//b:image": fleet.entry(["big==1", "six==2", "idna==1", "attrs==1"]),
    }
    new = tmp_path / "new.json"
    ok(
        "fleet-plan",
        "--inputs",
        str(fleet.inputs(images)),
        "--previous",
        str(lock),
        "--out",
        str(new),
    )
    before = {
        tuple(lay["packages"])
        for im in json.loads(lock.read_text())["images"].values()
        for lay in im["layers"]
    }
    after = {
        tuple(lay["packages"])
        for im in json.loads(new.read_text())["images"].values()
        for lay in im["layers"]
    }
    assert {g for g in before if "six==1" not in g} <= after
    assert not [g for g in after if "six==1" in g]


def test_each_images_own_cap_and_reserved_layers_are_honoured(fleet: Fleet, tmp_path: Path) -> None:
    pids = ["big==1", "six==1", "idna==1", "attrs==1", "only-a==1"]
    images = {
        "//tight:image": fleet.entry(pids, max_layers=3, reserved=2),
        "//loose:image": fleet.entry(pids, max_layers=20, reserved=1),
    }
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(lock))
    doc = json.loads(lock.read_text())["images"]
    assert len(doc["//tight:image"]["layers"]) == 1
    assert doc["//tight:image"]["max_layers"] == 3 and doc["//tight:image"]["reserved_layers"] == 2
    loose = doc["//loose:image"]["layers"]
    assert sorted(p for lay in loose for p in lay["packages"]) == sorted(pids)
    assert len(loose) <= 20 - 1
    images["//tight:image"] = fleet.entry(pids, max_layers=2, reserved=2)
    r = pyimage(
        "fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(tmp_path / "x.json")
    )
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "//tight:image" in r.stderr and "max_layers 2" in r.stderr
    assert not (tmp_path / "x.json").exists()


def test_an_image_takes_descriptors_and_blobs_only(fleet: Fleet, tmp_path: Path) -> None:
    # The rules pass DESC BLOB: a merged layer then comes from the blobs
    # (inflated, checked), and a third path (the retired DESC TAR BLOB form)
    # is refused in one line before anything is written.
    pids = ["big==1", "six==1", "idna==1", "attrs==1"]
    out = tmp_path / "blobs-only"
    args = ["image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--max-layers", "20"]
    for p in pids:
        m = fleet.members[p]
        args += ["--package", str(m.blob.with_suffix("").with_suffix(".json")), str(m.blob)]
    ok(*args)
    plan = json.loads(Path(f"{out}.plan.json").read_text())
    assert any(len(lay["packages"]) > 1 for lay in plan["layers"]), "a merge ran"
    m = fleet.members["six==1"]
    (tmp_path / "six.tar").write_bytes(tar_of(m))
    r = pyimage("image", "--out", str(tmp_path / "x"), "--plan-out", str(tmp_path / "x.json"),
                "--package", str(m.blob.with_suffix("").with_suffix(".json")),
                str(tmp_path / "six.tar"), str(m.blob))  # fmt: skip
    assert r.returncode == 2 and r.stderr.count("\n") == 1, r.stderr
    assert "unrecognized arguments" in r.stderr
    assert not (tmp_path / "x").exists() and not (tmp_path / "x.json").exists()


@pytest.mark.parametrize(
    ("packages", "needle"),
    [
        ([5], "package item 5 needs exactly a 'descriptor' and a 'blob'"),
        ([{"blob": "x.tar.gz"}], "needs exactly a 'descriptor' and a 'blob'"),
        (
            [{"descriptor": "x.json", "blob": "x.tar.gz", "tar": "x.tar"}],
            "needs exactly a 'descriptor' and a 'blob'",
        ),
        ({"descriptor": "x.json"}, "'packages' must be a list"),
    ],
)
def test_malformed_package_items_are_refused_in_one_line(
    packages: object, needle: str, tmp_path: Path
) -> None:
    inputs = tmp_path / "inputs.json"
    image = {"max_layers": 10, "reserved_layers": 1, "packages": packages}
    inputs.write_text(json.dumps({"images": {"//a:image": image}}))
    r = pyimage("fleet-plan", "--inputs", str(inputs), "--out", str(tmp_path / "plan.json"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert needle in lines[0] and "image '//a:image'" in lines[0], lines
    assert not (tmp_path / "plan.json").exists()


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


@pytest.fixture()
def variants(fleet: Fleet) -> tuple[list[str], list[str]]:
    """Two images holding one id, six==1, built from other bytes in each."""
    six_b = fleet.package("six==1", variant="patched")
    shared = ["big==1", "idna==1", "attrs==1"]
    return [*shared, "six==1", "only-a==1"], [*shared, six_b, "only-b==1"]


def test_two_variants_of_one_id_are_two_packages_each_image_its_own_bytes(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    a, b = variants
    inputs = fleet.inputs({"//a:image": fleet.entry(a), "//b:image": fleet.entry(b)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    doc = json.loads(lock.read_text())
    digest = {k: fleet.members[k].descriptor.digest for k in ("six==1", "six==1/patched")}
    assert digest["six==1"] != digest["six==1/patched"]
    # In the lock each image's six is its own variant, and the layers holding
    # six differ between the images (the other small packages would share).
    six_layers = {}
    for name, want in (("//a:image", "six==1"), ("//b:image", "six==1/patched")):
        (lay,) = [x for x in doc["images"][name]["layers"] if "six==1" in x["packages"]]
        assert lay["digests"]["six==1"] == digest[want]
        six_layers[name] = lay["digests"]
    assert six_layers["//a:image"] != six_layers["//b:image"]
    merged = tmp_path / "merged"
    merge_shared(inputs, lock, merged)
    for name, pids, want in (("//a:image", a, "six==1"), ("//b:image", b, "six==1/patched")):
        out = tmp_path / name.split(":")[0].strip("/")
        image_layout(fleet, name, pids, lock=lock, merged=merged, out=out)
        got = layout_file(out, "sp/six/__init__.py")
        assert got == layout_file_of_member(fleet.members[want])
    check = pyimage("fleet-check", "--lock", str(lock), "--plan", str(lock))
    assert check.returncode == 0, check.stdout + check.stderr


def layout_file_of_member(member: layer.Member) -> bytes:
    with tarfile.open(member.blob, "r:gz") as tar:
        extracted = tar.extractfile("sp/six/__init__.py")
        assert extracted is not None
        return extracted.read()


def test_a_package_rebuilt_after_the_lock_gets_its_own_layer_and_the_check_names_it(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    a, _ = variants
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in a]
    inputs = fleet.inputs({"//a:image": fleet.entry(a)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    merged = tmp_path / "merged"
    merge_shared(inputs, lock, merged)
    assert any(merged.glob("*.tar.gz")), "the lock should hold a merged group with six"
    # six is rebuilt with other bytes; the lock and the merged folder are stale.
    out = tmp_path / "a"
    r = pyimage(*image_args(fleet, "//a:image", rebuilt, lock=lock, merged=merged, out=out))
    assert r.returncode == 0, r.stderr
    assert "six==1 not the bytes the fleet lock records" in r.stdout
    assert layout_file(out, "sp/six/__init__.py") == layout_file_of_member(
        fleet.members["six==1/patched"]
    )
    fresh = tmp_path / "fresh.json"
    stale_inputs = fleet.inputs({"//a:image": fleet.entry(rebuilt)})
    ok("fleet-plan", "--inputs", str(stale_inputs), "--previous", str(lock), "--out", str(fresh))
    check = pyimage("fleet-check", "--lock", str(lock), "--plan", str(fresh))
    assert check.returncode == 1
    assert "image //a:image: package six==1 is not the bytes the lock records" in check.stdout


def test_update_after_a_rebuild_plans_the_rebuilt_package_again_as_a_bump(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    # Both images hold the released six; the lock groups it with the small
    # packages they share. Then //b's six is rebuilt with other bytes.
    a, _ = variants
    b = [("only-b==1" if p == "only-a==1" else p) for p in a]
    inputs = fleet.inputs({"//a:image": fleet.entry(a), "//b:image": fleet.entry(b)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    before = json.loads(lock.read_text())["images"]
    holding = [lay for lay in before["//b:image"]["layers"] if "six==1" in lay["packages"]]
    assert len(holding[0]["packages"]) > 1, "six should share a layer with others"
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in b]
    inputs = fleet.inputs({"//a:image": fleet.entry(a), "//b:image": fleet.entry(rebuilt)})
    update = tmp_path / "update.json"
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(update))
    after = json.loads(update.read_text())["images"]
    # //a keeps its layers; //b plans its rebuilt six again, like a bump: the
    # layer holding it is //b's own now, and says so.
    assert after["//a:image"]["layers"] == before["//a:image"]["layers"]
    (now,) = [lay for lay in after["//b:image"]["layers"] if "six==1" in lay["packages"]]
    assert now["digests"]["six==1"] == fleet.members["six==1/patched"].descriptor.digest
    assert "//a:image" in holding[0]["reason"]
    assert "//a:image" not in now["reason"], now
    # With the updated lock, //b builds every layer of it: nothing is stale.
    merged = tmp_path / "merged"
    merge_shared(inputs, update, merged)
    out = tmp_path / "b"
    r = pyimage(*image_args(fleet, "//b:image", rebuilt, lock=update, merged=merged, out=out))
    assert r.returncode == 0, r.stderr
    assert "not the bytes" not in r.stdout
    plan = json.loads(Path(str(out) + ".plan.json").read_text())
    assert all(lay["reason"].startswith("fleet lock: ") for lay in plan["layers"]), plan


def test_a_lock_without_digests_says_so_once(fleet: Fleet, tmp_path: Path) -> None:
    pids = ["big==1", "six==1", "idna==1", "attrs==1"]
    inputs = fleet.inputs({"//a:image": fleet.entry(pids)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    old = json.loads(lock.read_text())
    old["format"] = "rules_pyimage.fleet-lock/v1"
    for entry in old["images"].values():
        for lay in entry["layers"]:
            del lay["digests"]
    lock.write_text(json.dumps(old))
    fresh = tmp_path / "fresh.json"
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(fresh))
    # The update keeps the old layout, adding digests.
    layers = [
        lay["packages"] for lay in json.loads(fresh.read_text())["images"]["//a:image"]["layers"]
    ]
    assert layers == [lay["packages"] for lay in old["images"]["//a:image"]["layers"]]
    check = pyimage("fleet-check", "--lock", str(lock), "--plan", str(fresh))
    assert check.returncode == 1
    reasons = [line for line in check.stdout.splitlines() if line.startswith("  - ")]
    assert reasons == [
        "  - the lock is in format 'rules_pyimage.fleet-lock/v1', not"
        " 'rules_pyimage.fleet-lock/v2' (which records each package's digest)"
    ], check.stdout
    merged = tmp_path / "merged"
    merge_shared(inputs, lock, merged)
    r = pyimage(*image_args(fleet, "//a:image", pids, lock=lock, merged=merged, out=tmp_path / "a"))
    assert r.returncode == 0, r.stderr
    assert r.stdout.count("pyimage: note:") == 1 and "records no package digests" in r.stdout


def _merge_group(fleet: Fleet, gid: str, keys: list[str], out: Path) -> subprocess.CompletedProcess:
    args = ["fleet-merge-group", "--group", gid]
    for k in keys:
        m = fleet.members[k]
        args += ["--package", str(m.blob.with_suffix("").with_suffix(".json")), str(m.blob)]
    return ok(*args, "--blob", str(out / f"{gid}.tar.gz"), "--descriptor", str(out / f"{gid}.json"))


def test_a_shared_layer_is_merged_from_the_build_the_lock_records_among_several(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    fleet.package("idna==1", variant="patched")
    candidates = ["six==1", "six==1/patched", "idna==1/patched", "idna==1"]
    digest = {k: fleet.members[k].descriptor.digest for k in candidates}
    out = tmp_path / "shared"
    out.mkdir()
    # Each pairing of the two builds of each id is another layer; each merge
    # takes the builds its group id names, whatever the order given.
    for six, idna in [("six==1", "idna==1"), ("six==1/patched", "idna==1")]:
        gid = group_id([("six==1", digest[six]), ("idna==1", digest[idna])])
        _merge_group(fleet, gid, candidates, out)
        member = layer.load_member(out / f"{gid}.json", out / f"{gid}.tar.gz")
        want = layer.merge(
            [fleet.members[six], fleet.members[idna]], tmp_path / "w.tar.gz", tmp_path / "w.json"
        )
        assert member.descriptor.digest == want.digest
        assert member.blob.read_bytes() == (tmp_path / "w.tar.gz").read_bytes()


@pytest.mark.parametrize("case", ["another build of the same ids", "other members"])
def test_an_image_refuses_the_files_of_another_group(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path, case: str
) -> None:
    # `image --fleet-group GID DESC BLOB` given files merged for another
    # group: the descriptor records the builds it was merged from, which must
    # hash to GID. Else a cp312 .so could ride into a cp311 image, or a package
    # the plan report lists be missing. Refused in one line; nothing written.
    a, b = variants
    inputs = fleet.inputs({"//a:image": fleet.entry(a), "//b:image": fleet.entry(b)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    merged = tmp_path / "merged"
    gids = merge_shared(inputs, lock, merged)
    shared = lock_mod.shared_layers(json.loads(lock.read_text()))
    (mine,) = [g for g in shared["images"]["//a:image"] if "six==1" in shared["groups"][g]]
    if case == "another build of the same ids":
        # The same ids, with the patched six in place of the released one.
        keys = ["six==1/patched" if p == "six==1" else p for p in shared["groups"][mine]]
    else:
        keys = ["big==1", "idna==1"]
        assert sorted(keys) != shared["groups"][mine]
    other = group_id((k.split("/")[0], fleet.members[k].descriptor.digest) for k in keys)
    _merge_group(fleet, other, keys, merged)
    assert mine in gids and other != mine
    args = image_args(
        fleet, "//a:image", a, lock=lock, merged=tmp_path / "none", out=tmp_path / "a"
    )
    args += ["--fleet-group", mine, str(merged / f"{other}.json"), str(merged / f"{other}.tar.gz")]
    r = pyimage(*args)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert f"shared layer {mine}" in lines[0] and "other members or other builds" in lines[0]
    assert not (tmp_path / "a").exists() and not (tmp_path / "a.plan.json").exists()


def test_a_shared_layer_no_build_matches_is_a_marker_and_images_merge_their_own(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    # The lock was written for the released six; only the patched one is built now.
    a, _ = variants
    inputs = fleet.inputs({"//a:image": fleet.entry(a)})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    shared = lock_mod.shared_layers(json.loads(lock.read_text()))
    (gid,) = [g for g, members in shared["groups"].items() if "six==1" in members]
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in a]
    out = tmp_path / "merged"
    out.mkdir()
    r = _merge_group(
        fleet, gid, [k for k in rebuilt if k.split("/")[0] in shared["groups"][gid]], out
    )
    assert "no build of" in r.stdout and gid in r.stdout, r.stdout
    assert lock_mod.read_group(gid, out / f"{gid}.json") is None
    # The image given that marker still holds its own six, in a layer of its own making.
    layout = tmp_path / "a"
    r = pyimage(*image_args(fleet, "//a:image", rebuilt, lock=lock, merged=out, out=layout))
    assert r.returncode == 0, r.stderr
    assert layout_file(layout, "sp/six/__init__.py") == layout_file_of_member(
        fleet.members["six==1/patched"]
    )


def plan_two_images(fleet: Fleet, tmp_path: Path, *more: str) -> Path:
    """Plan //a and //b, which share four packages, into fleet.lock.json (``more``:
    further arguments of fleet-plan); the lock."""
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    images = {"//a:image": [*shared, "only-a==1"], "//b:image": [*shared, "only-b==1"]}
    inputs = fleet.inputs({name: fleet.entry(pids) for name, pids in images.items()})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock), *more)
    return lock


def test_the_bzl_form_of_a_lock_is_its_shared_layers_as_starlark(
    fleet: Fleet, tmp_path: Path
) -> None:
    bzl = tmp_path / "fleet.lock.bzl"
    more = ["--shared-layers-out", str(bzl), "--lock-path", "apps/fleet.lock.json"]
    more += ["--shared-layers-path", "apps/fleet.lock.bzl"]
    lock = plan_two_images(fleet, tmp_path, *more, "--update-target", "//apps:fleet.update")
    text = bzl.read_text()
    # Starlark's dict and list literals are Python's: evaluate the file as Python.
    scope: dict[str, object] = {}
    exec(compile(text, str(bzl), "exec"), {}, scope)  # the file just written
    doc = json.loads(lock.read_text())
    assert scope["SHARED_LAYERS"] == lock_mod.shared_layers(doc)
    groups = scope["SHARED_LAYERS"]["groups"]  # type: ignore[index]
    # Every layer of several packages, by the hash of its members' ids and digests.
    want = {
        group_id((p, lay["digests"][p]) for p in lay["packages"]): sorted(lay["packages"])
        for im in doc["images"].values()
        for lay in im["layers"]
        if len(lay["packages"]) > 1
    }
    assert groups == want and want
    assert 'load(":fleet.lock.bzl", "SHARED_LAYERS")' in text
    assert "bazel run //apps:fleet.update" in text
    assert all(line == line.rstrip() and "\t" not in line for line in text.splitlines())


def test_check_says_when_the_build_file_does_not_pass_the_shared_layers(
    fleet: Fleet, tmp_path: Path
) -> None:
    lock = plan_two_images(fleet, tmp_path)
    layers = lock_mod.shared_layers(json.loads(lock.read_text()))
    given = tmp_path / "given.json"

    def check(document: dict[str, object]) -> subprocess.CompletedProcess[str]:
        given.write_text(json.dumps(document))
        args = ["--lock", str(lock), "--plan", str(lock), "--lock-path", "apps/fleet.lock.json"]
        args += ["--shared-layers-path", "apps/fleet.lock.bzl"]
        args += ["--update-target", "//apps:u", "--shared-layers-given", str(given)]
        return pyimage("fleet-check", *args, "--fleet-label", "//apps:fleet")

    assert check({"given": True, **layers}).returncode == 0
    r = check({"given": False, "groups": {}, "images": {}})
    assert r.returncode == 1
    assert r.stdout.splitlines() == [
        "//apps:fleet is not given its lock's shared layers, so each image merges them itself:"
        ' add `load(":fleet.lock.bzl", "SHARED_LAYERS")` to its BUILD file and'
        " `shared_layers = SHARED_LAYERS` to the py_image_fleet (`bazel run //apps:u` writes"
        " fleet.lock.bzl)"
    ]
    stale = {"given": True, "groups": {}, "images": {}}
    r = check(stale)
    assert r.returncode == 1
    assert "  - fleet.lock.bzl is not the shared layers of the plan" in r.stdout
    assert "update it with: bazel run //apps:u" in r.stdout


def test_two_builds_of_one_package_in_one_image_are_refused_naming_both(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    # One image's inputs listing six==1 twice, built from other bytes: which
    # one the image holds is not for the planner to pick silently.
    a, _ = variants
    inputs = fleet.inputs({"//a:image": fleet.entry([*a, "six==1/patched"])})
    r = pyimage("fleet-plan", "--inputs", str(inputs), "--out", str(tmp_path / "lock.json"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    for key in ("six==1", "six==1/patched"):
        assert fleet.members[key].descriptor.digest in lines[0], lines
    assert "holds two builds of six==1" in lines[0] and "image '//a:image'" in lines[0]
    assert not (tmp_path / "lock.json").exists()
