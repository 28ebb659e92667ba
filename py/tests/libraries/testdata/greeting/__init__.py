"""A first-party library of its own layer: a greeting read from its data file."""

from pathlib import Path


def greeting() -> str:
    return (Path(__file__).parent / "greeting.txt").read_text().strip()
