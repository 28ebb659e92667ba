"""Command line of pyimage: a thin argparse front over the modules.

The subcommands live in :mod:`pyimage.commands`: each module there has
``register(subparsers)``, which adds its subcommands with
``set_defaults(func=...)``. This file only wires them together, expands
Bazel's params files, and turns a
:class:`~pyimage.errors.PyimageError`, or an operating-system error no module
turned into one (a full disk), into a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import errno
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

from pyimage import commands
from pyimage.errors import PyimageError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="pyimage",
        description="Plan and write the layers of Python container images.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in commands.ALL:
        module.register(sub)
    return parser


PARAMS_FILE_FLAG = "--params-file="


def expand_params_files(argv: Sequence[str]) -> list[str]:
    """Replace each ``--params-file=PATH`` by the arguments PATH holds.

    Bazel writes long argument lists of our actions to such a file
    (``Args.use_param_file`` in its ``shell`` format: one argument per line,
    shell-quoted when needed), which ``shlex`` reads back exactly, newlines
    and quotes inside arguments included. A file is not expanded again.
    """
    out: list[str] = []
    for arg in argv:
        if not arg.startswith(PARAMS_FILE_FLAG):
            out.append(arg)
            continue
        path = arg[len(PARAMS_FILE_FLAG) :]
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as err:
            raise PyimageError(
                f"params file {path}: cannot read it ({err}); pass the arguments directly"
            ) from err
        try:
            out.extend(shlex.split(text, comments=False, posix=True))
        except ValueError as err:
            raise PyimageError(f"params file {path}: not shell-quoted arguments ({err})") from err
    return out


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        argv = expand_params_files(sys.argv[1:] if argv is None else argv)
    except PyimageError as err:
        print(f"pyimage: error: {err}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except PyimageError as err:
        print(f"pyimage: error: {err}", file=sys.stderr)
        return 2
    except OSError as err:
        print(f"pyimage: error: {os_error_text(err)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("pyimage: interrupted", file=sys.stderr)
        return 130


def os_error_text(err: OSError) -> str:
    """One line for an operating-system error: what failed, on which file, what to do."""
    where = f" ({err.filename})" if err.filename else ""
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"{err.strerror}{where}; free disk space and run again"
    return f"{err.strerror or err}{where}; check the path and its permissions"
