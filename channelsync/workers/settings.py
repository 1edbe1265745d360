"""The ``[workers]`` table: the job queue's own timings for ``channelsync worker``.

What the steps do and how often is the ``[daemon]`` table's, shared with ``channelsync
run``; this table holds what only a cluster of workers has: heartbeats, how long a
silent worker's jobs wait before another worker takes them, how often those are looked
for, how often a worker looks for jobs without a notification, and how often a failed
step is retried. It needs nothing optional: the configuration reads it whether or not
the ``workers`` extra is installed.
"""

from __future__ import annotations

import pydantic
from pydantic import BaseModel, ConfigDict, Field

from channelsync.errors import ConfigurationError

__all__ = ["SWEEP_PERIODS", "WorkersSettings", "parse_workers"]

#: Sweep periods a seconds-field cron can keep (they divide a minute).
SWEEP_PERIODS = (1, 2, 3, 4, 5, 6, 10, 12, 15, 20, 30, 60)


class WorkersSettings(BaseModel):
    """The ``[workers]`` table (seconds).

    ``heartbeat_every``: how often a worker tells it is alive; ``stalled_after``: how
    long a silent worker's jobs wait before another worker takes them (at least three
    heartbeats, so a busy worker is not taken for dead; a step run twice is harmless
    but wasteful, and the first one's commits are refused); ``sweep_every``: how often
    such jobs are looked for (a divisor of a minute); ``poll_every``: how often a
    worker looks for jobs when no notification came; ``retries``: how often a failed
    step is tried again before the clock queues it at its next turn.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    heartbeat_every: float = Field(default=10, gt=0)
    stalled_after: float = Field(default=60, gt=0)
    sweep_every: int = 15
    poll_every: float = Field(default=5, gt=0)
    retries: int = Field(default=5, ge=0)

    @pydantic.field_validator("sweep_every")
    @classmethod
    def _divides_a_minute(cls, value: int) -> int:
        if value not in SWEEP_PERIODS:
            raise ValueError(
                f"sweep_every must divide a minute: one of {', '.join(map(str, SWEEP_PERIODS))}"
            )
        return value

    @pydantic.model_validator(mode="after")
    def _check(self) -> WorkersSettings:
        if self.stalled_after < 3 * self.heartbeat_every:
            raise ValueError(
                f"stalled_after ({self.stalled_after:g}) must be at least three heartbeats "
                f"({3 * self.heartbeat_every:g} with heartbeat_every = "
                f"{self.heartbeat_every:g}), or a live worker would be taken for dead"
            )
        return self


def parse_workers(raw: object, where: str) -> WorkersSettings:
    """Check the ``[workers]`` table of a configuration file."""
    if not isinstance(raw, dict):
        raise ConfigurationError("'workers' must be a table, written as [workers]", path=where)
    try:
        return WorkersSettings.model_validate(raw)
    except pydantic.ValidationError as exc:
        error = exc.errors()[0]
        loc = ".".join(str(part) for part in error["loc"]) or "workers"
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            allowed = ", ".join(WorkersSettings.model_fields)
            message = f"unknown key; allowed: {allowed}"
        elif error["loc"] and isinstance(error["input"], str | int | float | bool):
            message = f"{message} (got {error['input']!r})"
        raise ConfigurationError(message, path=where, field=f"workers.{loc}") from None
