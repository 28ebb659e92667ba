"""Every JSON document pyimage reads, read one strict way; its own documents written one way.

Reading refuses what ``json`` lets through silently: text that is not UTF-8,
a key given twice in one object (the last would win), and ``NaN`` or
``Infinity``. Every problem is one :class:`~pyimage.errors.PyimageError`
line: ``<what> <path> ...; <what to do>``. What a document must hold is the
business of the module that owns its format (a descriptor, a lock, a base
layout, ...); this module only turns bytes into values and back.

Documents of ours that people read (plans, locks, reports) are written with
sorted keys, one-space indentation and a final newline, through a temporary
file renamed into place (:func:`pyimage.fsutil.atomic_output`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from pyimage.errors import PyimageError
from pyimage.fsutil import atomic_output


class _RefusedError(ValueError):
    """A value ``json`` accepts and we do not: a repeated key, NaN or Infinity."""


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _RefusedError(f"key '{key}' appears twice in one object; keep one")
        out[key] = value
    return out


def _no_constant(name: str) -> Any:
    raise _RefusedError(f"{name} is not JSON; write a number")


def _check_text(value: Any) -> None:
    """Refuse a string that is not Unicode text (a lone surrogate escape such as ``\\ud800``).

    ``json`` decodes one into a str that no UTF-8 writer can write back: a
    document holding one would fail later, half-written.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                raise _RefusedError(
                    f"the string {item!r} holds a lone surrogate, which is not text; fix it"
                ) from None
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)


def parse(data: bytes | str, where: str, fix: str) -> Any:
    """The value of the JSON text ``data`` read from ``where`` (e.g. ``"lock x.json"``)."""
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as err:
            raise PyimageError(f"{where} is not valid JSON: not UTF-8 text; {fix}") from err
    try:
        value = json.loads(data, object_pairs_hook=_unique_keys, parse_constant=_no_constant)
        _check_text(value)
        return value
    except _RefusedError as err:
        raise PyimageError(f"{where} is not valid JSON: {err}; {fix}") from err
    except json.JSONDecodeError as err:
        raise PyimageError(
            f"{where} is not valid JSON: line {err.lineno} column {err.colno}: {err.msg}; {fix}"
        ) from err


def load(path: str | Path, what: str, fix: str) -> Any:
    """Read and parse the JSON file ``path``, a ``what`` (e.g. ``"fleet lock"``)."""
    where = f"{what} {path}"
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError as err:
        raise PyimageError(f"{where} is missing; {fix}") from err
    except OSError as err:
        raise PyimageError(f"cannot read {where} ({err.strerror or err}); {fix}") from err
    return parse(data, where, fix)


def dumps(document: Any) -> str:
    """A document of ours as text: sorted keys, one-space indentation, final newline."""
    return json.dumps(document, sort_keys=True, indent=1) + "\n"


def write(path: str | Path, document: Any) -> None:
    """Write ``document`` (as :func:`dumps`) to ``path`` through a temporary file."""
    with atomic_output(Path(path)) as tmp:
        tmp.write_text(dumps(document), encoding="utf-8")
