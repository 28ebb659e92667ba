"""The API page: one section per symbol, and a refusal for anything undocumented."""

from __future__ import annotations

from pathlib import Path

import pytest

from apidocs import render
from apidocs.textproto import parse

MODULE = """
module_docstring: "The public file."
file: "@m//:defs.bzl"
rule_info {
  rule_name: "my_rule"
  doc_string: "Builds a thing."
  attribute { name: "name" doc_string: "A unique name for this target." type: NAME mandatory: true }
  attribute { name: "src" doc_string: "The source | with a pipe." type: LABEL mandatory: true }
  attribute { name: "n" doc_string: "How many." type: INT default_value: "3" }
}
provider_info {
  provider_name: "MyInfo"
  doc_string: "What my_rule gives."
  field_info { name: "out" doc_string: "The output." }
}
func_info {
  function_name: "my_macro"
  parameter { name: "name" doc_string: "the name." mandatory: true }
  parameter { name: "kwargs" doc_string: "the rest." }
  doc_string: "A macro."
}
module_extension_info {
  extension_name: "ext"
  doc_string: "An extension."
  tag_class {
    tag_name: "tag"
    doc_string: "A tag."
    attribute { name: "x" doc_string: "An x." type: STRING_LIST default_value: "[]" }
  }
}
"""


def test_each_symbol_gets_a_section_and_a_table() -> None:
    page = render.render([parse(MODULE)])
    assert page.startswith("<!-- Generated")
    sections = [line for line in page.splitlines() if line.startswith("## ")]
    assert sections == ["## `@m//:defs.bzl`", "## my_macro", "## my_rule", "## MyInfo", "## ext"]
    assert "| `src` | label | required | The source \\| with a pipe. |" in page
    assert "| `n` | int | `3` | How many. |" in page
    assert "`name`" not in page.split("## my_rule")[1].split("## MyInfo")[0]  # Bazel's own
    assert "| `**kwargs` |  | the rest. |" in page
    assert "| `out` | The output. |" in page
    assert "### ext.tag" in page and "| `x` | list of strings | `[]` | An x. |" in page
    assert page.endswith("\n") and not page.endswith("\n\n")


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ('doc_string: "Builds a thing."', "", "rule my_rule"),
        ('doc_string: "How many."', 'doc_string: " "', "rule my_rule: attribute n"),
        ('doc_string: "The output."', "", "provider MyInfo: field out"),
        ('doc_string: "the rest."', "", "macro my_macro: argument **kwargs"),
        ('doc_string: "A tag."', "", "module extension ext: tag class tag"),
        ('doc_string: "An x."', "", "module extension ext: tag class tag: attribute x"),
        ('module_docstring: "The public file."', "", "@m//:defs.bzl: the file"),
    ],
)
def test_anything_undocumented_is_named(old: str, new: str, named: str) -> None:
    assert old in MODULE
    module = parse(MODULE.replace(old, new, 1))
    assert render.undocumented(module) == [
        named if named.startswith("@") else f"@m//:defs.bzl: {named}"
    ]
    with pytest.raises(render.UndocumentedError, match="no docstring"):
        render.render([module])


def test_main_writes_nothing_when_something_is_undocumented(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good, bad = tmp_path / "good.textproto", tmp_path / "bad.textproto"
    good.write_text(MODULE)
    bad.write_text(MODULE.replace('doc_string: "An x."', ""))
    out = tmp_path / "api.md"
    assert render.main(["--out", str(out), str(bad)]) == 1
    assert (not out.exists() and list(tmp_path.iterdir()) == [good, bad]) or not out.exists()
    assert "no docstring: @m//:defs.bzl: module extension ext" in capsys.readouterr().err
    assert render.main(["--check", str(good)]) == 0 and not out.exists()
    assert render.main(["--out", str(out), str(good)]) == 0
    assert out.read_text() == render.render([parse(MODULE)])
