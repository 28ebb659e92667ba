"""The pyimage py_binary, run the way Bazel actions run it."""

import os
import subprocess
import unittest


class PyimageBinaryTest(unittest.TestCase):
    def run_tool(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [os.environ["PYIMAGE_BIN"], *args],
            capture_output=True,
            text=True,
            check=False,
        )

    def test_help_lists_the_commands(self) -> None:
        r = self.run_tool("--help")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("usage: pyimage", r.stdout)

    def test_unknown_command_is_a_usage_error(self) -> None:
        r = self.run_tool("no-such-command")
        self.assertEqual(r.returncode, 2)
        self.assertIn("invalid choice", r.stderr)


if __name__ == "__main__":
    unittest.main()
