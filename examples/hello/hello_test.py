"""Runs the example binary and checks what it printed."""

import os
import subprocess
import unittest


class HelloTest(unittest.TestCase):
    def test_prints_packages_and_size(self) -> None:
        out = subprocess.run(
            [os.environ["HELLO_BIN"]], capture_output=True, text=True, check=True
        ).stdout
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["package", "version"])
        self.assertIn("humanize   4.12.3", out)
        self.assertIn("tabulate   0.9.0", out)
        self.assertIn("torch wheel: 699.3 MB", out)
        self.assertIn("python: 3.11.", out)


if __name__ == "__main__":
    unittest.main()
