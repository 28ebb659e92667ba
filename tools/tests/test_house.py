"""The house rules the code is held to: short functions, imports only downward, no retired name."""

from __future__ import annotations

import ast
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PYIMAGE = ROOT / "tools" / "pyimage"

#: The most lines a function of pyimage may have.
LONGEST = 80

#: Names that are gone (docs/design.md, "Retired names"), as they were written.
RETIRED = [
    r"package as tarball",
    r"\[TAR\]",
    r"package-tar [^\n]*--tar\b",
    r"SHARED_LAYERS",
    r"shared_layers\s*=",
    r"--shared-layers",
    r"fleet\.lock\.bzl",
    r"\bpyimage\.lock\b",
    r"\bpyimage\.inputs\b",
    r"test_fleet_cli|test_tarball",
]

#: Files that must name retired things: the list of them, this test, and the
#: benchmark that writes a fleet for the rules before the module extension.
NAMES_RETIRED_NAMES = {
    "docs/design.md",
    "tools/tests/test_house.py",
    "e2e/harness/bench_analysis.py",
    "e2e/harness/tests/test_bench_analysis.py",
}

#: The rooms of tools/pyimage, bottom to top: a module may import its own room
#: and the rooms before it in this list, never one after.
ROOMS = ["errors", "text", "fsutil", "jsonio", "planner", "engine", "formats", "fleet", "commands"]


def _room(module: str) -> str | None:
    """The room of a ``pyimage.x.y`` module name, or None (cli, worker, __main__: the top)."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in ROOMS else None


def _modules() -> list[tuple[str, Path]]:
    out = []
    for path in sorted(PYIMAGE.rglob("*.py")):
        rel = path.relative_to(PYIMAGE.parent).with_suffix("")
        out.append((".".join(p for p in rel.parts if p != "__init__"), path))
    return out


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_no_function_is_longer_than_80_lines(module: str, path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            lines = node.end_lineno - node.lineno + 1  # type: ignore[operator]
            assert lines <= LONGEST, f"{module}.{node.name} has {lines} lines"


@pytest.mark.parametrize(("module", "path"), _modules(), ids=[m for m, _ in _modules()])
def test_imports_go_only_downward(module: str, path: Path) -> None:
    mine = _room(module)
    if mine is None:
        return  # the top floor imports what it likes
    allowed = ROOMS[: ROOMS.index(mine) + 1]
    for node in ast.walk(ast.parse(path.read_text())):
        names = []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        for name in names:
            room = _room(name)
            assert room is None or room in allowed, f"{module} imports {name} (room {room})"


def test_no_retired_name_is_left() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    found = []
    for name in (t.decode() for t in tracked if t):
        path = ROOT / name
        if name in NAMES_RETIRED_NAMES or not path.is_file():
            continue
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if name == "docs/guide.md":  # its migration section names what to delete
            text = re.sub(r"### Migrating a fleet from .*?(?=^##)", "", text, flags=re.S | re.M)
        found += [f"{name}: {p}" for p in RETIRED if re.search(p, text)]
    assert found == []
