"""Declared layers through pyimage's commands: a fleet's plan, its lock, its check, an image."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enginekit import pyimage
from fleetkit import Fleet, image_args, image_plan, merge_shared, ok, slice_of
from fleetkit import plan as fleet_plan
from test_fleet_report import manifest_layers

from pyimage.formats import lock as lock_format

MIB = 1 << 20
GPU = ["torch==2", "triton==3", "nvidia-cublas==12", "nvidia-cudnn==9"]
TRAIN = [*GPU, "six==1", "idna==1"]
SERVE = ["torch==2", "six==1", "idna==1"]
DECLARED = {"groups": {"gpu": ["torch", "triton", "nvidia-*"]}, "alone": ["idna"]}


@pytest.fixture
def fleet(tmp_path: Path) -> Fleet:
    f = Fleet(tmp_path)
    for pid in TRAIN:
        f.package(pid, 2 * MIB if pid in GPU else 20_000)
    return f


def plan(fleet: Fleet, out: Path, declared: dict | None, *more: str) -> dict:
    """``fleet-plan`` of the two images, the fleet declaring ``declared``; the lock."""
    images = {"//train:image": TRAIN, "//serve:image": SERVE}
    return fleet_plan(fleet, images, out, *more, label="//:fleet", declared=declared)


def layers(lock: dict, image: str) -> dict[tuple[str, ...], str]:
    return {tuple(lay["packages"]): lay["reason"] for lay in lock["images"][image]["layers"]}


def test_the_lock_records_the_declaration_and_the_layers_it_gives(
    fleet: Fleet, tmp_path: Path
) -> None:
    doc = plan(fleet, tmp_path / "lock.json", DECLARED)
    assert doc["format"] == lock_format.FORMAT
    # Kept sorted: the order a user gives changes no plan, so no lock.
    assert doc["declared"] == {
        "alone": ["idna"],
        "groups": {"gpu": ["nvidia-*", "torch", "triton"]},
    }
    gpu = tuple(sorted(GPU))
    assert layers(doc, "//train:image")[gpu] == "declared layer group gpu"
    assert layers(doc, "//serve:image")[("torch==2",)] == "declared layer group gpu"
    for image in ("//train:image", "//serve:image"):
        assert layers(doc, image)[("idna==1",)] == "declared alone"
    # The fleet's test: the lock is current; declaring otherwise makes it stale.
    fresh = tmp_path / "fresh.json"
    plan(fleet, fresh, DECLARED)
    r = ok("fleet-check", "--lock", str(tmp_path / "lock.json"), "--plan", str(fresh),
           "--lock-path", "fleet.lock.json", "--update-target", "//:fleet.update",
           "--fleet-label", "//:fleet")  # fmt: skip
    assert "is up to date" in r.stdout
    plan(fleet, fresh, None)
    r = pyimage("fleet-check", "--lock", str(tmp_path / "lock.json"), "--plan", str(fresh),
                "--lock-path", "fleet.lock.json", "--update-target", "//:fleet.update",
                "--fleet-label", "//:fleet")  # fmt: skip
    assert r.returncode == 1
    assert (
        '  - the fleet declares layers none, the lock has {"alone": ["idna"], "groups": {"gpu":'
        ' ["nvidia-*", "torch", "triton"]}}'
    ) in r.stdout.splitlines()


def test_an_image_follows_its_slice_and_plans_a_bump_around_the_declaration(
    fleet: Fleet, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.json"
    doc = plan(fleet, lock, DECLARED)
    merged = tmp_path / "merged"
    merge_shared(fleet, doc, {"//train:image": TRAIN, "//serve:image": SERVE}, merged)
    own = slice_of(lock, "//train:image", tmp_path / "slice.json")
    report = image_plan(fleet, "//train:image", TRAIN, lock=own, merged=merged, out=tmp_path / "a")
    got = {tuple(lay["packages"]): lay for lay in report["layers"]}
    assert got[tuple(sorted(GPU))]["reason"] == "fleet lock: declared layer group gpu"
    # The group is the fleet's merged blob: the image's manifest holds its digest.
    (gid,) = [lay["group"] for lay in doc["images"]["//train:image"]["layers"] if "group" in lay]
    blob = json.loads((merged / f"{gid}.json").read_text())["digest"]
    assert blob in [d["digest"] for d in manifest_layers(tmp_path / "a")]
    # torch bumped before `.update`: the image keeps the group as one layer.
    fleet.package("torch==2.1", 2 * MIB)
    bumped = [p if p != "torch==2" else "torch==2.1" for p in TRAIN]
    report = image_plan(fleet, "//train:image", bumped, lock=own, merged=merged, out=tmp_path / "b")
    got = {tuple(lay["packages"]): lay["reason"] for lay in report["layers"]}
    members = tuple(sorted(p if p != "torch==2" else "torch==2.1" for p in GPU))
    assert got[members] == "declared layer group gpu", got


def test_an_image_of_a_fleet_may_not_declare_its_own(fleet: Fleet, tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    plan(fleet, lock, DECLARED)
    own = slice_of(lock, "//serve:image", tmp_path / "slice.json")
    out = tmp_path / "out"
    args = image_args(fleet, "//serve:image", SERVE, lock=own, merged=None, out=out)
    r = pyimage(*args, "--declared", json.dumps({"alone": ["six"]}))
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "pyimage: error: image //serve:image follows a fleet lock and declares layers of its"
        " own; declare them on the fleet (layer_groups, alone_packages of py_image_fleet)"
    ]
    assert not out.exists()


def test_an_image_alone_plans_its_own_declaration(fleet: Fleet, tmp_path: Path) -> None:
    out = tmp_path / "out"
    base = ["image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--image-name", "//a:b"]
    args = [*base, *fleet.package_args(SERVE)]
    ok(*args, "--declared", json.dumps({"groups": {"web": ["six", "idna"]}}))
    report = json.loads(Path(f"{out}.plan.json").read_text())
    got = {tuple(lay["packages"]): lay["reason"] for lay in report["layers"]}
    assert got[("idna==1", "six==1")] == "declared layer group web"
    out2 = tmp_path / "out2"
    args = [*base[:2], str(out2), "--plan-out", f"{out2}.plan.json", *base[5:]]
    r = pyimage(*args, *fleet.package_args(SERVE), "--declared", '{"alone": ["jax"]}')
    assert r.returncode == 2 and r.stderr.strip().splitlines() == [
        "pyimage: error: image //a:b: alone_packages: 'jax' matches no package it holds;"
        " fix the name or drop it"
    ]
    assert not out2.exists() and not Path(f"{out2}.plan.json").exists()


def report_totals(fleet: Fleet, lock: Path, tmp_path: Path) -> tuple[dict, str]:
    """``fleet-report`` of the fleet's inputs and ``lock`` (as its plan); totals and text."""
    out, js = tmp_path / f"report-{lock.stem}.txt", tmp_path / f"report-{lock.stem}.json"
    ok("fleet-report", "--inputs", str(fleet.root / "inputs.json"), "--plan", str(lock),
       "--update-target", "//:fleet.update", "--out", str(out), "--json", str(js))  # fmt: skip
    return json.loads(js.read_text())["totals"], out.read_text()


def test_the_report_shows_what_the_declaration_costs_beside_the_automatic_plan(
    fleet: Fleet, tmp_path: Path
) -> None:
    plan(fleet, tmp_path / "auto.json", None)
    auto, _ = report_totals(fleet, tmp_path / "auto.json", tmp_path)
    assert "automatic_blob_bytes" not in auto, "nothing declared: nothing to compare"
    plan(fleet, tmp_path / "declared.json", DECLARED)
    totals, text = report_totals(fleet, tmp_path / "declared.json", tmp_path)
    # The automatic plan the report works out is the plan of the same images
    # made without the declaration, byte for byte.
    assert totals["automatic_blob_bytes"] == auto["fleet_blob_bytes"]
    assert totals["automatic_pulled_blob_bytes"] == auto["no_sharing_blob_bytes"]
    # Here the group shares less than the automatic plan: the serving image's
    # torch is a layer of its own, the training image's torch inside "gpu".
    assert totals["fleet_blob_bytes"] > totals["automatic_blob_bytes"]
    assert "automatic plan, nothing declared" in text
