"""``pyimage image``: plan one image's package layers and write its OCI layout.

The image action of the Bazel rule ``py_image_layers``. It reads metadata
only (descriptors, the base's JSON blobs): the planner sizes packages by their
uncompressed tar size; layers of one package reuse that package's cached blob
as is, and merged layers concatenate the members' compressed parts (see
docs/layer-engine.md).

    pyimage image --out DIR --plan-out PLAN.json --max-layers N [--reserved K]
                  [--base DIR] [--platform linux/amd64] [--tag TAG]
                  [--interpreter DESC BLOB] [--package DESC BLOB ...]

A merge inflates the files part of each member's blob (no uncompressed tar
is read), so an image action needs only blobs and descriptors. The layout and
its plan report are written as one unit: a report is never beside another
layout than its own.

``--reserved`` counts the layers added on top of the layout's own: the app
layer, plus the interpreter layer when ``--interpreter`` is given. The report
written to ``--plan-out`` lists the layers bottom to top with their members,
sizes and the planner's reasons, and the layer counts against the cap.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from pyimage import inputs, jsonio, lock, planner
from pyimage.engine import layer, oci_layout
from pyimage.errors import PyimageError
from pyimage.fsutil import check_paths
from pyimage.text import MIB, layer_line


def _shared_layers(groups: list[list[str]] | None) -> dict[str, layer.Member]:
    """The fleet's shared layers given with ``--fleet-group GID DESC BLOB``, by group id.

    Each is checked to be exactly its group (:func:`pyimage.lock.read_group`);
    those the fleet could not build (a package changed) are left out.
    """
    out: dict[str, layer.Member] = {}
    for gid, descriptor, blob in groups or []:
        desc = lock.read_group(gid, Path(descriptor))
        if desc is not None:
            out[gid] = layer.Member(desc, Path(blob), Path(descriptor))
    return out


def _layer_input(
    packages: tuple[str, ...], by_id: dict[str, layer.Member], shared: dict[str, layer.Member]
) -> oci_layout.LayerInput:
    """A planned layer: the fleet's merged blob of that group when there is one.

    The fleet's shared layers are known by their members' ids and digests
    (:func:`pyimage.lock.group_id`): one is used only when it was merged from
    exactly this image's bytes; else the image merges its own packages (the
    same bytes when they are the lock's).
    """
    if len(packages) > 1:
        found = shared.get(lock.group_id((pid, by_id[pid].descriptor.digest) for pid in packages))
        if found is not None:
            return oci_layout.LayerInput((found,))
    return oci_layout.LayerInput(tuple(by_id[pid] for pid in packages))


def _lock_layers(
    args: argparse.Namespace, by_id: dict[str, layer.Member]
) -> tuple[list[list[str]] | None, dict[tuple[str, ...], str]]:
    """With a fleet lock: its layers this image keeps (all members unchanged), and their reasons.

    They are the same groups as every other image of the fleet holds.
    """
    if not args.fleet_lock:
        return None, {}
    fleet_lock = lock.read(args.fleet_lock, "fleet lock")
    own = {pid: m.descriptor.digest for pid, m in by_id.items()}
    previous, changed = fleet_lock.kept_layers(args.image_name, own)
    if previous is None:
        print(f"pyimage: note: {args.image_name} is not in the fleet lock; planned alone")
    if changed and not fleet_lock.current_format:
        print(
            f"pyimage: note: the fleet lock of {args.image_name} records no package digests"
            " (an older format); its merged layers are planned for this image alone"
            " until the fleet's `.update` runs"
        )
    elif changed:
        print(
            f"pyimage: note: {args.image_name}: {', '.join(changed)} not the bytes the"
            " fleet lock records; their layers are planned for this image alone"
            " until the fleet's `.update` runs"
        )
    return previous, fleet_lock.reasons(args.image_name)


def _check_image_paths(
    args: argparse.Namespace,
    members: list[layer.Member],
    shared: dict[str, layer.Member],
) -> None:
    """The image command's outputs against each other and every input."""
    check_paths(
        {"--out": args.out, "--plan-out": args.plan_out},
        {
            "--base": args.base,
            "--fleet-lock": args.fleet_lock,
            **inputs.member_paths(members, "--package"),
            **inputs.member_paths(list(shared.values()), "--fleet-group"),
            **{f"--link {i}": p for i, p in enumerate(args.link, 1)},
        },
        folders=["--out"],
    )


