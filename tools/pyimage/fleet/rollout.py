"""What a change costs to roll out: two states of a fleet compared (``pyimage fleet-rollout``).

A layer is its digest: the same bytes in two states are one layer, whatever
else changed (so an upgrade of rules_pyimage that changes every layer shows
as such). Per image and platform, for our layers and each baseline's:

* added, kept and dropped layers (against the image's previous version);
* ``pull_image``: the compressed bytes a node holding the previous version
  of the image pulls (its added layers);
* ``pull_fleet``: what a node holding every previous image of the fleet
  pulls (its layers no previous image had);
* and for the fleet, ``registry_new``: the bytes a registry stores new, each
  new blob once across the fleet.

An image new in this state is all added; one gone is all dropped (a renamed
image is both). The config and manifest (``metadata_bytes``, a few KB) are
counted apart: an image whose layers changed has new ones.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from pyimage.formats.state import BASELINES, FleetState, StateLayer
from pyimage.text import MIB

OURS = "rules_pyimage"

Key = tuple[str, str]  # (image, platform)


@dataclass(frozen=True)
class ImageRollout:
    """One image on one platform, for one way of layering it."""

    status: str  # "changed", "unchanged", "new" or "gone"
    added: int
    kept: int
    dropped: int
    pull_image: int
    pull_fleet: int
    metadata_bytes: int  # the new config and manifest, when the image changed; else 0
    added_digests: tuple[str, ...]


@dataclass(frozen=True)
class Rollout:
    """Every image, per layering (ours first, then the baselines), and the fleet's totals."""

    fleet: str
    images: Mapping[str, Mapping[Key, ImageRollout]]
    registry_new: Mapping[str, int]
    exact: Mapping[str, bool]  # False: a baseline's sizes are upper bounds


def _layers(state: FleetState, way: str) -> dict[Key, tuple[StateLayer, ...]]:
    if way == OURS:
        return {key: image.layers for key, image in state.images.items()}
    return {key: image.baselines.get(way, ()) for key, image in state.images.items()}


def _sizes(layers: Iterable[StateLayer]) -> dict[str, int]:
    return {lay.digest: lay.size for lay in layers}


def _one(
    new: Sequence[StateLayer] | None,
    old: Sequence[StateLayer] | None,
    fleet_old: set[str],
    metadata: int,
) -> ImageRollout:
    now = _sizes(new or ())
    before = _sizes(old or ())
    added = [d for d in now if d not in before]
    if old is None or new is None:
        status = "new" if old is None else "gone"
    else:
        same = [lay.digest for lay in old] == [lay.digest for lay in new]
        status = "unchanged" if same else "changed"
    return ImageRollout(
        status=status,
        added=len(added),
        kept=sum(1 for d in now if d in before),
        dropped=sum(1 for d in before if d not in now),
        pull_image=sum(now[d] for d in added),
        pull_fleet=sum(now[d] for d in now if d not in fleet_old),
        metadata_bytes=metadata if status in ("changed", "new") else 0,
        added_digests=tuple(added),
    )


def compare(old: FleetState, new: FleetState) -> Rollout:
    """What rolling out ``new`` costs where ``old`` runs."""
    images: dict[str, dict[Key, ImageRollout]] = {}
    registry: dict[str, int] = {}
    exact: dict[str, bool] = {}
    for way in (OURS, *BASELINES):
        before, now = _layers(old, way), _layers(new, way)
        fleet_old = {lay.digest for layers in before.values() for lay in layers}
        per: dict[Key, ImageRollout] = {}
        for key in sorted(set(before) | set(now)):
            metadata = new.images[key].metadata_bytes if key in new.images else 0
            per[key] = _one(now.get(key), before.get(key), fleet_old, metadata)
        images[way] = per
        fresh = {lay.digest: lay for layers in now.values() for lay in layers}
        registry[way] = sum(lay.size for d, lay in fresh.items() if d not in fleet_old)
        exact[way] = all(lay.exact for d, lay in fresh.items() if d not in fleet_old)
    return Rollout(new.fleet, images, registry, exact)


