"""Runs the scripts of //py/tests/fleet:odd_fleet (a lock name that needs shell quoting,
a fleet MODULE.bazel does not declare), and reads a slice the module extension wrote."""

import json
import os
import subprocess
import tempfile
import unittest
from pathlib import Path

LOCK = "py/tests/fleet/odd 'fleet' $HOME.lock.json"
MODULE_LINES = (
    'pyimage = use_extension("@rules_pyimage//py:extensions.bzl", "pyimage");'
    ' pyimage.fleet(fleet = "//py/tests/fleet:odd_fleet",'
    """ lock = "//py/tests/fleet:odd 'fleet' $HOME.lock.json")"""
)


def run(var: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Run the script of ``var`` (a runfiles path, made absolute: it may be run elsewhere)."""
    return subprocess.run(
        [str(Path.cwd() / os.environ[var]), *args],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "HOME": "/nonexistent-home", **env},
    )


class FleetScriptsTest(unittest.TestCase):
    def test_update_writes_the_plan_to_the_lock_path_as_is_and_says_what_is_missing(
        self,
    ) -> None:
        with tempfile.TemporaryDirectory() as ws:
            (Path(ws) / "py" / "tests" / "fleet").mkdir(parents=True)
            r = run("UPDATE_BIN", BUILD_WORKSPACE_DIRECTORY=ws)
            self.assertEqual(r.returncode, 0, r.stderr)
            lock = Path(ws) / LOCK
            lines = r.stdout.splitlines()
            self.assertIn(f"wrote {lock}", lines)
            self.assertIn(
                "no image follows it until MODULE.bazel declares the fleet: " + MODULE_LINES, lines
            )
            self.assertEqual(json.loads(lock.read_text())["format"], "rules_pyimage.fleet-lock/v7")
            self.assertEqual(lock.stat().st_mode & 0o777, 0o644)
            self.assertEqual([p.name for p in lock.parent.iterdir()], [lock.name])

    def test_update_needs_bazel_run(self) -> None:
        env = {k: v for k, v in os.environ.items() if k != "BUILD_WORKSPACE_DIRECTORY"}
        r = subprocess.run(
            [os.environ["UPDATE_BIN"]], capture_output=True, text=True, check=False, env=env
        )
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("run this with bazel run", r.stderr)

    def test_check_reports_the_missing_lock_the_update_and_the_module_lines(self) -> None:
        r = run("CHECK_BIN")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn(f"the fleet lock {LOCK} is stale", r.stdout)
        self.assertIn("bazel run //py/tests/fleet:odd_fleet.update", r.stdout)
        self.assertIn("MODULE.bazel declares it: " + MODULE_LINES, r.stdout)

    def test_report_prints_the_report_and_its_json(self) -> None:
        r = run("REPORT_BIN")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("image //py/tests/fleet:odd_image", r.stdout)
        self.assertTrue(
            r.stdout.endswith(
                "(JSON: bazel-bin/py/tests/fleet/odd_fleet.report.json;"
                " the fleet's state: bazel-bin/py/tests/fleet/odd_fleet.state.json)\n"
            ),
            r.stdout,
        )

    def test_report_since_a_state_compares_from_where_bazel_run_started(self) -> None:
        state = json.loads(Path("py/tests/fleet/odd_fleet.state.json").read_text())
        self.assertEqual(list(state["images"]), ["//py/tests/fleet:odd_image"])
        with tempfile.TemporaryDirectory() as cwd:
            # The same state, given relative to the folder `bazel run` started in.
            (Path(cwd) / "old.json").write_text(json.dumps(state))
            r = run("REPORT_BIN", BUILD_WORKING_DIRECTORY=cwd)
            self.assertEqual(r.returncode, 0, r.stderr)
            r = run(
                "REPORT_BIN", "--since", "old.json", "--markdown", "rollout.md",
                BUILD_WORKING_DIRECTORY=cwd,
            )  # fmt: skip
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn(
                "unchanged, nothing to pull: //py/tests/fleet:odd_image (linux/amd64)", r.stdout
            )
            self.assertIn("1 images unchanged", (Path(cwd) / "rollout.md").read_text())
            # A lock is not a state.
            (Path(cwd) / "lock.json").write_text('{"format": "rules_pyimage.fleet-lock/v4"}')
            r = run("REPORT_BIN", "--since", "lock.json", BUILD_WORKING_DIRECTORY=cwd)
            self.assertEqual(r.returncode, 2)
            self.assertIn("this is a fleet lock, not a state", r.stderr)

    def test_an_images_slice_is_the_lock_of_that_image_alone(self) -> None:
        lock = json.loads((Path("py/tests/fleet/groups_fleet.lock.json")).read_text())
        got = json.loads(Path(os.environ["SLICE"]).read_text())
        name = "//py/tests/fleet:groups_app_image"
        self.assertEqual(got["format"], lock["format"])
        self.assertEqual(got["images"], {name: lock["images"][name]})
        # The builds it holds, and no other (six's and attrs' and cattrs'; not g_six's).
        held = {(p, d) for x in lock["images"][name]["layers"] for p, d in x["diff_ids"].items()}
        want = {
            p: {d: b for d, b in builds.items() if (p, d) in held}
            for p, builds in lock["packages"].items()
        }
        self.assertEqual(got["packages"], {p: b for p, b in want.items() if b})


if __name__ == "__main__":
    unittest.main()
