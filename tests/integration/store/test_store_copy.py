"""Moving a SQLite store to PostgreSQL: every row copied, ids and sequences intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select, text

from channelsync.clock import FakeClock
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.ledger import adjust_stock
from channelsync.errors import ConfigurationError
from channelsync.store import SqlStore, open_store
from channelsync.store.schema import metadata
from channelsync.store.sql.copying import copy_store

pytestmark = pytest.mark.postgres

CATALOGUE = """sku,title,price,currency,quantity,warehouse,components
TEAPOT,Teapot,80.00,CNY,10,WH-A,
CUP,Cup,15.00,CNY,40,WH-A,
CUP,Cup,15.00,CNY,8,WH-B,
GIFT,Gift set,120.00,CNY,,,TEAPOT*1;CUP*4
"""


def sqlite_store(tmp_path: Path) -> SqlStore:
    clock = FakeClock()
    store = open_store(f"sqlite:///{tmp_path / 'state.db'}")
    assert isinstance(store, SqlStore)
    import_catalogue(store, parse_catalogue(CATALOGUE, "csv"), now=clock.now())
    adjust_stock(store, "CUP", -3, key="breakage", now=clock.now(), warehouse="WH-B")
    return store


def rows(store: SqlStore) -> dict[str, list[tuple[object, ...]]]:
    with store.engine.connect() as connection:
        return {
            table.name: [
                tuple(row)
                for row in connection.execute(select(table).order_by(*table.primary_key.columns))
            ]
            for table in metadata.sorted_tables
        }


def test_every_row_reaches_postgresql_as_it_was(tmp_path: Path, postgres_url: str) -> None:
    source = sqlite_store(tmp_path)
    target = open_store(postgres_url)
    assert isinstance(target, SqlStore)
    try:
        report = copy_store(source, target)
        assert report.rows["skus"] == 3
        assert report.rows["kit_components"] == 2
        assert report.rows["ledger_events"] == 4  # three rows imported, one adjustment
        assert rows(target) == rows(source)
        with target.transaction() as session:
            kit = session.skus(["GIFT"])[0]
            assert [c.merchant_code for c in session.components_of([kit.id])[kit.id]] == [
                "CUP",
                "TEAPOT",
            ]
            assert session.warehouse_stock([session.skus(["CUP"])[0].id])
        # The id sequences moved past the copied ids: new rows do not collide.
        adjust_stock(target, "TEAPOT", 1, key="count", now=FakeClock().now(), warehouse="WH-A")
        # Analysed for the planner: a copy is a bulk load of every table.
        with target.engine.connect() as connection:
            counted = connection.execute(
                text("SELECT reltuples FROM pg_class WHERE oid = 'kit_components'::regclass")
            ).scalar()
        assert counted == 2
    finally:
        source.close()
        target.close()


def test_a_target_that_holds_rows_is_refused_and_left_as_it_was(
    tmp_path: Path, postgres_url: str
) -> None:
    source = sqlite_store(tmp_path)
    target = open_store(postgres_url)
    assert isinstance(target, SqlStore)
    try:
        import_catalogue(
            target,
            parse_catalogue("sku,title,price,currency,quantity\nMUG,Mug,1.00,CNY,1\n", "csv"),
            now=FakeClock().now(),
        )
        before = rows(target)
        with pytest.raises(ConfigurationError, match="not empty: table 'skus' holds rows"):
            copy_store(source, target)
        assert rows(target) == before
    finally:
        source.close()
        target.close()
