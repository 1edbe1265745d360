"""Workspaces: many merchants in one store, nothing crossing from one to another.

Each test runs on a SQLite directory and (marker ``postgres``) on a PostgreSQL database
of its own, created for the test: its base schema is ``public``, as in a deployment,
and the workspaces' schemas (``cs_acme``) are dropped with it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy import create_engine, event, text

from channelsync.clock import FakeClock
from channelsync.config import check_workspace_name
from channelsync.engine.catalogue import import_catalogue, parse_catalogue
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ConfigurationError
from channelsync.store import (
    SqlStore,
    StoreLease,
    StoreLockedError,
    list_workspaces,
    open_store,
    workspace_figures,
)
from channelsync.store.sql import WORKSPACE_OPTION, current_revision, migrate
from channelsync.store.sql.engine import build_engine, newest_revision
from channelsync.store.sql.workspaces import create_schema
from channelsync.testing import MemoryChannel

NORTH = "sku,title,price,currency,quantity\nMUG,Mug,20.00,CNY,10\n"
SOUTH = "sku,title,price,currency,quantity\nMUG,Mug,25.00,CNY,4\nTEA,Tea,8.00,CNY,30\n"


@pytest.fixture
def database(postgres_database: str) -> str:
    """A database of its own on the test server (base schema ``public``)."""
    return postgres_database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store URL with nothing in it yet: a SQLite file, then a PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'state.db'}"
    found: str = request.getfixturevalue("database")
    return found


def opened(url: str, workspace: str | None = None, *, create: bool = False) -> SqlStore:
    store = open_store(url, workspace=workspace, create=create)
    assert isinstance(store, SqlStore)
    return store


def schemas(url: str) -> set[str]:
    with psycopg.connect(url) as connection:
        rows = connection.execute("SELECT nspname FROM pg_namespace").fetchall()
    return {row[0] for row in rows}


def shop(clock: FakeClock) -> MemoryChannel:
    found = MemoryChannel("tmall", clock=clock)
    found.add_listing("t-1", "MUG", sku_id="1")
    found.add_listing("t-2", "TEA", sku_id="2")
    return found


def test_a_fresh_store_is_the_default_workspace_in_the_urls_own_place(
    url: str, tmp_path: Path
) -> None:
    assert list_workspaces(url) == []
    with opened(url) as store:
        assert isinstance(store, SqlStore)
        assert (store.workspace, store.created, store.schema) == ("default", True, None)
    assert list_workspaces(url) == ["default"]
    if url.startswith("sqlite"):
        assert sorted(p.name for p in tmp_path.glob("state*.db")) == ["state.db"]
        return
    with psycopg.connect(url) as connection:
        tables = connection.execute(
            "SELECT schemaname FROM pg_tables WHERE tablename = 'skus'"
        ).fetchall()
    assert tables == [("public",)]  # the base schema holds it: no workspace schema


async def test_two_workspaces_never_see_each_others_catalogue_orders_or_outbox(
    url: str,
) -> None:
    clock = FakeClock()
    north, south = opened(url), opened(url, "south", create=True)
    try:
        assert (north.workspace, south.workspace, south.created) == ("default", "south", True)
        import_catalogue(north, parse_catalogue(NORTH, "csv"), now=clock.now())
        import_catalogue(south, parse_catalogue(SOUTH, "csv"), now=clock.now())
        # Both merchants call their Tmall shop "tmall": two marketplaces, one name.
        north_shop, south_shop = shop(clock), shop(clock)
        north_engine = SyncEngine(north, [north_shop], clock=clock)
        south_engine = SyncEngine(south, [south_shop], clock=clock)
        await north_engine.run_cycle()
        await south_engine.run_cycle()
        assert (north_shop.listing("MUG").quantity, south_shop.listing("MUG").quantity) == (10, 4)
        assert north_shop.listing("TEA").quantity == 0  # north has no TEA to show
        order = south_shop.place_order([("MUG", 3)], order_id="S-1")
        clock.advance(120)
        await north_engine.run_cycle()
        summary = await south_engine.run_cycle()
        assert summary.channels["tmall"].orders_imported == 1
        with south.transaction() as session:
            session.enqueue(
                channel="tmall",
                kind="price",
                key="tmall:TEA",
                payload={"amount": "9.00"},
                urgency=5,
                now=clock.now(),
            )
        with north.transaction() as session:
            assert session.orders(channel="tmall") == []
            assert [s.merchant_code for s in session.skus(["MUG", "TEA"])] == ["MUG"]
            (mug,) = session.skus(["MUG"])
            assert session.reservation("tmall", order.order_id, mug.id) == 0
            # Its own sends only (stock and price of MUG): not south's queued price.
            assert {(item.key, item.payload.get("sku_id")) for item in session.outbox()} == {
                ("t-1/1", "1")
            }
            assert [e.kind for e in session.ledger(mug.id)] == ["catalogue_import"]
        with south.transaction() as session:
            assert [o.order_id for o in session.orders(channel="tmall")] == ["S-1"]
            (mug,) = session.skus(["MUG"])
            assert session.reservation("tmall", "S-1", mug.id) == 3
            assert "tmall:TEA" in {item.key for item in session.outbox()}
        # Each merchant's shop shows its own stock: north's order-free 10, south's 4 - 3.
        assert (north_shop.listing("MUG").quantity, south_shop.listing("MUG").quantity) == (10, 1)
        figures = {f.name: (f.skus, f.channels) for f in workspace_figures(url)}
        assert figures == {"default": (1, 1), "south": (2, 1)}
    finally:
        north.close()
        south.close()


def test_each_workspace_is_migrated_on_its_own_with_its_own_version(url: str) -> None:
    opened(url).close()  # the default workspace at the newest revision
    if url.startswith("sqlite"):
        engine = build_engine(url.replace("state.db", "state.old.db"))
        with engine.begin() as connection:
            migrate(connection, "0010")
        engine.dispose()
    else:
        base = build_engine(url)
        old = base.execution_options(schema_translate_map={None: "cs_old"})
        with old.begin() as connection:
            assert create_schema(connection, "old")
            path = connection.execute(text("SHOW search_path")).scalar()
            migrate(connection, "0010")
            # The workspace's schema led the search path only while its migrations ran.
            assert connection.execute(text("SHOW search_path")).scalar() == path
        base.dispose()
    assert list_workspaces(url) == ["default", "old"]
    with opened(url, "old") as store:
        assert isinstance(store, SqlStore)
        with store.engine.connect() as connection:
            assert current_revision(connection) == newest_revision()
            # 0014 added reservations.warehouse with ALTER TABLE: in the workspace's table.
            connection.execute(text("SELECT warehouse FROM reservations")).all()
    with opened(url, "default") as store:
        assert isinstance(store, SqlStore)
        with store.engine.connect() as connection:
            assert current_revision(connection) == newest_revision()


@pytest.mark.parametrize(
    "name", ["Acme", "", "a" * 41, "a.b", "-acme", "_acme", "acme/eu", "acme eu", "ä", 7]
)
def test_a_bad_workspace_name_is_refused_naming_it(name: object, tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="is not a workspace name") as refused:
        check_workspace_name(name)
    assert repr(name) in str(refused.value)
    assert "lowercase letters, digits" in str(refused.value)
    with pytest.raises(ConfigurationError, match="is not a workspace name"):
        open_store(f"sqlite:///{tmp_path / 'state.db'}", workspace=name, create=True)  # type: ignore[arg-type]
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["acme", "a", "0", "acme-eu_2", "a" * 40, "default"])
def test_a_good_workspace_name_is_taken(name: str) -> None:
    assert check_workspace_name(name) == name


def test_none_named_opens_the_only_workspace_and_several_must_be_named(url: str) -> None:
    opened(url, "acme", create=True).close()
    with opened(url) as store:  # the store's only workspace, whatever its name
        assert isinstance(store, SqlStore)
        assert store.workspace == "acme"
    opened(url, "default", create=True).close()
    with pytest.raises(ConfigurationError) as refused:
        opened(url)
    message = str(refused.value)
    assert "this store holds 2 workspaces (default, acme)" in message
    assert "--workspace NAME" in message


def test_an_unknown_workspace_is_refused_and_nothing_is_created(url: str, tmp_path: Path) -> None:
    opened(url).close()
    before = schemas(url) if url.startswith("postgres") else set(tmp_path.iterdir())
    with pytest.raises(ConfigurationError) as refused:
        opened(url, "nope")
    message = str(refused.value)
    assert "no workspace 'nope' (it has: default)" in message
    assert "channelsync workspaces create nope" in message
    after = schemas(url) if url.startswith("postgres") else set(tmp_path.iterdir())
    assert after == before
    assert list_workspaces(url) == ["default"]


def test_the_daemon_lease_is_per_workspace(url: str) -> None:
    clock = FakeClock()
    north, south = opened(url), opened(url, "south", create=True)
    try:
        StoreLease(north.engine, ttl=30, clock=clock, host="a", pid=1).acquire()
        StoreLease(south.engine, ttl=30, clock=clock, host="b", pid=2).acquire()
        with pytest.raises(StoreLockedError, match="workspace 'south'") as refused:
            StoreLease(south.engine, ttl=30, clock=clock, host="c", pid=3).acquire()
        assert refused.value.holder.host == "b"
    finally:
        north.close()
        south.close()


@pytest.mark.postgres
def test_another_stores_workspaces_in_the_database_are_neither_listed_nor_taken(
    database: str,
) -> None:
    # A second store in the same database, in its own schema (a search path option).
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA other")
    other = f"{database}?options=-csearch_path%3Dother"
    opened(other, "beta", create=True).close()
    opened(database).close()
    assert list_workspaces(other) == ["beta"]
    assert list_workspaces(database) == ["default"]
    with pytest.raises(ConfigurationError, match=r"schema cs_beta exists .* not workspace 'beta'"):
        opened(database, "beta", create=True)
    # A schema of the name that no store made is refused too, and left as it was.
    with psycopg.connect(database, autocommit=True) as connection:
        connection.execute("CREATE SCHEMA cs_gamma")
        connection.execute("CREATE TABLE cs_gamma.precious (id int)")
    with pytest.raises(ConfigurationError, match="schema cs_gamma exists"):
        opened(database, "gamma", create=True)
    with psycopg.connect(database) as connection:
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'cs_gamma'"
        ).fetchall()
    assert tables == [("precious",)]


@pytest.mark.postgres
def test_a_workspace_with_a_dash_gets_a_quoted_schema_of_its_own(database: str) -> None:
    clock = FakeClock()
    with opened(database, "acme-eu", create=True) as store:
        assert isinstance(store, SqlStore)
        assert store.schema == "cs_acme-eu"
        import_catalogue(store, parse_catalogue(NORTH, "csv"), now=clock.now())
    engine = create_engine(f"postgresql+psycopg://{database.partition('://')[2]}")
    with engine.connect() as connection:
        count = connection.execute(text('SELECT count(*) FROM "cs_acme-eu".skus')).scalar()
        public = connection.execute(text("SELECT to_regclass('public.skus')")).scalar()
    engine.dispose()
    assert (count, public) == (1, None)


@pytest.mark.postgres
def test_the_workspaces_of_one_url_share_one_pool_and_hear_only_their_own_commits(
    database: str,
) -> None:
    north = opened(database, "default", create=True)
    south = opened(database, "acme", create=True)
    heard: list[str | None] = []

    def committing(connection: Any) -> None:
        heard.append(connection.get_execution_options().get(WORKSPACE_OPTION))

    try:
        assert north.engine.pool is south.engine.pool  # one process, one pool per URL
        event.listen(south.engine, "commit", committing)
        for store in (north, south):
            with store.transaction() as session:
                session.set_cursor("tmall", "orders", datetime(2026, 1, 1, tzinfo=UTC), None)
        assert heard == ["acme"]
    finally:
        event.remove(south.engine, "commit", committing)
        north.close()
    north.close()  # twice: still one release
    with south.transaction() as session:  # the pool outlives a store closed before it
        assert session.cursor("tmall", "orders") is not None
    south.close()
    again = opened(database, "acme")
    try:
        with again.transaction() as session:
            assert session.cursor("tmall", "orders") is not None
    finally:
        again.close()


@pytest.fixture
def default_store(database: str) -> Iterator[SqlStore]:
    """The server's ``default`` workspace, created if missing, closed after the test."""
    store = opened(database, "default", create=True)
    yield store
    store.close()


