"""Checks py_image_layers with compression = "zstd" against the same binary's gzip layers."""

import hashlib
import json
import shutil
import subprocess
import unittest

from layers_outputs import SUFFIXES, blob, manifest, outputs

ZSTD_SUFFIXES = tuple(s.replace(".tar.gz", ".tar.zst") for s in SUFFIXES)
ZSTD_MAGIC = bytes.fromhex("28b52ffd")


def unzstd(data: bytes) -> bytes:
    zstd = shutil.which("zstd")
    assert zstd, "no zstd on PATH (Debian's bazel-lib brings it into the chroot)"
    return subprocess.run([zstd, "-dc"], input=data, capture_output=True, check=True).stdout


class ZstdLayersTest(unittest.TestCase):
    def setUp(self) -> None:
        self.gz = outputs("GZIP_LAYERS")
        self.zst = outputs("ZSTD_LAYERS", ZSTD_SUFFIXES)

    def test_every_layer_is_zstd_and_decompresses_to_its_diff_id(self) -> None:
        layout = self.zst[".layout"]
        m = manifest(layout)
        config = json.loads(blob(layout, m["config"]["digest"]).read_text())
        self.assertTrue(m["layers"])
        for lay, diff_id in zip(m["layers"], config["rootfs"]["diff_ids"], strict=True):
            self.assertEqual(lay["mediaType"], "application/vnd.oci.image.layer.v1.tar+zstd")
            data = blob(layout, lay["digest"]).read_bytes()
            self.assertEqual(data[:4], ZSTD_MAGIC)
            self.assertEqual(diff_id, "sha256:" + hashlib.sha256(unzstd(data)).hexdigest())

    def test_the_tars_are_the_gzip_images_tars(self) -> None:
        # Compression changes the blobs, never the files: same diff_ids, same app tar.
        def diff_ids(layout):
            m = manifest(layout)
            return json.loads(blob(layout, m["config"]["digest"]).read_text())["rootfs"]

        self.assertEqual(diff_ids(self.zst[".layout"]), diff_ids(self.gz[".layout"]))
        app = self.zst[".app.tar.zst"].read_bytes()
        self.assertEqual(app[:4], ZSTD_MAGIC)
        gz_app = subprocess.run(
            ["gzip", "-dc"],
            input=self.gz[".app.tar.gz"].read_bytes(),
            capture_output=True,
            check=True,
        ).stdout
        self.assertEqual(unzstd(app), gz_app)


if __name__ == "__main__":
    unittest.main()
