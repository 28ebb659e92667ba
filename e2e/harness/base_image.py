#!/usr/bin/env python3
"""Base images for the e2e tests: Debian bookworm made offline, as a one-layer OCI layout.

    base_image.py make --kind KIND [--out DIR] [--cache-dir DIR] [--rebuild]
    base_image.py key --kind KIND          # prints the cache entry's name

``python`` is ``debootstrap --variant=minbase --include=python3 bookworm``;
``nopython`` the same without python3 (for an image whose interpreter comes
from the build); ``python-arm64`` is ``python`` for linux/arm64, made without
emulation: debootstrap's first stage (``--foreign --arch=arm64``) downloads
and unpacks, then every package it downloaded is unpacked with ``dpkg-deb
-x`` and ``/etc/passwd`` and ``/etc/group`` are base-passwd's master files
(what its maintainer script would write); no maintainer script runs. The
root file system is cleaned (device nodes, apt caches and lists, logs),
written as one tar (GNU tar: sorted names, numeric owners) and turned into
an OCI layout with umoci (one layer; config with PATH and ``/bin/sh`` as
command, and the architecture; fixed creation times), checked with ``umoci unpack``.
File mtimes are kept as installed: the .pyc files Debian compiles record their
sources' mtimes, and clamping those would make every .pyc stale. So two builds
give different layer digests; the cache makes every test use the same one.

Results are cached in ``$PYIMAGE_CACHE/e2e-bases/<kind>-<key>/layout``
(``$PYIMAGE_CACHE`` defaults to /var/cache/rules_pyimage; or
``$RULES_PYIMAGE_E2E_CACHE``, or ``--cache-dir``), where ``key`` hashes the
recipe below: a changed recipe makes a new entry. ``<cache>/<kind>`` is a
symlink to the newest entry's layout: the e2e workspace's base images. A build runs under a lock
(``fcntl.flock``) in a temporary directory that is renamed into place, so
parallel runs build once and never see half an entry. ``--out`` receives a copy.

Debian's archive on these machines may serve an expired Release file:
debootstrap checks the Release signature with gpgv, which ignores
``Valid-Until``, so it needs no extra option; nothing here runs apt-get.

Needs root, debootstrap, tar and umoci.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import (
    FIXED_TIME,
    HarnessError,
    copy_tree,
    dir_size,
    main_wrapper,
    need_root,
    need_tool,
    progress,
    read_image,
    remove_tree,
    replace_dir,
    run,
    temp_sibling,
    umoci_add_layer,
)

CACHE_ENV = "RULES_PYIMAGE_E2E_CACHE"
TAG = "latest"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Bump RECIPE_VERSION whenever the steps below change what ends up in the image.
RECIPE_VERSION = 2
KINDS: dict[str, dict[str, object]] = {
    "python": {"include": ["python3"]},
    "nopython": {"include": []},
    "python-arm64": {"include": ["python3"], "arch": "arm64"},
}
# Removed from the root before it is archived (relative; globs).
CLEANUP = [
    "dev/*",
    "proc/*",
    "sys/*",
    "run/*",
    "tmp/*",
    "var/tmp/*",
    "var/cache/apt/archives/*.deb",
    "var/cache/apt/*.bin",
    "var/lib/apt/lists/*",
    "var/log/*",
    "debootstrap",
]


def recipe(kind: str) -> dict[str, object]:
    """Everything that decides the image's content, hashed into the cache key."""
    if kind not in KINDS:
        raise HarnessError(f"unknown kind {kind!r}; use one of: {', '.join(KINDS)}")
    foreign = (
        {"arch": KINDS[kind]["arch"], "foreign": "dpkg-deb -x"} if "arch" in KINDS[kind] else {}
    )
    return {
        "recipe_version": RECIPE_VERSION,
        "suite": "bookworm",
        "variant": "minbase",
        "mirror": "http://deb.debian.org/debian",
        "include": KINDS[kind]["include"],
        "cleanup": CLEANUP,
        "env": [PATH_ENV],
        "cmd": ["/bin/sh"],
        "arch": os.uname().machine,
        **foreign,
    }


def cache_key(kind: str) -> str:
    """``<kind>-<16 hex digits of the recipe's sha256>``."""
    text = json.dumps(recipe(kind), sort_keys=True).encode()
    return f"{kind}-{hashlib.sha256(text).hexdigest()[:16]}"


def cache_dir(override: Path | None = None) -> Path:
    """The cache folder: ``override``, $RULES_PYIMAGE_E2E_CACHE, or $PYIMAGE_CACHE/e2e-bases."""
    if override is not None:
        return override
    env = os.environ.get(CACHE_ENV)
    if env:
        return Path(env)
    return Path(os.environ.get("PYIMAGE_CACHE", "/var/cache/rules_pyimage")) / "e2e-bases"


