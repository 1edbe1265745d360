"""The inbox of pushed events on SQLite and PostgreSQL: written once, processed once."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from channelsync.store import Store, StoredOrder, open_store
from channelsync.store.inbox import InboxEvent

NOW = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def _event(
    message_id: str,
    *,
    channel: str = "tmall",
    key: str = "T-1",
    at: datetime = NOW,
) -> InboxEvent:
    return InboxEvent(
        channel=channel,
        message_id=message_id,
        kind="order",
        key=key,
        topic="taobao_trade_TradeBuyerPay",
        received_at=at,
        order_id=key,
    )


def test_an_event_is_written_once_and_a_duplicate_changes_nothing(store: Store) -> None:
    with store.transaction() as s:
        assert s.record_event(_event("m-1")) is True
    with store.transaction() as s:
        # A redelivery names the same message with a later receipt and another key:
        # the first row stands.
        assert s.record_event(_event("m-1", key="T-2", at=NOW + timedelta(minutes=5))) is False
        assert s.unprocessed_events("tmall") == [_event("m-1")]


def test_the_same_message_id_on_two_channels_is_two_events(store: Store) -> None:
    with store.transaction() as s:
        assert s.record_event(_event("m-1", channel="tmall")) is True
        assert s.record_event(_event("m-1", channel="pinduoduo")) is True
        assert [e.channel for e in s.unprocessed_events("tmall")] == ["tmall"]
        assert [e.channel for e in s.unprocessed_events("pinduoduo")] == ["pinduoduo"]


def test_unprocessed_events_come_oldest_first_and_leave_once_processed(store: Store) -> None:
    with store.transaction() as s:
        s.record_event(_event("m-3", at=NOW + timedelta(seconds=3)))
        s.record_event(_event("m-1", at=NOW + timedelta(seconds=1)))
        s.record_event(_event("m-2", at=NOW + timedelta(seconds=2)))
    with store.transaction() as s:
        assert [e.message_id for e in s.unprocessed_events("tmall")] == ["m-1", "m-2", "m-3"]
        assert [e.message_id for e in s.unprocessed_events("tmall", limit=2)] == ["m-1", "m-2"]
        s.mark_event_processed("tmall", "m-2", "imported", NOW + timedelta(seconds=10))
    with store.transaction() as s:
        assert [e.message_id for e in s.unprocessed_events("tmall")] == ["m-1", "m-3"]
        # Processed and then redelivered: still known, still not new.
        assert s.record_event(_event("m-2")) is False
        assert [e.message_id for e in s.unprocessed_events("tmall")] == ["m-1", "m-3"]


def test_a_commit_survives_a_reopened_store_unprocessed(store: Store, store_url: str) -> None:
    with store.transaction() as s:
        s.record_event(_event("m-1"))
    # The process dies after the commit and before the answer: the next start finds it.
    reopened = open_store(store_url)
    try:
        with reopened.transaction() as s:
            assert [e.message_id for e in s.unprocessed_events("tmall")] == ["m-1"]
    finally:
        reopened.close()


def test_a_failed_transaction_leaves_no_event(store: Store) -> None:
    try:
        with store.transaction() as s:
            s.record_event(_event("m-1"))
            raise RuntimeError("crash before commit")
    except RuntimeError:
        pass
    with store.transaction() as s:
        assert s.unprocessed_events("tmall") == []
        # Not committed, so not known: the redelivery is new and gets acknowledged then.
        assert s.record_event(_event("m-1")) is True


def test_the_summary_counts_received_and_unanswered_events(store: Store) -> None:
    with store.transaction() as s:
        empty = s.inbox_summary("tmall", since=NOW)
        assert (empty.received, empty.unprocessed, empty.last_received) == (0, 0, None)
        s.record_event(_event("old", at=NOW - timedelta(hours=2)))
        s.record_event(_event("m-1", at=NOW + timedelta(seconds=1)))
        s.record_event(_event("m-2", at=NOW + timedelta(seconds=2)))
        s.record_event(_event("other", channel="amazon", at=NOW + timedelta(seconds=9)))
        s.mark_event_processed("tmall", "m-1", "imported", NOW + timedelta(seconds=3))
    with store.transaction() as s:
        summary = s.inbox_summary("tmall", since=NOW)
        assert summary.received == 2
        assert summary.unprocessed == 2  # "old" and "m-2"
        assert summary.last_received == NOW + timedelta(seconds=2)
        # Nothing since: the last receipt is still reported, so a silent listener shows.
        quiet = s.inbox_summary("tmall", since=NOW + timedelta(hours=1))
        assert quiet.received == 0
        assert quiet.last_received == NOW + timedelta(seconds=2)


def test_pruning_forgets_only_processed_events_older_than_the_cut(store: Store) -> None:
    with store.transaction() as s:
        s.record_event(_event("done-old", at=NOW - timedelta(days=10)))
        s.record_event(_event("open-old", at=NOW - timedelta(days=10)))
        s.record_event(_event("done-new", at=NOW))
        s.mark_event_processed("tmall", "done-old", "imported", NOW)
        s.mark_event_processed("tmall", "done-new", "imported", NOW)
    with store.transaction() as s:
        assert s.prune_inbox(before=NOW - timedelta(days=7)) == 1
    with store.transaction() as s:
        assert s.record_event(_event("done-old")) is True  # forgotten
        assert s.record_event(_event("done-new")) is False
        assert s.record_event(_event("open-old")) is False
        assert [e.message_id for e in s.unprocessed_events("tmall")] == ["open-old", "done-old"]


def _announced(
    message_id: str, key: str, units: dict[str, int] | None, *, channel: str = "amazon"
) -> InboxEvent:
    return replace(
        _event(message_id, channel=channel, key=key),
        topic="ORDER_CHANGE",
        units=units,
        occurred_at=NOW - timedelta(seconds=1),
    )


def _stored(channel: str, order_id: str) -> StoredOrder:
    return StoredOrder(
        channel=channel,
        order_id=order_id,
        status="paid",
        version="v1",
        updated_at=NOW,
        created_at=NOW,
        on_hold=False,
        raw={},
        imported_at=NOW,
    )


def test_units_an_event_announces_are_held_until_the_order_is_read(store: Store) -> None:
    with store.transaction() as s:
        s.record_event(_announced("n-1", "A-1", {"MUG": 2, "CUP": 1}))
        s.record_event(_announced("n-2", "A-2", {"MUG": 1}))
        # The same order's next message (paid after pending) names the same units once.
        s.record_event(_announced("n-3", "A-1", {"MUG": 2, "CUP": 1}))
        s.record_event(_announced("n-4", "A-3", None))  # a message that says nothing
    with store.transaction() as s:
        [event] = [e for e in s.unprocessed_events("amazon") if e.message_id == "n-1"]
        assert event.units == {"MUG": 2, "CUP": 1}
        assert event.occurred_at == NOW - timedelta(seconds=1)
        assert s.event_holds(["amazon"], NOW - timedelta(hours=1)) == {"MUG": 3, "CUP": 1}
        # A-1 is imported: its reservation counts from now on, not the hold.
        s.save_order(_stored("amazon", "A-1"))
    with store.transaction() as s:
        assert s.event_holds(["amazon"], NOW - timedelta(hours=1)) == {"MUG": 1}
        # A-2 answered without the order (the marketplace does not know it): released.
        s.mark_event_processed("amazon", "n-2", "unknown", NOW)
    with store.transaction() as s:
        assert s.event_holds(["amazon"], NOW - timedelta(hours=1)) == {}


def test_a_hold_names_its_own_channels_order(store: Store) -> None:
    with store.transaction() as s:
        s.record_event(_announced("n-1", "X-1", {"MUG": 1}, channel="amazon"))
        # Another channel's order with the same id does not answer it.
        s.save_order(_stored("tmall", "X-1"))
    with store.transaction() as s:
        assert s.event_holds(["amazon"], NOW - timedelta(hours=1)) == {"MUG": 1}


def test_a_hold_counts_only_for_the_channels_asked_and_only_since_the_limit(
    store: Store,
) -> None:
    with store.transaction() as s:
        s.record_event(_announced("n-1", "A-1", {"MUG": 1}, channel="amazon"))
        s.record_event(_announced("n-2", "B-1", {"MUG": 2}, channel="retired"))
    with store.transaction() as s:
        assert s.event_holds(["amazon"], NOW - timedelta(hours=1)) == {"MUG": 1}
        assert s.event_holds([], NOW - timedelta(hours=1)) == {}
        # Received before the limit: never answered, and no longer held.
        assert s.event_holds(["amazon", "retired"], NOW + timedelta(seconds=1)) == {}
