"""Layers users declare on top of the automatic plan: pinned groups and packages alone (pure).

A declaration names packages by their name or a glob of names
(``nvidia-*``), matched against each package's normalized name (the part of
its id before ``==``). In each image, the members of a group it holds form
one layer (torch without nvidia-* on a CPU image is a group of one), and
each package declared alone is a layer of its own; the planner plans the
other packages around them, under the same cap. Images holding the same
members get the same layer, so a declared layer is shared as any other. A
group may choose its layer's compression (:attr:`Declared.compression`):
the planner plans it as any other; the image writes it so
(:func:`pyimage.engine.layer.merge`, ``into``).
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from pyimage.errors import PyimageError

#: A declared group's name: what its layers' reason and the lock say.
_GROUP_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
#: A pattern: a normalized package name, with ``*``, ``?`` and ``[...]`` globs.
_PATTERN = re.compile(r"[a-z0-9*?\[\]!][a-z0-9*?\[\]!-]*")

REASON_GROUP = "declared layer group"
REASON_ALONE = "declared alone"
#: How :func:`_owner` names ``alone_packages``: no group's name (a name is never empty).
_ALONE = ""
#: The compressions a group may choose: the engine's (pyimage.engine.compression).
COMPRESSIONS = ("gzip", "zstd")


@dataclass(frozen=True)
class Declared:
    """Layer groups (name -> patterns), patterns of packages that stay alone, and the
    groups that choose their layer's compression (name -> ``gzip`` or ``zstd``)."""

    groups: tuple[tuple[str, tuple[str, ...]], ...] = ()
    alone: tuple[str, ...] = ()
    compression: tuple[tuple[str, str], ...] = ()

    def __bool__(self) -> bool:
        return bool(self.groups or self.alone)

    def to_json(self) -> dict[str, object]:
        """The declaration as the lock and the fleet's inputs record it."""
        out: dict[str, object] = {
            "alone": list(self.alone),
            "groups": {n: list(p) for n, p in self.groups},
        }
        if self.compression:
            out["compression"] = dict(self.compression)
        return out

    def compression_of(self, members: Iterable[str]) -> str | None:
        """The compression a layer of ``members`` (package ids) has by declaration: that of
        the one group they all belong to, when it chooses one; else None (the image's)."""
        owners = {tuple(_owner(self, package_name(pid))) for pid in members}
        if len(owners) != 1:
            return None
        (owner,) = owners
        return dict(self.compression).get(owner[0]) if len(owner) == 1 else None


#: No declaration: the automatic plan alone.
NOTHING = Declared()


def declared(
    groups: Mapping[str, Sequence[str]],
    alone: Sequence[str],
    where: str,
    compression: Mapping[str, str] | None = None,
) -> Declared:
    """A checked declaration; one error line naming ``where`` and the fix otherwise.

    Names must be simple (letters, digits, ``_.-``), patterns lowercase
    normalized names (``-`` for ``_`` and ``.``) with globs; no pattern may
    be given twice, in one group, two groups or a group and ``alone``. Each
    list is kept sorted: the order it was given in changes no plan, and so
    no lock. ``compression`` names declared groups, each with one of
    :data:`COMPRESSIONS`.
    """
    seen: dict[str, str] = {}

    def claim(pattern: object, owner: str) -> str:
        if isinstance(pattern, str) and pattern.startswith(("//", "@", ":")):
            raise PyimageError(
                f"{where}: {owner} holds {pattern!r}, a label: a first-party library is a"
                ' layer of its own by its tag (tags = ["pyimage_layer"]), never in a group'
                " nor alone; give pip package names here"
            )
        if not isinstance(pattern, str) or not _PATTERN.fullmatch(pattern):
            raise PyimageError(
                f"{where}: {owner} holds {pattern!r}, not a package name or glob; give"
                " normalized names (lowercase, '-' for '_' and '.'), e.g. 'nvidia-*'"
            )
        if pattern in seen:
            raise PyimageError(
                f"{where}: {pattern!r} is in {seen[pattern]} and in {owner}; give it once"
            )
        seen[pattern] = owner
        return pattern

    out = []
    for name in sorted(groups):
        if not isinstance(name, str) or not _GROUP_NAME.fullmatch(name):
            raise PyimageError(
                f"{where}: layer group name {name!r} must be letters, digits, '_', '.' or '-'"
            )
        patterns = groups[name]
        if not patterns:
            raise PyimageError(f"{where}: layer group {name!r} is empty; give its packages")
        out.append((name, tuple(sorted(claim(p, f"layer group {name!r}") for p in patterns))))
    chosen = dict(compression or {})
    for name, value in sorted(chosen.items()):
        if name not in groups:
            raise PyimageError(
                f"{where}: group_compression names {name!r}, which is no layer group; name a"
                f" group of layer_groups ({', '.join(sorted(groups)) or 'there is none'})"
            )
        if value not in COMPRESSIONS:
            raise PyimageError(
                f"{where}: layer group {name!r} chooses compression {value!r}; use one of"
                f" {', '.join(COMPRESSIONS)}"
            )
    return Declared(
        tuple(out),
        tuple(sorted(claim(p, "alone_packages") for p in alone)),
        tuple(sorted(chosen.items())),
    )