@contextmanager
def locked(lock_file: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``lock_file`` (created if needed)."""
    lock_file.parent.mkdir(parents=True, exist_ok=True)
    with lock_file.open("a") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            progress(f"waiting for the lock {lock_file} (another build is running)")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _cleanup_root(root: Path) -> None:
    for pattern in CLEANUP:
        for p in sorted(root.glob(pattern)):
            remove_tree(p)


def _build(kind: str, work: Path) -> Path:
    """Bootstrap, clean, archive and wrap the root in a layout under ``work``; return it."""
    r = recipe(kind)
    umoci = need_tool("umoci")
    layer = _root_tar(kind, r, work)
    return _layout(kind, r, umoci, layer, work)


def _root_tar(kind: str, r: dict[str, object], work: Path) -> Path:
    """Bootstrap the root under ``work``, clean it and archive it; return the tar."""
    debootstrap = need_tool("debootstrap")
    tar = need_tool("tar")
    root = work / "rootfs"
    include = r["include"]
    assert isinstance(include, list)
    cmd = [debootstrap, f"--variant={r['variant']}"]
    if "foreign" in r:
        cmd += ["--foreign", f"--arch={r['arch']}"]
    if include:
        cmd.append("--include=" + ",".join(include))
    cmd += [str(r["suite"]), str(root), str(r["mirror"])]
    progress(f"debootstrap {kind}: {' '.join(cmd[1:])} (about a minute)")
    t0 = time.monotonic()
    try:
        run(cmd, timeout=1800, what="debootstrap")
    except HarnessError:
        log = root / "debootstrap" / "debootstrap.log"
        if log.exists():
            tail = log.read_text(errors="replace").strip().splitlines()[-3:]
            progress("debootstrap log tail:\n  " + "\n  ".join(tail))
        raise
    progress(f"debootstrap done in {time.monotonic() - t0:.0f}s; cleaning the root")
    if "foreign" in r:
        _unpack_foreign(root)
    _cleanup_root(root)
    layer = work / "layer.tar"
    progress("archiving the root file system (GNU tar, sorted, numeric owners)")
    run(
        [
            tar,
            "--create",
            f"--file={layer}",
            f"--directory={root}",
            "--sort=name",
            "--numeric-owner",
            "--owner=0",
            "--group=0",
            "--format=pax",
            "--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime",
            "--xattrs",
            "--xattrs-include=security.capability",
            ".",
        ],
        what="tar",
        env={**os.environ, "LC_ALL": "C"},
    )
    remove_tree(root)
    return layer


def _unpack_foreign(root: Path) -> None:
    """Finish a first-stage root of another architecture without running any of its programs.

    Unpacks every package debootstrap downloaded (the first stage unpacked
    only the required ones) and writes the account files base-passwd's
    maintainer script would.
    """
    dpkg_deb = need_tool("dpkg-deb")
    debs = sorted((root / "var/cache/apt/archives").glob("*.deb"))
    if not debs:
        raise HarnessError(f"debootstrap downloaded no package into {root}")
    progress(f"unpacking {len(debs)} packages with dpkg-deb -x (no emulation)")
    for deb in debs:
        run([dpkg_deb, "-x", str(deb), str(root)], what=f"dpkg-deb -x {deb.name}")
    for name in ("passwd", "group"):
        master = root / "usr/share/base-passwd" / f"{name}.master"
        target = root / "etc" / name
        if not target.exists():
            target.write_bytes(master.read_bytes())


def _layout(kind: str, r: dict[str, object], umoci: str, layer: Path, work: Path) -> Path:
    """Turn the root's tar into a one-layer layout under ``work`` with umoci; check it."""
    include = r["include"]
    assert isinstance(include, list)
    layout = work / "layout"
    progress("making the OCI layout with umoci")
    image = f"{layout}:{TAG}"
    run([umoci, "init", "--layout", str(layout)], what="umoci init")
    run([umoci, "new", "--image", image], what="umoci new")
    created_by = f"debootstrap --variant=minbase {' '.join('--include=' + i for i in include)}"
    umoci_add_layer(
        umoci,
        image,
        layer,
        f"{created_by.strip()} {r['suite']} (rules_pyimage e2e base {kind})",
        timeout=1800,
    )
    layer.unlink()
    cfg = [umoci, "config", "--image", image, "--no-history", "--created", FIXED_TIME]
    if "foreign" in r:
        cfg += ["--os", "linux", "--architecture", str(r["arch"])]
    cfg += ["--config.env", PATH_ENV]
    for c in r["cmd"]:  # type: ignore[attr-defined]
        cfg += ["--config.cmd", c]
    run(cfg, what="umoci config")
    run([umoci, "gc", "--layout", str(layout)], what="umoci gc")
    progress("checking the layout with umoci unpack")
    bundle = work / "check"
    run([umoci, "unpack", "--image", image, str(bundle)], what="umoci unpack", timeout=1800)
    if (bundle / "rootfs" / "usr" / "bin" / "python3").exists() != bool(include):
        raise HarnessError(f"the {kind} base has the wrong python3 after unpacking")
    remove_tree(bundle)
    img = read_image(layout, TAG)
    if len(img.layers) != 1:
        raise HarnessError(f"expected one layer in the base, found {len(img.layers)}")
    # umoci writes blobs 0600; the cache is shared, so make it readable by all.
    for p in [layout, *layout.rglob("*")]:
        p.chmod(0o755 if p.is_dir() else 0o644)
    return layout


def ensure(kind: str, cache: Path | None = None, rebuild: bool = False) -> Path:
    """The cached layout of ``kind``, built first when missing; return its path."""
    base = cache_dir(cache)
    key = cache_key(kind)
    entry = base / key
    layout = entry / "layout"
    if layout.is_dir() and not rebuild:
        progress(f"base {kind}: reusing {layout}")
        _link(base, kind, key)
        return layout
    need_root("building a base image (debootstrap)")
    with locked(base / f".{key}.lock"):
        if layout.is_dir() and not rebuild:
            progress(f"base {kind}: built by another run; reusing {layout}")
            return layout
        # Leftovers of builds that died while holding this lock are safe to remove now.
        for stale in base.glob(f".{key}.tmp-*"):
            progress(f"removing a stale build {stale}")
            remove_tree(stale)
        work = temp_sibling(entry)
        work.mkdir(parents=True)
        t0 = time.monotonic()
        try:
            built = _build(kind, work)
            seconds = time.monotonic() - t0
            img = read_image(built, TAG)
            info = {
                "kind": kind,
                "key": key,
                "recipe": recipe(kind),
                "build_seconds": round(seconds, 1),
                "layout_bytes": dir_size(built),
                "layer_digest": img.layer_digests[0],
                "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            }
            (work / "build.json").write_text(json.dumps(info, indent=2, sort_keys=True) + "\n")
            replace_dir(work, entry)
        except BaseException:
            remove_tree(work)
            raise
    progress(f"base {kind}: built in {seconds:.0f}s, {dir_size(layout) / 1e6:.1f} MB, at {layout}")
    _link(base, kind, key)
    return layout


def _link(base: Path, kind: str, key: str) -> None:
    """Point ``<cache>/<kind>`` at the entry's layout: where the e2e workspace looks."""
    link = base / kind
    tmp = temp_sibling(link)
    tmp.unlink(missing_ok=True)
    tmp.symlink_to(f"{key}/layout")
    tmp.replace(link)


def make(kind: str, out: Path | None, cache: Path | None = None, rebuild: bool = False) -> Path:
    """Ensure the cached base and copy its layout to ``out`` (temp + rename), if given."""
    if out is not None and out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a directory")
    layout = ensure(kind, cache, rebuild)
    if out is None:
        return layout
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(out)
    try:
        copy_tree(layout, tmp)
        replace_dir(tmp, out)
    except BaseException:
        remove_tree(tmp)
        raise
    return out


def main(argv: list[str] | None = None) -> int:
    """Command line: ``make`` and ``key``."""
    p = argparse.ArgumentParser(prog="base_image.py", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make", help="build (or reuse) a base, and copy its layout to --out")
    m.add_argument("--kind", required=True, choices=sorted(KINDS))
    m.add_argument("--out", type=Path, help="copy the layout here (default: no copy)")
    m.add_argument("--cache-dir", type=Path, default=None)
    m.add_argument("--rebuild", action="store_true", help="build even when cached")
    k = sub.add_parser("key", help="print the cache entry name of a kind")
    k.add_argument("--kind", required=True, choices=sorted(KINDS))
    args = p.parse_args(argv)
    if args.cmd == "key":
        print(cache_key(args.kind))
        return 0
    out = make(args.kind, args.out, args.cache_dir, args.rebuild)
    img = read_image(out, TAG)
    print(json.dumps({"layout": str(out), "tag": TAG, "layers": img.layer_digests}))
    return 0


if __name__ == "__main__":
    main_wrapper("base_image.py", main)()
