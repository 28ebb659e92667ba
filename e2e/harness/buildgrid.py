"""A cache-only BuildGrid server on 127.0.0.1 for Bazel's remote cache tests.

Standard library only. BuildGrid comes from PyPI (pinned below) into a venv
in ``$PYIMAGE_CACHE/buildgrid-venv-<hash>`` (made once, under a temporary
name renamed when complete). The server's config: an LRU CAS in memory, an
LRU action cache that accepts updates, one instance named ``""`` serving the
action cache, CAS and ByteStream. It is linted (``bgd server lint``) before
``bgd server start``; the server listens on a free port of 127.0.0.1 and is
always stopped, on failure and on Ctrl-C too.

As a module::

    with BuildGrid() as bg:
        bazel build --remote_cache={bg.url} ...

As a CLI (prints the URL, serves until Ctrl-C or SIGTERM)::

    python3 e2e/harness/buildgrid.py serve [--cas-size 4G]
    python3 e2e/harness/buildgrid.py venv     # make the venv, print its path
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import HarnessError, Service, free_port, main_wrapper, progress, run

#: The BuildGrid release the harness installs (measured with it).
BUILDGRID_VERSION = "0.4.4"
CACHE = Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage"))

CONFIG = """\
description: rules_pyimage test server, remote cache only (e2e/harness/buildgrid.py)
server:
  - !channel
    address: "127.0.0.1:{port}"
    insecure-mode: true
authorization:
  method: none
storages:
  - !lru-storage &cas
    size: {cas_size}
caches:
  - !lru-action-cache &ac
    storage: *cas
    max-cached-refs: {max_refs}
    allow-updates: true
    cache-failed-actions: false
instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""


def python311() -> str:
    """A CPython 3.11 for the venv (BuildGrid 0.4 was measured with 3.11)."""
    if sys.version_info[:2] == (3, 11):
        return sys.executable
    found = shutil.which("python3.11")
    if not found:
        raise HarnessError("BuildGrid's venv needs python3.11 on PATH")
    return found


def venv_dir(cache: Path = CACHE) -> Path:
    """The venv's path: its name hashes the pinned version and the interpreter."""
    key = f"buildgrid=={BUILDGRID_VERSION}\npython3.11\n".encode()
    return cache / f"buildgrid-venv-{hashlib.sha256(key).hexdigest()[:12]}"


def ensure_venv(cache: Path = CACHE) -> Path:
    """Make (or reuse) the venv with the pinned BuildGrid; its path."""
    venv = venv_dir(cache)
    if (venv / ".complete").is_file() and (venv / "bin" / "bgd").is_file():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=cache))
    try:
        progress(f"installing buildgrid=={BUILDGRID_VERSION} from PyPI into {venv}")
        run([python311(), "-m", "venv", str(tmp)], what="python3.11 -m venv")
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        run([*pip, "install", "-q", f"buildgrid=={BUILDGRID_VERSION}"], timeout=900,
            what="pip install buildgrid")  # fmt: skip
        # A venv's scripts name their interpreter by path: point them at the
        # final path before the rename.
        fix_shebangs(tmp, venv)
        (tmp / ".complete").touch()
        shutil.rmtree(venv, ignore_errors=True)
        tmp.rename(venv)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return venv


def fix_shebangs(tmp: Path, final: Path) -> None:
    """Make the scripts of the venv being built in ``tmp`` name ``final``'s python."""
    for script in (tmp / "bin").iterdir():
        if script.is_symlink() or not script.is_file():
            continue
        data = script.read_bytes()
        if data.startswith(b"#!") and str(tmp).encode() in data[:512]:
            script.write_bytes(data.replace(str(tmp).encode(), str(final).encode(), 1))


def port_answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


class BuildGrid(Service):
    """A BuildGrid remote cache on 127.0.0.1; a context manager that always stops it."""

    def __init__(self, cas_size: str = "4G", max_refs: int = 100_000, cache: Path = CACHE) -> None:
        self.cas_size = cas_size
        self.max_refs = max_refs
        self.cache = cache
        self.port = 0
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """What Bazel's --remote_cache (or --remote_executor) takes."""
        return f"grpc://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        assert self.workdir is not None
        return self.workdir / "server.log"

    def start(self, timeout: float = 60) -> None:
        venv = ensure_venv(self.cache)
        bgd = str(venv / "bin" / "bgd")
        self.workdir = Path(tempfile.mkdtemp(prefix="pyimage-buildgrid-"))
        self.port = free_port()
        config = self.workdir / "config.yml"
        config.write_text(
            CONFIG.format(port=self.port, cas_size=self.cas_size, max_refs=self.max_refs)
        )
        run([bgd, "server", "lint", str(config)], what="bgd server lint")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [bgd, "server", "start", "--pid-file", str(self.workdir / "pid"), str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                cwd=self.workdir,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not port_answers(self.port):
            if self.proc.poll() is not None:
                raise HarnessError(f"bgd server exited {self.proc.returncode}: {self.log_tail()}")
            if time.monotonic() > deadline:
                raise HarnessError(f"bgd server did not answer on {self.port} in {timeout:.0f}s")
            time.sleep(0.2)
        progress(f"BuildGrid {BUILDGRID_VERSION} serving {self.url} (log {self.log})")

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def stop(self) -> None:
        """Stop the server (its whole process group); idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            for sig, wait in ((signal.SIGINT, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            # Whatever the server left in its group (it was started in its own session).
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        if self.workdir is not None and not os.environ.get("PYIMAGE_KEEP_BUILDGRID_LOG"):
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="buildgrid.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run a cache-only server until Ctrl-C / SIGTERM")
    serve.add_argument("--cas-size", default="4G", help="LRU CAS size (default 4G)")
    sub.add_parser("venv", help="make (or reuse) the BuildGrid venv; print its path")
    args = parser.parse_args(argv)
    if args.cmd == "venv":
        print(ensure_venv())
        return 0
    # SIGTERM ends the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with BuildGrid(cas_size=args.cas_size) as bg:
        print(bg.url, flush=True)
        assert bg.proc is not None
        bg.proc.wait()
        raise HarnessError(f"bgd server exited {bg.proc.returncode}: {bg.log_tail()}")
    return 0


if __name__ == "__main__":
    main_wrapper("buildgrid.py", main)()
