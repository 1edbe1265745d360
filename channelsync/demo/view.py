"""What the demo shows: per channel, stock shown, orders imported, updates sent, throttles.

And per kit (the gift set, the multipack): what its components make and what each
channel shows of it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table

from channelsync.demo.kits import KitRow

__all__ = ["ChannelRow", "kit_lines", "kit_table", "plain_lines", "table", "view"]


@dataclass(frozen=True)
class ChannelRow:
    """One channel's figures at one moment."""

    channel: str
    stock_shown: int
    orders_placed: int
    orders_imported: int
    updates_sent: int
    pending: int
    throttles: int


def table(rows: Sequence[ChannelRow], *, title: str, notes: Mapping[str, str]) -> Table:
    """Return the live view's table."""
    view = Table(title=title, caption="\n".join(f"{k}: {v}" for k, v in notes.items()))
    view.add_column("channel")
    for heading in (
        "stock shown",
        "orders placed",
        "orders imported",
        "updates sent",
        "queued",
        "throttles",
    ):
        view.add_column(heading, justify="right")
    for row in rows:
        view.add_row(
            row.channel,
            str(row.stock_shown),
            str(row.orders_placed),
            str(row.orders_imported),
            str(row.updates_sent),
            str(row.pending),
            str(row.throttles),
        )
    return view


def plain_lines(rows: Sequence[ChannelRow], *, prefix: str) -> list[str]:
    """Return one plain line per channel (for ``--headless``)."""
    return [
        f"{prefix} {row.channel}: stock shown {row.stock_shown}, orders "
        f"{row.orders_imported}/{row.orders_placed} imported, {row.updates_sent} updates sent, "
        f"{row.pending} queued, {row.throttles} throttled"
        for row in rows
    ]


def kit_table(rows: Sequence[KitRow]) -> Table:
    """Return the kits' table: components, what they make, and each channel's quantity."""
    channels = sorted({channel for row in rows for channel in row.shown})
    view = Table(
        title="kits: what their components make, and what each channel shows",
        caption="—: not listed on that channel",
    )
    view.add_column("kit")
    view.add_column("made of")
    view.add_column("makes", justify="right")
    for channel in channels:
        view.add_column(channel, justify="right")
    for row in rows:
        view.add_row(
            row.code,
            row.components,
            str(row.makes),
            *(_shown(row.shown.get(channel)) for channel in channels),
        )
    return view


def _shown(value: int | None) -> str:
    return "—" if value is None else str(value)


def view(
    rows: Sequence[ChannelRow],
    kits: Sequence[KitRow],
    *,
    title: str,
    notes: Mapping[str, str],
) -> Group | Table:
    """Return the live view: the channels' table, and the kits' beneath when there are any."""
    channels = table(rows, title=title, notes=notes)
    return Group(channels, kit_table(kits)) if kits else channels


def kit_lines(rows: Sequence[KitRow], *, prefix: str) -> list[str]:
    """Return one plain line per kit (for ``--headless`` and the summary)."""
    lines = []
    for row in rows:
        listed = sorted((c, q) for c, q in row.shown.items() if q is not None)
        absent = sorted(c for c, q in row.shown.items() if q is None)
        line = (
            f"{prefix} {row.kind} {row.code} = {row.components}: components make {row.makes}; "
            "shown on " + (", ".join(f"{channel} {shown}" for channel, shown in listed) or "none")
        )
        lines.append(line + (f" (not listed on {', '.join(absent)})" if absent else ""))
    return lines
