"""The planner's statistics gathered again after a transaction writes a table in bulk."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.store import SqlStore, open_store
from channelsync.store.sql import statistics
from channelsync.store.sql.statistics import MIN_ROWS

pytestmark = pytest.mark.postgres


@pytest.fixture
def store(postgres_url: str) -> Iterator[SqlStore]:
    """A fresh store whose SKUs autovacuum leaves alone: only the store analyses them."""
    opened = open_store(postgres_url)
    assert isinstance(opened, SqlStore)
    with opened.engine.begin() as connection:
        connection.execute(text("ALTER TABLE skus SET (autovacuum_enabled = false)"))
    yield opened
    opened.close()


def load(store: SqlStore, first: int, count: int) -> None:
    """Import ``count`` SKUs numbered from ``first`` in one transaction."""
    rows = "".join(f"SKU-{i:06d},Item {i},9.90,CNY,5\n" for i in range(first, first + count))
    catalogue = parse_catalogue("sku,title,price,currency,quantity\n" + rows, "csv")
    import_catalogue(store, catalogue, now=FakeClock().now())


def analysed_rows(store: SqlStore) -> float:
    """The rows PostgreSQL last counted in ``skus`` (-1: never analysed)."""
    with store.engine.connect() as connection:
        found = connection.execute(
            text("SELECT reltuples FROM pg_class WHERE oid = 'skus'::regclass")
        ).scalar()
    assert found is not None
    return float(found)


def test_a_bulk_write_into_a_table_never_analysed_analyses_it(store: SqlStore) -> None:
    load(store, 0, MIN_ROWS)
    assert analysed_rows(store) == MIN_ROWS


def test_a_few_rows_leave_the_statistics_to_autovacuum(store: SqlStore) -> None:
    load(store, 0, 10)
    assert analysed_rows(store) <= 0


def test_a_table_is_analysed_again_once_it_has_doubled(store: SqlStore) -> None:
    load(store, 0, 3_000)
    assert analysed_rows(store) == 3_000
    load(store, 3_000, 1_000)  # a third more: the statistics still fit
    assert analysed_rows(store) == 3_000
    load(store, 4_000, 5_000)
    assert analysed_rows(store) == 9_000


def test_statistics_that_cannot_be_gathered_leave_the_commit_standing(
    store: SqlStore, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def refused(*args: object) -> list[str]:
        raise OperationalError("ANALYZE skus", {}, Exception("permission denied"))

    monkeypatch.setattr(statistics, "_stale", refused)
    with caplog.at_level(logging.WARNING, logger=statistics.__name__):
        load(store, 0, MIN_ROWS)
    with store.transaction() as session:
        assert len(session.skus([f"SKU-{i:06d}" for i in range(MIN_ROWS)])) == MIN_ROWS
    assert analysed_rows(store) <= 0
    assert "statistics of ledger_events, skus, stock not gathered" in caplog.text
    assert "permission denied" in caplog.text
