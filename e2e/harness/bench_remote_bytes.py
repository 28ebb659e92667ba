#!/usr/bin/env python3
"""Bytes a machine fetches from a remote cache after a one-package bump.

Usage (root; the offline runner's chroot, a warm one takes a few seconds)::

    python3 e2e/harness/bench_remote_bytes.py [--bump six==1.17.0:six==1.16.0]

The original complaint: every app's site-packages layer is a different
multi-gigabyte blob, so after any bump every machine fetches all of it again.
This benchmark measures that on the e2e fleet (api, web, worker), for our
images and, in the same run, for the same apps built by the same rules with
one site-packages layer per app (``py_image(max_layers = base + 2)``, no
fleet: the baseline).

1. A cache-only BuildGrid (harness ``buildgrid.py``) on 127.0.0.1.
2. "CI" (its own output base) builds every image at the current lock, then
   bumps the package, runs ``//:fleet.update`` (as a user would before
   committing the bump) and builds every image again: the cache now holds
   both versions.
3. "A developer" (a fresh output base with ``--disk_cache``, Bazel's local
   content-addressed store) builds every image at the old lock: everything
   comes from the cache. Then the bump lands and it builds again, with
   Bazel's own gRPC log (``--remote_grpc_log``): first one image (what
   ``bazel run //apps/api:image.load`` would need: its layout), then all of
   them. Bytes are Bazel's own: every ByteStream.Read of its gRPC log, split
   into files of the targets' outputs and the rest (the Tree protos that
   list a layout folder's files), and the action results it got.

Printed beside them: the bytes of the output files the old build did not
have (the bumped package's layers, the image configs, manifests and plans:
what changed). Ours must fetch no output file beyond those; the baseline's
changed site-packages layer is every package of the app again.

Without a ``--disk_cache`` (``--no-disk-cache``) Bazel fetches every file of
each rebuilt output folder again, having no local store to look in. Ours'
layouts link the blobs other actions wrote (py_image_layers), so what a
rebuilt layout holds of its own is metadata; the baseline's folder holds its
site-packages layer and the base. A benchmark script, not a test: it prints
numbers, and exits 1 if ours fetched a layer that did not change (with the
disk cache: any output file that did not change).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HARNESS = Path(__file__).resolve().parent
E2E = HARNESS.parent
REPO = E2E.parent
BAZEL = REPO / "tools" / "offline" / "bazel"
CACHE = Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage"))
APPS = ("api", "web", "worker")
LOAD_ONE = "api"

sys.path.insert(0, str(HARNESS))
from buildgrid import BuildGrid  # noqa: E402
from harnesslib import (  # noqa: E402
    HarnessError,
    copy_e2e_workspace,
    main_wrapper,
    progress,
    read_image,
)


def bazel(ws: Path, *args: str) -> str:
    """Run the offline Bazel in ``ws``; its stderr; a failure is a HarnessError."""
    progress("bazel " + " ".join(args))
    r = subprocess.run([str(BAZEL), *args], cwd=ws, capture_output=True, text=True, check=False)
    if r.returncode != 0:
        raise HarnessError(f"bazel {' '.join(args)} exited {r.returncode}: {r.stderr[-3000:]}")
    return r.stderr


# -- Bazel's gRPC log: length-delimited remote_logging.LogEntry messages -----
def _varint(buf: bytes, i: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = buf[i]
        i += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, i
        shift += 7


def _fields(buf: bytes) -> list[tuple[int, int | bytes]]:
    """(field number, value) of a protobuf message: ints for varints, bytes for
    length-delimited fields (fixed-width fields are skipped)."""
    out: list[tuple[int, int | bytes]] = []
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
            out.append((number, value))
        elif wire == 2:
            size, i = _varint(buf, i)
            out.append((number, buf[i : i + size]))
            i += size
        elif wire == 1:
            i += 8
        elif wire == 5:
            i += 4
        else:
            raise HarnessError(f"gRPC log: unexpected wire type {wire}")
    return out


def grpc_log(path: Path) -> tuple[list[tuple[str, int]], int]:
    """What Bazel read from the remote, from its ``--remote_grpc_log`` file:
    (blob hash, bytes) of every ByteStream.Read, and the bytes of the action
    results it got.

    LogEntry: details = 4; RpcCallDetails: read = 5, get_action_result = 8;
    ReadDetails: request = 1 (ReadRequest: resource_name = 1), bytes_read = 3;
    GetActionResultDetails: response = 2 (src/main/protobuf/
    remote_execution_log.proto in Bazel). A resource name ends in
    ``blobs/<hash>/<size>``.
    """
    data = path.read_bytes()
    reads: list[tuple[str, int]] = []
    results = 0
    i = 0
    while i < len(data):
        size, i = _varint(data, i)
        details = dict(_fields(data[i : i + size])).get(4)
        i += size
        if not isinstance(details, bytes):
            continue
        for number, value in _fields(details):
            if number == 5 and isinstance(value, bytes):
                read = dict(_fields(value))
                request = read.get(1, b"")
                name = dict(_fields(request)).get(1, b"") if isinstance(request, bytes) else b""
                parts = name.decode() if isinstance(name, bytes) else ""
                digest = parts.rsplit("/", 2)[-2] if parts.count("/") >= 2 else parts
                reads.append((digest, int(read.get(3, 0))))
            elif number == 8 and isinstance(value, bytes):
                response = dict(_fields(value)).get(2, b"")
                results += len(response) if isinstance(response, bytes) else 0
    return reads, results


# -- the workspace ----------------------------------------------------------
def base_layers(layout: Path) -> int:
    """How many layers the base layout's image has."""
    return len(read_image(layout).layers)


