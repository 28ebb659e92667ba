"""`bazel run //docs:update`: the generated page copied into the source tree, whole."""

from __future__ import annotations

from pathlib import Path

import pytest

from apidocs import update


def test_writes_then_says_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    generated = tmp_path / "api.generated.md"
    generated.write_text("# API\n")
    (tmp_path / "ws" / "docs").mkdir(parents=True)
    monkeypatch.setenv("BUILD_WORKSPACE_DIRECTORY", str(tmp_path / "ws"))
    assert update.main([str(generated), "docs/api.md"]) == 0
    assert (tmp_path / "ws" / "docs" / "api.md").read_text() == "# API\n"
    assert update.main([str(generated), "docs/api.md"]) == 0
    assert capsys.readouterr().out.splitlines() == [
        "docs/api.md: written",
        "docs/api.md: up to date",
    ]
    assert sorted(p.name for p in (tmp_path / "ws" / "docs").iterdir()) == ["api.md"]


def test_refuses_to_run_outside_bazel_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("BUILD_WORKSPACE_DIRECTORY", raising=False)
    assert update.main([str(tmp_path / "x"), "docs/api.md"]) == 2
    assert update.main(["only-one"]) == 2
