"""``pyimage plan``: the JSON edge of the layer planner (:mod:`pyimage.planner.plan`).

Fleet form (the contract external benchmarks call)::

    pyimage plan --fleet FLEET.json --max-layers N [--previous PLAN.json] --out PLAN.json

FLEET.json is ``{"packages": {id: {"installed_bytes": n}}, "images": {name:
{"packages": [id, ...], "base_layers": b}}}``; 2 layers per image are reserved
(interpreter, app) unless ``--reserved-layers`` says otherwise.

Single-image form (the Bazel image rule, without a fleet plan)::

    pyimage plan --image IMAGE.json --max-layers N [--reserved-layers R]
                 [--previous PLAN.json] --out PLAN.json

IMAGE.json is ``{"name": name, "base_layers": b, "packages": {id:
{"installed_bytes": n}}}``. Both forms write PLAN.json as ``{"images": {name:
{"layers": [{"packages": [...], "bytes": n, "reason": "..."}], ...}}}``,
layers bottom to top, keys sorted. The output is written to a temporary file
next to ``--out`` and renamed at the end: on any error no output is left.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from pyimage.errors import PyimageError
from pyimage.planner.plan import (
    DEFAULT_MAX_LAYERS,
    FLEET_RESERVED_LAYERS,
    Image,
    Package,
    Plan,
    plan_fleet,
)


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise _DuplicateKeyError(key)
        out[key] = value
    return out


class _DuplicateKeyError(ValueError):
    def __init__(self, key: str) -> None:
        super().__init__(key)
        self.key = key


def load_json(path: str) -> Any:
    """Read a JSON file, refusing duplicate keys, as a one-line error."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise PyimageError(f"{path}: cannot read: {err.strerror or err}") from err
    except UnicodeDecodeError as err:
        raise PyimageError(f"{path}: not UTF-8 text; write it as UTF-8 JSON") from err
    try:
        return json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except _DuplicateKeyError as err:
        raise PyimageError(
            f"{path}: key '{err.key}' appears twice in one object; keep one"
        ) from err
    except json.JSONDecodeError as err:
        raise PyimageError(
            f"{path}: malformed JSON at line {err.lineno} column {err.colno}: {err.msg}"
        ) from err