def scratch_workspace(root: Path) -> Path:
    """A copy of the e2e workspace with one baseline image per app."""
    ws = copy_e2e_workspace(root / "e2e")
    bases = CACHE / "e2e-bases"
    subprocess.run([sys.executable, str(HARNESS / "base_image.py"), "make", "--kind", "python",
                    "--cache-dir", str(bases)], check=True, stdout=subprocess.DEVNULL)  # fmt: skip
    cap = base_layers((bases / "python").resolve()) + 2  # base + app + one package layer
    for app in APPS:
        build = ws / "apps" / app / "BUILD.bazel"
        build.write_text(
            build.read_text()
            + f"""
# The baseline of bench_remote_bytes.py: one site-packages layer, no fleet.
py_image(
    name = "naive",
    base = "@base_python//:layout",
    binary = ":{app}",
    max_layers = {cap},
)
"""
        )
    return ws


def expunge(ws: Path, base: Path) -> None:
    """Stop an output base's server and remove it (never fails; nothing there: nothing done)."""
    if base.exists():
        with contextlib.suppress(subprocess.TimeoutExpired):
            subprocess.run([str(BAZEL), f"--output_base={base}", "clean", "--expunge"],
                           cwd=ws, check=False, capture_output=True, timeout=600)  # fmt: skip
        shutil.rmtree(base, ignore_errors=True)


def targets(kind: str, apps: tuple[str, ...] = APPS) -> list[str]:
    return [f"//apps/{app}:{kind}.layers" for app in apps]


def layer_digests(ws: Path, kind: str, apps: tuple[str, ...] = APPS) -> set[str]:
    """The hashes of the layers of the targets' layouts in bazel-bin."""
    out = set()
    for app in apps:
        image = read_image(ws / "bazel-bin" / "apps" / app / f"{kind}.layers.layout")
        out.update(str(layer["digest"]).split(":", 1)[1] for layer in image.layers)
    return out


def output_files(ws: Path, kind: str, apps: tuple[str, ...] = APPS) -> dict[str, int]:
    """sha256 -> size of every file of the targets' outputs in bazel-bin."""
    out: dict[str, int] = {}
    for app in apps:
        for path in (ws / "bazel-bin" / "apps" / app).glob(f"{kind}.layers.*"):
            files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
            for f in files:
                out[hashlib.sha256(f.read_bytes()).hexdigest()] = f.stat().st_size
    return out


