"""An image made from our layout runs in podman (runc), with no network.

Needs: podman, runc (Debian packages podman, runc) and busybox-static for a
static shell in the image; skips with the reason when one is missing.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from enginekit import build_package, need_root, need_tool, run
from podman_run import private_podman

from pyimage.engine.compression import MEDIA_TYPES, Compression
from pyimage.engine.oci_layout import LayerInput, write_layout

BUSYBOX = Path("/bin/busybox")


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_podman_runs_the_image(compression: str, tmp_path: Path) -> None:
    # zstd: podman reads the merged layer's concatenated frames as one stream.
    # A dynamically linked busybox names its loader (ld-linux...); the static one does not.
    if not BUSYBOX.exists() or b"/ld-linux" in BUSYBOX.read_bytes():
        pytest.skip("busybox-static is not installed (apt-get install busybox-static)")
    need_root()
    need_tool("podman")
    need_tool("runc")
    comp = Compression.of(compression, zstd=need_tool("zstd") if compression == "zstd" else None)
    with private_podman() as podman:
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
            comp,
        )
        ns = b"__path__ = __import__('pkgutil').extend_path(__path__, __name__)\n"
        a = build_package(
            w,
            "google-api==1",
            {"site-packages/google/__init__.py": ns, "site-packages/google/api.py": b"API\n"},
            comp,
        )
        b = build_package(
            w,
            "google-auth==2",
            {"site-packages/google/__init__.py": ns, "site-packages/google/auth.py": b"AUTH\n"},
            comp,
        )
        c = build_package(w, "six==1.16.0", {"site-packages/six.py": b"PY3 = True\n"}, comp)
        layout = tmp_path / "layout"
        write_layout(
            layout,
            [LayerInput((shell,)), LayerInput((a, b)), LayerInput((c,))],
            tag="v1",
            settings=comp,
        )
        assert all(m.descriptor.media_type == MEDIA_TYPES[compression] for m in (a, b, c))
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