def check_compressions(declared: Declared, images: str, where: str) -> None:
    """No group chooses the compression its images have anyway (``images``); one error
    line naming ``where``, the group and the fix otherwise."""
    for name, value in declared.compression:
        if value == images:
            raise PyimageError(
                f"{where}: layer group {name!r} chooses compression {value}, which every layer"
                " has anyway; drop it from group_compression"
            )


def package_name(pid: str) -> str:
    """The normalized name of a package id (``name==version``, maybe with build fields)."""
    return pid.split("==", 1)[0].split(" ", 1)[0]


def _owner(declared: Declared, name: str) -> list[str]:
    """Every declaration whose pattern matches ``name``: group names, or ``_ALONE``."""
    owners = [
        g for g, patterns in declared.groups if any(fnmatch.fnmatchcase(name, p) for p in patterns)
    ]
    if any(fnmatch.fnmatchcase(name, p) for p in declared.alone):
        owners.append(_ALONE)
    return owners


def check_used(declared: Declared, packages: Iterable[str], where: str) -> None:
    """Every pattern matches a package of ``packages``: all the declaration is for (a
    fleet's images, or an image and its index's other platforms); one error line
    naming ``where`` otherwise. (An image of a fleet may hold none of a group.)"""
    names = {package_name(p) for p in packages}
    for owner, patterns in [*declared.groups, (_ALONE, declared.alone)]:
        for pattern in patterns:
            if not any(fnmatch.fnmatchcase(n, pattern) for n in names):
                raise PyimageError(
                    f"{where}: {_shown(owner)}: {pattern!r} matches no package it holds;"
                    " fix the name or drop it"
                )


def check(declared: Declared, packages: Iterable[str], where: str) -> None:
    """No package of ``packages`` is claimed by two declarations; one error line naming
    ``where``, the package and both otherwise."""
    for pid in sorted(set(packages)):
        owners = _owner(declared, package_name(pid))
        if len(owners) > 1:
            raise PyimageError(
                f"{where}: package {package_name(pid)} is claimed by "
                f"{' and '.join(_shown(o) for o in owners)}; give it to one"
            )


def _shown(owner: str) -> str:
    return "alone_packages" if owner == _ALONE else f"layer group {owner!r}"


def layers_of(declared: Declared, packages: Sequence[str]) -> list[tuple[str, tuple[str, ...]]]:
    """The declared layers of an image holding ``packages``: (reason, sorted members) each.

    Groups in name order, then each package alone, by id.
    """
    members: dict[str, list[str]] = {}
    alone = []
    for pid in sorted(packages):
        owners = _owner(declared, package_name(pid))
        if owners == [_ALONE]:
            alone.append(pid)
        elif owners:
            members.setdefault(owners[0], []).append(pid)
    out = [
        (f"{REASON_GROUP} {name}", tuple(members[name]))
        for name, _ in declared.groups
        if name in members
    ]
    return out + [(REASON_ALONE, (pid,)) for pid in alone]
