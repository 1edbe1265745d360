"""A fresh store for a benchmark run: a SQLite file, or a PostgreSQL schema dropped after."""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote


@contextlib.contextmanager
def fresh_store_url(
    base: str | None, directory: Path, name: str, *, application: str | None = None
) -> Iterator[str]:
    """Yield a fresh store URL: ``name``.db in ``directory``, or a new schema on ``base``.

    ``application`` names the PostgreSQL connections (their ``application_name``), so
    :class:`ServerCpu` can find the server's processes serving them.
    """
    if base is None:
        yield f"sqlite:///{directory / f'{name}.db'}"
        return
    import psycopg  # noqa: PLC0415 - only a PostgreSQL run needs it

    plain = base.replace("postgresql+psycopg://", "postgresql://", 1)
    schema = f"cs_bench_{name}_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in plain else "?"
    try:
        named = "" if application is None else f"&application_name={application}"
        yield f"{plain}{separator}options={quote(f'-csearch_path={schema}')}{named}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')


class ServerCpu:
    """The CPU seconds spent by the server's processes serving one application name (on this host).

    Read from ``/proc``: on another host, or where the server's processes cannot be
    read, there is no figure (``None``). One clock tick is 10 ms: a median over ticks.
    """

    def __init__(self, server: str, application: str) -> None:
        import psycopg  # noqa: PLC0415 - only a PostgreSQL run needs it

        plain = server.replace("postgresql+psycopg://", "postgresql://", 1)
        self.connection = psycopg.connect(plain, autocommit=True)
        self.application = application
        self.tick = os.sysconf("SC_CLK_TCK")

    def snapshot(self) -> dict[int, float] | None:
        """Return the CPU seconds so far of each process serving the run."""
        rows = self.connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE application_name = %s", (self.application,)
        ).fetchall()
        found = {}
        for (pid,) in rows:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
            except OSError:
                return None
            # utime and stime: the 14th and 15th fields, the 12th and 13th after the name.
            found[int(pid)] = (int(fields[11]) + int(fields[12])) / self.tick
        return found

    @staticmethod
    def spent(before: dict[int, float] | None, after: dict[int, float] | None) -> float | None:
        """Return the seconds spent between two snapshots (a process new since: all of it)."""
        if before is None or after is None:
            return None
        return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())

    def close(self) -> None:
        self.connection.close()


class ServerWal:
    """The write-ahead log the server wrote, and its checkpoints, between two snapshots.

    Server-wide: every session's writes count, so a run measures alone. A checkpoint
    makes the next change of each page log the whole page (full-page writes), so a
    store written faster than ``max_wal_size`` allows between checkpoints logs more.
    """

    def __init__(self, server: str) -> None:
        import psycopg  # noqa: PLC0415 - only a PostgreSQL run needs it

        plain = server.replace("postgresql+psycopg://", "postgresql://", 1)
        self.connection = psycopg.connect(plain, autocommit=True)
        # PostgreSQL 17 moved the checkpoint counts out of pg_stat_bgwriter.
        self.counts = (
            "SELECT num_timed + num_requested FROM pg_stat_checkpointer"
            if self._one("SELECT to_regclass('pg_stat_checkpointer')") is not None
            else "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter"
        )

    def _one(self, query: str, *params: str) -> Any:
        row = self.connection.execute(query, params or None).fetchone()
        assert row is not None
        return row[0]

    def snapshot(self) -> tuple[str, int]:
        """Return the log's current position and the checkpoints so far."""
        return str(self._one("SELECT pg_current_wal_lsn()::text")), int(self._one(self.counts))

    def describe(self, before: tuple[str, int], after: tuple[str, int], updates: int) -> str:
        """Say how much log was written between two snapshots, per update too."""
        size = float(
            self._one("SELECT pg_wal_lsn_diff(%s::pg_lsn, %s::pg_lsn)", after[0], before[0])
        )
        return (
            f"PostgreSQL wrote {size / 2**30:.2f} GiB of WAL ({size / max(updates, 1) / 1024:.1f}"
            f" KiB per update sent), {after[1] - before[1]} checkpoint(s)"
        )

    def close(self) -> None:
        self.connection.close()
