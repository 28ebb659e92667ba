"""How plans read as text: the table rows shared by every report command."""

from __future__ import annotations

from collections.abc import Sequence

MIB = 1 << 20


def members_text(members: Sequence[str], limit: int = 4) -> str:
    """The first ``limit`` members, then how many more."""
    more = f", +{len(members) - limit} more" if len(members) > limit else ""
    return ", ".join(members[:limit]) + more


def layer_line(number: int, size: int, members: Sequence[str], reason: str) -> str:
    """One layer of a plan as a table row: number, size, member count, reason, members."""
    shown = members_text(members)
    return f"  {number:>3} {size / MIB:9.2f} MiB  {len(members):>3} pkg  {reason}: {shown}"
