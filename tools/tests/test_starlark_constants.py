"""Constants the Bazel rules and the Python tools must agree on."""

import re
from pathlib import Path

from pyimage import planner
from pyimage.engine.compression import MEDIA_TYPES

RULE = Path(__file__).resolve().parents[2] / "py" / "private" / "image_common.bzl"


def starlark_int(name: str) -> int:
    match = re.search(rf"^{name} = (\d+)$", RULE.read_text(), re.MULTILINE)
    assert match, f"{name} not found in {RULE}"
    return int(match.group(1))


def test_default_cap_is_the_planners() -> None:
    assert starlark_int("DEFAULT_MAX_LAYERS") == planner.DEFAULT_MAX_LAYERS


def test_layer_limit_is_the_planners() -> None:
    assert starlark_int("MAX_LAYERS_LIMIT") == planner.MAX_LAYERS_LIMIT == 125


def test_the_compressions_a_group_may_choose_are_the_rules_and_the_engines() -> None:
    text = (RULE.parent / "compression.bzl").read_text()
    match = re.search(r"^COMPRESSIONS = \[(.*)\]$", text, re.MULTILINE)
    assert match, "COMPRESSIONS not found in compression.bzl"
    rules = tuple(re.findall(r'"([a-z]+)"', match.group(1)))
    assert rules == planner.COMPRESSIONS == tuple(sorted(MEDIA_TYPES))
