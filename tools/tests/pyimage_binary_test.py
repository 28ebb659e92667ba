"""The pyimage py_binary, run the way Bazel actions run it."""

import json
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

    def test_serves_as_a_persistent_worker(self) -> None:
        # As Bazel starts it for actions that support workers: the launcher
        # must pass the flag and leave stdin and stdout to the protocol.
        r = subprocess.run(
            [os.environ["PYIMAGE_BIN"], "--persistent_worker"],
            input=json.dumps({"arguments": ["--help"]}) + "\n",
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        self.assertEqual(r.returncode, 0, r.stderr)
        (response,) = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(response["exitCode"], 0, response)
        self.assertIn("usage: pyimage", response["output"])


if __name__ == "__main__":
    unittest.main()