@pytest.mark.postgres
def test_statements_are_planned_with_their_values(default_store: SqlStore) -> None:
    """A prepared lookup of many keys planned for any values would scan the table per key."""
    with default_store.engine.connect() as connection:
        assert connection.execute(text("SHOW plan_cache_mode")).scalar() == "force_custom_plan"


@pytest.mark.postgres
def test_statements_are_never_jit_compiled(default_store: SqlStore) -> None:
    """Compiling a short statement over a large table took longer than running it."""
    with default_store.engine.connect() as connection:
        assert connection.execute(text("SHOW jit")).scalar() == "off"


@pytest.mark.postgres
def test_index_probes_are_priced_for_cached_tables(default_store: SqlStore) -> None:
    """At PostgreSQL's default cost a slice's keyed write hashed the whole listings table."""
    with default_store.engine.connect() as connection:
        assert connection.execute(text("SHOW random_page_cost")).scalar() == "1.1"


@pytest.mark.postgres
def test_a_page_cost_the_administrator_set_is_kept(database: str) -> None:
    with psycopg.connect(database, autocommit=True) as connection:
        row = connection.execute("SELECT current_database()").fetchone()
        assert row is not None
        name = psycopg.sql.Identifier(str(row[0]))
        connection.execute(
            psycopg.sql.SQL("ALTER DATABASE {} SET random_page_cost = 2").format(name)
        )
    store = opened(database, "default", create=True)
    try:
        with store.engine.connect() as connection:
            assert connection.execute(text("SHOW random_page_cost")).scalar() == "2"
    finally:
        store.close()


