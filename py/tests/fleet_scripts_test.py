"""Runs the scripts of //py/tests:odd_fleet, whose lock name needs shell quoting."""

import os
import subprocess
import tempfile
import unittest
from pathlib import Path

LOCK = "py/tests/odd 'fleet' $HOME.lock.json"
SHARED = "py/tests/odd 'fleet' $HOME.lock.bzl"


def run(var: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.environ[var]],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": "/nonexistent-home", **env},
    )


class FleetScriptsTest(unittest.TestCase):
    def test_update_writes_the_plan_and_its_bzl_form_to_the_lock_path_as_is(self) -> None:
        with tempfile.TemporaryDirectory() as ws:
            (Path(ws) / "py" / "tests").mkdir(parents=True)
            r = run("UPDATE_BIN", BUILD_WORKSPACE_DIRECTORY=ws)
            self.assertEqual(r.returncode, 0, r.stderr)
            lock, shared = Path(ws) / LOCK, Path(ws) / SHARED
            self.assertEqual(r.stdout, f"wrote {lock}\nwrote {shared}\n")
            self.assertIn('"images"', lock.read_text())
            self.assertIn("SHARED_LAYERS = {", shared.read_text())
            for f in (lock, shared):
                self.assertEqual(f.stat().st_mode & 0o777, 0o644)
            self.assertEqual(
                sorted(p.name for p in lock.parent.iterdir()), sorted([lock.name, shared.name])
            )

    def test_update_needs_bazel_run(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "BUILD_WORKSPACE_DIRECTORY"}
        r = subprocess.run(
            [os.environ["UPDATE_BIN"]], capture_output=True, text=True, check=False, env=env
        )
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("run this with bazel run", r.stderr)

    def test_check_reports_the_missing_lock_and_the_update_command(self) -> None:
        r = run("CHECK_BIN")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the fleet lock {LOCK} is stale", r.stdout)
        self.assertIn("bazel run //py/tests:odd_fleet.update", r.stdout)

    def test_report_prints_the_report_and_its_json(self) -> None:
        r = run("REPORT_BIN")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("image //py/tests:app_image", r.stdout)
        self.assertTrue(
            r.stdout.endswith("(JSON: bazel-bin/py/tests/odd_fleet.report.json)\n"), r.stdout
        )


if __name__ == "__main__":
    unittest.main()