def build_image(args: argparse.Namespace) -> dict[str, object]:
    """Plan and write the layout and its plan report (one unit); return the report."""
    packages = inputs.members_from_args(args.package)
    by_id: dict[str, layer.Member] = {}
    for member in packages:
        for pkg in member.descriptor.packages:
            if pkg in by_id:
                raise PyimageError(f"package {pkg} is given twice; give each package once")
            by_id[pkg] = member
    interpreter = inputs.members_from_args([args.interpreter] if args.interpreter else None)
    shared = _shared_layers(args.fleet_group)
    _check_image_paths(args, packages + interpreter, shared)
    reserved = args.reserved if args.reserved is not None else 1 + len(interpreter)
    platform = oci_layout.Platform.parse(args.platform)
    base_layers = oci_layout.read_base(Path(args.base), platform).layer_count if args.base else 0

    previous, lock_reasons = _lock_layers(args, by_id)
    image = planner.Image(args.image_name, tuple(sorted(by_id)), base_layers)
    sizes = [planner.Package(pid, m.descriptor.tar_size) for pid, m in by_id.items()]
    planned = planner.plan_image(
        image, sizes, args.max_layers, reserved_layers=reserved, previous=previous
    )

    layers = [oci_layout.LayerInput(tuple(interpreter))] if interpreter else []
    layers += [_layer_input(lay.packages, by_id, shared) for lay in planned.layers]

    def report(result: oci_layout.LayoutResult) -> dict[str, object]:
        report_layers = [
            {
                "packages": list(lay.packages),
                "bytes": lay.bytes,
                "reason": _reason(lay, lock_reasons),
                "digest": desc.digest,
            }
            for lay, desc in zip(planned.layers, result.layers[len(interpreter) :], strict=True)
        ]
        return {
            "max_layers": args.max_layers,
            "base_layers": base_layers,
            "interpreter_layer": bool(interpreter),
            "package_layers": len(planned.layers),
            "app_layers": reserved - len(interpreter),
            "total_layers": base_layers + len(layers) + reserved - len(interpreter),
            "manifest": result.manifest_digest,
            "fleet_lock": bool(args.fleet_lock),
            "layers": report_layers,
        }

    written: list[dict[str, object]] = []

    def report_bytes(result: oci_layout.LayoutResult) -> bytes:
        written.append(report(result))
        return jsonio.dumps(written[0]).encode("utf-8")

    oci_layout.write_layout(
        Path(args.out),
        layers,
        base=Path(args.base) if args.base else None,
        platform=args.platform,
        tag=args.tag,
        link=[Path(p) for p in args.link],
        sidecar=(Path(args.plan_out), report_bytes),
    )
    return written[0]


def _reason(lay: planner.Layer, lock_reasons: dict[tuple[str, ...], str]) -> str:
    """A layer's reason; a layer kept from the fleet lock says the lock's own reason."""
    why = lock_reasons.get(tuple(sorted(lay.packages)))
    if lay.reason == planner.REASON_KEPT and why is not None:
        return f"fleet lock: {why}"
    return lay.reason


def _image(args: argparse.Namespace) -> int:
    build_image(args)
    return 0


_REPORT_COUNTS = (
    "total_layers",
    "max_layers",
    "base_layers",
    "package_layers",
    "app_layers",
)


def check_image_plan(report: object, where: str) -> dict[str, Any]:
    """A plan report as :func:`build_image` writes it, checked: the fields the table shows."""
    fix = "rebuild the image's `.plan` target"
    if not isinstance(report, dict):
        raise PyimageError(f"{where} is not a plan report (not a JSON object); {fix}")
    for key in _REPORT_COUNTS:
        value = report.get(key)
        if isinstance(value, bool) or not isinstance(value, int):
            raise PyimageError(f"{where}: {key!r} is not a number; {fix}")
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
        raise PyimageError(f"{where}: 'layers' is not a list of {{packages, bytes, reason}}; {fix}")
    return report


def render_image_plan(report: dict[str, Any]) -> str:
    """The plan report of one image as a readable table, bottom to top."""
    layers = report["layers"]
    lines = [
        f"{report['total_layers']} layers of at most {report['max_layers']}: "
        f"{report['base_layers']} base, {int(bool(report['interpreter_layer']))} interpreter, "
        f"{report['package_layers']} package, {report['app_layers']} app",
    ]
    lines += [
        layer_line(k, int(lay["bytes"]), lay["packages"], str(lay["reason"]))
        for k, lay in enumerate(layers, 1)
    ]
    total = sum(int(lay["bytes"]) for lay in layers)
    lines.append(f"  packages: {total / MIB:.2f} MiB in {len(layers)} layers")
    return "\n".join(lines)


def _show_plan(args: argparse.Namespace) -> int:
    report = jsonio.load(args.plan, "plan report", "rebuild the image's `.plan` target")
    print(render_image_plan(check_image_plan(report, f"plan report {args.plan}")))
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add the ``image`` and ``show-plan`` subcommands."""
    p = sub.add_parser("show-plan", help="print the plan report of an image as a table")
    p.add_argument("plan", metavar="PLAN.json", help="plan report written by `pyimage image`")
    p.set_defaults(func=_show_plan)

    p = sub.add_parser(
        "image",
        help="plan an image's package layers under the cap and write its OCI layout",
        description="Plan an image's package layers under the cap and write its OCI layout"
        f" and its plan report, as one unit. {oci_layout.UNREAD_BLOBS}",
    )
    p.add_argument("--out", required=True, help="output OCI layout directory")
    p.add_argument("--plan-out", required=True, help="output plan report (JSON)")
    p.add_argument("--max-layers", type=int, default=planner.DEFAULT_MAX_LAYERS)
    p.add_argument(
        "--reserved",
        type=int,
        help="layers added after this layout (default: 1 for the app, +1 with --interpreter)",
    )
    p.add_argument("--base", help="base OCI layout directory (default: scratch)")
    p.add_argument("--platform", default="linux/amd64", help="os/arch[/variant] of the base")
    p.add_argument("--tag", default="latest", help="tag recorded in index.json")
    p.add_argument("--image-name", default="image", help="the image's name in plans and locks")
    p.add_argument("--fleet-lock", metavar="LOCK.json", help="a fleet lock to follow")
    p.add_argument(
        "--fleet-group",
        nargs=3,
        action="append",
        metavar=("GID", "DESC", "BLOB"),
        help="a shared layer of the fleet (pyimage fleet-merge-group), by its group id",
    )
    inputs.add_member_flag(p, "--interpreter", "the interpreter's layer", repeat=False)
    inputs.add_member_flag(p, "--package", "a package's descriptor and blob (repeat)")
    p.add_argument(
        "--link",
        action="append",
        metavar="PATH",
        default=[],
        help="a blob given above (or a folder of them: the base) to link with a relative "
        "symlink rather than copy; it must stay where it is, beside the layout (repeat)",
    )
    p.set_defaults(func=_image)
