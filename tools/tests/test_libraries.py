"""First-party libraries of their own layers: the image action, the plan report, the fleet
state, and the lock that keys them by label (v6)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from enginekit import build_package, pyimage
from fleetkit import Fleet, ok

from pyimage.formats import lock as lock_format
from pyimage.formats import plan_report

LIB = "//libs/greeting:greeting"


@pytest.fixture()
def fleet(tmp_path: Path) -> Fleet:
    f = Fleet(tmp_path / "pkgs")
    (tmp_path / "pkgs").mkdir()
    for pid in ("six==1.17.0", "idna==3.7"):
        f.package(pid)
    return f


def library(root: Path, text: bytes = b"def hello():\n    return 'hi'\n") -> list[str]:
    """A library's layer as the aspect writes it (``library:<label>``): its --library flag."""
    root.mkdir(parents=True, exist_ok=True)
    member = build_package(
        root, f"library:{LIB}", {"opt/pyimage/libraries/_main/libs/greeting/__init__.py": text}
    )
    return ["--library", str(member.descriptor_path), str(member.blob)]


def image(fleet: Fleet, out: Path, *more: str) -> tuple[dict, dict]:
    """``pyimage image`` of six and idna, and ``more``: (the plan report, the manifest)."""
    ok("image", "--out", str(out), "--plan-out", f"{out}.plan.json", "--max-layers", "10",
       *fleet.package_args(["six==1.17.0", "idna==3.7"]), *more)  # fmt: skip
    index = json.loads((out / "index.json").read_text())
    digest = index["manifests"][0]["digest"].split(":")[1]
    manifest = json.loads((out / "blobs" / "sha256" / digest).read_text())
    return json.loads(Path(f"{out}.plan.json").read_text()), manifest


def test_a_library_is_its_own_layer_after_the_packages_and_counts_as_reserved(
    fleet: Fleet, tmp_path: Path
) -> None:
    flags = library(tmp_path / "lib")
    report, manifest = image(fleet, tmp_path / "img", "--reserved", "2", *flags)
    desc = json.loads(Path(flags[1]).read_text())
    assert manifest["layers"][-1]["digest"] == desc["digest"]
    assert report["library_layers"] == 1 and report["app_layers"] == 1
    assert report["libraries"] == [
        {"library": LIB, "bytes": desc["tar_size"], "digest": desc["digest"]}
    ]
    # Never merged with a package: the package layers hold only packages.
    held = {p for lay in report["layers"] for p in lay["packages"]}
    assert held == {"six==1.17.0", "idna==3.7"}
    assert report["total_layers"] == len(manifest["layers"]) + 1
    text = plan_report.render(plan_report.check(report, "report"))
    assert "1 library, 1 app" in text and f"library {LIB}:" in text


def test_an_edit_of_the_library_changes_its_layer_and_nothing_else(
    fleet: Fleet, tmp_path: Path
) -> None:
    _, before = image(fleet, tmp_path / "a", "--reserved", "2", *library(tmp_path / "la"))
    edited = library(tmp_path / "lb", b"def hello():\n    return 'hello'\n")
    _, after = image(fleet, tmp_path / "b", "--reserved", "2", *edited)
    assert [d["digest"] for d in before["layers"][:-1]] == [
        d["digest"] for d in after["layers"][:-1]
    ]
    assert before["layers"][-1]["digest"] != after["layers"][-1]["digest"]


def test_reserved_layers_must_leave_an_app_layer_beside_the_libraries(
    fleet: Fleet, tmp_path: Path
) -> None:
    r = pyimage("image", "--out", str(tmp_path / "img"), "--plan-out", str(tmp_path / "p.json"),
                "--reserved", "1", *fleet.package_args(["six==1.17.0"]),
                *library(tmp_path / "lib"))  # fmt: skip
    assert r.returncode == 2
    assert "--reserved 1 leaves no app layer beside the interpreter and 1 library layers" in (
        r.stderr
    )
    assert not (tmp_path / "img").exists()


def test_a_lock_keys_library_layers_by_label_and_an_edit_keeps_it_current(
    fleet: Fleet, tmp_path: Path
) -> None:
    entry = fleet.entry(["six==1.17.0"], reserved=2)
    inputs = fleet.inputs({"//a:image": {**entry, "libraries": [LIB]}})
    out = tmp_path / "lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(out))
    doc = json.loads(out.read_text())
    assert doc["format"] == lock_format.FORMAT
    assert doc["images"]["//a:image"]["libraries"] == [LIB]
    assert "sha256" not in json.dumps(doc["images"]["//a:image"]["libraries"])
    # The fleet has no library bytes to plan with: the same inputs, the same lock.
    again = tmp_path / "again.json"
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(out), "--out", str(again))
    r = pyimage("fleet-check", "--lock", str(out), "--plan", str(again))
    assert r.returncode == 0, r.stdout + r.stderr
    # An image that drops the library: the lock is stale, saying so in one line.
    inputs = fleet.inputs({"//a:image": fleet.entry(["six==1.17.0"])})
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(out), "--out", str(again))
    r = pyimage("fleet-check", "--lock", str(out), "--plan", str(again))
    assert r.returncode == 1
    assert f"image //a:image: its library layers are none, the lock has ['{LIB}']" in r.stdout


def test_a_v5_lock_reads_as_v6_without_libraries(fleet: Fleet, tmp_path: Path) -> None:
    inputs = fleet.inputs({"//a:image": fleet.entry(["six==1.17.0"])})
    out = tmp_path / "lock.json"
    ok("fleet-plan", "--inputs", str(inputs), "--out", str(out))
    doc = json.loads(out.read_text())
    doc["format"] = "rules_pyimage.fleet-lock/v5"
    old = tmp_path / "v5.json"
    old.write_text(json.dumps(doc))
    read = lock_format.read(str(old), "fleet lock")
    assert read.version == 5 and read.images["//a:image"].libraries == ()
    again = tmp_path / "again.json"
    ok("fleet-plan", "--inputs", str(inputs), "--previous", str(old), "--out", str(again))
    migrated = json.loads(again.read_text())
    assert migrated["format"] == lock_format.FORMAT
    assert migrated["images"] == json.loads(out.read_text())["images"]
