"""The one JSON reader: what it refuses that ``json`` lets through, and how it says so."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pyimage import jsonio
from pyimage.errors import PyimageError


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b'{"a": 1, "a": 2}', "key 'a' appears twice in one object; keep one"),
        (b'{"size": NaN}', "NaN is not JSON"),
        (b'{"size": -Infinity}', "-Infinity is not JSON"),
        (b'{"name": "caf\xe9"}', "not UTF-8 text"),
        (b'{"a": [1, 2}', "line 1 column 12"),
    ],
)
def test_refused_in_one_line_naming_the_file_and_the_fix(data: bytes, says: str) -> None:
    with pytest.raises(PyimageError) as err:
        jsonio.parse(data, "lock x.json", "run the update")
    text = str(err.value)
    assert "\n" not in text
    assert text.startswith("lock x.json is not valid JSON: ")
    assert says in text
    assert text.endswith("; run the update")


def test_what_json_accepts_reads_the_same() -> None:
    doc = {"b": [1, 2.5, None, True], "a": {"ü": "x"}}
    assert jsonio.parse(json.dumps(doc).encode(), "doc", "fix") == doc


def test_missing_file_says_missing(tmp_path: Path) -> None:
    with pytest.raises(PyimageError, match=r"^plan report .*absent.json is missing; rebuild$"):
        jsonio.load(tmp_path / "absent.json", "plan report", "rebuild")


def test_write_is_sorted_and_leaves_no_temporary(tmp_path: Path) -> None:
    out = tmp_path / "plan.json"
    jsonio.write(out, {"b": 1, "a": {"d": 2, "c": 3}})
    assert out.read_text() == '{\n "a": {\n  "c": 3,\n  "d": 2\n },\n "b": 1\n}\n'
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
    with pytest.raises(TypeError):
        jsonio.write(out, {"a": object()})
    assert [p.name for p in tmp_path.iterdir()] == ["plan.json"]
    assert jsonio.load(out, "plan", "fix") == {"a": {"c": 3, "d": 2}, "b": 1}