@dataclass(frozen=True)
class Corpus:
    """What a run builds: a workspace maker and the apps it measures."""

    make_workspace: Callable[[Path], Path]  # a scratch root -> the workspace, naive images in
    apps: tuple[str, ...]  # every image of ours (``//apps/<app>:image``)
    load_one: str  # the image fetched alone
    naive_apps: tuple[str, ...]  # the apps with a ``:naive`` image (the baseline)
    cas_size: str = "4G"  # BuildGrid's LRU CAS: it must hold every blob of both versions

    def steps(self, kind: str) -> list[tuple[str, tuple[str, ...]]]:
        """(what, apps) fetched of ``kind``: the one image, then all (of those it has)."""
        have = self.apps if kind == "image" else self.naive_apps
        every = [(f"load {self.load_one}", (self.load_one,)), ("all images", self.apps)]
        return [(what, apps) for what, apps in every if set(apps) <= set(have)]


#: The e2e fleet: api, web and worker, each with its naive image.
E2E_FLEET = Corpus(scratch_workspace, APPS, LOAD_ONE, APPS)


def run(args: argparse.Namespace, corpus: Corpus = E2E_FLEET) -> int:
    old, new = args.bump.split(":")
    with (
        tempfile.TemporaryDirectory(prefix="pyimage-bench-") as tmp,
        BuildGrid(cas_size=corpus.cas_size) as server,
    ):
        ws = corpus.make_workspace(Path(tmp))
        lock = ws / "requirements_lock.txt"
        if f"{old}\n" not in lock.read_text():
            raise HarnessError(f"{old} is not pinned in {lock.name} of the workspace; pick another")
        files = ("requirements_lock.txt", "fleet.lock.json")
        remote = [f"--remote_cache={server.url}"]
        everything = targets("image", corpus.apps) + targets("naive", corpus.naive_apps)
        stamp = os.getpid()
        ci_base = CACHE / "output" / f"bench-ci-{stamp}"
        dev_base = CACHE / "output" / f"bench-dev-{stamp}"
        disk = CACHE / "output" / f"bench-disk-{stamp}"
        try:
            # 2. CI fills the cache with both versions (a workspace with no lock yet gets one).
            ci = [f"--output_base={ci_base}"]
            if not (ws / "fleet.lock.json").is_file():
                bazel(ws, *ci, "run", *remote, "//:fleet.update")
            before = {n: (ws / n).read_text() for n in files}
            bazel(ws, *ci, "build", *remote, *everything)
            lock.write_text(before["requirements_lock.txt"].replace(f"{old}\n", f"{new}\n"))
            bazel(ws, *ci, "run", *remote, "//:fleet.update")
            bazel(ws, *ci, "build", *remote, *everything)
            after = {n: (ws / n).read_text() for n in before}
            expunge(ws, ci_base)  # its disk is the developer's now (torch: tens of GB)
            # 3. The developer: old version, then the bump lands.
            dev = [f"--output_base={dev_base}"]
            store = [] if args.no_disk_cache else [f"--disk_cache={disk}"]
            for name, text in before.items():
                (ws / name).write_text(text)
            bazel(ws, *dev, "build", *remote, *store, *everything)
            had = {
                "image": output_files(ws, "image", corpus.apps),
                "naive": output_files(ws, "naive", corpus.naive_apps),
            }
            for name, text in after.items():
                (ws / name).write_text(text)
            rows = []
            for kind, label in (("image", "ours"), ("naive", "one site-packages layer per app")):
                got = {}
                for what, apps in corpus.steps(kind):
                    log = ws / f"grpc-{kind}-{len(got)}.log"
                    bazel(ws, *dev, "build", *remote, *store, f"--remote_grpc_log={log}",
                          *targets(kind, apps))  # fmt: skip
                    reads, results = grpc_log(log)
                    files = output_files(ws, kind, apps)
                    layers = layer_digests(ws, kind, apps)
                    got[what] = {
                        # Files of the outputs (layers, configs, manifests, plans).
                        "fetched_output_bytes": sum(n for d, n in reads if d in files),
                        # The rest: Tree protos of the layout folders, stdout.
                        "fetched_other_bytes": sum(n for d, n in reads if d not in files),
                        "reads": len(reads),
                        "action_result_bytes": results,
                        # Output files the old build had too (its store holds them).
                        "fetched_unchanged_bytes": sum(
                            n for d, n in reads if d in files and d in had[kind]
                        ),
                        # Of those, layers.
                        "fetched_unchanged_layer_bytes": sum(
                            n for d, n in reads if d in layers and d in had[kind]
                        ),
                        "changed_output_bytes": sum(
                            size for d, size in files.items() if d not in had[kind]
                        ),
                    }
                rows.append((label, got))
        finally:
            for base in (ci_base, dev_base):
                expunge(ws, base)
            shutil.rmtree(disk, ignore_errors=True)
    return report(rows, args)


