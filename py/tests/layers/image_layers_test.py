"""Checks what py_image_layers built for //py/tests/stand_ins:app (stand-in packages)."""

import json
import unittest
from pathlib import Path

from layers_outputs import SITE, blob, members, outputs

MAIN = "app/app.runfiles/_main/py/tests/stand_ins/testdata/app/main.py"


class ImageLayersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.out = outputs("APP_LAYERS")
        layout = self.out[".layout"]
        index = json.loads((layout / "index.json").read_text())
        self.layout = layout
        self.manifest = json.loads(blob(layout, index["manifests"][0]["digest"]).read_text())

    def names_in(self, path: Path) -> set[str]:
        return set(members(path))

    def test_layers_hold_every_package_once_under_the_cap(self) -> None:
        layers = self.manifest["layers"]
        # max_layers = 4, one reserved for the app layer, scratch base.
        self.assertLessEqual(len(layers), 3)
        held = []
        for lay in layers:
            held += lay["annotations"]["dev.rules-pyimage.packages"].split(",")
        self.assertEqual(sorted(held), ["attrs==24.2.0", "cattrs==24.1.2", "six==1.16.0"])
        files = set()
        for lay in layers:
            files |= self.names_in(blob(self.layout, lay["digest"]))
        for module in ("six", "attr", "cattrs"):
            self.assertIn(f"{SITE}/{module}/__init__.py", files)
        # rules_python's generated site-packages/__init__.py is not a package file.
        self.assertNotIn(f"{SITE}/__init__.py", files)

    def test_plan_report_matches_the_layout(self) -> None:
        plan = json.loads(self.out[".plan.json"].read_text())
        self.assertEqual(plan["package_layers"], len(self.manifest["layers"]))
        self.assertEqual(plan["total_layers"], len(self.manifest["layers"]) + 1)
        self.assertLessEqual(plan["total_layers"], plan["max_layers"])
        for lay in plan["layers"]:
            self.assertTrue(lay["reason"])

    def test_app_layer_has_the_app_and_no_package_files(self) -> None:
        names = self.names_in(self.out[".app.tar.gz"])
        self.assertIn(MAIN, names)
        self.assertIn("app/app.runfiles/_repo_mapping", names)
        self.assertFalse([n for n in names if "site-packages/six" in n], names)

    def test_entrypoint_and_env(self) -> None:
        # rules_oci's entrypoint format: one argument a line, a newline inside
        # an argument written as %5Cn (BUILD.bazel: args of app_layers).
        entry = self.out[".entrypoint.txt"].read_text(encoding="utf-8").split("\n")
        self.assertEqual(
            entry, ["python3", "/" + MAIN, "two%5Cnlines", "with space", "ünïcode", ""]
        )
        env = dict(line.split("=", 1) for line in self.out[".env.txt"].read_text().splitlines())
        self.assertEqual(env["PYTHONPATH"].split(":")[0], "/" + SITE)
        self.assertEqual(env["RUNFILES_DIR"], "/app/app.runfiles")
        # The user's value as given: rules_oci expands $PATH from the base.
        self.assertEqual(env["TOOLS_PATH"], "/opt/tools/bin:$PATH")


if __name__ == "__main__":
    unittest.main()
