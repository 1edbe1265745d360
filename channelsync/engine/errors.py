"""The engine's own errors: input a person gave that cannot be used."""

from __future__ import annotations

from dataclasses import dataclass

from channelsync.errors import ChannelSyncError

__all__ = ["InputError", "Problem"]


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a file or a request: where (row, field) and what."""

    message: str
    row: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = []
        if self.row is not None:
            where.append(f"row {self.row}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class InputError(ChannelSyncError):
    """A file or argument a person gave is wrong; nothing was changed.

    ``problems`` lists every problem found, each naming its row and field, so one run
    reports them all rather than the first.
    """

    def __init__(self, source: str, problems: list[Problem]) -> None:
        self.source = source
        self.problems = problems
        shown = "; ".join(str(p) for p in problems[:20])
        more = f" (and {len(problems) - 20} more)" if len(problems) > 20 else ""
        count = f"{len(problems)} problem{'s' if len(problems) != 1 else ''}"
        super().__init__(f"{source}: {count}, nothing was changed: {shown}{more}")
