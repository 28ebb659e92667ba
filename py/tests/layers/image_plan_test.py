"""Runs `<image>.plan` and checks the table it prints."""

import os
import subprocess
import unittest


class ImagePlanTest(unittest.TestCase):
    def test_prints_layers_and_counts(self) -> None:
        r = subprocess.run([os.environ["PLAN_BIN"]], capture_output=True, text=True, check=False)
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0], "2 layers of at most 4: 0 base, 0 interpreter, 1 package, 1 app")
        self.assertIn("attrs==24.2.0, cattrs==24.1.2, six==1.16.0", lines[1])
        self.assertIn("3 pkg", lines[1])


if __name__ == "__main__":
    unittest.main()