def _object(value: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(value, dict):
        raise PyimageError(f"{what} must be a JSON object")
    return value


def _size(path: str, pkg: str, value: Any) -> int:
    entry = _object(value, f"{path}: package '{pkg}'")
    if "installed_bytes" not in entry:
        raise PyimageError(f"{path}: package '{pkg}' has no installed_bytes; add its size")
    size = entry["installed_bytes"]
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise PyimageError(
            f"{path}: package '{pkg}' has installed_bytes {json.dumps(size)}; "
            "it must be a non-negative integer"
        )
    return size


def _packages(path: str, value: Any) -> list[Package]:
    table = _object(value, f'{path}: "packages"')
    return [Package(pkg, _size(path, pkg, entry)) for pkg, entry in table.items()]


def _base_layers(path: str, name: str, entry: Mapping[str, Any]) -> int:
    base = entry.get("base_layers", 0)
    if isinstance(base, bool) or not isinstance(base, int) or base < 0:
        raise PyimageError(
            f"{path}: image '{name}' has base_layers {json.dumps(base)}; "
            "it must be a non-negative integer"
        )
    return base


def _package_list(path: str, name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(p, str) for p in value):
        raise PyimageError(f"{path}: image '{name}' packages must be a list of ids")
    return tuple(value)


def read_fleet(path: str) -> tuple[list[Package], list[Image]]:
    """Packages and images of a FLEET.json file."""
    data = _object(load_json(path), path)
    for key in ("packages", "images"):
        if key not in data:
            raise PyimageError(f'{path}: no "{key}" object; see the fleet format in docs')
    packages = _packages(path, data["packages"])
    images = []
    for name, entry in _object(data["images"], f'{path}: "images"').items():
        obj = _object(entry, f"{path}: image '{name}'")
        images.append(
            Image(
                name,
                _package_list(path, name, obj.get("packages", [])),
                _base_layers(path, name, obj),
            )
        )
    return packages, images


def read_image(path: str) -> tuple[list[Package], Image]:
    """Packages and the image of an IMAGE.json file (single-image form)."""
    data = _object(load_json(path), path)
    name = data.get("name")
    if not isinstance(name, str) or not name:
        raise PyimageError(f'{path}: "name" must be the image name, a non-empty string')
    packages = _packages(path, data.get("packages", {}))
    image = Image(name, tuple(p.id for p in packages), _base_layers(path, name, data))
    return packages, image


def read_previous(path: str) -> dict[str, list[list[str]]]:
    """Image name -> package layers of a previous PLAN.json."""
    return plan_layers(load_json(path), path)


def plan_layers(document: Any, path: str) -> dict[str, list[list[str]]]:
    """Image name -> package layers of a PLAN.json already read from ``path``, checked."""
    data = _object(document, path)
    images = _object(data.get("images"), f'{path}: "images"')
    out: dict[str, list[list[str]]] = {}
    for name, entry in images.items():
        layers = _object(entry, f"{path}: image '{name}'").get("layers")
        if not isinstance(layers, list):
            raise PyimageError(f"{path}: image '{name}' has no \"layers\" list")
        out[name] = []
        for layer in layers:
            members = _object(layer, f"{path}: a layer of image '{name}'").get("packages")
            if not isinstance(members, list) or not all(isinstance(p, str) for p in members):
                raise PyimageError(
                    f"{path}: a layer of image '{name}' needs \"packages\", a list of ids"
                )
            out[name].append(members)
    return out


def plan_to_json(plan: Plan) -> dict[str, Any]:
    """The PLAN.json document of a plan."""
    images = {}
    for img in plan.images:
        images[img.name] = {
            "base_layers": img.base_layers,
            "package_layer_budget": img.budget,
            "layers": [
                {"packages": list(lay.packages), "bytes": lay.bytes, "reason": lay.reason}
                for lay in img.layers
            ],
        }
    return {
        "max_layers": plan.max_layers,
        "reserved_layers": plan.reserved_layers,
        "images": images,
    }


def write_json_atomic(path: str, document: Any) -> None:
    """Write ``document`` as sorted JSON to ``path`` via a temp file + rename."""
    target = Path(path)
    text = json.dumps(document, sort_keys=True, indent=1) + "\n"
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent or Path())
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).replace(target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_plan(args: argparse.Namespace) -> int:
    """Plan from ``--fleet`` or ``--image`` and write ``--out``."""
    out_dir = Path(args.out).parent
    if not out_dir.is_dir():
        raise PyimageError(f"--out {args.out}: directory {out_dir} does not exist")
    if args.fleet:
        packages, images = read_fleet(args.fleet)
    else:
        packages, image = read_image(args.image)
        images = [image]
    previous = read_previous(args.previous) if args.previous else None
    plan = plan_fleet(
        packages,
        images,
        args.max_layers,
        reserved_layers=args.reserved_layers,
        previous=previous,
    )
    write_json_atomic(args.out, plan_to_json(plan))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``plan`` subcommand."""
    p = subparsers.add_parser(
        "plan",
        help="plan the package layers of a fleet or of one image",
        description="Plan capped, shared package layers (docs/layer-planning.md).",
    )
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--fleet", metavar="FLEET.json", help="plan every image of a fleet")
    src.add_argument("--image", metavar="IMAGE.json", help="plan one image alone")
    p.add_argument(
        "--max-layers",
        type=int,
        default=DEFAULT_MAX_LAYERS,
        metavar="N",
        help=f"cap on all layers of an image, base included (default {DEFAULT_MAX_LAYERS})",
    )
    p.add_argument(
        "--reserved-layers",
        type=int,
        default=FLEET_RESERVED_LAYERS,
        metavar="R",
        help="layers added on top of the base outside this plan (default 2: interpreter, app)",
    )
    p.add_argument("--previous", metavar="PLAN.json", help="last plan: keep unchanged layers")
    p.add_argument("--out", required=True, metavar="PLAN.json", help="where to write the plan")
    p.set_defaults(func=run_plan)
