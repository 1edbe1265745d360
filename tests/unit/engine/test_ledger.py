from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from channelsync.engine.errors import InputError
from channelsync.engine.ledger import (
    adjust_stock,
    release_event,
    reserve_event,
    restock_event,
    set_safety_stock,
    ship_events,
    stock_position,
)
from channelsync.store import Store, open_store

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _add_sku(store: Store, code: str) -> int:
    with store.transaction() as s:
        return s.upsert_sku(
            merchant_code=code,
            product_id=None,
            title="Mug",
            price="1",
            currency="CNY",
            cost=None,
            barcode=None,
            attributes={},
            now=NOW,
        )


def _new_store(url: str) -> Store:
    store = open_store(url)
    _add_sku(store, "A")
    return store


# One migrated in-memory store serves every generated history; each gets its own SKU.
_SHARED: list[Store] = []


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    opened = _new_store(store_url)
    yield opened
    opened.close()


def test_manual_adjustments_are_idempotent_and_never_go_below_zero(store: Store) -> None:
    assert adjust_stock(store, "A", 5, key="k1", now=NOW)
    assert not adjust_stock(store, "A", 5, key="k1", now=NOW)
    with pytest.raises(InputError, match="cannot remove 6"):
        adjust_stock(store, "A", -6, key="k2", now=NOW)
    with pytest.raises(InputError, match="unknown SKU"):
        adjust_stock(store, "B", 1, key="k3", now=NOW)
    position = stock_position(store, "A")
    assert position is not None
    assert position.on_hand == 5


def test_safety_stock_reduces_available(store: Store) -> None:
    adjust_stock(store, "A", 5, key="k1", now=NOW)
    set_safety_stock(store, "A", 2)
    position = stock_position(store, "A")
    assert position is not None
    assert position.available == 3
    assert stock_position(store, "nope") is None


# One step of a random history: (kind, order number, quantity, repeat it?)
steps = st.lists(
    st.tuples(
        st.sampled_from(["adjust", "reserve", "cancel", "ship", "restock", "safety"]),
        st.integers(0, 4),
        st.integers(1, 5),
        st.booleans(),
    ),
    max_size=30,
)


@given(steps)
@settings(max_examples=100, deadline=None)
def test_available_is_always_on_hand_minus_reserved_minus_safety(
    history: list[tuple[str, int, int, bool]],
) -> None:
    if not _SHARED:
        _SHARED.append(open_store("sqlite://"))
    store = _SHARED[0]
    with store.transaction() as s:
        code = f"H{len(s.skus())}"
    sku_id = _add_sku(store, code)
    channel = code
    on_hand = reserved_total = safety = 0
    reserved: dict[str, int] = {}
    done: set[str] = set()
    for index, (kind, order, quantity, repeat) in enumerate(history):
        order_id = f"o{order}"
        with store.transaction() as s:
            if kind == "adjust":
                events = [restock_event(f"{code}adj{index}", sku_id, quantity)]
                on_hand += quantity
            elif kind == "restock":
                events = [restock_event(f"{code}ret{index}", sku_id, quantity)]
                on_hand += quantity
            elif kind == "safety":
                s.set_safety_stock(sku_id, quantity)
                safety = quantity
                events = []
            elif kind == "reserve":
                event = reserve_event(channel, order_id, sku_id, quantity)
                events = [event]
                if event.idempotency_key not in done:
                    reserved[order_id] = quantity
                    reserved_total += quantity
            elif kind == "cancel" and order_id in reserved:
                held = reserved.pop(order_id)
                events = [release_event(channel, order_id, sku_id, held)]
                reserved_total -= held
            elif kind == "ship" and order_id in reserved:
                held = reserved.pop(order_id)
                events = ship_events(s, channel, order_id, sku_id, quantity=held, reserved=held)
                reserved_total -= held
                on_hand -= held
            else:
                events = []
            for event in events * (2 if repeat else 1):
                s.apply_event(event, NOW)
                done.add(event.idempotency_key)
            position = s.positions([sku_id])[sku_id]
        assert (position.on_hand, position.reserved, position.safety_stock) == (
            on_hand,
            reserved_total,
            safety,
        )
        assert position.available == on_hand - reserved_total - safety