def _pings_counted(store: SqlStore, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the pings the store's engine sends before handing out a connection."""
    pings: list[int] = []
    dialect = store.engine.dialect
    real = dialect.do_ping

    def counted(dbapi_connection: Any) -> bool:
        pings.append(1)
        return bool(real(dbapi_connection))

    monkeypatch.setattr(dialect, "do_ping", counted)
    return pings


@pytest.mark.postgres
def test_a_connection_busy_a_moment_ago_is_not_pinged(
    default_store: SqlStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Back-to-back transactions (one per batch sent) pay no round trip before each."""
    pings = _pings_counted(default_store, monkeypatch)
    for _ in range(3):
        with default_store.transaction() as session:
            session.cursor("tmall", "orders")
    assert pings == []


@pytest.mark.postgres
def test_a_connection_the_server_dropped_while_it_rested_is_replaced(
    default_store: SqlStore, database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rested connection is pinged first; a dead one is replaced, not handed out."""
    store = default_store
    with store.engine.connect() as connection:
        first = connection.execute(text("SELECT pg_backend_pid()")).scalar()
    with psycopg.connect(database, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (first,))
    monkeypatch.setattr("channelsync.store.sql.engine.PING_AFTER_IDLE_S", 0.0)
    pings = _pings_counted(store, monkeypatch)
    with store.transaction() as session:
        assert session.cursor("tmall", "orders") is None
    with store.engine.connect() as connection:
        assert connection.execute(text("SELECT pg_backend_pid()")).scalar() != first
    assert len(pings) >= 1
