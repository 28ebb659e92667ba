"""Checks py_image_layers over rules_python 1.5-1.9, 2.x and venv target shapes (BUILD.bazel)."""

import json
import unittest

from layers_outputs import SITE, blob, manifest, members, outputs, read_member

RUNFILES = "app/shapes_app.runfiles"
VENV = RUNFILES + "/_main/py/tests/_shapes_app.venv"


class ShapesLayersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.out = outputs("SHAPES_LAYERS")
        self.layout = self.out[".layout"]
        self.layers = manifest(self.layout)["layers"]
        self.files: dict[str, tuple[str, str]] = {}  # path -> (packages, layer digest)
        for lay in self.layers:
            path = blob(self.layout, lay["digest"])
            for name in members(path):
                self.files[name] = (lay["annotations"]["dev.rules-pyimage.packages"], lay["digest"])

    def test_each_package_once_with_its_normalised_id(self) -> None:
        plan = json.loads(self.out[".plan.json"].read_text())
        ids = sorted(p for lay in plan["layers"] for p in lay["packages"])
        self.assertEqual(
            ids, ["autobahn==26.10.2", "humanize==4.9.0", "twisted==26.10.0", "zope-interface==8.7"]
        )

    def test_namespace_shims_are_dropped_and_twisted_keeps_its_own_init(self) -> None:
        init = f"{SITE}/twisted/__init__.py"
        self.assertIn("twisted==26.10.0", self.files[init][0].split(","))
        data = read_member(blob(self.layout, self.files[init][1]), init)
        self.assertIn(b"the real twisted/__init__.py", data)
        self.assertIn(f"{SITE}/twisted/plugins/autobahn_twisted.py", self.files)
        self.assertNotIn(f"{SITE}/twisted/plugins/__init__.py", self.files)

    def test_files_outside_site_packages_are_left_out(self) -> None:
        self.assertIn(f"{SITE}/humanize/__init__.py", self.files)
        outside = [f for f in self.files if "/bin/" in f or "/data/" in f or "/include/" in f]
        self.assertEqual(outside, [])
        # The dist-info stays, but not 2.x's RECORD (0.22 to 1.x leave it out).
        dist_info = f"{SITE}/humanize-4.9.0.dist-info"
        self.assertIn(f"{dist_info}/METADATA", self.files)
        self.assertNotIn(f"{dist_info}/RECORD", self.files)

    def test_app_layer_keeps_the_venv_links_not_into_packages(self) -> None:
        app = members(self.out[".app.tar.gz"])
        python3 = app.get(f"{VENV}/bin/python3")
        self.assertIsNotNone(python3)
        assert python3 is not None
        self.assertTrue(python3.issym())
        self.assertEqual(python3.linkname, "../../testdata/interpreter/python3")
        # The link into humanize, and the root symlink to its file: left out.
        into_humanize = [n for n in app if "site-packages/humanize" in n]
        self.assertEqual(into_humanize, [])
        self.assertNotIn(f"{VENV}/lib/python3.11/site-packages", app)
        self.assertIn(f"{RUNFILES}/_main/py/tests/testdata/app/main.py", app)


if __name__ == "__main__":
    unittest.main()
