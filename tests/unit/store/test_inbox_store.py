"""The inbox of pushed events on SQLite and PostgreSQL: written once, processed once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from channelsync.store import Store, open_store
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
