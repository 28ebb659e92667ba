"""Shared helpers of the e2e harness scripts: errors, tools, progress, layouts.

Standard library only. The harness scripts import this module from their own
directory (``python3 e2e/harness/X.py`` puts it on ``sys.path``); under
pytest, ``pythonpath`` of pyproject.toml puts ``e2e/harness`` there.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tarfile
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Self

REPO = Path(__file__).resolve().parents[2]
TOOLS = REPO / "tools"
REF_NAME = "org.opencontainers.image.ref.name"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"


class HarnessError(Exception):
    """A failure worth one line: bad input, a tool that failed, a broken layout."""


class ToolMissingError(HarnessError):
    """A tool the harness needs is not installed (tests skip on this one)."""


def need_tool(name: str) -> str:
    """The path of ``name`` on PATH (also /usr/sbin, /sbin), or ToolMissingError."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")
    if path is None:
        raise ToolMissingError(f"{name} is not installed (apt-get install {name})")
    return path


def need_root(what: str) -> None:
    """Raise HarnessError unless running as root."""
    if os.geteuid() != 0:
        raise HarnessError(f"{what} needs root (run as root or in CI's root container)")


def progress(message: str) -> None:
    """Print a progress line to stderr with the UTC time."""
    stamp = time.strftime("%H:%M:%S", time.gmtime())
    print(f"[{stamp}] {message}", file=sys.stderr, flush=True)


def run(
    cmd: Sequence[str],
    *,
    timeout: float = 600,
    what: str = "",
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run a command, capture its output; HarnessError with its last stderr line on failure."""
    try:
        r = subprocess.run(
            list(cmd),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
            env=env,
            cwd=cwd,
        )
    except subprocess.TimeoutExpired:
        raise HarnessError(f"{what or cmd[0]} timed out after {timeout:.0f}s") from None
    if r.returncode != 0:
        raise HarnessError(
            f"{what or Path(cmd[0]).name} exited {r.returncode}: {last_line(r.stderr or r.stdout)}"
        )
    return r


#: The creation time written into configs and history: fixed, never the host's.
FIXED_TIME = "1970-01-01T00:00:00Z"


def umoci_add_layer(
    umoci: str, image: str, tar: Path, created_by: str, timeout: float = 600
) -> None:
    """``umoci raw add-layer`` of an uncompressed tar, with a fixed history entry."""
    cmd = [umoci, "raw", "add-layer", "--image", image, "--history.created", FIXED_TIME]
    cmd += ["--history.created_by", created_by, str(tar)]
    run(cmd, what="umoci raw add-layer", timeout=timeout)


def last_line(text: str) -> str:
    """The last non-empty line of a tool's output (the error, usually)."""
    lines = [x.strip() for x in text.splitlines() if x.strip()]
    return lines[-1] if lines else "(no output)"


def main_wrapper(prog: str, main: Callable[[list[str] | None], int]) -> Callable[[], None]:
    """Wrap ``main`` so HarnessError prints ``prog: error: ...`` and exits 2."""

    def entry() -> None:
        try:
            code = main(None)
        except HarnessError as e:
            print(f"{prog}: error: {e}", file=sys.stderr)
            sys.exit(2)
        except KeyboardInterrupt:
            print(f"{prog}: interrupted", file=sys.stderr)
            sys.exit(130)
        sys.exit(code)

    return entry


# ---------------------------------------------------------------------------
# Mounts and directories


def mounts_under(path: Path) -> list[str]:
    """Mount points at or below ``path`` (deepest first), from /proc/self/mountinfo."""
    prefix = str(path.resolve())
    found: list[str] = []
    try:
        text = Path("/proc/self/mountinfo").read_text()
    except OSError:
        return found
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 5:
            continue
        point = fields[4].replace("\\040", " ")
        if point == prefix or point.startswith(prefix + "/"):
            found.append(point)
    return sorted(found, key=lambda p: p.count("/"), reverse=True)


def remove_tree(path: Path) -> None:
    """Remove ``path`` after lazily unmounting whatever is mounted below it.

    Refuses (HarnessError) to remove a tree that still has a mount below it, so a
    bind mount of /dev or /proc left by a crashed debootstrap is never descended into.
    """
    if not path.exists() and not path.is_symlink():
        return
    for point in mounts_under(path):
        subprocess.run(["umount", "-l", point], capture_output=True, check=False)
    left = mounts_under(path)
    if left:
        raise HarnessError(f"cannot remove {path}: still mounted: {left[0]}")
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def temp_sibling(out: Path, tag: str = "tmp") -> Path:
    """A fresh temporary path beside ``out`` (same file system, so rename works)."""
    return out.parent / f".{out.name}.{tag}-{os.getpid()}-{time.monotonic_ns()}"


def replace_dir(tmp: Path, out: Path) -> None:
    """Move the finished directory ``tmp`` to ``out``, replacing an existing one."""
    if out.exists() or out.is_symlink():
        old = temp_sibling(out, "old")
        out.rename(old)
        tmp.rename(out)
        remove_tree(old)
    else:
        tmp.rename(out)


def copy_tree(src: Path, dst: Path) -> None:
    """Copy a directory (a layout), symlinks followed: Bazel's layouts link their
    blobs (relative links, which a copy elsewhere would leave dangling).
    ``dst`` must not exist."""
    shutil.copytree(src, dst, symlinks=False, copy_function=shutil.copyfile)


def copy_e2e_workspace(dest: Path) -> Path:
    """Copies the e2e workspace to ``dest`` (a new folder) to be changed freely.

    Build outputs, tests and harness stay behind; the copy's references to the
    repository (``..`` in MODULE.bazel and .bazelrc) become absolute, so it
    builds from anywhere. Returns ``dest``.
    """
    e2e = REPO / "e2e"
    shutil.copytree(e2e, dest, ignore=shutil.ignore_patterns("bazel-*", "tests", "harness"))
    module = dest / "MODULE.bazel"
    module.write_text(module.read_text().replace('path = "..",', f'path = "{REPO}",'))
    rc = dest / ".bazelrc"
    rc.write_text(rc.read_text().replace("%workspace%/../", f"{REPO}/"))
    return dest


def fleet_app_build(binary: str, deps: Iterable[str], fleet: str) -> str:
    """A generated app's BUILD file: a ``py_binary`` of ``main.py`` and its ``py_image``
    on the e2e base with python3, in ``fleet``."""
    listed = "".join(f'        "{d}",\n' for d in deps)
    return f"""load("@rules_pyimage//oci:defs.bzl", "py_image")
load("@rules_python//python:defs.bzl", "py_binary")

py_binary(
    name = "{binary}",
    srcs = ["main.py"],
    main = "main.py",
    deps = [
{listed}    ],
)

py_image(
    name = "image",
    base = "@base_python//:layout",
    binary = ":{binary}",
    fleet = "{fleet}",
)
"""


def in_spoke_of(label: str, dist: str) -> bool:
    """Whether ``label`` is in the pip spoke repository of distribution ``dist``.

    Matched by a name suffix, since every rules_python and Bazel names spokes
    differently: ``@@rules_python~~pip~pypi_six//:pkg`` (0.22, Bazel 7),
    ``pypi_311_six`` (1.x), ``pypi_311_six_py2_py3_none_any_<sha8>`` (2.x,
    one per wheel file), with ``+`` for ``~`` on Bazel 8.
    """
    repo = label.lstrip("@").split("//", 1)[0]
    last = re.split(r"[~+]", repo)[-1]
    name = re.escape(dist.replace("-", "_").lower())
    return re.fullmatch(rf"\w*?_{name}(?:_\w+_[0-9a-f]{{8}})?", last) is not None


def dir_size(path: Path) -> int:
    """Total size in bytes of the regular files below ``path``."""
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())


