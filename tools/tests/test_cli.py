"""The CLI front: usage errors and the one-line error contract."""

import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pyimage", *args],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
    )


def test_no_command_is_a_usage_error() -> None:
    r = run()
    assert r.returncode == 2
    assert "COMMAND" in r.stderr


def test_unknown_command_is_a_usage_error() -> None:
    r = run("no-such-command")
    assert r.returncode == 2
    assert "invalid choice" in r.stderr
