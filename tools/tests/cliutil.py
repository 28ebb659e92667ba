"""Running the pyimage command line from tests."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOLS = Path(__file__).resolve().parent.parent


def run_pyimage(*args: str) -> subprocess.CompletedProcess[str]:
    """``python3 -m pyimage ARGS`` from tools/, its output captured; never raises on failure."""
    return subprocess.run(
        [sys.executable, "-m", "pyimage", *args],
        cwd=TOOLS,
        capture_output=True,
        text=True,
        check=False,
    )
