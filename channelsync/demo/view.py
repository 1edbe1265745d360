"""What the demo shows: per channel, stock shown, orders imported, updates sent, throttles."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from rich.table import Table

__all__ = ["ChannelRow", "plain_lines", "table"]


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
