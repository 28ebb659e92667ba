"""``python3 -m pyimage plan``: the fleet contract, the single-image form and
bad input (one line, non-zero exit, no output file)."""

from __future__ import annotations

import json
import random
import re
from pathlib import Path
from typing import Any

import pytest
from enginekit import pyimage as run

MIB = 1 << 20


def fleet_doc() -> dict[str, Any]:
    return {
        "packages": {
            "torch==2.5.0": {"installed_bytes": 700 * MIB},
            "numpy==2.1.3": {"installed_bytes": 60 * MIB},
            "six==1.16.0": {"installed_bytes": 40_000},
            "idna==3.7": {"installed_bytes": 300_000},
            "flask==3.0.0": {"installed_bytes": 2 * MIB},
        },
        "images": {
            "api": {"packages": ["numpy==2.1.3", "six==1.16.0", "flask==3.0.0"], "base_layers": 5},
            "ml": {
                "packages": ["torch==2.5.0", "numpy==2.1.3", "six==1.16.0", "idna==3.7"],
                "base_layers": 3,
            },
        },
    }


def write(path: Path, doc: Any) -> Path:
    path.write_text(json.dumps(doc))
    return path


def test_fleet_plan_follows_the_contract(tmp_path: Path) -> None:
    fleet = write(tmp_path / "fleet.json", fleet_doc())
    out = tmp_path / "plan.json"
    r = run("plan", "--fleet", str(fleet), "--max-layers", "12", "--out", str(out))
    assert r.returncode == 0, r.stderr
    plan = json.loads(out.read_text())
    for name, img in fleet_doc()["images"].items():
        layers = plan["images"][name]["layers"]
        members = [p for lay in layers for p in lay["packages"]]
        assert sorted(members) == sorted(img["packages"])
        assert all(lay["packages"] and lay["reason"] for lay in layers)
        assert len(layers) + img["base_layers"] + 2 <= 12
    assert ["torch==2.5.0"] in [lay["packages"] for lay in plan["images"]["ml"]["layers"]]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json", "plan.json"]


def test_same_fleet_in_any_order_gives_the_same_bytes(tmp_path: Path) -> None:
    doc = fleet_doc()
    rnd = random.Random(5)
    shuffled = {
        "images": dict(reversed(list(doc["images"].items()))),
        "packages": dict(sorted(doc["packages"].items(), key=lambda _: rnd.random())),
    }
    for img in shuffled["images"].values():
        img["packages"] = list(reversed(img["packages"]))
    outs = []
    for k, d in enumerate((doc, shuffled)):
        fleet = write(tmp_path / f"fleet{k}.json", d)
        out = tmp_path / f"plan{k}.json"
        assert (
            run("plan", "--fleet", str(fleet), "--max-layers", "10", "--out", str(out)).returncode
            == 0
        )
        outs.append(out.read_bytes())
    assert outs[0] == outs[1]


