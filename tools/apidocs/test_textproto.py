"""The text-format reader: what starlark_doc_extract writes, and its errors."""

from __future__ import annotations

import pytest

from apidocs.textproto import TextprotoError, many, one, parse


def test_nested_and_repeated_fields() -> None:
    doc = parse(
        """
        rule_info {
          rule_name: "r"
          attribute { name: "a" type: LABEL mandatory: true }
          attribute { name: "b" default_value: "[]" }
        }
        file: "@m//:x.bzl"
        """
    )
    (rule,) = many(doc, "rule_info")
    assert one(rule, "rule_name") == "r"
    assert [one(a, "name") for a in many(rule, "attribute")] == ["a", "b"]
    assert one(many(rule, "attribute")[0], "type") == "LABEL"
    assert one(many(rule, "attribute")[0], "mandatory") == "true"
    assert one(doc, "file") == "@m//:x.bzl"
    assert one(doc, "absent", "none") == "none" and many(doc, "absent") == []


def test_escapes_decode_as_utf8_bytes() -> None:
    doc = parse(r'''s: "a\nb\t\"q\" \'s\' \\ \342\200\224 \x41" t: 'x' "y"''')
    assert one(doc, "s") == "a\nb\t\"q\" 's' \\ \u2014 A"
    assert one(doc, "t") == "xy"  # adjacent strings are one value


def test_numbers_lists_comments_and_angle_brackets() -> None:
    doc = parse("# a comment\nn: 42 f: 1.5 h: 0x1F neg: -3 l: [1, 2, 3] m < k: 'v' >")
    assert (one(doc, "n"), one(doc, "f"), one(doc, "h"), one(doc, "neg")) == (42, 1.5, 31, -3)
    assert many(doc, "l") == [1, 2, 3]
    assert one(one(doc, "m"), "k") == "v"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a { b: 1", "missing '}'"),
        ("a: ", "unexpected end"),
        ("a: $", "cannot read"),
        (r'a: "\q"', "unknown escape"),
        ("1: 2", "expected a field name"),
    ],
)
def test_malformed_text_is_refused(text: str, message: str) -> None:
    with pytest.raises(TextprotoError, match=message):
        parse(text)
