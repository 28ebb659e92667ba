"""Unpacks the layers py_image built for :hello and runs the app from them."""

import json
import os
import subprocess
import sys
import tarfile
import tempfile
import unittest
from pathlib import Path

SITE = "/opt/pyimage/site-packages"


def output(suffix: str) -> Path:
    """The output of :image.layers whose name ends with `suffix`."""
    paths = [Path(p) for p in os.environ["IMAGE_LAYERS"].split()]
    (found,) = [p for p in paths if p.name.endswith(suffix)]
    return found


def blob(layout: Path, digest: str) -> Path:
    return layout / "blobs" / "sha256" / digest.split(":", 1)[1]


class ImageTest(unittest.TestCase):
    def setUp(self) -> None:
        self.layout = output(".layout")
        index = json.loads((self.layout / "index.json").read_text())
        (image,) = index["manifests"]
        self.manifest = json.loads(blob(self.layout, image["digest"]).read_text())

    def test_packages_have_layers_of_their_own(self) -> None:
        held = [lay["annotations"]["dev.rules-pyimage.packages"] for lay in self.manifest["layers"]]
        # Both are small: one layer, which any image with just these two shares.
        self.assertEqual(held, ["humanize==4.12.3,tabulate==0.9.0"])

    def test_app_runs_from_the_layers(self) -> None:
        entrypoint = output(".entrypoint.txt").read_text().splitlines()
        env = dict(line.split("=", 1) for line in output(".env.txt").read_text().splitlines())
        self.assertEqual(entrypoint[0], "python3")
        self.assertTrue(env["PYTHONPATH"].startswith(SITE + ":"), env)
        with tempfile.TemporaryDirectory() as root:
            layers = [blob(self.layout, lay["digest"]) for lay in self.manifest["layers"]]
            for layer in [*layers, output(".app.tar.gz")]:
                with tarfile.open(layer) as tf:
                    tf.extractall(root, filter="data")
            # The container's paths, under root; python3 is this test's, without its
            # site-packages (-S): the packages come from the layers only.
            pythonpath = ":".join(root + p for p in env["PYTHONPATH"].split(":"))
            r = subprocess.run(
                [sys.executable, "-S", root + entrypoint[1]],
                capture_output=True,
                text=True,
                check=False,
                env={"PYTHONPATH": pythonpath, "RUNFILES_DIR": root + env["RUNFILES_DIR"]},
            )
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("humanize   4.12.3", r.stdout)
        self.assertIn("tabulate   0.9.0", r.stdout)
        self.assertIn("torch wheel: 699.3 MB", r.stdout)


if __name__ == "__main__":
    unittest.main()
