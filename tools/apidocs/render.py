"""Renders Bazel's `starlark_doc_extract` output as one Markdown API page.

    render.py [--check] [--out FILE] MODULE.textproto...

Each `.textproto` is the `ModuleInfo` of one public `.bzl` file. The page has
one section per file (its module docstring), then one per public symbol:
macros, rules, providers, aspects, repository rules and module extensions,
each with its docstring and a table of its parameters, attributes, fields or
tag classes. A symbol, parameter, attribute, field or tag class without a
docstring is refused, naming it (exit 1, nothing written); `--check` only
checks. Standard library only.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from apidocs.textproto import Message, many, one, parse

HEADER = """<!-- Generated from the .bzl docstrings by //docs:api_md
     (tools/apidocs/render.py); do not edit: run `bazel run //docs:update`. -->

# API reference
"""

#: Attributes Bazel adds to every rule and documents itself.
IMPLICIT = {"name"}

#: The ModuleInfo fields of symbols: (field, kind shown, name field, table).
KINDS = (
    ("func_info", "macro", "function_name"),
    ("rule_info", "rule", "rule_name"),
    ("provider_info", "provider", "provider_name"),
    ("aspect_info", "aspect", "aspect_name"),
    ("repository_rule_info", "repository rule", "rule_name"),
    ("module_extension_info", "module extension", "extension_name"),
)

TYPES = {
    "NAME": "name",
    "INT": "int",
    "LABEL": "label",
    "STRING": "string",
    "STRING_LIST": "list of strings",
    "INT_LIST": "list of ints",
    "LABEL_LIST": "list of labels",
    "BOOLEAN": "bool",
    "LABEL_STRING_DICT": "dict: label to string",
    "STRING_DICT": "dict: string to string",
    "STRING_LIST_DICT": "dict: string to list of strings",
    "OUTPUT": "output",
    "OUTPUT_LIST": "list of outputs",
    "LABEL_DICT_UNARY": "dict: string to label",
    "LABEL_LIST_DICT": "dict: label to list of strings",
}


class UndocumentedError(ValueError):
    """Public symbols without docstrings: one line each."""


def _cell(text: str) -> str:
    """A docstring as one Markdown table cell."""
    return " ".join(text.split()).replace("|", "\\|")


def _default(value: str, mandatory: bool) -> str:
    if mandatory:
        return "required"
    return f"`{value}`" if value else ""


def _params(func: Message) -> Iterator[tuple[str, str, str]]:
    for param in many(func, "parameter"):
        name = one(param, "name")
        role = one(param, "role")
        shown = f"**{name}" if role == "PARAM_ROLE_KWARGS" or name == "kwargs" else name
        if role == "PARAM_ROLE_VARARGS":
            shown = f"*{name}"
        default = _default(one(param, "default_value"), one(param, "mandatory") == "true")
        yield shown, default, one(param, "doc_string")


def _attrs(holder: Message) -> Iterator[tuple[str, str, str, str]]:
    for attr in many(holder, "attribute"):
        name = one(attr, "name")
        if name in IMPLICIT:
            continue
        kind = TYPES.get(one(attr, "type"), one(attr, "type").lower())
        default = _default(one(attr, "default_value"), one(attr, "mandatory") == "true")
        yield name, kind, default, one(attr, "doc_string")


def _attr_table(holder: Message) -> list[str]:
    rows = [f"| `{n}` | {k} | {d} | {_cell(doc)} |" for n, k, d, doc in _attrs(holder)]
    if not rows:
        return []
    return ["| attribute | type | default | meaning |", "|---|---|---|---|", *rows, ""]


def _symbol(kind: str, name: str, info: Message, load_from: str) -> list[str]:
    out = [f"## {name}", "", f"A {kind}, from `{load_from}`.", "", one(info, "doc_string"), ""]
    if kind == "macro":
        rows = [f"| `{n}` | {d} | {_cell(doc)} |" for n, d, doc in _params(info)]
        if rows:
            out += ["| argument | default | meaning |", "|---|---|---|", *rows, ""]
        returned = one(one(info, "return", {}), "doc_string")
        if returned:
            out += [f"Returns: {_cell(returned)}", ""]
    elif kind == "provider":
        rows = [
            f"| `{one(f, 'name')}` | {_cell(one(f, 'doc_string'))} |"
            for f in many(info, "field_info")
        ]
        if rows:
            out += ["| field | meaning |", "|---|---|", *rows, ""]
    elif kind == "module extension":
        for tag in many(info, "tag_class"):
            tag_name = one(tag, "tag_name")
            out += [f"### {name}.{tag_name}", "", one(tag, "doc_string"), ""]
            out += _attr_table(tag)
    else:
        out += _attr_table(info)
    return out


def symbols(module: Message) -> Iterator[tuple[str, str, Message]]:
    """(kind, name, info) of each public symbol of a ModuleInfo, kinds in KINDS order."""
    for field, kind, name_field in KINDS:
        for info in many(module, field):
            yield kind, one(info, name_field), info


def undocumented(module: Message) -> list[str]:
    """What lacks a docstring in one ModuleInfo, one entry per item."""
    file = one(module, "file")
    missing = [] if one(module, "module_docstring").strip() else [f"{file}: the file"]
    for kind, name, info in symbols(module):
        where = f"{file}: {kind} {name}"
        if not one(info, "doc_string").strip():
            missing.append(where)
        if kind == "macro":
            missing += [f"{where}: argument {n}" for n, _, doc in _params(info) if not doc.strip()]
        elif kind == "provider":
            missing += [
                f"{where}: field {one(f, 'name')}"
                for f in many(info, "field_info")
                if not one(f, "doc_string").strip()
            ]
        elif kind == "module extension":
            for tag in many(info, "tag_class"):
                tag_where = f"{where}: tag class {one(tag, 'tag_name')}"
                if not one(tag, "doc_string").strip():
                    missing.append(tag_where)
                missing += [
                    f"{tag_where}: attribute {n}" for n, *_, d in _attrs(tag) if not d.strip()
                ]
        else:
            missing += [f"{where}: attribute {n}" for n, *_, d in _attrs(info) if not d.strip()]
    return missing


def render(modules: list[Message]) -> str:
    """The API page of these ModuleInfos, in order."""
    missing = [item for module in modules for item in undocumented(module)]
    if missing:
        raise UndocumentedError("\n".join(f"no docstring: {m}" for m in missing))
    lines = [HEADER]
    for module in modules:
        file = one(module, "file")
        lines += [f"## `{file}`", "", one(module, "module_docstring"), ""]
        for kind, name, info in symbols(module):
            lines += _symbol(kind, name, info, file)
    text = "\n".join(lines)
    return "\n".join(line.rstrip() for line in text.splitlines()).strip() + "\n"


def _write(out: Path, text: str) -> None:
    """Writes `out` whole or not at all."""
    with tempfile.NamedTemporaryFile(
        "w", dir=out.parent, prefix=f".{out.name}.", delete=False
    ) as f:
        f.write(text)
    Path(f.name).replace(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="render.py", description=__doc__.split("\n")[0])
    parser.add_argument(
        "modules", nargs="+", type=Path, help="starlark_doc_extract .textproto files"
    )
    parser.add_argument("--out", type=Path, help="the Markdown page to write")
    parser.add_argument("--check", action="store_true", help="only check that all is documented")
    args = parser.parse_args(argv)
    modules = [parse(path.read_text(encoding="utf-8")) for path in args.modules]
    try:
        text = render(modules)
    except UndocumentedError as err:
        print(f"{err}\nrender.py: add the docstrings above to the .bzl files", file=sys.stderr)
        return 1
    if args.out and not args.check:
        _write(args.out, text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