def test_previous_plan_keeps_layers_after_a_bump(tmp_path: Path) -> None:
    doc = fleet_doc()
    fleet = write(tmp_path / "fleet.json", doc)
    first = tmp_path / "first.json"
    assert (
        run("plan", "--fleet", str(fleet), "--max-layers", "12", "--out", str(first)).returncode
        == 0
    )
    doc["packages"]["flask==3.0.1"] = doc["packages"].pop("flask==3.0.0")
    doc["images"]["api"]["packages"][2] = "flask==3.0.1"
    fleet2 = write(tmp_path / "fleet2.json", doc)
    second = tmp_path / "second.json"
    r = run(
        "plan", "--fleet", str(fleet2), "--max-layers", "12", "--previous", str(first),
        "--out", str(second),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    before = json.loads(first.read_text())["images"]
    after = json.loads(second.read_text())["images"]
    for name in before:
        kept = [lay["packages"] for lay in after[name]["layers"]]
        for lay in before[name]["layers"]:
            if "flask==3.0.0" not in lay["packages"]:
                assert lay["packages"] in kept


def test_single_image_form_with_reserved_layers(tmp_path: Path) -> None:
    doc = {
        "name": "app",
        "base_layers": 2,
        "packages": {f"p{k}==1": {"installed_bytes": (k + 1) * MIB} for k in range(9)},
    }
    image = write(tmp_path / "image.json", doc)
    out = tmp_path / "plan.json"
    r = run(
        "plan", "--image", str(image), "--max-layers", "7", "--reserved-layers", "1",
        "--out", str(out),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    layers = json.loads(out.read_text())["images"]["app"]["layers"]
    assert len(layers) == 7 - 2 - 1
    assert sorted(p for lay in layers for p in lay["packages"]) == sorted(doc["packages"])


def bad_fleets() -> list[tuple[str, str, str]]:
    """(id, file text, what the one-line error must mention)."""
    cases = []

    def doc_with(change: Any) -> str:
        d = fleet_doc()
        change(d)
        return json.dumps(d)

    cases.append(
        (
            "unknown package",
            doc_with(lambda d: d["images"]["api"]["packages"].append("nope==1")),
            "'api'.*'nope==1'",
        )
    )
    cases.append(
        (
            "negative size",
            doc_with(lambda d: d["packages"]["six==1.16.0"].update(installed_bytes=-5)),
            "'six==1.16.0'.*non-negative",
        )
    )
    cases.append(
        (
            "missing size",
            doc_with(lambda d: d["packages"]["six==1.16.0"].pop("installed_bytes")),
            "'six==1.16.0'.*installed_bytes",
        )
    )
    cases.append(
        (
            "non-integer size",
            doc_with(lambda d: d["packages"]["six==1.16.0"].update(installed_bytes=1.5)),
            "'six==1.16.0'.*integer",
        )
    )
    cases.append(
        (
            "string size",
            doc_with(lambda d: d["packages"]["six==1.16.0"].update(installed_bytes="12")),
            "'six==1.16.0'.*integer",
        )
    )
    cases.append(
        (
            "package twice in an image",
            doc_with(lambda d: d["images"]["api"]["packages"].append("six==1.16.0")),
            "'api'.*'six==1.16.0' twice",
        )
    )
    cases.append(("malformed JSON", '{"packages": {', "not valid JSON: line 1 column"))
    dup = json.dumps(fleet_doc())
    dup = dup.replace('"images": {', '"images": {"api": {"packages": []}, ', 1)
    cases.append(("duplicate key", dup, "key 'api' appears twice"))
    cases.append(("no images", json.dumps({"packages": {}}), '"images"'))
    cases.append(
        (
            "negative base layers",
            doc_with(lambda d: d["images"]["ml"].update(base_layers=-1)),
            "'ml'.*base_layers",
        )
    )
    return cases


@pytest.mark.parametrize(
    ("text", "match"), [c[1:] for c in bad_fleets()], ids=[c[0] for c in bad_fleets()]
)
def test_bad_fleet_is_one_line_and_writes_nothing(tmp_path: Path, text: str, match: str) -> None:
    fleet = tmp_path / "fleet.json"
    fleet.write_text(text)
    out = tmp_path / "plan.json"
    r = run("plan", "--fleet", str(fleet), "--max-layers", "20", "--out", str(out))
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("pyimage: error: ")
    assert re.search(match, lines[0]), lines[0]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json"]


@pytest.mark.parametrize(
    ("cap", "match"),
    [
        ("126", "125.*max depth exceeded"),
        ("7", r"image 'api'.*max_layers 7.*base 5 \+ reserved 2.*at least 8"),
    ],
)
def test_bad_cap_is_one_line_and_writes_nothing(tmp_path: Path, cap: str, match: str) -> None:
    fleet = write(tmp_path / "fleet.json", fleet_doc())
    out = tmp_path / "plan.json"
    r = run("plan", "--fleet", str(fleet), "--max-layers", cap, "--out", str(out))
    assert r.returncode != 0
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert re.search(match, lines[0]), lines[0]
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fleet.json"]


def test_missing_fleet_file_is_one_line(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    r = run("plan", "--fleet", str(tmp_path / "nope.json"), "--out", str(out))
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "nope.json" in r.stderr
    assert not out.exists()


def test_existing_output_is_untouched_on_error(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    out.write_text("old plan")
    fleet = write(tmp_path / "fleet.json", fleet_doc())
    r = run("plan", "--fleet", str(fleet), "--max-layers", "200", "--out", str(out))
    assert r.returncode != 0
    assert out.read_text() == "old plan"
