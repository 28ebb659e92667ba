"""fleet/check.py through ``pyimage fleet-check``: why a lock is stale, and what to do."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from enginekit import pyimage
from fleetkit import Fleet, ok, plan


def check(lock: Path | None, fresh: Path, *more: str) -> subprocess.CompletedProcess[str]:
    args = ["fleet-check", "--plan", str(fresh), "--update-target", "//:fleet.update", *more]
    return pyimage(*args, *(["--lock", str(lock)] if lock else []))


def test_a_new_package_makes_the_lock_stale_and_says_how_to_update(
    fleet: Fleet, tmp_path: Path
) -> None:
    pids = ["big==1", "six==1", "idna==1"]
    lock = tmp_path / "lock.json"
    plan(fleet, {"//a:image": pids}, lock)
    fresh = tmp_path / "fresh.json"
    plan(fleet, {"//a:image": pids}, fresh, "--previous", str(lock))
    r = check(lock, fresh)
    assert r.returncode == 0 and "is up to date" in r.stdout, r.stdout
    plan(fleet, {"//a:image": [*pids, "attrs==1"]}, fresh, "--previous", str(lock))
    r = check(lock, fresh)
    assert r.returncode == 1
    assert "  - image //a:image: package attrs==1 is not in the lock" in r.stdout
    assert "update it with: bazel run //:fleet.update" in r.stdout
    r = check(None, fresh)
    assert r.returncode == 1 and "there is no lock file yet" in r.stdout


@pytest.mark.parametrize(
    "text",
    [
        '{"format": "rules_pyimage.fleet-lock/v3",\n<<<<<<< HEAD\n=======\n>>>>>>> main\n',
        "[1]",
        '{"images": 5}',
        '{"images": {"//a:image": {"layers": [{"packages": [1]}]}}}',
        # v4 without an image's platform, or with one that is not os/arch[/variant]
        '{"format": "rules_pyimage.fleet-lock/v4", "images": {"//a:image": {"layers": []}}}',
        '{"format": "rules_pyimage.fleet-lock/v4", "images": {"//a:image": {"layers": [],'
        ' "platform": "linux/../arm64"}}}',
        # v5 declaring a group of no packages, or a package twice
        '{"format": "rules_pyimage.fleet-lock/v5", "images": {},'
        ' "declared": {"groups": {"g": []}}}',
        '{"format": "rules_pyimage.fleet-lock/v5", "images": {},'
        ' "declared": {"groups": {"g": ["six"]}, "alone": ["six"]}}',
        # v6 with libraries that are not a list of labels
        '{"format": "rules_pyimage.fleet-lock/v6", "images": {"//a:image": {"layers": [],'
        ' "platform": "linux/amd64", "libraries": "//libs/a"}}}',
        '{"format": "rules_pyimage.fleet-lock/v6", "images": {"//a:image": {"layers": [],'
        ' "platform": "linux/amd64", "libraries": [""]}}}',
    ],
)
def test_a_lock_that_does_not_parse_fails_the_test_and_names_the_repair(
    fleet: Fleet, tmp_path: Path, text: str
) -> None:
    # A hand edit or a merge conflict: the test fails (exit 1, not a crash)
    # and says to run `.update`, which plans anew (test_fleet_plan).
    fresh = tmp_path / "fresh.json"
    plan(fleet, {"//a:image": ["six==1"]}, fresh)
    lock = tmp_path / "lock.json"
    lock.write_text(text)
    r = check(lock, fresh)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "does not parse as a fleet lock" in r.stdout and str(lock) in r.stdout
    assert "bazel run //:fleet.update" in r.stdout


def test_a_lock_of_a_newer_format_is_one_line_naming_both(fleet: Fleet, tmp_path: Path) -> None:
    fresh = tmp_path / "fresh.json"
    plan(fleet, {"//a:image": ["six==1"]}, fresh)
    lock = tmp_path / "lock.json"
    lock.write_text('{"format": "rules_pyimage.fleet-lock/v9", "images": {}}')
    r = check(lock, fresh)
    lines = r.stderr.strip().splitlines()
    assert r.returncode == 2 and len(lines) == 1, r.stderr
    assert "fleet-lock/v9" in lines[0] and "fleet-lock/v7" in lines[0] and "upgrade" in lines[0]


def test_an_image_gone_from_the_fleet_is_a_note_of_the_stale_lock(
    fleet: Fleet, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.json"
    plan(fleet, {"//a:image": ["six==1"], "//gone:image": ["idna==1"]}, lock)
    fresh = tmp_path / "fresh.json"
    plan(fleet, {"//a:image": ["six==1"]}, fresh, "--previous", str(lock))
    r = check(lock, fresh)
    assert r.returncode == 1
    assert "image //gone:image is in the lock but no longer in the fleet" in r.stdout
    assert "the other images build as they are" in r.stdout


def test_an_image_built_for_another_platform_than_its_locks_is_stale(
    fleet: Fleet, tmp_path: Path
) -> None:
    # Pure packages are the same bytes on every platform: only the platform
    # the lock records tells an arm64 image from the amd64 one it was locked as.
    lock = tmp_path / "lock.json"
    images = {"//a:image": fleet.entry(["six==1", "idna==1"])}
    ok("fleet-plan", "--inputs", str(fleet.inputs(images)), "--out", str(lock))
    assert json.loads(lock.read_text())["images"]["//a:image"]["platform"] == "linux/amd64"
    images = {"//a:image": fleet.entry(["six==1", "idna==1"], platform="linux/arm64")}
    fresh = tmp_path / "fresh.json"
    inputs = str(fleet.inputs(images))
    ok("fleet-plan", "--inputs", inputs, "--previous", str(lock), "--out", str(fresh))
    assert json.loads(fresh.read_text())["images"]["//a:image"]["platform"] == "linux/arm64"
    r = check(lock, fresh)
    assert r.returncode == 1
    assert (
        "image //a:image: the lock has it for linux/amd64, it is built for linux/arm64" in r.stdout
    )


def test_an_earlier_format_is_stale_until_update_migrates_it(fleet: Fleet, tmp_path: Path) -> None:
    lock = tmp_path / "lock.json"
    doc = plan(fleet, {"//a:image": ["six==1"]}, lock)
    doc["format"] = "rules_pyimage.fleet-lock/v2"
    old = tmp_path / "old.json"
    old.write_text(json.dumps(doc))
    r = check(old, lock)
    assert r.returncode == 1
    assert "the lock is in rules_pyimage.fleet-lock/v2, not rules_pyimage.fleet-lock/v7" in r.stdout
    assert "`.update` migrates it" in r.stdout


def test_a_fleet_module_bazel_does_not_declare_fails_and_shows_the_lines(
    fleet: Fleet, tmp_path: Path
) -> None:
    lock = tmp_path / "lock.json"
    plan(fleet, {"//a:image": ["six==1"]}, lock)
    lines = 'pyimage.fleet(fleet = "//:fleet", lock = "//:fleet.lock.json")'
    r = check(lock, lock, "--undeclared", lines, "--fleet-label", "//:fleet")
    assert r.returncode == 1
    assert (
        f"//:fleet: no image follows the lock until MODULE.bazel declares it: {lines}" in r.stdout
    )
