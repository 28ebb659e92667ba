"""A first-party library of its own layer: a greeting, read from its data file two ways."""

import os
from pathlib import Path

GREETING_VERSION = 1


def greeting() -> str:
    """The greeting beside this module (through its runfiles link)."""
    return (Path(__file__).parent / "greeting.txt").read_text().strip()


def greeting_from_runfiles() -> str:
    """The same file, looked up in the runfiles tree as Bazel's runfiles libraries do."""
    path = Path(os.environ["RUNFILES_DIR"]) / "_main" / "libs" / "greeting" / "greeting.txt"
    return path.read_text().strip()
