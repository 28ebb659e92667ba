#!/usr/bin/env python3
"""Finish an image the way rules_oci's ``oci_image`` would, with umoci: app layers + config.

    finish_image.py --layout DIR --app-layer APP.tar.gz [--app-layer ...] --entrypoint ENTRY.txt
                    --env ENV.txt --out DIR [--tag TAG] [--cmd CMD.txt] [--keep-cmd]

``--layout`` is the layout the Bazel rule writes (base + interpreter + package
layers, one image). ``--app-layer`` is an app layer (one per binary of the
image, added in the order given, as ``oci_image``'s ``tars``), a tar, a gzip tar
(``<name>.app.tar.gz``) or a zstd tar (``.app.tar.zst``); umoci only takes
uncompressed archives, so a compressed one is decompressed to a temporary
tar first and umoci compresses it again (gzip): an
app layer's ``diff_id`` is the tar's digest either way, its blob digest is
umoci's. ``--entrypoint`` and ``--cmd`` are read as rules_oci 2.3's image.sh
reads them: split on newlines, empty lines dropped, each ``%5Cn`` turned into
a newline. ``--env`` holds ``KEY=VALUE`` lines applied as rules_oci applies
them, one after the other on top of the base's environment: ``$NAME`` and
``${NAME}`` in a value become NAME's value in the environment so far (nothing
when unknown; no escape), a key already there is replaced in place, a new one
appended.
Setting an entrypoint clears the base's ``Cmd`` (as a Dockerfile ENTRYPOINT
does) unless ``--keep-cmd``; ``--cmd`` sets one.

Then it checks the result: every layer below the app layers has the same
descriptor (digest, size, media type) and ``diff_id`` as in the input and its
blob still hashes to its digest, the app layers' ``diff_id``s are the tars', the
config says what was asked, and ``umoci unpack`` (strict: digests, sizes,
diff_ids) succeeds; Debian's umoci (0.4.7) reads no zstd layers, so an image
with one is checked by ``skopeo copy`` (digests, sizes) and its zstd layers'
diff_ids by ``zstd -dc`` instead. The output is written beside ``--out`` and renamed into
place. Prints a JSON summary. Needs root and umoci.
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import (
    FIXED_TIME,
    HarnessError,
    Image,
    blob_path,
    copy_tree,
    main_wrapper,
    need_root,
    need_tool,
    read_image,
    remove_tree,
    replace_dir,
    retag_single,
    run,
    sha256_file,
    temp_sibling,
    umoci_add_layer,
)

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = bytes.fromhex("28b52ffd")


NEWLINE_CODE = "%5Cn"
# What rules_oci expands in an env value: `$` and an optional `{`, a name, an
# optional `}` (braces need not pair).
ENV_REFERENCE = re.compile(r"\$\{?([A-Za-z0-9_]+)\}?")


def read_entrypoint(path: Path) -> list[str]:
    """argv from a rules_oci entrypoint (or cmd) file, decoded as rules_oci decodes it."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read entrypoint file {path}: {e}") from None
    args = [line.replace(NEWLINE_CODE, "\n") for line in text.split("\n") if line]
    if not args:
        raise HarnessError(f"entrypoint file {path} is empty")
    return args


def read_env(path: Path) -> list[tuple[str, str]]:
    """``KEY=VALUE`` lines (blank lines skipped); HarnessError naming a bad line."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise HarnessError(f"cannot read env file {path}: {e}") from None
    out: list[tuple[str, str]] = []
    for n, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        key, eq, value = line.partition("=")
        if not eq or not key or any(c.isspace() for c in key):
            raise HarnessError(f"{path}:{n}: not KEY=VALUE: {line!r}")
        out.append((key, value))
    return out


def expand_env_value(value: str, env: list[tuple[str, str]]) -> str:
    """``value`` with each ``$NAME``/``${NAME}`` replaced by NAME's value(s) in ``env``."""
    return ENV_REFERENCE.sub(lambda m: "".join(v for k, v in env if k == m.group(1)), value)


def merged_env(base: list[str], extra: list[tuple[str, str]]) -> list[str]:
    """The environment rules_oci gives: each line expanded, then replaced by key or appended."""
    env = [(k, v) for k, _, v in (e.partition("=") for e in base)]
    for key, raw in extra:
        value = expand_env_value(raw, env)
        for i, (k, _) in enumerate(env):
            if k == key:
                env[i] = (key, value)
                break
        else:
            env.append((key, value))
    return [f"{k}={v}" for k, v in env]


