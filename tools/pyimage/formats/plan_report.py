"""An image's plan report (``<image>.plan.json``): the one owner of its format.

Written by the image action beside the image's layout, read by ``pyimage
show-plan`` (``bazel run //pkg:image.plan``)::

    {"max_layers": 60, "total_layers": 12, "base_layers": 5,
     "interpreter_layer": false, "package_layers": 6, "library_layers": 1, "app_layers": 1,
     "manifest": "sha256:...", "fleet_lock": true, "bytecode": "3.11",
     "layers": [{"packages": [id, ...], "bytes": n, "reason": "...", "digest": "sha256:...",
                 "compression": "zstd", "bytecode_skipped": [path, ...]}],
     "libraries": [{"library": "//libs/proto:proto", "bytes": n, "digest": "sha256:..."}],
     "declared_cost": {"package_layers": 5, "blob_bytes": n, "automatic_package_layers": 7,
                       "automatic_blob_bytes": n, "automatic_exact": true}}

``layers`` are the package layers, bottom to top; ``bytes`` their
uncompressed size. ``libraries`` are the first-party libraries' layers of
their own (``tags = ["pyimage_layer"]``), after the packages'; a report
of a build before them has neither ``library_layers`` nor ``libraries``
(none). ``bytecode`` is the Python the layers' bytecode is for
(null: none); ``bytecode_skipped``, where present, the modules of a layer
that did not compile (they run from source); ``compression``, where present,
a layer's own compression, which its declared group chose (the others have
the image's). ``declared_cost`` (only for an image that declares its own
layers) sets its package layers beside those of the automatic plan of the
same image, nothing declared: how many, and their compressed bytes (the
automatic plan's worked out from the packages' descriptors; not exact where
a layer would be compressed again).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyimage.errors import PyimageError
from pyimage.text import MIB, layer_line

_COUNTS = ("total_layers", "max_layers", "base_layers", "package_layers", "app_layers")
_FIX = "rebuild the image's `.plan` target"


def check(report: object, where: str) -> dict[str, Any]:
    """A plan report, checked: the fields the table shows."""
    if not isinstance(report, dict):
        raise PyimageError(f"{where} is not a plan report (not a JSON object); {_FIX}")
    for key in _COUNTS:
        value = report.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PyimageError(f"{where}: {key!r} is not a number; {_FIX}")
    layers = report.get("layers")
    ok = isinstance(layers, list) and all(
        isinstance(lay, dict)
        and isinstance(lay.get("bytes"), int)
        and isinstance(lay.get("packages"), list)
        and all(isinstance(p, str) for p in lay["packages"])
        and isinstance(lay.get("reason", ""), str)
        for lay in layers
    )
    if not ok:
        raise PyimageError(
            f"{where}: 'layers' is not a list of {{packages, bytes, reason}}; {_FIX}"
        )
    return report


def _first(paths: Sequence[str], shown: int = 5) -> str:
    more = f" and {len(paths) - shown} more" if len(paths) > shown else ""
    return ", ".join(paths[:shown]) + more


def _reason(lay: dict[str, Any]) -> str:
    """A layer's reason, and its own compression where its declared group chose one."""
    why = str(lay.get("reason", ""))
    return f"{why} ({lay['compression']})" if lay.get("compression") else why


def render(report: dict[str, Any]) -> str:
    """The plan report as a readable table, bottom to top."""
    layers: Sequence[dict[str, Any]] = report["layers"]
    libraries: Sequence[dict[str, Any]] = report.get("libraries", [])
    lines = [
        f"{report['total_layers']} layers of at most {report['max_layers']}: "
        f"{report['base_layers']} base, {int(bool(report.get('interpreter_layer')))} interpreter, "
        f"{report['package_layers']} package, "
        + (f"{len(libraries)} library, " if libraries else "")
        + f"{report['app_layers']} app",
    ]
    lines += [
        layer_line(k, int(lay["bytes"]), lay["packages"], _reason(lay))
        for k, lay in enumerate(layers, 1)
    ]
    total = sum(int(lay["bytes"]) for lay in layers)
    lines.append(f"  packages: {total / MIB:.2f} MiB in {len(layers)} layers")
    lines += [
        f"  library {lib['library']}: {int(lib['bytes']) / MIB:.2f} MiB, a layer of its own"
        for lib in libraries
    ]
    cost = report.get("declared_cost")
    if isinstance(cost, dict):
        about = "" if cost.get("automatic_exact") else "~"
        lines.append(
            f"  declared layers: {int(cost['blob_bytes']) / MIB:.2f} MiB in"
            f" {cost['package_layers']} layers; the automatic plan, nothing declared:"
            f" {about}{int(cost['automatic_blob_bytes']) / MIB:.2f} MiB in"
            f" {cost['automatic_package_layers']} layers"
        )
    skipped = [path for lay in layers for path in lay.get("bytecode_skipped", [])]
    if report.get("bytecode"):
        lines.append(
            f"  bytecode: Python {report['bytecode']}"
            + (f"; {len(skipped)} modules did not compile: {_first(skipped)}" if skipped else "")
        )
    else:
        lines.append("  bytecode: none")
    return "\n".join(lines)
