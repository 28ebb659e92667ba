"""An image made from our layout runs in podman (runc), with no network.

Needs: podman, runc (Debian packages podman, runc) and busybox-static for a
static shell in the image; skips with the reason when one is missing.
"""

from __future__ import annotations

import contextlib
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from enginekit import build_package, need_root, need_tool, run

from pyimage.engine.oci_layout import LayerInput, write_layout

BUSYBOX = Path("/bin/busybox")


@contextlib.contextmanager
def private_podman(root: Path) -> Iterator[list[str]]:
    """A podman command line with its own storage under ``root``; cleaned up after."""
    need_root()
    podman = need_tool("podman")
    need_tool("runc")
    # podman wants a runroot path under 50 characters: a short one in /tmp.
    runroot = Path(tempfile.mkdtemp(prefix="pyimg-", dir="/tmp"))
    cmd = [
        podman,
        *("--root", str(root / "root"), "--runroot", str(runroot)),
        *("--runtime", "runc", "--cgroup-manager", "cgroupfs", "--events-backend", "file"),
    ]
    try:
        yield cmd
    finally:
        subprocess.run([*cmd, "rmi", "-a", "-f"], capture_output=True, check=False, timeout=60)
        # podman bind-mounts its overlay directory; undo it before the temp dir goes.
        mounts = Path("/proc/mounts").read_text().split("\n")
        for line in mounts:
            fields = line.split()
            if len(fields) > 1 and fields[1].startswith((str(root), str(runroot))):
                subprocess.run(["umount", "-l", fields[1]], check=False)
        shutil.rmtree(runroot, ignore_errors=True)


def test_podman_runs_the_image(tmp_path: Path) -> None:
    # A dynamically linked busybox names its loader (ld-linux...); the static one does not.
    if not BUSYBOX.exists() or b"/ld-linux" in BUSYBOX.read_bytes():
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    with private_podman(tmp_path / "podman") as podman:
        w = tmp_path / "pkgs"
        w.mkdir()
        shell = build_package(
            w,
            "busybox==1.35",
            {
                "bin/busybox": ("exec", BUSYBOX.read_bytes()),
                "bin/sh": ("link", "busybox"),
                "bin/cat": ("link", "busybox"),
            },
        )
        ns = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
        a = build_package(
            w,
            "google-api==1",
            {"site-packages/google/__init__.py": ns, "site-packages/google/api.py": b"API\n"},
        )
        b = build_package(
            w,
            "google-auth==2",
            {"site-packages/google/__init__.py": ns, "site-packages/google/auth.py": b"AUTH\n"},
        )
        c = build_package(w, "six==1.16.0", {"site-packages/six.py": b"PY3 = True\n"})
        layout = tmp_path / "layout"
        write_layout(
            layout,
            [LayerInput((shell,)), LayerInput((a, b)), LayerInput((c,))],
            tag="v1",
        )
        pulled = run(*podman, "pull", "-q", f"oci:{layout}:v1", timeout=120)
        image = pulled.stdout.strip().splitlines()[-1]
        out = run(
            *podman,
            *("run", "--rm", "--pull=never", "--network=none"),
            *("--ulimit", "nofile=4096:4096", "--ulimit", "nproc=4096:4096"),
            image,
            *("/bin/cat", "/site-packages/google/api.py", "/site-packages/google/auth.py"),
            "/site-packages/six.py",
            timeout=120,
        )
        assert out.stdout == "API\nAUTH\nPY3 = True\n"
