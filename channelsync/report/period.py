"""The span a report covers, the zone its days are counted in, and parsing them from text.

A report counts an order in the period when the buyer placed it (``created_at``) at or
after ``since`` and before ``until``. Days are calendar days in the report's time zone,
so a shop in Shanghai sees its sales per Shanghai day, not per UTC day.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from channelsync.report.errors import ReportOptionError

__all__ = ["ReportPeriod", "parse_moment", "parse_zone"]


@dataclass(frozen=True, slots=True)
class ReportPeriod:
    """Orders placed from ``since`` (inclusive) to ``until`` (exclusive), days in ``zone``."""

    since: datetime
    until: datetime
    zone: tzinfo

    def __post_init__(self) -> None:
        if self.since.tzinfo is None or self.until.tzinfo is None:
            raise ReportOptionError("period", "since and until must be timezone-aware")
        if self.since >= self.until:
            raise ReportOptionError(
                "--since",
                f"{self.since.isoformat()} is not before --until {self.until.isoformat()}",
            )

    @property
    def zone_name(self) -> str:
        """The zone's name as the user gave it (``UTC``, ``Asia/Shanghai``)."""
        return str(self.zone)

    def contains(self, moment: datetime) -> bool:
        """Whether ``moment`` falls in the period."""
        return self.since <= moment < self.until

    def day_of(self, moment: datetime) -> date:
        """Return the calendar day of ``moment`` in the report's zone."""
        return moment.astimezone(self.zone).date()

    def days(self) -> Iterator[date]:
        """Yield every calendar day the period touches, in the report's zone, in order."""
        day = self.day_of(self.since)
        # ``until`` is exclusive: the last day is the one holding the instant just before it.
        last = self.day_of(self.until - timedelta(microseconds=1))
        while day <= last:
            yield day
            day += timedelta(days=1)


def parse_zone(value: str) -> tzinfo:
    """Return the IANA time zone called ``value`` (``UTC``, ``Asia/Shanghai``).

    Raises :class:`ReportOptionError` naming ``--tz`` for an unknown zone.
    """
    name = value.strip()
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ReportOptionError(
            "--tz", f"{value!r} is not a known IANA time zone (e.g. UTC, Asia/Shanghai)"
        ) from None


def parse_moment(value: str, zone: tzinfo, *, option: str, end_of_day: bool = False) -> datetime:
    """Read an ISO date or date-time given on the command line as an aware datetime.

    A value without an offset is read in ``zone`` (the report's zone), so
    ``--since 2026-11-01 --tz Asia/Shanghai`` starts at Shanghai midnight. A bare date
    with ``end_of_day`` (used for ``--until``) means the end of that day, so
    ``--until 2026-11-30`` includes the 30th.
    """
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            if end_of_day:
                day += timedelta(days=1)
            return datetime.combine(day, time(), tzinfo=zone)
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise ReportOptionError(
            option, f"{value!r} is not an ISO date (2026-11-01) or date-time"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=zone)
