"""Visibility samples and figures on SQLAlchemy Core."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from typing_extensions import override

from channelsync.store import schema as t
from channelsync.store.base import StoreSession
from channelsync.store.sql._common import SqlPart
from channelsync.store.visibility import VisibilityFigure

__all__ = ["KEPT_SAMPLES", "SqlVisibility", "visibility_figure"]

#: Samples kept per channel and mode: the figure follows the last ones only.
KEPT_SAMPLES = 100
#: The share of recent orders seen within the figure: a high percentile, since the
#: planner guards against the slow end, not the typical order.
_SHARE = 0.9


def visibility_figure(samples: Sequence[float]) -> float:
    """Return the nearest-rank 90th percentile of ``samples`` (seconds)."""
    ordered = sorted(samples)
    return ordered[max(1, math.ceil(_SHARE * len(ordered))) - 1] if ordered else 0.0


class SqlVisibility(SqlPart, StoreSession):
    """The visibility operations of a SQL store transaction."""

    @override
    def record_visibility(
        self, samples: Mapping[tuple[str, str], Sequence[float]], now: datetime
    ) -> None:
        v = t.visibility.c
        for (channel, mode), new in samples.items():
            if not new:
                continue
            where = (v.channel == channel) & (v.mode == mode)
            row = self._c.execute(select(v.samples).where(where)).first()
            kept = [float(x) for x in (row.samples if row is not None else [])]
            kept = [*kept, *(max(0.0, float(x)) for x in new)][-KEPT_SAMPLES:]
            values = {"samples": kept, "delay_s": visibility_figure(kept), "updated_at": now}
            if row is None:
                self._c.execute(insert(t.visibility).values(channel=channel, mode=mode, **values))
            else:
                self._c.execute(update(t.visibility).where(where).values(**values))

    @override
    def visibility(self) -> dict[tuple[str, str], VisibilityFigure]:
        v = t.visibility.c
        return {
            (row.channel, row.mode): VisibilityFigure(
                channel=row.channel,
                mode=row.mode,
                delay_s=float(row.delay_s),
                samples=len(row.samples),
                updated_at=row.updated_at,
            )
            for row in self._c.execute(
                select(v.channel, v.mode, v.delay_s, v.samples, v.updated_at)
            )
        }
