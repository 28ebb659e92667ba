"""Constants the Bazel rules and the Python tools must agree on."""

import re
from pathlib import Path

from pyimage import planner

RULE = Path(__file__).resolve().parents[2] / "py" / "private" / "image_common.bzl"


def starlark_int(name: str) -> int:
    match = re.search(rf"^{name} = (\d+)$", RULE.read_text(), re.MULTILINE)
    assert match, f"{name} not found in {RULE}"
    return int(match.group(1))


def test_default_cap_is_the_planners() -> None:
    assert starlark_int("DEFAULT_MAX_LAYERS") == planner.DEFAULT_MAX_LAYERS


def test_layer_limit_is_the_planners() -> None:
    assert starlark_int("MAX_LAYERS_LIMIT") == planner.MAX_LAYERS_LIMIT == 125
