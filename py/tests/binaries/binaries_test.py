"""Checks an image of two binaries (:two_binaries, worker the default) against one of one (app)."""

import json
import os
import stat
import unittest
from pathlib import Path

from layers_outputs import SITE, blob, manifest, members, outputs, read_member

APP_MAIN = "/app/app.runfiles/_main/py/tests/stand_ins/testdata/app/main.py"
WORKER_MAIN = "/app/worker.runfiles/_main/py/tests/binaries/testdata/worker.py"


def launcher_env(text: str) -> dict[str, str]:
    """The variables a launcher sets (its `os.environ.update(...)` line)."""
    (line,) = [x for x in text.splitlines() if x.startswith("os.environ.update(")]
    return json.loads(line[len("os.environ.update(") : -1])


class TwoBinariesTest(unittest.TestCase):
    def setUp(self) -> None:
        self.out = outputs("TWO_BINARIES")
        paths = [Path(p) for p in os.environ["TWO_BINARIES"].split()]
        (self.app_layer,) = [p for p in paths if p.name.endswith(".app-app.tar.gz")]
        self.worker_layer = self.out[".app.tar.gz"]

    def test_each_binary_has_its_own_app_layer_and_launcher(self) -> None:
        worker = members(self.worker_layer)
        app = members(self.app_layer)
        self.assertIn(WORKER_MAIN[1:], worker)
        self.assertIn(APP_MAIN[1:], app)
        self.assertFalse([n for n in worker if n.startswith("app/app")], sorted(worker))
        self.assertFalse([n for n in app if n.startswith("app/worker")], sorted(app))
        for layer, name in ((self.worker_layer, "app/worker"), (self.app_layer, "app/app")):
            launcher = members(layer)[name]
            self.assertTrue(launcher.isfile(), name)
            self.assertTrue(launcher.mode & stat.S_IXUSR, oct(launcher.mode))
        # No package file in either: the packages are in the package layers.
        for names in (worker, app):
            self.assertFalse([n for n in names if "site-packages/six" in n], sorted(names))

    def test_launchers_set_each_binarys_own_environment_and_run_its_main(self) -> None:
        for layer, name, main in (
            (self.worker_layer, "worker", WORKER_MAIN),
            (self.app_layer, "app", APP_MAIN),
        ):
            text = read_member(layer, f"app/{name}").decode()
            self.assertTrue(text.startswith("#!/usr/bin/env python3\n"), text)
            compile(text, name, "exec")  # a Python script
            env = launcher_env(text)
            self.assertEqual(env["RUNFILES_DIR"], f"/app/{name}.runfiles")
            self.assertEqual(
                env["PYTHONPATH"].split(":")[:2], ["/" + SITE, f"/app/{name}.runfiles/_main"]
            )
            self.assertIn(json.dumps(main), text)

    def test_the_image_runs_the_default_binary(self) -> None:
        entry = self.out[".entrypoint.txt"].read_text().split("\n")
        self.assertEqual(entry, ["python3", WORKER_MAIN, ""])
        env = dict(line.split("=", 1) for line in self.out[".env.txt"].read_text().splitlines())
        self.assertEqual(env["RUNFILES_DIR"], "/app/worker.runfiles")

    def test_packages_are_the_union_each_once_and_the_cap_counts_two_app_layers(self) -> None:
        layout = self.out[".layout"]
        layers = manifest(layout)["layers"]
        held = [
            p for lay in layers for p in lay["annotations"]["dev.rules-pyimage.packages"].split(",")
        ]
        self.assertEqual(sorted(held), ["attrs==24.2.0", "cattrs==24.1.2", "six==1.16.0"])
        plan = json.loads(self.out[".plan.json"].read_text())
        self.assertEqual(plan["app_layers"], 2)
        # max_layers = 5: two app layers leave three for the packages.
        self.assertEqual(plan["total_layers"], len(layers) + 2)
        self.assertLessEqual(plan["total_layers"], 5)
        for lay in layers:
            self.assertTrue(blob(layout, lay["digest"]).is_file())

    def test_an_image_of_one_binary_has_its_launcher_too(self) -> None:
        one = outputs("ONE_BINARY")
        names = members(one[".app.tar.gz"])
        self.assertIn("app/app", names)
        env = launcher_env(read_member(one[".app.tar.gz"], "app/app").decode())
        self.assertEqual(env["RUNFILES_DIR"], "/app/app.runfiles")


if __name__ == "__main__":
    unittest.main()