def capture(args: argparse.Namespace, corpus: Corpus = E2E_FLEET) -> dict[str, object]:
    """``run`` with what it prints kept: its exit code, its report and its rows (the JSON)."""
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        code = run(args, corpus)
    text = printed.getvalue()
    start = text.rfind("\n{")
    if start < 0:
        raise HarnessError("bench_remote_bytes.py printed no JSON")
    return {"exit": code, "report": text[:start].strip(), "rows": json.loads(text[start + 1 :])}


def report(rows: list[tuple[str, dict[str, dict[str, int]]]], args: argparse.Namespace) -> int:
    store = "no disk cache" if args.no_disk_cache else "with --disk_cache"
    print(f"\nbytes fetched from the remote cache after bumping {args.bump.replace(':', ' -> ')}"
          f" ({store}):")  # fmt: skip
    print(f"{'images':33} {'step':11} {'output files':>13} {'other':>7} {'reads':>5} "
          f"{'results':>7} {'changed files':>14}")  # fmt: skip
    for label, got in rows:
        for what, n in got.items():
            print(f"{label:33} {what:11} {n['fetched_output_bytes']:>13,} "
                  f"{n['fetched_other_bytes']:>7,} {n['reads']:>5} {n['action_result_bytes']:>7,} "
                  f"{n['changed_output_bytes']:>14,}")  # fmt: skip
    ours, naive = rows[0][1], rows[1][1]
    ok = True
    for what in ours:
        mine = ours[what]["fetched_output_bytes"] + ours[what]["fetched_other_bytes"]
        if what in naive:
            theirs = naive[what]["fetched_output_bytes"] + naive[what]["fetched_other_bytes"]
            ratio = theirs / mine if mine else float("inf")
            print(f"{what}: ours {mine:,} bytes, baseline {theirs:,} bytes ({ratio:,.0f}x less)")
        else:
            print(f"{what}: ours {mine:,} bytes (no baseline for this step)")
        unchanged = ours[what]["fetched_unchanged_bytes"]
        layers = ours[what]["fetched_unchanged_layer_bytes"]
        if unchanged:
            print(f"  ours fetched {unchanged:,} bytes of output files that did not change"
                  f" ({layers:,} of layers)")  # fmt: skip
        ok = ok and not layers and (args.no_disk_cache or not unchanged)
    print(json.dumps(dict(rows), indent=1))
    return 0 if ok else 1


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="bench_remote_bytes.py", description=__doc__.split("\n")[0])
    p.add_argument("--bump", default="six==1.17.0:six==1.16.0", help="OLD==V:NEW==V")
    p.add_argument(
        "--no-disk-cache",
        action="store_true",
        help="the developer has no --disk_cache (Bazel fetches whole outputs again)",
    )
    # A plain `kill` still stops the server and removes the output bases.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    return run(p.parse_args(argv))


if __name__ == "__main__":
    main_wrapper("bench_remote_bytes.py", main)()
