"""fleet/plan.py through ``pyimage fleet-plan``: the next lock of a fleet, from the last one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enginekit import build_package, need_tool, pyimage
from fleetkit import Fleet, groups_of, ok, plan

from pyimage.engine.compression import Compression
from pyimage.fleet.groups import group_id
from pyimage.formats import lock as lock_format


def test_a_lock_records_each_build_its_label_and_each_shared_layer_its_group(
    fleet: Fleet, tmp_path: Path
) -> None:
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    images = {"//a:image": [*shared, "only-a==1"], "//b:image": [*shared, "only-b==1"]}
    doc = plan(fleet, images, tmp_path / "lock.json")
    assert doc["format"] == lock_format.FORMAT == "rules_pyimage.fleet-lock/v7"
    assert "declared" not in doc, "a fleet that declares nothing records nothing"
    # The small packages both images use form one group, the same in both.
    small = ["attrs==1", "idna==1", "six==1"]
    (gid,) = [g for g, members in groups_of(doc).items() if members == small]
    assert gid == group_id(fleet.build(p) for p in small)
    for name in images:
        (lay,) = [x for x in doc["images"][name]["layers"] if x.get("group") == gid]
        assert lay["diff_ids"] == {p: fleet.build(p)[1] for p in small}
    # A layer of one package has no group; each build its diff_id, label, compression.
    assert all(
        "group" not in x for x in doc["images"]["//a:image"]["layers"] if len(x["packages"]) == 1
    )
    for key in [*shared, "only-a==1", "only-b==1"]:
        pid, diff_id, compression = fleet.build(key)
        assert doc["packages"][pid][diff_id] == {
            "compression": compression,
            "label": fleet.label(key),
        }
    assert compression == "gzip"


def test_bumping_a_package_keeps_every_other_layer_of_the_lock(
    fleet: Fleet, tmp_path: Path
) -> None:
    shared = ["big==1", "six==1", "idna==1", "attrs==1"]
    lock = tmp_path / "lock.json"
    before = plan(fleet, {"//a:image": [*shared, "only-a==1"], "//b:image": shared}, lock)
    fleet.package("six==2")
    bumped = ["big==1", "six==2", "idna==1", "attrs==1"]
    after = plan(
        fleet,
        {"//a:image": [*bumped, "only-a==1"], "//b:image": bumped},
        tmp_path / "new.json",
        "--previous",
        str(lock),
    )
    old = {tuple(x["packages"]) for im in before["images"].values() for x in im["layers"]}
    new = {tuple(x["packages"]) for im in after["images"].values() for x in im["layers"]}
    assert {g for g in old if "six==1" not in g} <= new
    assert not [g for g in new if "six==1" in g]


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
    r = pyimage("fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(tmp_path / "x"))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "//tight:image" in r.stderr and "max_layers 2" in r.stderr
    assert not (tmp_path / "x").exists()


def test_two_builds_of_one_id_are_two_packages(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    a, b = variants
    doc = plan(fleet, {"//a:image": a, "//b:image": b}, tmp_path / "lock.json")
    diff = {k: fleet.build(k)[1] for k in ("six==1", "six==1/patched")}
    assert diff["six==1"] != diff["six==1/patched"]
    # In the lock each image's six is its own build, and the layers holding
    # six differ between the images (the other small packages would share).
    six_layers = {}
    for name, want in (("//a:image", "six==1"), ("//b:image", "six==1/patched")):
        (lay,) = [x for x in doc["images"][name]["layers"] if "six==1" in x["packages"]]
        assert lay["diff_ids"]["six==1"] == diff[want]
        six_layers[name] = lay["group"]
    assert six_layers["//a:image"] != six_layers["//b:image"]
    assert sorted(doc["packages"]["six==1"]) == sorted(diff.values())


def test_update_after_a_rebuild_plans_the_rebuilt_package_again_as_a_bump(
    fleet: Fleet, variants: tuple[list[str], list[str]], tmp_path: Path
) -> None:
    # Both images hold the released six; the lock groups it with the small
    # packages they share. Then //b's six is rebuilt with other bytes.
    a, _ = variants
    b = [("only-b==1" if p == "only-a==1" else p) for p in a]
    lock = tmp_path / "lock.json"
    before = plan(fleet, {"//a:image": a, "//b:image": b}, lock)["images"]
    holding = [lay for lay in before["//b:image"]["layers"] if "six==1" in lay["packages"]]
    assert len(holding[0]["packages"]) > 1, "six should share a layer with others"
    rebuilt = [("six==1/patched" if p == "six==1" else p) for p in b]
    update = tmp_path / "update.json"
    after = plan(fleet, {"//a:image": a, "//b:image": rebuilt}, update, "--previous", str(lock))
    after = after["images"]
    # //a keeps its layers; //b plans its rebuilt six again, like a bump: the
    # layer holding it is //b's own now, and says so.
    assert after["//a:image"]["layers"] == before["//a:image"]["layers"]
    (now,) = [lay for lay in after["//b:image"]["layers"] if "six==1" in lay["packages"]]
    assert now["diff_ids"]["six==1"] == fleet.build("six==1/patched")[1]
    assert "//a:image" in holding[0]["reason"]
    assert "//a:image" not in now["reason"], now


def _older(doc: dict, version: int, fleet: Fleet) -> dict:
    """``doc`` (v5, declaring nothing) as an earlier format wrote it: v4 is the same,
    v3 records no platform, v2 blob digests and no builds, v1 nothing."""
    old = json.loads(json.dumps(doc))
    old["format"] = f"rules_pyimage.fleet-lock/v{version}"
    if version == 4:
        return old
    for entry in old["images"].values():
        del entry["platform"]
    if version == 3:
        return old
    del old["packages"]
    digest = {fleet.build(k)[:2]: m.descriptor.digest for k, m in fleet.members.items()}
    for entry in old["images"].values():
        for lay in entry["layers"]:
            marks = lay.pop("diff_ids")
            lay.pop("group", None)
            if version == 2:
                lay["digests"] = {p: digest[(p, d)] for p, d in marks.items()}
    return old


@pytest.mark.parametrize("version", [1, 2, 3, 4])
def test_update_migrates_an_earlier_lock_keeping_its_layers(
    fleet: Fleet, tmp_path: Path, version: int
) -> None:
    # The one migration path: `.update` (fleet-plan --previous) reads every
    # earlier format and writes the current one, with the same layers.
    images = {"//a:image": ["big==1", "six==1", "idna==1", "attrs==1"]}
    doc = plan(fleet, images, tmp_path / "current.json")
    # A layout the planner would not pick by itself: every package alone.
    (entry,) = doc["images"].values()
    entry["layers"] = [
        {"packages": [p], "diff_ids": {p: lay["diff_ids"][p]}, "reason": f"old {p}"}
        for lay in entry["layers"]
        for p in lay["packages"]
    ]
    old = tmp_path / "old.json"
    old.write_text(json.dumps(_older(doc, version, fleet)))
    migrated = plan(fleet, images, tmp_path / "new.json", "--previous", str(old))
    assert migrated["format"] == lock_format.FORMAT
    assert migrated["images"] == doc["images"]
    assert migrated["packages"] == doc["packages"]


def test_a_previous_lock_that_does_not_parse_is_planned_anew_with_a_note(
    fleet: Fleet, tmp_path: Path
) -> None:
    # A merge conflict in the lock must not lock the repair out.
    lock = tmp_path / "lock.json"
    lock.write_text('{"format": "rules_pyimage.fleet-lock/v5",\n<<<<<<< HEAD\n')
    inputs = fleet.inputs({"//a:image": fleet.entry(["big==1", "six==1"])})
    r = ok(
        "fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(tmp_path / "n")
    )
    assert r.stdout.count("\n") == 1 and "planned anew" in r.stdout and str(lock) in r.stdout
    assert json.loads((tmp_path / "n").read_text())["format"] == lock_format.FORMAT


def test_a_lock_of_a_newer_format_is_never_overwritten(fleet: Fleet, tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    lock.write_text('{"format": "rules_pyimage.fleet-lock/v8", "images": {}}')
    inputs = fleet.inputs({"//a:image": fleet.entry(["six==1"])})
    r = pyimage(
        "fleet-plan", "--inputs", str(inputs), "--previous", str(lock), "--out", str(tmp_path / "n")
    )
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "rules_pyimage.fleet-lock/v8" in lines[0] and "rules_pyimage.fleet-lock/v7" in lines[0]
    assert not (tmp_path / "n").exists()


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


def test_a_fleet_of_two_compressions_is_refused_naming_an_image_of_each(
    fleet: Fleet, tmp_path: Path
) -> None:
    # A layer's identity includes its compression: images of two would share
    # nothing, so a fleet has one (py_image's `compression`).
    zstd = Compression.of("zstd", zstd=need_tool("zstd"))
    fleet.package("six==1")
    work = tmp_path / "z"
    work.mkdir()
    fleet.members["attrs==2/zstd"] = build_package(
        work, "attrs==2", {"sp/attrs/__init__.py": b"attrs"}, zstd
    )
    inputs = fleet.inputs(
        {"//a:image": fleet.entry(["six==1"]), "//b:image": fleet.entry(["attrs==2/zstd"])}
    )
    r = pyimage("fleet-plan", "--inputs", str(inputs), "--out", str(tmp_path / "lock.json"))
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "images '//a:image' (gzip) and '//b:image' (zstd) of one fleet" in lines[0], lines
    assert "same `compression`" in lines[0]
    assert not (tmp_path / "lock.json").exists()


@pytest.mark.parametrize(
    ("packages", "needle"),
    [
        ([5], "package item 5 needs exactly a 'descriptor' and a 'blob' path"),
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