# ---------------------------------------------------------------------------
# Bazel's execution log (--execution_log_json_file)


def executed_spawns(log: Path) -> list[dict[str, object]]:
    """The spawns of a Bazel execution log (JSON objects one after another).

    Cache hits are spawns too (``remoteCacheHit``, for the disk cache as well).
    """
    text = log.read_text()
    decoder = json.JSONDecoder()
    spawns, i = [], 0
    while i < len(text):
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            break
        obj, i = decoder.raw_decode(text, i)
        spawns.append(obj)
    return spawns


def executed_counts(log: Path) -> dict[str, int]:
    """`<mnemonic> <target>` -> how many spawns of it Bazel executed."""
    counts: dict[str, int] = {}
    for s in executed_spawns(log):
        key = f"{s.get('mnemonic')} {s.get('targetLabel', '')}"
        counts[key] = counts.get(key, 0) + 1
    return counts


# ---------------------------------------------------------------------------
# OCI layouts


@dataclass(frozen=True)
class Image:
    """One image of an OCI layout: its manifest descriptor, manifest and config."""

    tag: str
    manifest_descriptor: dict[str, object]
    manifest: dict[str, object]
    config: dict[str, object]

    @property
    def layers(self) -> list[dict[str, object]]:
        """The manifest's layer descriptors, bottom to top."""
        layers = self.manifest.get("layers")
        return list(layers) if isinstance(layers, list) else []

    @property
    def layer_digests(self) -> list[str]:
        """The layer blob digests, bottom to top."""
        return [str(x.get("digest")) for x in self.layers]

    @property
    def diff_ids(self) -> list[str]:
        """The config's ``rootfs.diff_ids``."""
        rootfs = self.config.get("rootfs")
        ids = rootfs.get("diff_ids") if isinstance(rootfs, dict) else None
        return [str(x) for x in ids] if isinstance(ids, list) else []

    @property
    def env(self) -> list[str]:
        """The config's ``config.Env``."""
        cfg = self.config.get("config")
        env = cfg.get("Env") if isinstance(cfg, dict) else None
        return [str(x) for x in env] if isinstance(env, list) else []

    @property
    def entrypoint(self) -> list[str]:
        """The config's ``config.Entrypoint``."""
        cfg = self.config.get("config")
        ep = cfg.get("Entrypoint") if isinstance(cfg, dict) else None
        return [str(x) for x in ep] if isinstance(ep, list) else []


