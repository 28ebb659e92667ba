"""fleet/report.py through ``pyimage fleet-report``: per image and layer what a plan shares."""

from __future__ import annotations

import json
from pathlib import Path

from enginekit import pyimage
from fleetkit import MIB, Fleet, image_plan, merge_shared, ok

from pyimage.engine import layer

SHARED = ["big==1", "six==1", "idna==1", "attrs==1"]
IMAGES = {"//a:image": [*SHARED, "only-a==1"], "//b:image": [*SHARED, "only-b==1"]}


def make_fleet(tmp_path: Path) -> Fleet:
    f = Fleet(tmp_path)
    for pid in [*SHARED, "only-a==1", "only-b==1"]:
        f.package(pid, 4 * MIB if pid == "big==1" else 30_000)
    return f


def report(fleet: Fleet, tmp_path: Path, *, with_lock: bool) -> tuple[dict, str, Path]:
    """Plan the fleet (and merge its lock's groups); the report's JSON, text and lock."""
    inputs = fleet.inputs({name: fleet.entry(pids) for name, pids in IMAGES.items()})
    lock = tmp_path / "fleet.lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(lock))
    merged = tmp_path / "merged"
    merged.mkdir()
    if with_lock:
        merge_shared(fleet, json.loads(lock.read_text()), IMAGES, merged)
    groups = [a for d in sorted(merged.glob("*.json")) for a in ("--group", d.stem, str(d))]
    out, js = tmp_path / "report.txt", tmp_path / "report.json"
    ok(
        "fleet-report", "--inputs", str(inputs), "--plan", str(lock), *groups,
        *(["--lock", str(lock)] if with_lock else []),
        "--update-target", "//x:fleet.update", "--out", str(out), "--json", str(js),
    )  # fmt: skip
    return json.loads(js.read_text()), out.read_text(), lock


def manifest_layers(layout: Path) -> list[dict]:
    index = json.loads((layout / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":", 1)[1]
    return json.loads((layout / "blobs" / "sha256" / digest).read_text())["layers"]


def test_report_names_each_images_real_layers_and_who_shares_them(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path)
    rep, text, lock = report(fleet, tmp_path, with_lock=True)
    assert rep["lock_current"] is True and rep["stale"] == []
    holders: dict[tuple[str, int], set[str]] = {}
    for name, pids in IMAGES.items():
        out = tmp_path / name.strip("/").replace(":", "-").replace("/", "-")
        image_plan(fleet, name, pids, lock=lock, merged=tmp_path / "merged", out=out)
        real = [(d["digest"], d["size"]) for d in manifest_layers(out)]
        mine = [rep["layers"][k] for k in rep["images"][name]["layers"]]
        assert sorted(real) == sorted((lay["digest"], lay["blob_bytes"]) for lay in mine), name
        for d in real:
            holders.setdefault(d, set()).add(name)
    assert {(lay["digest"], lay["blob_bytes"]): set(lay["images"]) for lay in rep["layers"]} == (
        holders
    )
    shared = [lay for lay in rep["layers"] if len(lay["images"]) == 2]
    assert any(len(lay["packages"]) > 1 for lay in shared), "a merged layer is shared"
    t = rep["totals"]
    assert t["fleet_blob_bytes"] == sum(size for _, size in holders)
    assert t["fleet_layers"] == len(holders)
    assert t["no_sharing_blob_bytes"] == sum(size for (_, size), im in holders.items() for _ in im)
    assert t["packages_blob_bytes"] == sum(m.descriptor.size for m in fleet.members.values())
    assert "the lock is current" in text
    assert "image //a:image:" in text and "image //b:image:" in text
    assert "one site-packages layer per app" in text


def test_one_layer_per_app_size_is_that_of_a_real_merge(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path)
    rep, _, _ = report(fleet, tmp_path, with_lock=True)
    real = 0
    for name, pids in IMAGES.items():
        blob = tmp_path / f"{name[2]}-all.tar.gz"
        layer.merge([fleet.members[p] for p in pids], blob, blob.with_suffix(".json"))
        real += blob.stat().st_size
    estimate = rep["totals"]["one_layer_per_app_blob_bytes"]
    assert rep["totals"]["one_layer_per_app_layers"] == 2
    assert estimate == real and rep["totals"]["one_layer_per_app_exact"] is True


def test_one_layer_per_app_counts_other_builds_of_the_same_packages_apart(tmp_path: Path) -> None:
    # An index's images (or two hubs' builds): the same package ids, other bytes.
    fleet = Fleet(tmp_path)
    pids = ["six==1", "idna==1"]
    for pid in pids:
        fleet.package(pid)
        fleet.package(pid, variant="arm64")
    images = {
        "//a:image.linux_amd64": fleet.entry(pids),
        "//a:image.linux_arm64": fleet.entry([f"{p}/arm64" for p in pids], platform="linux/arm64"),
        "//b:image.linux_amd64": fleet.entry(pids),
    }
    inputs = fleet.inputs(images)
    plan, out, js = tmp_path / "plan.json", tmp_path / "report.txt", tmp_path / "report.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(plan))
    ok("fleet-report", "--inputs", str(inputs), "--plan", str(plan),
       "--update-target", "//x:fleet.update", "--out", str(out), "--json", str(js))  # fmt: skip
    totals = json.loads(js.read_text())["totals"]
    # a and b on amd64 hold the same builds (one layer); arm64's are its own.
    assert totals["one_layer_per_app_layers"] == 2, totals
    real = 0
    for keys in (pids, [f"{p}/arm64" for p in pids]):
        blob = tmp_path / f"all-{len(keys[0])}.tar.gz"
        layer.merge([fleet.members[k] for k in keys], blob, blob.with_suffix(".json"))
        real += blob.stat().st_size
    assert totals["one_layer_per_app_blob_bytes"] == real


def test_without_a_lock_merged_layers_are_estimates_and_the_report_says_how_to_lock(
    tmp_path: Path,
) -> None:
    fleet = make_fleet(tmp_path)
    rep, text, _ = report(fleet, tmp_path, with_lock=False)
    assert rep["lock_current"] is False and rep["stale"] == ["there is no lock file yet"]
    merged = [lay for lay in rep["layers"] if len(lay["packages"]) > 1]
    assert merged and all(lay["digest"] is None for lay in merged)
    for k, lay in enumerate(merged):  # not built, but its sizes are those of the merge
        blob = tmp_path / f"merged-{k}.tar.gz"
        d = layer.merge([fleet.members[p] for p in lay["packages"]], blob)
        assert lay["exact"] and (lay["blob_bytes"], lay["tar_bytes"]) == (d.size, d.tar_size)
    assert all(lay["digest"] for lay in rep["layers"] if len(lay["packages"]) == 1)
    assert "`bazel run //x:fleet.update`" in text
    assert "(not built)" in text


def test_a_plan_naming_an_unknown_image_is_one_line_and_writes_nothing(tmp_path: Path) -> None:
    fleet = make_fleet(tmp_path)
    inputs = fleet.inputs({"//a:image": fleet.entry(IMAGES["//a:image"])})
    plan = tmp_path / "plan.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(plan))
    doc = json.loads(plan.read_text())
    doc["images"]["//gone:image"] = doc["images"]["//a:image"]
    plan.write_text(json.dumps(doc))
    out = tmp_path / "report.txt"
    r = pyimage("fleet-report", "--inputs", str(inputs), "--plan", str(plan), "--out", str(out))
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and "//gone:image" in r.stderr, r.stderr
    assert not out.exists()
