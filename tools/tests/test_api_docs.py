"""docs/api.md stays true to the Starlark API: every public name and attribute, both ways."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
API = (ROOT / "docs" / "api.md").read_text()


def section(title: str) -> str:
    """The text of `## title` up to the next `## `."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", API, re.S | re.M)
    assert match, f"docs/api.md has no section '{title}'"
    return match.group(1)


def table_names(text: str) -> set[str]:
    return set(re.findall(r"^\| `(\*\*kwargs|\w+)` \|", text, re.M))


def rule_attrs(bzl: str) -> set[str]:
    """Public attribute names of the one rule() in a .bzl file."""
    src = (ROOT / bzl).read_text()
    attrs = src[src.index("attrs = {") :]
    return {
        a for a in re.findall(r'^        "(\w+)": attr\.', attrs, re.M) if not a.startswith("_")
    }


def macro_args(bzl: str, name: str) -> set[str]:
    src = (ROOT / bzl).read_text()
    sig = re.search(rf"^def {name}\((.*?)\):", src, re.S | re.M)
    assert sig, name
    return {a.strip().split("=")[0].strip() for a in sig.group(1).split(",") if a.strip()}


def public_names(bzl: str) -> set[str]:
    src = (ROOT / bzl).read_text()
    return set(re.findall(r"^(\w+) = _\w+$", src, re.M))


def test_py_image_arguments_match() -> None:
    assert table_names(section("py_image")) == macro_args("oci/private/py_image.bzl", "py_image")


def test_py_image_layers_attributes_match() -> None:
    documented = table_names(section("py_image_layers"))
    assert documented == rule_attrs("py/private/py_image_layers.bzl")


def test_py_image_plan_attributes_match() -> None:
    assert table_names(section("py_image_plan")) == rule_attrs("py/private/py_image_plan.bzl")


def test_py_image_fleet_arguments_match() -> None:
    documented = table_names(section("py_image_fleet"))
    assert documented == macro_args("py/private/py_image_fleet.bzl", "py_image_fleet")


def test_py_image_inputs_attributes_match() -> None:
    assert table_names(section("py_image_inputs")) == rule_attrs("py/private/py_image_inputs.bzl")


def test_every_public_name_is_documented() -> None:
    names = public_names("oci/defs.bzl")
    assert names, "no public names found"
    for name in names:
        assert f"`{name}`" in API or f"## {name}" in API, name


def test_provider_fields_are_documented() -> None:
    src = (ROOT / "py/private/providers.bzl").read_text()
    providers = section("Providers")
    for name, body in re.findall(r"^(\w+) = provider\((.*?)^\)", src, re.S | re.M):
        line = re.search(rf"- `{name}`:(.*?)(?=^- |\Z)", providers, re.S | re.M)
        assert line, name
        for field in re.findall(r'^        "(\w+)":', body, re.M):
            assert f"`{field}`" in line.group(1), (name, field)
