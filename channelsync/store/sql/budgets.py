"""Rate budgets on SQLAlchemy Core: one row per (channel, operation), upserted."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import select
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import StoreSession
from channelsync.store.sql._common import SqlPart, upsert_insert

__all__ = ["SqlBudgets"]


class SqlBudgets(SqlPart, StoreSession):
    """The rate-budget operations of a SQL store transaction."""

    @override
    def rate_budgets(self, channel: str) -> dict[str, tuple[float, datetime]]:
        b = t.rate_budgets.c
        rows = self._c.execute(
            select(b.operation, b.tokens, b.saved_at).where(b.channel == channel)
        )
        return {operation: (float(tokens), at) for operation, tokens, at in rows}

    @override
    def save_rate_budgets(self, channel: str, levels: Mapping[str, float], now: datetime) -> None:
        if not levels:
            return
        insert = upsert_insert(self._c, t.rate_budgets)
        rows = [
            {"channel": channel, "operation": op, "tokens": float(tokens), "saved_at": now}
            for op, tokens in levels.items()
        ]
        self._c.execute(
            insert.on_conflict_do_update(
                index_elements=["channel", "operation"],
                set_={"tokens": insert.excluded.tokens, "saved_at": insert.excluded.saved_at},
            ),
            rows,
        )
