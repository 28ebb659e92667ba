"""Two images sharing a package, pushed to a local registry: the shared blob goes up once.

Needs: docker-registry and skopeo (Debian packages docker-registry, skopeo);
skips with the reason when one is missing.
"""

from __future__ import annotations

import contextlib
import re
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from enginekit import build_package, need_tool, run

from pyimage.engine.oci_layout import LayerInput, write_layout


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.contextmanager
def local_registry(workdir: Path) -> Iterator[tuple[str, Path]]:
    """Run docker-registry on 127.0.0.1 with a filesystem store; yield (address, log)."""
    registry = need_tool("docker-registry")
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: info\n  accesslog:\n    disabled: false\n"
        f"storage:\n  filesystem:\n    rootdirectory: {workdir / 'store'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
    )
    log = workdir / "registry.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([registry, "serve", str(config)], stdout=out, stderr=out)
    try:
        address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(f"http://{address}/v2/", timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise AssertionError(
                        "registry did not start:\n" + log.read_text(errors="replace")
                    ) from None
                time.sleep(0.1)
        yield address, log
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def blob_puts(log: Path, digest: str) -> int:
    """Upload-completing PUT requests for ``digest`` in the registry's access log."""
    hexpart = digest.split(":", 1)[1]
    pattern = re.compile(
        r'^\S+ - - \[.*"PUT /v2/\S+/blobs/uploads/\S*digest=sha256(:|%3A)' + hexpart
    )
    return sum(1 for line in log.read_text(errors="replace").splitlines() if pattern.search(line))


def test_shared_package_blob_is_uploaded_once(tmp_path: Path) -> None:
    skopeo = need_tool("skopeo")
    w = tmp_path / "pkgs"
    w.mkdir()
    shared = build_package(
        w, "numpy==2.1.3", {"site-packages/numpy/__init__.py": b"N = 1\n" * 5000}
    )
    app1 = build_package(w, "flask==3.0", {"site-packages/flask.py": b"F\n"})
    app2 = build_package(w, "django==5.0", {"site-packages/django.py": b"D\n"})
    one = tmp_path / "one"
    two = tmp_path / "two"
    write_layout(one, [LayerInput((shared,)), LayerInput((app1,))], tag="v1")
    write_layout(two, [LayerInput((shared,)), LayerInput((app2,))], tag="v1")
    digest = shared.descriptor.digest
    with local_registry(tmp_path) as (address, log):
        for layout, repo in ((one, "fleet/api"), (two, "fleet/worker")):
            r = run(
                skopeo,
                "copy",
                "--dest-tls-verify=false",
                f"oci:{layout}:v1",
                f"docker://{address}/{repo}:{layout.name}",
                timeout=120,
            )
            assert "Copying blob" in r.stderr + r.stdout
        assert blob_puts(log, digest) == 1, log.read_text(errors="replace")
        assert blob_puts(log, app1.descriptor.digest) == 1
        assert blob_puts(log, app2.descriptor.digest) == 1
        # The second push found the blob present: skopeo asked for it (HEAD 200)
        # and mounted it from the first repository (POST ...mount=..., 201).
        hexpart = digest.split(":", 1)[1]
        found = re.compile(
            rf'"HEAD /v2/fleet/api/blobs/sha256:{hexpart} HTTP/1.1" 200'
            rf'|"POST /v2/fleet/worker/blobs/uploads/\?from=fleet%2Fapi&mount=sha256%3A{hexpart}'
        )
        assert len([x for x in log.read_text().splitlines() if found.search(x)]) >= 1
