"""Command line of pyimage: a thin argparse front over the modules.

The subcommands live in :mod:`pyimage.commands`: each module there has
``register(subparsers)``, which adds its subcommands with
``set_defaults(func=...)``. This file only wires them together, expands
Bazel's params files, serves Bazel as a persistent worker
(:mod:`pyimage.worker`) when started with ``--persistent_worker``, and turns a
:class:`~pyimage.errors.PyimageError`, or an operating-system error no module
turned into one (a full disk), into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from pyimage import commands, worker
from pyimage.errors import PyimageError


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors as the one-line error every command gives."""

    def error(self, message: str) -> NoReturn:  # type: ignore[override]
        raise PyimageError(f"{self.prog}: {message}; see `{self.prog} --help`")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pyimage",
        description="Plan and write the layers of Python container images.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (*commands.ACTIONS, *commands.DEV):
        module.register(sub)
    return parser


def expand_params_files(argv: Sequence[str]) -> list[str]:
    """Replace each ``@PATH`` by the arguments PATH holds, one per line.

    Bazel runs every pyimage action with all its arguments in such a file
    (``Args.use_param_file("@%s")`` in the ``multiline`` format: each
    argument on its own line, as written). A persistent worker gets the same
    lines in its work request, so both ways read the same arguments. An
    argument starting ``@@`` is not a file (Bazel's rule). A file is not
    expanded again.
    """
    out: list[str] = []
    for arg in argv:
        if not arg.startswith("@") or arg.startswith("@@"):
            out.append(arg)
            continue
        path = arg[1:]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PyimageError(
                f"params file {path}: cannot read it ({err}); pass the arguments directly"
            ) from err
        lines = text.split("\n")
        out.extend(lines[:-1] if lines[-1] == "" else lines)
    return out


def run(argv: Sequence[str]) -> int:
    """Runs one pyimage command line (without the program name); its exit code."""
    try:
        args = build_parser().parse_args(expand_params_files(argv))
        return int(args.func(args) or 0)
    except PyimageError as err:
        print(f"pyimage: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"pyimage: error: {os_error_text(err)}", file=sys.stderr)
        return 2


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if worker.FLAG in argv:
        # Arguments besides the flag are the worker's own (before the params
        # file on the action's command line): each request's come after them.
        fixed = [a for a in argv if a != worker.FLAG]
        return worker.serve(lambda request: run(fixed + request))
    try:
        return run(argv)
    except KeyboardInterrupt:
        print("pyimage: interrupted", file=sys.stderr)
        return 130


def os_error_text(err: OSError) -> str:
    """One line for an operating-system error: what failed, on which file, what to do."""
    where = f" ({err.filename})" if err.filename else ""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{err.strerror}{where}; free disk space and run again"
    return f"{err.strerror or err}{where}; check the path and its permissions"
