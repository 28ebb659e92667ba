"""A BuildGrid server on 127.0.0.1 for Bazel's remote cache and remote execution tests.

Standard library only. BuildGrid comes from PyPI (pinned below, with the
PostgreSQL driver its scheduler needs) into a venv in
``$PYIMAGE_CACHE/buildgrid-venv-<hash>`` (made once, under a temporary name
renamed when complete). The server's config: an LRU CAS in memory, an LRU
action cache that accepts updates, one instance named ``""`` serving the
action cache, CAS and ByteStream. It is linted (``bgd server lint``) before
``bgd server start``; the server listens on a free port of 127.0.0.1 and is
always stopped, on failure and on Ctrl-C too.

With ``execution=True`` the instance also serves Execution (and the Bots
API): its scheduler keeps its jobs in a private PostgreSQL cluster (the
host's PostgreSQL, ``initdb`` in a temporary folder, on a free loopback
port, migrated with ``bgd migrate apply``), and one ``buildbox-worker``
(Debian's buildbox, in the offline Bazel chroot through ``tools/offline/bazel
--exec``, so that actions see the paths Bazel sees) runs the actions with
``buildbox-run-hosttools``. Everything is stopped in reverse order.

As a module::

    with BuildGrid() as bg:
        bazel build --remote_cache={bg.url} ...
    with BuildGrid(execution=True) as bg:
        bazel build --remote_executor={bg.url} {" ".join(EXEC_FLAGS)} ...

As a CLI (prints the URL, serves until Ctrl-C or SIGTERM)::

    python3 e2e/harness/buildgrid.py serve [--cas-size 4G] [--execution]
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

from harnesslib import (
    HarnessError,
    Service,
    ToolMissingError,
    free_port,
    main_wrapper,
    need_tool,
    progress,
    run,
)

#: The BuildGrid release the harness installs (measured with it), and the
#: PostgreSQL driver its SQL scheduler uses.
BUILDGRID_VERSION = "0.4.4"
REQUIREMENTS = (f"buildgrid=={BUILDGRID_VERSION}", "psycopg2-binary==2.9.13")
CACHE = Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage"))
REPO = Path(__file__).resolve().parents[2]
RUNNER = REPO / "tools" / "offline" / "bazel"
#: The worker's platform; Bazel's actions must ask for it (EXEC_FLAGS).
PLATFORM = {"OSFamily": "linux", "ISA": "x86-64"}
#: Bazel flags for remote execution on this worker, beside --remote_executor.
EXEC_FLAGS = tuple(f"--remote_default_exec_properties={k}={v}" for k, v in PLATFORM.items())

CONFIG = """\
description: rules_pyimage test server (e2e/harness/buildgrid.py)
# gRPC refuses calls beyond its thread count ("Concurrent RPC limit
# exceeded"): Bazel uploads and downloads with up to ~100 calls at once, and
# every remote action holds an Execute stream while it runs.
thread-pool-size: {threads}
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
{scheduler}instances:
  - name: ""
    services:
      - !action-cache
        cache: *ac
{execution}      - !cas
        storage: *cas
      - !bytestream
        storage: *cas
"""

SCHEDULER = """\
connections:
  - !sql-connection &sql
    connection-string: {database}
    pool-size: 5
    pool-timeout: 30
    max-overflow: 10
schedulers:
  - !sql-scheduler &scheduler
    sql: *sql
    action-cache: *ac
    storage: *cas
    property-set: !dynamic-property-set
      match-property-keys: [{keys}]
      wildcard-property-keys: []
"""

EXECUTION = """\
      - !execution
        scheduler: *scheduler
"""


def config(port: int, cas_size: str, max_refs: int, database: str | None = None) -> str:
    """The server's YAML config: cache only, or with execution when ``database`` is given."""
    scheduler = execution = ""
    if database:
        scheduler = SCHEDULER.format(database=database, keys=", ".join(sorted(PLATFORM)))
        execution = EXECUTION
    return CONFIG.format(
        threads=512, port=port, cas_size=cas_size, max_refs=max_refs,
        scheduler=scheduler, execution=execution,
    )  # fmt: skip


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
    key = "\n".join([*REQUIREMENTS, "python3.11", ""]).encode()
    return cache / f"buildgrid-venv-{hashlib.sha256(key).hexdigest()[:12]}"


