"""Why a fleet's lock is not the plan made from it: one line per reason, none if current."""

from __future__ import annotations

import json

from pyimage import planner
from pyimage.errors import PyimageError
from pyimage.formats import lock
from pyimage.formats.lock import LockFile, LockImage


def _image_reasons(name: str, old: LockImage, new: LockImage) -> list[str]:
    had = {p: d for lay in old.layers for p, d in lay.marks.items()}
    has = {p: d for lay in new.layers for p, d in lay.marks.items()}
    had_ids = set(lock.members(old))
    has_ids = set(lock.members(new))
    reasons = [f"image {name}: package {p} is not in the lock" for p in sorted(has_ids - had_ids)]
    reasons += [
        f"image {name}: package {p} is in the lock but not in the image"
        for p in sorted(had_ids - has_ids)
    ]
    reasons += [
        f"image {name}: package {p} is not the bytes the lock records"
        f" ({has.get(p) or 'none'} where the lock has {had.get(p) or 'none'})"
        for p in sorted(had_ids & has_ids)
        if had.get(p) != has.get(p)
    ]
    if old.libraries != new.libraries:
        reasons.append(
            f"image {name}: its library layers are {list(new.libraries) or 'none'}, the lock has"
            f" {list(old.libraries) or 'none'}"
        )
    if old.platform != new.platform:
        reasons.append(
            f"image {name}: the lock has it for {old.platform}, it is built for {new.platform}"
        )
    if not reasons and old != new:
        reasons.append(f"image {name}: its layers or settings differ from the lock")
    return reasons


def _shown(declared: planner.Declared) -> str:
    return json.dumps(declared.to_json(), sort_keys=True) if declared else "none"


def compare(lock_path: str | None, fresh: LockFile) -> list[str]:
    """Why the lock at ``lock_path`` is not ``fresh``, the plan made from it.

    A lock that does not parse (a merge conflict, a hand edit) is a reason
    too, not an error: the fleet's test says so and `.update` rewrites it.
    """
    if not lock_path:
        return ["there is no lock file yet"]
    try:
        old = lock.read(lock_path, "fleet lock")
    except lock.NewerFormatError:
        raise
    except PyimageError as err:
        return [f"it does not parse as a fleet lock ({err})"]
    if lock.same(old.document, fresh.document):
        return []
    if not old.current:
        return [
            f"the lock is in {old.format_name}, not {lock.FORMAT} (which records each image's"
            " platform, each package's diff_id and the label it is built from, the"
            " layers the fleet declares, each image's library layers and each declared group's"
            " own compression); `.update` migrates it"
        ]
    reasons = []
    if old.declared != fresh.declared:
        reasons.append(
            f"the fleet declares layers {_shown(fresh.declared)}, the lock has"
            f" {_shown(old.declared)}"
        )
    for name in sorted(set(old.images) | set(fresh.images)):
        if name not in old.images:
            reasons.append(f"image {name} is not in the lock")
        elif name not in fresh.images:
            reasons.append(
                f"image {name} is in the lock but no longer in the fleet (the other images"
                " build as they are; `.update` drops it)"
            )
        else:
            reasons += _image_reasons(name, old.images[name], fresh.images[name])
    return reasons or ["the lock differs from the plan (its packages' labels or settings)"]


def read_previous(path: str | None) -> tuple[LockFile | None, str]:
    """The lock a fleet plans from, and a note: one that does not parse is planned anew.

    A lock of a newer format than this code reads is an error, never
    overwritten (:class:`pyimage.formats.lock.NewerFormatError`).
    """
    if not path:
        return None, ""
    try:
        return lock.read(path, "fleet lock"), ""
    except lock.NewerFormatError:
        raise
    except PyimageError as err:
        return None, (
            f"pyimage: note: {err.args[0] if err.args else err}; the fleet is planned anew"
            " (no layer of the unreadable lock is kept)"
        )