def unzstd_digest(path: Path, out: Path | None = None) -> str:
    """The sha256 of a zstd file's decompressed bytes (written to ``out`` when given)."""
    zstd = need_tool("zstd")
    h = hashlib.sha256()
    with subprocess.Popen([zstd, "-dc", str(path)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with (out or Path(os.devnull)).open("wb") as dst:
            while chunk := proc.stdout.read(1 << 20):
                h.update(chunk)
                dst.write(chunk)
    if proc.returncode != 0:
        raise HarnessError(f"{path} is not a valid zstd file (zstd exited {proc.returncode})")
    return "sha256:" + h.hexdigest()


def plain_tar(app_layer: Path, work: Path) -> tuple[Path, str]:
    """An uncompressed tar of the app layer (decompressed into ``work``) and its digest."""
    try:
        with app_layer.open("rb") as f:
            magic = f.read(4)
    except OSError as e:
        raise HarnessError(f"cannot read app layer {app_layer}: {e.strerror}") from None
    if magic == ZSTD_MAGIC:
        return work / "app.tar", unzstd_digest(app_layer, work / "app.tar")
    if magic[:2] != GZIP_MAGIC:
        return app_layer, sha256_file(app_layer)
    out = work / "app.tar"
    h = hashlib.sha256()
    try:
        with gzip.open(app_layer, "rb") as src, out.open("wb") as dst:
            while chunk := src.read(1 << 20):
                h.update(chunk)
                dst.write(chunk)
    except (OSError, EOFError) as e:
        raise HarnessError(f"app layer {app_layer} is not a valid gzip file: {e}") from None
    return out, "sha256:" + h.hexdigest()


def _layer_key(desc: dict[str, object]) -> tuple[str, int, str]:
    return (str(desc.get("digest")), int(desc.get("size", -1)), str(desc.get("mediaType")))  # type: ignore[call-overload]


def check_result(
    *,
    before: Image,
    after: Image,
    layout: Path,
    app_diff_ids: list[str],
    entrypoint: list[str],
    env: list[str],
) -> None:
    """Raise HarnessError unless ``after`` is ``before`` + the app layers + the config asked for."""
    n = len(before.layers)
    want = n + len(app_diff_ids)
    if len(after.layers) != want:
        raise HarnessError(f"expected {want} layers after adding the apps, got {len(after.layers)}")
    for i, (a, b) in enumerate(zip(before.layers, after.layers[:n], strict=True)):
        if _layer_key(a) != _layer_key(b):
            raise HarnessError(f"layer {i} changed: {_layer_key(a)} became {_layer_key(b)}")
        digest = str(b["digest"])
        if sha256_file(blob_path(layout, digest)) != digest:
            raise HarnessError(f"layer {i}: blob {digest} no longer hashes to its digest")
    if after.diff_ids[:n] != before.diff_ids:
        raise HarnessError("the diff_ids of the input layers changed")
    if after.diff_ids[n:] != app_diff_ids:
        raise HarnessError(
            f"app layer diff_ids {after.diff_ids[n:]} are not the tars' {app_diff_ids}"
        )
    if entrypoint and after.entrypoint != entrypoint:
        raise HarnessError(f"entrypoint is {after.entrypoint}, expected {entrypoint}")
    if after.env != env:
        raise HarnessError(f"environment is {after.env}, expected {env}")


def final_check(umoci: str, layout: Path, tag: str, image: Image, work: Path) -> None:
    """umoci unpack (strict); for an image with zstd layers, skopeo copy and their diff_ids."""
    zstd = [
        (i, str(d["digest"]))
        for i, d in enumerate(image.layers)
        if str(d.get("mediaType", "")).endswith("+zstd")
    ]
    if not zstd:
        run(
            [umoci, "unpack", "--image", f"{layout}:{tag}", str(work / "bundle")],
            what="umoci unpack",
            timeout=1800,
        )
        return
    skopeo = need_tool("skopeo")
    run([skopeo, "copy", "--quiet", f"oci:{layout}:{tag}", f"oci:{work / 'copy'}:{tag}"],
        what="skopeo copy", timeout=1800)  # fmt: skip
    for i, digest in zstd:
        if unzstd_digest(blob_path(layout, digest)) != image.diff_ids[i]:
            raise HarnessError(f"layer {i}: zstd blob {digest} does not give its diff_id")


def finish(
    *,
    layout: Path,
    app_layers: list[Path],
    entrypoint_file: Path,
    env_file: Path,
    out: Path,
    tag: str = "latest",
    cmd_file: Path | None = None,
    keep_cmd: bool = False,
) -> dict[str, object]:
    """Write ``out``: ``layout`` + app layers + config, checked; return a summary."""
    umoci = need_tool("umoci")
    need_root("umoci unpack (the final check)")
    before = read_image(layout)
    entrypoint = read_entrypoint(entrypoint_file)
    extra_env = read_env(env_file)
    cmd = read_entrypoint(cmd_file) if cmd_file is not None else None
    if not app_layers:
        raise HarnessError("give at least one --app-layer")
    for app_layer in app_layers:
        if not app_layer.is_file():
            raise HarnessError(f"app layer {app_layer} does not exist")
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a directory")
    env = merged_env(before.env, extra_env)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(out)
    work = Path(tempfile.mkdtemp(prefix="finish-", dir=out.parent))
    try:
        copy_tree(layout, tmp)
        retag_single(tmp, tag)
        image = f"{tmp}:{tag}"
        app_diff_ids = []
        for i, app_layer in enumerate(app_layers):
            (work / str(i)).mkdir()
            app_tar, app_diff_id = plain_tar(app_layer, work / str(i))
            app_diff_ids.append(app_diff_id)
            umoci_add_layer(
                umoci, image, app_tar, f"app layer {app_layer.name} (rules_pyimage e2e, umoci)"
            )
        config = [umoci, "config", "--image", image, "--no-history", "--created", FIXED_TIME]
        if not keep_cmd or cmd is not None:
            config += ["--clear", "config.cmd"]
        config += ["--clear", "config.env"]
        for e in env:
            config += ["--config.env", e]
        for a in entrypoint:
            config += ["--config.entrypoint", a]
        for a in cmd or []:
            config += ["--config.cmd", a]
        run(config, what="umoci config")
        run([umoci, "gc", "--layout", str(tmp)], what="umoci gc")
        after = read_image(tmp, tag)
        check_result(
            before=before,
            after=after,
            layout=tmp,
            app_diff_ids=app_diff_ids,
            entrypoint=entrypoint,
            env=env,
        )
        final_check(umoci, tmp, tag, after, work)
        replace_dir(tmp, out)
    except BaseException:
        remove_tree(tmp)
        raise
    finally:
        remove_tree(work)
    return {
        "layout": str(out),
        "tag": tag,
        "manifest": str(after.manifest_descriptor.get("digest")),
        "layers": after.layer_digests,
        "kept_layers": len(before.layers),
        "app_layers": after.layer_digests[len(before.layers) :],
        "app_diff_ids": app_diff_ids,
        "entrypoint": after.entrypoint,
        "env": after.env,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the summary as JSON."""
    p = argparse.ArgumentParser(prog="finish_image.py", description=__doc__.split("\n")[0])
    p.add_argument("--layout", required=True, type=Path, help="input OCI layout (one image)")
    p.add_argument(
        "--app-layer",
        action="append",
        required=True,
        type=Path,
        help="an app layer (.tar, .tar.gz, .tar.zst); several in order",
    )
    p.add_argument("--entrypoint", required=True, type=Path, help="argv, one argument a line")
    p.add_argument("--env", required=True, type=Path, help="KEY=VALUE lines")
    p.add_argument("--out", required=True, type=Path, help="output OCI layout")
    p.add_argument("--tag", default="latest", help="tag of the output image (default: latest)")
    p.add_argument("--cmd", type=Path, default=None, help="Cmd, one argument a line")
    p.add_argument("--keep-cmd", action="store_true", help="keep the base's Cmd")
    args = p.parse_args(argv)
    if not args.layout.is_dir():
        raise HarnessError(f"--layout {args.layout} is not a directory")
    summary = finish(
        layout=args.layout,
        app_layers=args.app_layer,
        entrypoint_file=args.entrypoint,
        env_file=args.env,
        out=args.out,
        tag=args.tag,
        cmd_file=args.cmd,
        keep_cmd=args.keep_cmd,
    )
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    main_wrapper("finish_image.py", main)()
