"""The README's Quick start is examples/quickstart, line for line, but for the override.

The workspace says `local_path_override(path = "../..")` (the BCR's convention
for test modules); the README shows instead the `archive_override` that
`tools/release` prints for the newest version of CHANGELOG.md, with the
integrity left for the reader to paste. Every other line must be the same.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import release

ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = ROOT / "examples" / "quickstart"


def readme_block(title: str) -> list[str]:
    """The lines of the Quick start's code block after the line naming `title`."""
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    match = re.search(rf"^`{re.escape(title)}`:\n\n```starlark\n(.*?)^```", quick, re.S | re.M)
    assert match, f"README.md's Quick start shows no {title}"
    return match.group(1).splitlines()


def without_call(lines: list[str], call: str) -> tuple[list[str], list[str]]:
    """`lines` without the one `call(...)` statement, and that statement."""
    start = lines.index(f"{call}(")
    end = lines.index(")", start)
    return lines[:start] + lines[end + 1 :], lines[start : end + 1]


def newest_version() -> str:
    changelog = (ROOT / "CHANGELOG.md").read_text()
    versions = re.findall(r"^## (\d+\.\d+\.\d+\S*)$", changelog, re.M)
    assert versions, "CHANGELOG.md names no released version"
    return versions[0]


def test_the_build_file_is_the_workspaces() -> None:
    assert readme_block("BUILD.bazel") == (WORKSPACE / "BUILD.bazel").read_text().splitlines()


def test_the_module_file_is_the_workspaces_but_the_override() -> None:
    shown, override = without_call(readme_block("MODULE.bazel"), "archive_override")
    workspace, local = without_call(
        (WORKSPACE / "MODULE.bazel").read_text().splitlines(), "local_path_override"
    )
    assert shown == workspace
    assert local[1:-1] == ['    module_name = "rules_pyimage",', '    path = "../..",']
    assert override  # the README's override, checked below


def test_the_override_is_what_tools_release_prints_for_the_newest_version() -> None:
    version = newest_version()
    shown, override = without_call(readme_block("MODULE.bazel"), "archive_override")
    assert f'bazel_dep(name = "rules_pyimage", version = "{version}")' in shown
    printed = release.override_lines(version, b"").splitlines()
    (integrity,) = [i for i, line in enumerate(printed) if "integrity = " in line]
    assert override[:integrity] + override[integrity + 1 :] == (
        printed[:integrity] + printed[integrity + 1 :]
    )
    assert override[integrity].startswith('    integrity = "sha256-...",  # ')
    assert f"tools/release {version}" in override[integrity]


@pytest.mark.parametrize("name", ["MODULE.bazel", "BUILD.bazel"])
def test_the_workspace_uses_the_names_the_docs_use(name: str) -> None:
    text = (WORKSPACE / name).read_text()
    if name == "MODULE.bazel":
        assert 'hub_name = "pip_deps"' in text and "oci.pull(" in text
        assert re.search(r'digest = "sha256:[0-9a-f]{64}"', text), "the base must be pinned"
    else:
        assert 'load("@rules_pyimage//oci:defs.bzl", "py_image")' in text