def ensure_venv(cache: Path = CACHE) -> Path:
    """Make (or reuse) the venv with the pinned BuildGrid; its path."""
    venv = venv_dir(cache)
    if (venv / ".complete").is_file() and (venv / "bin" / "bgd").is_file():
        return venv
    cache.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{venv.name}.", dir=cache))
    try:
        progress(f"installing {' '.join(REQUIREMENTS)} from PyPI into {venv}")
        run([python311(), "-m", "venv", str(tmp)], what="python3.11 -m venv")
        pip = [str(tmp / "bin" / "python"), "-m", "pip", "--disable-pip-version-check"]
        run([*pip, "install", "-q", *REQUIREMENTS], timeout=900,
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


def stop_group(proc: subprocess.Popen[bytes] | None, first: signal.Signals) -> None:
    """End a process started in its own session, and everything left in its group."""
    if proc is not None and proc.poll() is None:
        for sig, wait in ((first, 10.0), (signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
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
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def postgres_bin() -> Path:
    """The newest PostgreSQL server binaries of the host (Debian's layout)."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise ToolMissingError(
            "PostgreSQL is missing (no /usr/lib/postgresql/*/bin/pg_ctl); "
            "install it: apt-get install postgresql"
        )
    return found[-1].parent


class Postgres(Service):
    """A private PostgreSQL cluster on 127.0.0.1 (trust auth, no fsync), removed after."""

    def __init__(self, user: str = "bgd", database: str = "bgd") -> None:
        self.user = user
        self.database = database
        self.port = 0
        self.workdir: Path | None = None

    @property
    def url(self) -> str:
        """The SQLAlchemy URL BuildGrid takes."""
        return f"postgresql+psycopg2://{self.user}@127.0.0.1:{self.port}/{self.database}"

    def _as_postgres(self, *cmd: str, what: str) -> None:
        # PostgreSQL refuses to run as root: its files belong to the postgres user.
        run(["runuser", "-u", "postgres", "--", *cmd], what=what, timeout=120)

    def start(self) -> None:
        pg = postgres_bin()
        need_tool("runuser")
        self.workdir = Path(tempfile.mkdtemp(prefix="pyimage-postgres-"))
        shutil.chown(self.workdir, "postgres", "postgres")
        data = self.workdir / "data"
        self._as_postgres(str(pg / "initdb"), "-D", str(data), "-U", self.user,
                          "--auth=trust", "-E", "UTF8", what="initdb")  # fmt: skip
        self.port = free_port()
        options = f"-k {self.workdir} -p {self.port} -h 127.0.0.1 -c fsync=off "
        options += "-c synchronous_commit=off -c full_page_writes=off"
        self._as_postgres(str(pg / "pg_ctl"), "-D", str(data), "-l", str(self.workdir / "log"),
                          "-w", "-o", options, "start", what="pg_ctl start")  # fmt: skip
        self._as_postgres(str(pg / "createdb"), "-h", "127.0.0.1", "-p", str(self.port),
                          "-U", self.user, self.database, what="createdb")  # fmt: skip
        progress(f"PostgreSQL ({pg.parent.name}) on 127.0.0.1:{self.port}")

    def stop(self) -> None:
        """Stop the cluster at once and remove it; idempotent."""
        workdir, self.workdir = self.workdir, None
        if workdir is None:
            return
        if (workdir / "data" / "postmaster.pid").exists():
            subprocess.run(
                ["runuser", "-u", "postgres", "--", str(postgres_bin() / "pg_ctl"),
                 "-D", str(workdir / "data"), "-m", "immediate", "-w", "stop"],
                capture_output=True, check=False, timeout=60,
            )  # fmt: skip
        shutil.rmtree(workdir, ignore_errors=True)


class Worker(Service):
    """One buildbox-worker in the offline Bazel chroot, running actions for ``url``."""

    def __init__(self, url: str, log: Path, jobs: int = 2, name: str = "pyimage-worker") -> None:
        self.url = url.replace("grpc://", "http://", 1)
        self.log = log
        self.jobs = jobs
        self.name = name
        self.proc: subprocess.Popen[bytes] | None = None

    def command(self) -> list[str]:
        cmd = [str(RUNNER), "--exec", "buildbox-worker", f"--remote={self.url}"]
        cmd += ["--buildbox-run=/usr/bin/buildbox-run-hosttools", "--runner-arg=--disable-localcas"]
        cmd += [f"--platform={k}={v}" for k, v in PLATFORM.items()]
        # Ride out a busy server rather than die (a dead worker hangs the build).
        cmd += ["--retry-limit=10", "--retry-delay=500", "--retry-on-code=RESOURCE_EXHAUSTED"]
        return [*cmd, f"--concurrent-jobs={self.jobs}", "--log-level=info", self.name]

    def start(self, timeout: float = 600) -> None:
        # The first run may build the chroot (about 2 minutes): hence the timeout.
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                self.command(), stdout=log, stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL, start_new_session=True,
            )  # fmt: skip
        deadline = time.monotonic() + timeout
        while b"Starting buildbox-worker" not in self.log.read_bytes():
            if self.proc.poll() is not None:
                raise HarnessError(
                    f"buildbox-worker exited {self.proc.returncode}: {tail(self.log)}"
                )
            if time.monotonic() > deadline:
                raise HarnessError(f"buildbox-worker did not start in {timeout:.0f}s")
            time.sleep(0.5)
        progress(f"buildbox-worker {self.name} ({self.jobs} jobs) serving {self.url}")

    def stop(self) -> None:
        proc, self.proc = self.proc, None
        stop_group(proc, signal.SIGTERM)


def tail(log: Path, lines: int = 20) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class BuildGrid(Service):
    """A BuildGrid on 127.0.0.1 (cache, or cache and execution); always stopped."""

    def __init__(
        self,
        cas_size: str = "4G",
        max_refs: int = 100_000,
        cache: Path = CACHE,
        execution: bool = False,
    ) -> None:
        self.cas_size = cas_size
        self.max_refs = max_refs
        self.cache = cache
        self.execution = execution
        self.port = 0
        self.workdir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self.postgres: Postgres | None = None
        self.worker: Worker | None = None

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
        database = None
        if self.execution:
            self.postgres = Postgres()
            self.postgres.start()
            database = self.postgres.url
            run([bgd, "migrate", "apply", database], what="bgd migrate apply")
        self.port = free_port()
        cfg = self.workdir / "config.yml"
        cfg.write_text(config(self.port, self.cas_size, self.max_refs, database))
        run([bgd, "server", "lint", str(cfg)], what="bgd server lint")
        with self.log.open("wb") as log:
            self.proc = subprocess.Popen(
                [bgd, "server", "start", "--pid-file", str(self.workdir / "pid"), str(cfg)],
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
        if self.execution:
            self.worker = Worker(self.url, self.workdir / "worker.log")
            self.worker.start()

    def log_tail(self, lines: int = 20) -> str:
        return tail(self.log, lines)

    def stop(self) -> None:
        """Stop the worker, the server (its whole process group), the database; idempotent."""
        worker, self.worker = self.worker, None
        if worker is not None:
            worker.stop()
        proc, self.proc = self.proc, None
        stop_group(proc, signal.SIGINT)
        database, self.postgres = self.postgres, None
        if database is not None:
            database.stop()
        if self.workdir is not None and not os.environ.get("PYIMAGE_KEEP_BUILDGRID_LOG"):
            shutil.rmtree(self.workdir, ignore_errors=True)
            self.workdir = None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="buildgrid.py", description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run a server until Ctrl-C / SIGTERM")
    serve.add_argument("--cas-size", default="4G", help="LRU CAS size (default 4G)")
    serve.add_argument(
        "--execution", action="store_true", help="also execute (PostgreSQL + a buildbox worker)"
    )
    sub.add_parser("venv", help="make (or reuse) the BuildGrid venv; print its path")
    args = parser.parse_args(argv)
    if args.cmd == "venv":
        print(ensure_venv())
        return 0
    # SIGTERM ends the server like Ctrl-C does.
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    with BuildGrid(cas_size=args.cas_size, execution=args.execution) as bg:
        print(bg.url, flush=True)
        if args.execution:
            print("bazel flags: --remote_executor=" + bg.url, *EXEC_FLAGS, flush=True)
        assert bg.proc is not None
        bg.proc.wait()
        raise HarnessError(f"bgd server exited {bg.proc.returncode}: {bg.log_tail()}")
    return 0


if __name__ == "__main__":
    main_wrapper("buildgrid.py", main)()
