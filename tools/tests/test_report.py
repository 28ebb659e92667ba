"""``pyimage report``: layers with reasons, and ours beside the baselines."""

from __future__ import annotations

import json
from pathlib import Path

from enginekit import pyimage as run

from pyimage.planner.baselines import BASELINES
from pyimage.planner.metrics import OURS

MIB = 1 << 20


def make_plan(tmp_path: Path) -> tuple[Path, Path]:
    packages = {f"big{k}==1": {"installed_bytes": (k + 2) * 10 * MIB} for k in range(4)}
    packages.update({f"small{k}==1": {"installed_bytes": 30_000 + k} for k in range(20)})
    images = {
        "api": {"packages": [f"small{k}==1" for k in range(12)] + ["big0==1"], "base_layers": 2},
        "job": {
            "packages": [f"small{k}==1" for k in range(8, 20)] + ["big0==1", "big1==1", "big3==1"],
            "base_layers": 2,
        },
        "web": {"packages": ["big1==1", "big2==1", "small3==1"], "base_layers": 4},
    }
    fleet = tmp_path / "fleet.json"
    fleet.write_text(json.dumps({"packages": packages, "images": images}))
    plan = tmp_path / "plan.json"
    r = run("plan", "--fleet", str(fleet), "--max-layers", "10", "--out", str(plan))
    assert r.returncode == 0, r.stderr
    return fleet, plan


def test_report_prints_layers_and_metrics_beside_baselines(tmp_path: Path) -> None:
    fleet, plan = make_plan(tmp_path)
    r = run("report", "--fleet", str(fleet), "--plan", str(plan), "--bumps", "6")
    assert r.returncode == 0, r.stderr
    out = r.stdout
    for name in ("api", "job", "web"):
        assert f"image {name}:" in out
    assert "large package alone" in out
    table = out[out.index("fleet metrics") :]
    assert "max_layers 10" in table
    for name in [OURS, *BASELINES]:
        assert name in table
    ours = next(line for line in table.splitlines() if line.startswith(OURS))
    storage, pair = (float(x) for x in ours.split()[2:4])
    assert storage >= 1.0
    assert pair >= 1.0


def test_report_json_has_every_strategy(tmp_path: Path) -> None:
    fleet, plan = make_plan(tmp_path)
    r = run("report", "--fleet", str(fleet), "--plan", str(plan), "--bumps", "4", "--json")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    assert set(doc["metrics"]) == {OURS, *BASELINES}
    ours = doc["metrics"][OURS]
    assert ours["over_cap"] == 0
    assert ours["max_layers"] <= 10
    assert doc["metrics"]["one per package (no cap)"]["storage"] == 1.0
    assert set(doc["images"]) == {"api", "job", "web"}


def test_report_refuses_a_plan_of_another_fleet(tmp_path: Path) -> None:
    fleet, plan = make_plan(tmp_path)
    doc = json.loads(plan.read_text())
    doc["images"]["api"]["layers"].pop()
    plan.write_text(json.dumps(doc))
    r = run("report", "--fleet", str(fleet), "--plan", str(plan))
    assert r.returncode != 0
    assert len(r.stderr.strip().splitlines()) == 1
    assert "'api'" in r.stderr