def blob_path(layout: Path, digest: str) -> Path:
    """The file of a blob in a layout; HarnessError for a malformed digest."""
    algo, _, hexpart = digest.partition(":")
    if algo != "sha256" or len(hexpart) != 64 or not all(c in "0123456789abcdef" for c in hexpart):
        raise HarnessError(f"layout {layout}: bad digest {digest!r}")
    return layout / "blobs" / "sha256" / hexpart


def read_json(path: Path, what: str) -> dict[str, object]:
    """Read a JSON object from ``path``; HarnessError naming ``what`` otherwise."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        raise HarnessError(f"{what}: {path} does not exist") from None
    except (OSError, ValueError) as e:
        raise HarnessError(f"{what}: cannot read {path}: {e}") from None
    if not isinstance(data, dict):
        raise HarnessError(f"{what}: {path} is not a JSON object")
    return data


def _manifests(layout: Path) -> list[dict[str, object]]:
    if not (layout / "oci-layout").is_file():
        raise HarnessError(f"{layout} is not an OCI image layout (no oci-layout file)")
    index = read_json(layout / "index.json", f"layout {layout}")
    entries = index.get("manifests")
    if not isinstance(entries, list) or not entries:
        raise HarnessError(f"layout {layout}: index.json lists no manifests")
    return [e for e in entries if isinstance(e, dict)]


def layout_tags(layout: Path) -> list[str]:
    """The ref names (tags) of a layout's index entries."""
    tags = []
    for e in _manifests(layout):
        ann = e.get("annotations")
        if isinstance(ann, dict) and isinstance(ann.get(REF_NAME), str):
            tags.append(str(ann[REF_NAME]))
    return tags


def read_image(layout: Path, tag: str | None = None) -> Image:
    """The image tagged ``tag`` (or the only image when ``tag`` is None) of a layout."""
    entries = _manifests(layout)
    if tag is None:
        if len(entries) != 1:
            raise HarnessError(f"layout {layout} has {len(entries)} images; name one with --tag")
        entry = entries[0]
    else:
        matching = [
            e
            for e in entries
            if isinstance(e.get("annotations"), dict) and e["annotations"].get(REF_NAME) == tag  # type: ignore[union-attr]
        ]
        if not matching:
            have = ", ".join(layout_tags(layout)) or "none"
            raise HarnessError(f"layout {layout} has no image tagged {tag!r} (has: {have})")
        entry = matching[0]
    if entry.get("mediaType") == OCI_INDEX:
        raise HarnessError(f"layout {layout}: nested image indexes are not supported here")
    manifest = read_json(blob_path(layout, str(entry.get("digest"))), f"layout {layout} manifest")
    cfg_desc = manifest.get("config")
    if not isinstance(cfg_desc, dict):
        raise HarnessError(f"layout {layout}: manifest has no config")
    config = read_json(blob_path(layout, str(cfg_desc.get("digest"))), f"layout {layout} config")
    found_tag = ""
    ann = entry.get("annotations")
    if isinstance(ann, dict):
        found_tag = str(ann.get(REF_NAME, ""))
    return Image(found_tag, entry, manifest, config)


def file_in_image(layout: Path, path: str, tag: str | None = None) -> bytes | None:
    """The bytes of ``path`` (no leading slash) in an image of ``layout``, as the
    topmost layer holding it gives them; None when no layer holds it."""
    found = None
    for desc in read_image(layout, tag).layers:
        with tarfile.open(blob_path(layout, str(desc.get("digest"))), "r:*") as tar:
            try:
                member = tar.getmember(path)
            except KeyError:
                continue
            data = tar.extractfile(member)
            found = data.read() if data is not None else None
    return found


def retag_single(layout: Path, tag: str) -> None:
    """Make the layout's single image carry the ref name ``tag`` (rewrites index.json)."""
    index = read_json(layout / "index.json", f"layout {layout}")
    entries = _manifests(layout)
    if len(entries) != 1:
        raise HarnessError(f"layout {layout} has {len(entries)} images; expected one")
    entry = dict(entries[0])
    ann = dict(entry.get("annotations") or {})  # type: ignore[arg-type]
    ann[REF_NAME] = tag
    entry["annotations"] = ann
    index["manifests"] = [entry]
    tmp = layout / "index.json.tmp"
    tmp.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n")
    tmp.replace(layout / "index.json")


def sha256_file(path: Path) -> str:
    """``sha256:<hex>`` of a file's bytes, streamed."""
    h = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Service:
    """A server for the life of a ``with`` block: ``start()`` on entry, ``stop()`` on exit.

    ``stop()`` also runs when ``start()`` fails halfway, so it must cope with
    a server that never came up.
    """

    def start(self) -> None:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