_BYTES = re.compile(r"(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KIB|MIB|GIB)?", re.I)
_UNITS = {"B": 1, "KB": 10**3, "MB": 10**6, "GB": 10**9, "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_bytes(text: str) -> int:
    """A byte count: ``1500000``, ``500KB``, ``4.2MB``, ``2MiB``, ``1GB`` (decimal and binary)."""
    match = _BYTES.fullmatch(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a byte count: give e.g. 5000000, 500KB, 4MB or 2MiB")
    return int(float(match.group(1)) * _UNITS[(match.group(2) or "B").upper()])


def over_budget(rollout: Rollout, max_pull: int | None, max_new: int | None) -> list[str]:
    """One line per image (ours) that would pull more than ``max_pull``, and for the fleet."""
    lines = []
    for (image, platform), one in rollout.images[OURS].items():
        if max_pull is not None and one.pull_image > max_pull:
            lines.append(
                f"{image} ({platform}): a node with its previous version pulls "
                f"{one.pull_image:,} bytes ({one.added} layers), over --max-pull {max_pull:,}"
            )
    new = rollout.registry_new[OURS]
    if max_new is not None and new > max_new:
        lines.append(
            f"the fleet: the registry stores {new:,} bytes new, over --max-new {max_new:,}"
        )
    return lines


def _mb(n: int) -> str:
    return f"{n / MIB:.2f} MiB" if n >= MIB // 10 else f"{n / 1024:.1f} KiB"


def render(rollout: Rollout) -> str:
    """The rollout as text: a line per image and platform, then the fleet's totals."""
    ways = list(rollout.images)
    lines = [f"rollout of fleet {rollout.fleet}: compressed bytes pulled and stored"]
    same = [
        f"{i} ({p})" for (i, p), one in rollout.images[OURS].items() if one.status == "unchanged"
    ]
    for key, one in rollout.images[OURS].items():
        image, platform = key
        if one.status == "unchanged":
            continue
        lines.append("")
        lines.append(
            f"{image} ({platform}): {one.status}; layers +{one.added} ={one.kept} -{one.dropped}"
            + (f"; config and manifest {one.metadata_bytes:,} bytes" if one.metadata_bytes else "")
        )
        for way in ways:
            w = rollout.images[way][key]
            mark = "" if rollout.exact[way] else "~"
            lines.append(
                f"  {way:<18} pull {mark}{_mb(w.pull_image):>11} (previous image)"
                f"  {mark}{_mb(w.pull_fleet):>11} (node with all previous images)"
            )
    if same:
        lines += ["", f"unchanged, nothing to pull: {', '.join(same)}"]
    lines.append("")
    lines.append("the registry stores new (each blob once; ~: an upper bound):")
    for way in ways:
        mark = "" if rollout.exact[way] else "~"
        lines.append(f"  {way:<18} {mark}{_mb(rollout.registry_new[way])}")
    return "\n".join(lines)


def markdown(rollout: Rollout) -> str:
    """A short table fit for a code-review comment."""
    base = BASELINES[0]
    lines = [
        f"**Rollout of `{rollout.fleet}`** (compressed bytes a node pulls; "
        f"baseline: {base.replace('-', ' ')})",
        "",
        "| image | platform | layers +/-/= | pull | pull, baseline |",
        "|---|---|---|---|---|",
    ]
    for (image, platform), one in rollout.images[OURS].items():
        if one.status == "unchanged":
            continue
        b = rollout.images[base][(image, platform)]
        lines.append(
            f"| `{image}` | {platform} | +{one.added} / -{one.dropped} / ={one.kept} | "
            f"{_mb(one.pull_image)} | {_mb(b.pull_image)} |"
        )
    unchanged = sum(1 for one in rollout.images[OURS].values() if one.status == "unchanged")
    lines += [
        "",
        f"{unchanged} images unchanged. The registry stores {_mb(rollout.registry_new[OURS])} new"
        f" (baseline: {_mb(rollout.registry_new[base])}).",
    ]
    return "\n".join(lines)


def to_json(rollout: Rollout) -> dict[str, Any]:
    ways: dict[str, Any] = {}
    for way, per in rollout.images.items():
        images: dict[str, dict[str, Any]] = {}
        for (image, platform), one in per.items():
            doc = asdict(one)
            doc["added_digests"] = list(one.added_digests)
            images.setdefault(image, {})[platform] = doc
        ways[way] = {
            "exact": rollout.exact[way],
            "images": images,
            "registry_new": rollout.registry_new[way],
        }
    return {"fleet": rollout.fleet, "format": "rules_pyimage.fleet-rollout/v1", "layerings": ways}
