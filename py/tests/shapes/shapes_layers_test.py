"""Checks py_image_layers over rules_python 1.5+ shims beside a real `__init__.py`."""

import json
import unittest

from layers_outputs import SITE, blob, manifest, members, outputs, read_member


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
        self.assertEqual(ids, ["autobahn==26.10.2", "twisted==26.10.0", "zope-interface==8.7"])

    def test_namespace_shims_are_dropped_and_twisted_keeps_its_own_init(self) -> None:
        init = f"{SITE}/twisted/__init__.py"
        self.assertIn("twisted==26.10.0", self.files[init][0].split(","))
        data = read_member(blob(self.layout, self.files[init][1]), init)
        self.assertIn(b"the real twisted/__init__.py", data)
        self.assertIn(f"{SITE}/twisted/plugins/autobahn_twisted.py", self.files)
        self.assertNotIn(f"{SITE}/twisted/plugins/__init__.py", self.files)


if __name__ == "__main__":
    unittest.main()
