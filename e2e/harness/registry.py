#!/usr/bin/env python3
"""A throwaway local docker-registry: push OCI layouts, count what was uploaded.

    registry.py --push LAYOUT TAG NAME [--push LAYOUT TAG NAME ...] [--keep DIR]

Starts ``docker-registry`` (Debian's distribution 2.x) on 127.0.0.1 on a free
port with a filesystem store in a temporary directory and its log in a file,
pushes each layout with ``skopeo copy --dest-tls-verify=false
oci:LAYOUT:TAG docker://127.0.0.1:PORT/NAME:TAG`` in the order given, stops the
registry (always) and prints a JSON report read from the registry's access
log: per blob digest, how many uploads completed (``PUT .../blobs/uploads/...
?digest=D`` answered 201), how often it was mounted from another repository
or found present instead, and its size (from the registry's store); plus the
total bytes uploaded (uploads x size). ``--keep DIR`` keeps the store and log.

As a module: ``with Registry() as reg: reg.push(layout, tag, name); report = reg.report()``.
Needs docker-registry and skopeo.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import (
    HarnessError,
    Service,
    free_port,
    last_line,
    layout_tags,
    main_wrapper,
    need_tool,
    progress,
    run,
)

# Combined access-log line: ADDR - - [TIME] "METHOD URI HTTP/x" STATUS SIZE "REF" "AGENT"
ACCESS = re.compile(
    r'^\S+ \S+ \S+ \[[^\]]*\] "(?P<method>[A-Z]+) (?P<uri>\S+) [^"]*" (?P<status>\d{3}) '
)
BLOB_UPLOAD = re.compile(r"^/v2/(?P<name>.+)/blobs/uploads/(?P<id>[^/?]*)$")
BLOB = re.compile(r"^/v2/(?P<name>.+)/blobs/(?P<digest>sha256:[0-9a-f]{64})$")
MANIFEST = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<ref>[^/]+)$")


@dataclass
class BlobStats:
    """What the registry saw of one blob."""

    uploads: int = 0
    mounts: int = 0
    found: int = 0
    size: int | None = None

    def to_json(self) -> dict[str, object]:
        """The report entry of this blob."""
        return {
            "uploads": self.uploads,
            "mounts": self.mounts,
            "found": self.found,
            "size": self.size,
        }


@dataclass
class UploadReport:
    """Blob uploads and manifest pushes read from a registry's access log."""

    blobs: dict[str, BlobStats] = field(default_factory=dict)
    manifests_pushed: int = 0

    @property
    def total_upload_bytes(self) -> int:
        """Bytes of blobs uploaded: each completed upload counts its blob's size."""
        return sum(b.uploads * (b.size or 0) for b in self.blobs.values())

    def uploads(self, digest: str) -> int:
        """Completed uploads of ``digest``."""
        return self.blobs[digest].uploads if digest in self.blobs else 0

    def to_json(self) -> dict[str, object]:
        """The whole report as JSON-ready data."""
        return {
            "blobs": {d: s.to_json() for d, s in sorted(self.blobs.items())},
            "blobs_uploaded": sum(1 for s in self.blobs.values() if s.uploads),
            "uploads": sum(s.uploads for s in self.blobs.values()),
            "total_upload_bytes": self.total_upload_bytes,
            "manifests_pushed": self.manifests_pushed,
        }


def parse_log(text: str) -> UploadReport:
    """Count blob uploads, mounts, existence checks and manifest pushes in an access log."""
    report = UploadReport()

    def stats(digest: str) -> BlobStats:
        return report.blobs.setdefault(digest, BlobStats())

    for line in text.splitlines():
        m = ACCESS.match(line)
        if m is None:
            continue
        method, status = m["method"], int(m["status"])
        parts = urllib.parse.urlsplit(m["uri"])
        query = urllib.parse.parse_qs(parts.query)
        if (u := BLOB_UPLOAD.match(parts.path)) is not None:
            if method == "PUT" and status == 201 and "digest" in query:
                stats(query["digest"][0]).uploads += 1
            elif method == "POST" and status == 201 and "mount" in query and u["id"] == "":
                stats(query["mount"][0]).mounts += 1
        elif (b := BLOB.match(parts.path)) is not None:
            if method == "HEAD" and status == 200:
                stats(b["digest"]).found += 1
        elif MANIFEST.match(parts.path) is not None and method == "PUT" and status == 201:
            report.manifests_pushed += 1
    return report


def _need_tag(layout: Path, tag: str) -> None:
    """A clear error for a missing layout, or a layout without ``tag`` (an image or an index)."""
    if tag not in layout_tags(layout):
        have = ", ".join(layout_tags(layout)) or "none"
        raise HarnessError(f"layout {layout} has no image tagged {tag!r} (has: {have})")


