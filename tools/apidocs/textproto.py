"""A reader of protocol buffer text format, enough for Bazel's `starlark_doc_extract`.

`starlark_doc_extract(name = "x", ...)` writes `x.textproto`, a `ModuleInfo`
of stardoc_output.proto in text format. This reads any such document into
nested dicts without the schema: every field maps to a list of its values (a
text document does not say which fields are repeated), a message is a dict,
a string is a `str` (its escapes decoded as bytes, then UTF-8), an enum or
`true`/`false` an identifier `str`, a number an `int` or `float`.

Standard library only.
"""

from __future__ import annotations

import re
from typing import Any

Message = dict[str, list[Any]]

_TOKEN = re.compile(
    r"""
    (?P<space>\s+|\#[^\n]*)
  | (?P<string>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')
  | (?P<number>-?(?:0[xX][0-9a-fA-F]+|\d+\.?\d*(?:[eE][-+]?\d+)?|\.\d+)[fF]?)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_.]*)
  | (?P<punct>[{}<>:\[\],;])
    """,
    re.X,
)

_SIMPLE_ESCAPES = {
    "n": b"\n",
    "t": b"\t",
    "r": b"\r",
    '"': b'"',
    "'": b"'",
    "\\": b"\\",
    "a": b"\a",
    "b": b"\b",
    "f": b"\f",
    "v": b"\v",
    "?": b"?",
}


class TextprotoError(ValueError):
    """The text is not protocol buffer text format."""


def _unescape(body: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(body):
        c = body[i]
        if c != "\\":
            out += c.encode()
            i += 1
            continue
        nxt = body[i + 1]
        if nxt in _SIMPLE_ESCAPES:
            out += _SIMPLE_ESCAPES[nxt]
            i += 2
        elif nxt in "01234567":
            digits = re.match(r"[0-7]{1,3}", body[i + 1 :])
            assert digits
            out.append(int(digits.group(), 8) & 0xFF)
            i += 1 + len(digits.group())
        elif nxt in "xX":
            digits = re.match(r"[0-9a-fA-F]{1,2}", body[i + 2 :])
            if not digits:
                raise TextprotoError(f"bad \\x escape in {body!r}")
            out.append(int(digits.group(), 16))
            i += 2 + len(digits.group())
        else:
            raise TextprotoError(f"unknown escape \\{nxt} in {body!r}")
    return bytes(out)


def _tokens(text: str) -> list[tuple[str, str]]:
    tokens = []
    pos = 0
    while pos < len(text):
        match = _TOKEN.match(text, pos)
        if not match:
            line = text.count("\n", 0, pos) + 1
            raise TextprotoError(f"line {line}: cannot read {text[pos : pos + 20]!r}")
        kind = match.lastgroup or ""
        if kind != "space":
            tokens.append((kind, match.group()))
        pos = match.end()
    return tokens


class _Reader:
    def __init__(self, text: str) -> None:
        self.tokens = _tokens(text)
        self.pos = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise TextprotoError("unexpected end of text")
        self.pos += 1
        return token

    def message(self, closer: str | None) -> Message:
        fields: Message = {}
        while True:
            token = self.peek()
            if token is None or token[1] == closer:
                if token is None and closer is not None:
                    raise TextprotoError(f"missing '{closer}'")
                self.pos += token is not None
                return fields
            kind, name = self.take()
            if kind != "ident":
                raise TextprotoError(f"expected a field name, found {name!r}")
            fields.setdefault(name, []).extend(self.field_values())
            if self.peek() in (("punct", ","), ("punct", ";")):
                self.pos += 1

    def field_values(self) -> list[Any]:
        colon = self.peek() == ("punct", ":")
        if colon:
            self.pos += 1
        if self.peek() == ("punct", "["):
            self.pos += 1
            values = []
            while self.peek() != ("punct", "]"):
                values.append(self.value())
                if self.peek() == ("punct", ","):
                    self.pos += 1
            self.pos += 1
            return values
        return [self.value()]

    def value(self) -> Any:
        kind, text = self.take()
        if text in ("{", "<"):
            return self.message("}" if text == "{" else ">")
        if kind == "string":
            data = _unescape(text[1:-1])
            while self.peek() and self.peek()[0] == "string":  # type: ignore[index]
                data += _unescape(self.take()[1][1:-1])
            return data.decode("utf-8")
        if kind == "number":
            if re.fullmatch(r"-?0[xX][0-9a-fA-F]+", text):
                return int(text, 16)
            number = text.rstrip("fF")
            return float(number) if re.search(r"[.eE]|[fF]$", text) else int(number)
        if kind == "ident":
            return text
        raise TextprotoError(f"expected a value, found {text!r}")


def parse(text: str) -> Message:
    """The message of a text-format document, as nested dicts of lists."""
    return _Reader(text).message(None)


def one(message: Message, field: str, default: Any = "") -> Any:
    """The value of a singular field, or `default` when it is absent."""
    values = message.get(field, [])
    return values[-1] if values else default


def many(message: Message, field: str) -> list[Any]:
    """The values of a repeated field, in order (none when it is absent)."""
    return list(message.get(field, []))
