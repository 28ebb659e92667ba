"""Checks two images (greet_a, greet_b) sharing a first-party library of its own layer."""

import json
import posixpath
import unittest
from pathlib import Path

from layers_outputs import SITE, blob, manifest, members, outputs

LIBRARIES = "opt/pyimage/libraries"
LIB = "_main/py/tests/libraries/testdata/greeting"


class LibraryLayerTest(unittest.TestCase):
    def setUp(self) -> None:
        self.a = outputs("GREET_A")
        self.b = outputs("GREET_B")

    def library_layer(self, out: dict[str, Path]) -> dict[str, object]:
        layout = out[".layout"]
        layers = manifest(layout)["layers"]
        return layers[-1]  # after the packages'

    def test_the_library_is_one_layer_of_the_same_bytes_in_both_images(self) -> None:
        la, lb = self.library_layer(self.a), self.library_layer(self.b)
        self.assertEqual(la["digest"], lb["digest"])
        names = members(blob(self.a[".layout"], la["digest"]))
        self.assertIn(f"{LIBRARIES}/{LIB}/__init__.py", names)
        self.assertIn(f"{LIBRARIES}/{LIB}/greeting.txt", names)
        self.assertFalse([n for n in names if n.startswith(SITE) or n.startswith("app/")], names)
        plan = json.loads(self.a[".plan.json"].read_text())
        self.assertEqual(plan["library_layers"], 1)
        (lib,) = plan["libraries"]
        self.assertEqual(lib["library"], "//py/tests/libraries:greeting")
        self.assertEqual(lib["digest"], la["digest"])
        # Its package (six) is a package layer, not in the library's.
        layers = manifest(self.a[".layout"])["layers"]
        held = [lay.get("annotations", {}).get("dev.rules-pyimage.packages") for lay in layers]
        self.assertIn("six==1.16.0", held)
        self.assertEqual(plan["total_layers"], len(layers) + 1)

    def test_the_app_layers_link_each_library_file_to_its_layer(self) -> None:
        for out, name in ((self.a, "greet_a"), (self.b, "greet_b")):
            app = members(out[".app.tar.gz"])
            for file in ("__init__.py", "greeting.txt"):
                link = app[f"app/{name}.runfiles/{LIB}/{file}"]
                self.assertTrue(link.issym(), (name, file))
                resolved = posixpath.normpath(
                    posixpath.join(posixpath.dirname(link.name), link.linkname)
                )
                self.assertEqual(resolved, f"{LIBRARIES}/{LIB}/{file}")
            # No library file is a file of the app layer.
            self.assertFalse(
                [n for n, m in app.items() if "testdata/greeting/" in n and not m.issym()], app
            )


if __name__ == "__main__":
    unittest.main()