class Registry(Service):
    """A docker-registry on 127.0.0.1 for the life of a ``with`` block."""

    def __init__(self, workdir: Path | None = None, start_timeout: float = 30) -> None:
        """Use ``workdir`` for the store, config and log (kept), else a temporary one (removed)."""
        self._binary = need_tool("docker-registry")
        self._skopeo = need_tool("skopeo")
        self._own_dir = workdir is None
        self.workdir = workdir or Path(tempfile.mkdtemp(prefix="registry-"))
        self.log = self.workdir / "registry.log"
        self.store = self.workdir / "store"
        self.address = ""
        self._proc: subprocess.Popen[bytes] | None = None
        self._start_timeout = start_timeout

    def start(self) -> None:
        """Start the registry and wait until ``/v2/`` answers."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        port = free_port()
        config = self.workdir / "config.yml"
        config.write_text(
            "version: 0.1\n"
            "log:\n  level: info\n  accesslog:\n    disabled: false\n"
            f"storage:\n  filesystem:\n    rootdirectory: {self.store}\n"
            "  delete:\n    enabled: true\n"
            f"http:\n  addr: 127.0.0.1:{port}\n"
        )
        with self.log.open("wb") as out:
            self._proc = subprocess.Popen(
                [self._binary, "serve", str(config)], stdout=out, stderr=out
            )
        self.address = f"127.0.0.1:{port}"
        deadline = time.monotonic() + self._start_timeout
        while True:
            try:
                with urllib.request.urlopen(f"http://{self.address}/v2/", timeout=1):
                    return
            except OSError:
                if self._proc.poll() is not None:
                    raise HarnessError(
                        f"docker-registry exited {self._proc.returncode}: "
                        f"{last_line(self.log.read_text(errors='replace'))}"
                    ) from None
                if time.monotonic() > deadline:
                    raise HarnessError(
                        f"docker-registry did not answer on {self.address} "
                        f"within {self._start_timeout:.0f}s"
                    ) from None
                time.sleep(0.1)

    @property
    def process(self) -> subprocess.Popen[bytes] | None:
        """The running docker-registry process (None once stopped)."""
        return self._proc

    def stop(self) -> None:
        """Stop the registry process; remove the directory if it is a temporary one."""
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.terminate()
                try:
                    self._proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
            self._proc = None
        if self._own_dir:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def push(self, layout: Path, tag: str, name: str, timeout: float = 600) -> None:
        """``skopeo copy`` the layout's image or image index ``tag`` to ``NAME:TAG`` in this
        registry (an index with every platform's image: ``--all``)."""
        if self._proc is None:
            raise HarnessError("the registry is not running (use it in a with block)")
        _need_tag(layout, tag)
        progress(f"pushing {layout}:{tag} to {self.address}/{name}:{tag}")
        run(
            [
                self._skopeo,
                "copy",
                "--quiet",
                "--all",
                "--dest-tls-verify=false",
                f"oci:{layout.resolve()}:{tag}",
                f"docker://{self.address}/{name}:{tag}",
            ],
            timeout=timeout,
            what="skopeo copy",
        )

    def pull(
        self, name: str, tag: str, out: Path, arch: str | None = None, timeout: float = 600
    ) -> None:
        """``skopeo copy`` ``NAME:TAG`` of this registry into the layout ``out`` (tag ``tag``);
        of an index, the image of architecture ``arch``."""
        if self._proc is None:
            raise HarnessError("the registry is not running (use it in a with block)")
        cmd = [self._skopeo, "copy", "--quiet", "--src-tls-verify=false"]
        if arch:
            cmd += ["--override-arch", arch, "--override-os", "linux"]
        cmd += [f"docker://{self.address}/{name}:{tag}", f"oci:{out}:{tag}"]
        run(cmd, timeout=timeout, what="skopeo copy (pull)")

    def blob_size(self, digest: str) -> int | None:
        """Size of a blob in the registry's filesystem store, or None if absent."""
        hexpart = digest.partition(":")[2]
        data = self.store / "docker/registry/v2/blobs/sha256" / hexpart[:2] / hexpart / "data"
        try:
            return data.stat().st_size
        except OSError:
            return None

    def report(self) -> UploadReport:
        """What the access log says so far, with blob sizes from the store."""
        report = parse_log(self.log.read_text(errors="replace"))
        for digest, s in report.blobs.items():
            s.size = self.blob_size(digest)
        return report


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the report as JSON."""
    p = argparse.ArgumentParser(prog="registry.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--push",
        nargs=3,
        action="append",
        required=True,
        metavar=("LAYOUT", "TAG", "NAME"),
        help="push oci:LAYOUT:TAG as NAME:TAG (repeatable; in order)",
    )
    p.add_argument("--keep", type=Path, default=None, help="keep store, config and log here")
    args = p.parse_args(argv)
    for layout, tag, _ in args.push:
        _need_tag(Path(layout), tag)
    with Registry(args.keep) as reg:
        for layout, tag, name in args.push:
            reg.push(Path(layout), tag, name)
        report = reg.report()
    print(json.dumps(report.to_json(), indent=2))
    return 0


if __name__ == "__main__":
    main_wrapper("registry.py", main)()
