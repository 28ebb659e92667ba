"""e2e/harness/buildgrid.py for real: a BuildGrid from PyPI on 127.0.0.1, always stopped.

The venv is made once per machine (about 25 s, from PyPI) and reused; a
server starts in about 3 s. Skips when PyPI's buildgrid cannot be installed
(no python3.11, no network).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import buildgrid
import pytest
from harnesslib import HarnessError

HARNESS = Path(__file__).resolve().parents[1]  # e2e/harness


@pytest.fixture(scope="module")
def venv() -> Path:
    try:
        return buildgrid.ensure_venv()
    except HarnessError as e:
        pytest.skip(f"BuildGrid cannot be installed here: {e}")


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_config_is_cache_only_and_passes_bgd_lint(venv: Path, tmp_path: Path) -> None:
    cfg = tmp_path / "config.yml"
    cfg.write_text(buildgrid.config(port=1, cas_size="1G", max_refs=10))
    text = cfg.read_text()
    assert 'address: "127.0.0.1:1"' in text and "allow-updates: true" in text
    assert "!execution" not in text and 'name: ""' in text
    subprocess.run([str(venv / "bin" / "bgd"), "server", "lint", str(cfg)], check=True)


def test_server_answers_on_loopback_and_is_stopped_on_exit(venv: Path) -> None:
    with buildgrid.BuildGrid(cas_size="64M") as bg:
        assert bg.url.startswith("grpc://127.0.0.1:")
        assert buildgrid.port_answers(bg.port)
        assert bg.proc is not None
        pid = bg.proc.pid
    assert not alive(pid)
    assert not buildgrid.port_answers(bg.port)


def test_server_is_stopped_when_the_body_fails(venv: Path) -> None:
    pid = port = 0
    with pytest.raises(KeyboardInterrupt), buildgrid.BuildGrid(cas_size="64M") as bg:
        assert bg.proc is not None
        pid, port = bg.proc.pid, bg.port
        raise KeyboardInterrupt
    assert pid and not alive(pid)
    assert not buildgrid.port_answers(port)


def test_cli_serves_until_sigterm(venv: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, str(HARNESS / "buildgrid.py"), "serve", "--cas-size", "64M"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().strip()
        assert url.startswith("grpc://127.0.0.1:"), url
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=5):
            pass
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) != 0
        assert not buildgrid.port_answers(port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_execution_config_schedules_through_postgresql_and_passes_bgd_lint(
    venv: Path, tmp_path: Path
) -> None:
    cfg = tmp_path / "config.yml"
    url = "postgresql+psycopg2://bgd@127.0.0.1:5/bgd"
    cfg.write_text(buildgrid.config(port=1, cas_size="1G", max_refs=10, database=url))
    text = cfg.read_text()
    assert "!execution" in text and "!sql-scheduler" in text and url in text
    subprocess.run([str(venv / "bin" / "bgd"), "server", "lint", str(cfg)], check=True)


def test_execution_runs_actions_on_the_chroot_worker_and_stops_everything(
    venv: Path, tmp_path: Path
) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (the worker runs in the offline Bazel chroot; PostgreSQL)")
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "x.txt").write_text("hello\n")
    out = tmp_path / "out"
    with buildgrid.BuildGrid(cas_size="64M", execution=True) as bg:
        assert bg.postgres is not None and bg.worker is not None and bg.worker.proc is not None
        pids = [bg.worker.proc.pid, bg.proc.pid if bg.proc else 0]
        db_port, workdir = bg.postgres.port, bg.workdir
        assert buildgrid.port_answers(db_port)
        bgd = str(venv / "bin" / "bgd")
        remote = bg.url.replace("grpc://", "http://")
        for src, dest in (("x.txt", "copied.txt"), ("/etc/debian_version", "debian.txt")):
            subprocess.run(
                [bgd, "execute", "--remote", remote, "command",
                 *[a for k, v in buildgrid.PLATFORM.items() for a in ("-p", k, v)],
                 "--output-file", dest, "--output-directory", str(out),
                 str(inputs), "/bin/cp", src, dest],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
    assert (out / "copied.txt").read_text() == "hello\n"
    # The action ran in the sid chroot (the runner's), not on this host.
    assert "sid" in (out / "debian.txt").read_text()
    assert not any(alive(pid) for pid in pids)
    assert not buildgrid.port_answers(db_port)
    assert workdir is not None and not workdir.exists()
