"""Bazel's persistent-worker protocol (JSON form) around one command runner.

Bazel starts ``pyimage --persistent_worker`` once per mnemonic (for actions
whose ``execution_requirements`` hold ``supports-workers`` and
``requires-worker-protocol: json``) and sends it one ``WorkRequest`` per
action on stdin: a JSON object whose ``arguments`` are the lines of the
action's params file. The worker answers each with one ``WorkResponse`` on
stdout: ``{"exitCode": N, "output": TEXT, "requestId": ID}`` and a newline.
One process then runs every action of its kind, so an action costs its own
work and not an interpreter's start plus the imports (about 0.2 s of the
shortest package action's 0.2 s).

Singleplex only (one request at a time, ``requestId`` 0), no multiplex
sandboxing and no cancellation: Bazel sends neither ``sandboxDir`` nor
``cancel`` to such a worker, and a request holding one is answered with an
error rather than run in the wrong folder. Each request runs exactly as the
command line would (same function, same arguments), with its stdout and
stderr captured into the response's ``output``: nothing a command prints
can reach the protocol stream, whose file descriptor is moved away first.
"""

from __future__ import annotations

import codecs
import contextlib
import io
import json
import os
import sys
import traceback
from collections.abc import Callable, Iterator
from typing import BinaryIO

#: The flag Bazel adds to a worker's command line.
FLAG = "--persistent_worker"

_READ_SIZE = 1 << 16

MULTIPLEX_ERROR = (
    "pyimage: error: this worker is singleplex and does not cancel; run it without"
    " multiplex sandboxing (--noexperimental_worker_multiplex_sandboxing)\n"
)


def requests(stream: BinaryIO) -> Iterator[dict]:
    """The JSON objects Bazel writes on ``stream``, until it closes it.

    Bazel 7.1+ ends each with a newline (ndjson); earlier ones write them
    back to back. Both are read: text is gathered until it holds one whole
    object (an incomplete object never decodes; a complete one always does),
    and a UTF-8 character split across two reads waits for its other bytes.
    ValueError when the stream ends inside an object, is not UTF-8, or holds
    something that is not a JSON object.
    """
    decoder = json.JSONDecoder()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    buffered = ""
    while True:
        chunk = stream.read1(_READ_SIZE)
        buffered = (buffered + utf8.decode(chunk, final=not chunk)).lstrip()
        while buffered:
            try:
                value, end = decoder.raw_decode(buffered)
            except json.JSONDecodeError:
                break  # incomplete: read more
            if not isinstance(value, dict):
                raise ValueError(f"a work request must be a JSON object, got {buffered[:end]!r}")
            buffered = buffered[end:].lstrip()
            yield value
        if not chunk:
            if buffered:
                raise ValueError("the worker's stdin ended inside a request")
            return


def handle(request: dict, run: Callable[[list[str]], int]) -> dict:
    """Runs one request with ``run`` (argv -> exit code); the response to send."""
    request_id = request.get("requestId", 0)
    arguments = request.get("arguments", [])
    if request.get("sandboxDir") or request.get("cancel"):
        return _response(request_id, 2, MULTIPLEX_ERROR)
    if not isinstance(arguments, list) or not all(isinstance(a, str) for a in arguments):
        return _response(request_id, 2, "pyimage: error: a work request's arguments are strings\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(out):
        try:
            code = run(arguments)
        except SystemExit as exit_:  # argparse: usage error (2) or --help (0)
            code = exit_.code if isinstance(exit_.code, int) else 2
        except Exception:  # a bug: report it on this action and keep serving
            traceback.print_exc()
            code = 1
    return _response(request_id, code, out.getvalue())


def _response(request_id: int, code: int, output: str) -> dict:
    return {"exitCode": code, "output": output, "requestId": request_id}


def serve(run: Callable[[list[str]], int]) -> int:
    """Answers Bazel's work requests with ``run`` until stdin closes; the exit code.

    The protocol stream is a private copy of file descriptor 1, which then
    points at stderr (Bazel's worker log): a stray write to fd 1 from
    anywhere cannot corrupt a response.
    """
    protocol = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    try:
        for request in requests(sys.stdin.buffer):
            protocol.write(json.dumps(handle(request, run)) + "\n")
            protocol.flush()
    except ValueError as err:
        print(f"pyimage worker: {err}", file=sys.stderr)
        return 2
    return 0
