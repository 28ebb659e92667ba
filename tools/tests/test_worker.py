"""pyimage as Bazel's persistent worker: the JSON protocol, run for real.

Each test starts ``python3 -m pyimage --persistent_worker`` as Bazel does
(cwd = the execroot, here a temporary folder) and speaks the protocol on its
stdin and stdout: what the worker writes must be the command line's bytes,
its errors the command line's one-line errors, and its stdout nothing but
responses.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

from enginekit import TOOLS, pyimage, write_manifest

SPEC = {
    "site-packages/café/__init__.py": b"x = 1\n",
    "site-packages/café/data.bin": bytes(range(256)) * 64,
    "bin/tool": ("exec", b"#!/bin/sh\necho hi\n"),
}


def start_worker(cwd: Path, *argv: str) -> subprocess.Popen[bytes]:
    env = {"PYTHONPATH": str(TOOLS), "PATH": "/usr/bin:/bin"}
    return subprocess.Popen(
        [sys.executable, "-m", "pyimage", *argv, "--persistent_worker"],
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=env,
    )


def finish(worker: subprocess.Popen[bytes], sent: bytes = b"") -> tuple[list[dict], str, int]:
    """Sends the rest, closes stdin; the responses, the worker's stderr and exit code."""
    out, err = worker.communicate(sent, timeout=60)
    responses = [json.loads(line) for line in out.decode().splitlines()]
    return responses, err.decode(), worker.returncode


def request(*arguments: str, **extra: object) -> bytes:
    # As Bazel writes them: compact, other characters than ASCII as they are.
    return json.dumps({"arguments": list(arguments), **extra}, ensure_ascii=False).encode()


def package_args(manifest: Path, out: Path) -> list[str]:
    return ["package-tar", "--manifest", str(manifest), "--blob", f"{out}.tar.gz",
            "--descriptor", f"{out}.json"]  # fmt: skip


def test_worker_writes_the_command_lines_bytes_and_serves_on_after_an_error(
    tmp_path: Path,
) -> None:
    manifest = write_manifest(tmp_path, "demo==1.0", SPEC)
    # The command line, as Bazel runs it without a worker: all in a params file.
    params = tmp_path / "cli.params"
    params.write_text("\n".join(package_args(manifest, tmp_path / "cli")) + "\n")
    cli = pyimage(f"@{params}")
    assert cli.returncode == 0, cli.stderr

    worker = start_worker(tmp_path)
    responses, stderr, code = finish(
        worker,
        b"\n".join([
            request(*package_args(manifest, tmp_path / "w1")),
            request(*package_args(tmp_path / "absent.json", tmp_path / "bad")),
            request(*package_args(manifest, tmp_path / "w2")),
        ]) + b"\n",
    )  # fmt: skip
    assert code == 0, stderr
    assert [r["requestId"] for r in responses] == [0, 0, 0], responses
    assert [r["exitCode"] for r in responses] == [0, 2, 0], responses
    assert responses[0]["output"] == "" and responses[2]["output"] == "", responses
    error = responses[1]["output"]
    assert error.startswith("pyimage: error: ") and error.count("\n") == 1, error
    assert "absent.json" in error, error
    assert not list(tmp_path.glob("bad*")), "a failed request must leave nothing behind"
    for run in ("w1", "w2"):
        for ext in (".tar.gz", ".json"):
            produced = (tmp_path / f"{run}{ext}").read_bytes()
            assert produced == (tmp_path / f"cli{ext}").read_bytes(), (run, ext)


def test_requests_back_to_back_or_split_mid_character_are_read(tmp_path: Path) -> None:
    # Bazel before 7.1 writes requests with no newline between them; a pipe
    # may deliver any request in pieces, even inside a UTF-8 character.
    manifest = write_manifest(tmp_path, "demo==1.0", SPEC)
    first = request(*package_args(manifest, tmp_path / "é1"))
    second = request(*package_args(manifest, tmp_path / "é2"))
    stream = first + second
    cut = stream.index("é".encode()) + 1  # between the two bytes of é
    worker = start_worker(tmp_path)
    assert worker.stdin is not None
    for piece in (stream[:cut], stream[cut : len(first) + 3], stream[len(first) + 3 :]):
        worker.stdin.write(piece)
        worker.stdin.flush()
        time.sleep(0.2)
    responses, stderr, code = finish(worker)
    assert code == 0, stderr
    assert [r["exitCode"] for r in responses] == [0, 0], responses
    assert (tmp_path / "é1.tar.gz").read_bytes() == (tmp_path / "é2.tar.gz").read_bytes()


def test_what_a_command_prints_goes_to_its_response_never_to_the_protocol(
    tmp_path: Path,
) -> None:
    # `layout` prints a summary on stdout; `--help` prints usage and exits 0.
    worker = start_worker(tmp_path)
    responses, stderr, code = finish(
        worker,
        request("layout", "--out", str(tmp_path / "layout")) + b"\n" + request("--help") + b"\n",
    )
    assert code == 0, stderr
    assert [r["exitCode"] for r in responses] == [0, 0], responses
    assert json.loads(responses[0]["output"])["layers"] == 0, responses
    assert "usage: pyimage" in responses[1]["output"], responses
    assert (tmp_path / "layout" / "index.json").is_file()


def test_a_write_to_file_descriptor_1_cannot_corrupt_the_protocol(tmp_path: Path) -> None:
    # Below print(): a C extension or a child process writing to fd 1.
    script = (
        "import os, sys\n"
        "from pyimage import worker\n"
        "def run(argv):\n"
        "    os.write(1, b'stray bytes\\n')\n"
        "    print('printed')\n"
        "    return len(argv)\n"
        "sys.exit(worker.serve(run))\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        input=request("a", "b") + b"\n",
        capture_output=True,
        cwd=tmp_path,
        env={"PYTHONPATH": str(TOOLS)},
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == {"exitCode": 2, "output": "printed\n", "requestId": 0}
    assert b"stray bytes" in proc.stderr


def test_fixed_arguments_come_before_each_requests_arguments(tmp_path: Path) -> None:
    # Arguments on the worker's command line (not in the params file) are
    # part of every action's command line, first.
    worker = start_worker(tmp_path, "layout")
    responses, stderr, code = finish(worker, request("--out", str(tmp_path / "l")) + b"\n")
    assert code == 0, stderr
    assert responses[0]["exitCode"] == 0, responses
    assert (tmp_path / "l" / "index.json").is_file()


def test_a_multiplex_sandbox_request_is_refused_naming_the_flag(tmp_path: Path) -> None:
    worker = start_worker(tmp_path)
    responses, stderr, code = finish(
        worker, request("--help", sandboxDir="sandbox/1", requestId=7) + b"\n"
    )
    assert code == 0, stderr
    assert [(r["exitCode"], r["requestId"]) for r in responses] == [(2, 7)], responses
    assert "--noexperimental_worker_multiplex_sandboxing" in responses[0]["output"]


def test_a_stream_ending_inside_a_request_is_an_error(tmp_path: Path) -> None:
    worker = start_worker(tmp_path)
    responses, stderr, code = finish(worker, request("--help")[:-3])
    assert responses == [] and code == 2, (responses, code)
    assert "ended inside a request" in stderr
