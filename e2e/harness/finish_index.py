#!/usr/bin/env python3
"""Finish an image index as rules_oci's ``oci_image_index`` would: one index of finished images.

    finish_index.py --image DIR [--image DIR ...] --out DIR [--tag TAG]

Each ``--image`` is an OCI layout of one finished image (finish_image.py's
output, one platform's). As rules_oci 2.3's image_index.sh does, the output
layout holds every blob of the images, an image index (``application/vnd.oci.image.index.v1+json``)
listing each image's manifest descriptor with the ``platform`` of its config
(``os``, ``architecture``, and ``variant``, ``os.version``, ``os.features``
where the config has them), in the order given, and an ``index.json`` whose
one entry is that index (tagged ``--tag``, which rules_oci leaves out and
skopeo and umoci look images up by).

Refused, naming the image: a layout of more than one image, a platform given
twice, a blob that does not hash to its digest. Then ``skopeo copy --all``
reads the index back (digests and sizes of every manifest, config and layer).
The output is written beside ``--out`` and renamed into place. Prints a JSON
summary (the index's digest, each platform's manifest digest). Needs skopeo.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harnesslib import (
    OCI_INDEX,
    REF_NAME,
    HarnessError,
    blob_path,
    main_wrapper,
    need_tool,
    read_image,
    remove_tree,
    replace_dir,
    run,
    sha256_file,
    temp_sibling,
)

# The config fields rules_oci's image_index.sh copies into a manifest's `platform`.
PLATFORM_FIELDS = ("os", "architecture", "variant", "os.version", "os.features")


def platform_name(platform: dict[str, object]) -> str:
    """``os/arch[/variant]`` of an index entry's platform."""
    parts = [platform.get("os"), platform.get("architecture"), platform.get("variant")]
    return "/".join(str(p) for p in parts if p)


def _link_or_copy(src: Path, dst: Path) -> None:
    if dst.exists():
        return
    try:
        os.link(src, dst)
    except OSError:
        dst.write_bytes(src.read_bytes())


def write_index(images: list[Path], out: Path, tag: str) -> dict[str, object]:
    """Write the index layout of ``images`` at ``out`` (a new folder); return a summary."""
    entries = []
    blobs: dict[str, Path] = {}
    seen: dict[str, Path] = {}
    for layout in images:
        image = read_image(layout)
        platform = {k: image.config[k] for k in PLATFORM_FIELDS if image.config.get(k)}
        name = platform_name(platform)
        if name in seen:
            raise HarnessError(f"image {layout}: platform {name} is already that of {seen[name]}")
        seen[name] = layout
        descriptor = {
            k: v for k, v in image.manifest_descriptor.items() if k not in ("annotations",)
        }
        entries.append(descriptor | {"platform": platform})
        config = image.manifest["config"]
        assert isinstance(config, dict)
        digests = [str(image.manifest_descriptor["digest"]), str(config["digest"])]
        for digest in digests + image.layer_digests:
            path = blob_path(layout, digest)
            if sha256_file(path) != digest:
                raise HarnessError(f"image {layout}: blob {digest} does not hash to its digest")
            blobs[digest] = path
    index = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": entries}
    data = (json.dumps(index, indent=2) + "\n").encode()
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    (out / "blobs" / "sha256").mkdir(parents=True)
    for d, path in sorted(blobs.items()):
        _link_or_copy(path, blob_path(out, d))
    blob_path(out, digest).write_bytes(data)
    (out / "oci-layout").write_text('{"imageLayoutVersion": "1.0.0"}\n')
    top = {
        "mediaType": OCI_INDEX,
        "digest": digest,
        "size": len(data),
        "annotations": {REF_NAME: tag},
    }
    top_index = {"schemaVersion": 2, "manifests": [top]}
    (out / "index.json").write_text(json.dumps(top_index, indent=2) + "\n")
    return {
        "layout": str(out),
        "tag": tag,
        "index": digest,
        "manifests": {platform_name(e["platform"]): e["digest"] for e in entries},
    }


def finish_index(images: list[Path], out: Path, tag: str) -> dict[str, object]:
    """``out``: the index of ``images``, read back by ``skopeo copy --all``; a summary."""
    skopeo = need_tool("skopeo")
    if not images:
        raise HarnessError("give at least one --image")
    if out.exists() and not out.is_dir():
        raise HarnessError(f"--out {out} exists and is not a directory")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = temp_sibling(out)
    work = Path(tempfile.mkdtemp(prefix="finish-index-", dir=out.parent))
    try:
        summary = write_index(images, tmp, tag)
        run([skopeo, "copy", "--quiet", "--all", f"oci:{tmp}:{tag}", f"oci:{work / 'copy'}:{tag}"],
            what="skopeo copy --all", timeout=1800)  # fmt: skip
        replace_dir(tmp, out)
    except BaseException:
        remove_tree(tmp)
        raise
    finally:
        remove_tree(work)
    summary["layout"] = str(out)
    return summary


def main(argv: list[str] | None = None) -> int:
    """Command line; prints the summary as JSON."""
    p = argparse.ArgumentParser(prog="finish_index.py", description=__doc__.split("\n")[0])
    p.add_argument(
        "--image", action="append", type=Path, default=[], help="a finished image's layout"
    )
    p.add_argument("--out", required=True, type=Path, help="output OCI layout (the index)")
    p.add_argument("--tag", default="latest", help="tag of the index (default: latest)")
    args = p.parse_args(argv)
    print(json.dumps(finish_index(args.image, args.out, args.tag), indent=2))
    return 0


if __name__ == "__main__":
    main_wrapper("finish_index.py", main)()
