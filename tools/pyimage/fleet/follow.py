"""What one image keeps of its fleet lock (its slice), and what it says about the rest.

An image follows the lock where its packages are the bytes the lock records:
those layers it builds exactly as the lock says (the same groups as every
other image of the fleet). A layer with a member the image lacks is dropped;
one with a member of other bytes (a bump before the lock is updated, a
rebuilt package) is planned by the image alone, and the image says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from pyimage.engine.descriptor import LayerDescriptor
from pyimage.formats.lock import LockFile


@dataclass(frozen=True)
class Followed:
    """An image's part of its lock."""

    #: The layers to keep (lists of package ids); None: the image is not in the lock.
    layers: list[list[str]] | None
    #: Sorted member -> reason of each layer of the lock, by its sorted members.
    reasons: dict[tuple[str, ...], str]
    #: One line for the build's output, or "".
    note: str


def _mark(desc: LayerDescriptor, marks: str | None) -> str | None:
    return {"diff_ids": desc.diff_id, "digests": desc.digest}.get(marks or "")


def follow(
    lock: LockFile, image: str, own: Mapping[str, LayerDescriptor], platform: str
) -> Followed:
    """The layers of ``image`` (of ``platform``) whose every member is the image's own bytes.

    ``own`` maps the image's package ids to their descriptors. An image the
    lock records for another platform follows none of it.
    """
    entry = lock.images.get(image)
    if entry is None:
        return Followed(None, {}, f"pyimage: note: {image} is not in the fleet lock; planned alone")
    if entry.platform and entry.platform != platform:
        return Followed(
            None,
            {},
            f"pyimage: note: the fleet lock has {image} for {entry.platform}, not {platform};"
            " planned alone until the fleet's `.update` runs",
        )
    kept, changed = [], set()
    for lay in entry.layers:
        if not all(p in own for p in lay.packages):
            continue
        if len(lay.packages) == 1 and not lay.marks:
            kept.append(list(lay.packages))  # a lock from before digests: a package's own blob
            continue
        stale = {p for p in lay.packages if lay.marks.get(p) != _mark(own[p], lock.marks)}
        changed |= stale
        if not stale:
            kept.append(list(lay.packages))
    note = ""
    if not lock.current and lock.version:
        note = (
            f"pyimage: note: the fleet lock of {image} is in {lock.format_name}, which"
            f" records {lock.marks or 'no package digests'}; its layers are followed as far"
            " as that tells, until the fleet's `.update` migrates it"
        )
    elif changed:
        note = (
            f"pyimage: note: {image}: {', '.join(sorted(changed))} not the bytes the"
            " fleet lock records; their layers are planned for this image alone"
            " until the fleet's `.update` runs"
        )
    reasons = {tuple(sorted(lay.packages)): lay.reason for lay in entry.layers}
    return Followed(kept, reasons, note)
