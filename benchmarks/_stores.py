"""A fresh store for a benchmark run: a SQLite file, or a PostgreSQL schema dropped after."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote


@contextlib.contextmanager
def fresh_store_url(base: str | None, directory: Path, name: str) -> Iterator[str]:
    """Yield a fresh store URL: ``name``.db in ``directory``, or a new schema on ``base``."""
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
        yield f"{plain}{separator}options={quote(f'-csearch_path={schema}')}"
    finally:
        with psycopg.connect(plain, autocommit=True) as connection:
            connection.execute(f'DROP SCHEMA "{schema}" CASCADE')
