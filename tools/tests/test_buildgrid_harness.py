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

import pytest

HARNESS = Path(__file__).resolve().parents[2] / "e2e" / "harness"
if str(HARNESS) not in sys.path:
    sys.path.insert(0, str(HARNESS))

import buildgrid  # noqa: E402
from harnesslib import HarnessError  # noqa: E402


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
    cfg.write_text(buildgrid.CONFIG.format(port=1, cas_size="1G", max_refs=10))
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
