from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone

import pytest

from channelsync.engine.errors import InputError
from channelsync.engine.pausing import (
    PAUSED_CURSOR,
    Pause,
    pause_channel,
    paused_channels,
    resume_channel,
)
from channelsync.store import Store, open_store

NOW = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)


@pytest.fixture
def state(store_url: str) -> Iterator[Store]:
    opened = open_store(store_url)
    yield opened
    opened.close()


def test_a_pause_is_kept_and_audited_until_resumed(state: Store) -> None:
    with state.transaction() as session:
        assert pause_channel(session, "tmall", by="ops", reason="Tmall audit", now=NOW) is True
    with state.transaction() as session:
        assert paused_channels(session) == {
            "tmall": Pause(since=NOW, by="ops", reason="Tmall audit")
        }
        # Pausing again changes nothing: the first pause's time and reason stay.
        later = NOW + timedelta(hours=1)
        assert pause_channel(session, "tmall", by="bob", reason="again", now=later) is False
        assert paused_channels(session)["tmall"] == Pause(NOW, "ops", "Tmall audit")
    with state.transaction() as session:
        assert resume_channel(session, "tmall", by="ann", now=NOW + timedelta(hours=2)) is True
        assert paused_channels(session) == {}
        assert session.cursor("tmall", PAUSED_CURSOR) is None
        assert resume_channel(session, "tmall", by="ann", now=NOW + timedelta(hours=3)) is False
        trail = session.audit_trail(channel="tmall")
    assert [(e.kind, e.key, e.ok) for e in trail] == [
        ("pause", "tmall", True),
        ("resume", "tmall", True),
    ]
    pause, resume = trail
    assert pause.at == NOW
    assert dict(pause.sent) == {"by": "ops", "reason": "Tmall audit"}
    assert pause.answer == "paused by ops: Tmall audit"
    assert resume.at == NOW + timedelta(hours=2)
    assert dict(resume.sent) == {"by": "ann", "reason": "Tmall audit"}
    assert resume.answer is not None
    assert resume.answer.startswith("resumed by ann (paused by ops since 2026-03-01T09:30")


def test_several_channels_are_paused_apart_and_times_come_back_aware(state: Store) -> None:
    beijing = datetime(2026, 3, 1, 17, 30, tzinfo=timezone(timedelta(hours=8)))
    with state.transaction() as session:
        pause_channel(session, "tmall", by="ops", reason="stocktake", now=beijing)
        pause_channel(session, "jd", by="ops", reason="店铺整改", now=NOW)
        # Other cursors of the same channels are not pauses.
        session.set_cursor("tmall", "orders", NOW, "token")
    with state.transaction() as session:
        found = paused_channels(session)
        assert set(found) == {"tmall", "jd"}
        assert found["tmall"].since == NOW  # the same instant
        assert found["tmall"].since.tzinfo is not None
        assert found["jd"].reason == "店铺整改"
        resume_channel(session, "jd", by="ops", now=NOW)
    with state.transaction() as session:
        assert set(paused_channels(session)) == {"tmall"}
        assert session.cursor("tmall", "orders") == (NOW, "token")


@pytest.mark.parametrize("reason", ["", "   "])
def test_a_pause_needs_a_reason_and_writes_nothing_without_one(state: Store, reason: str) -> None:
    with state.transaction() as session, pytest.raises(InputError) as raised:
        pause_channel(session, "tmall", by="ops", reason=reason, now=NOW)
    assert [p.field for p in raised.value.problems] == ["reason"]
    assert "a reason is required" in str(raised.value)
    with state.transaction() as session:
        assert paused_channels(session) == {}
        assert session.audit_trail() == []


def test_a_pause_survives_reopening_the_store(store_url: str) -> None:
    first = open_store(store_url)
    with first.transaction() as session:
        pause_channel(session, "pdd", by="ops", reason="price check", now=NOW)
    first.close()
    second = open_store(store_url)
    with second.transaction() as session:
        assert paused_channels(session) == {"pdd": Pause(NOW, "ops", "price check")}
    second.close()


def test_a_pause_reads_as_json(state: Store) -> None:
    with state.transaction() as session:
        pause_channel(session, "tmall", by="ops", reason="audit", now=NOW)
        shown = paused_channels(session)["tmall"].to_json()
    assert shown == {"since": "2026-03-01T09:30:00+00:00", "by": "ops", "reason": "audit"}


def test_an_unreadable_token_is_still_a_pause(state: Store) -> None:
    with state.transaction() as session:
        session.set_cursor("tmall", PAUSED_CURSOR, NOW, "not json")
    with state.transaction() as session:
        assert paused_channels(session) == {"tmall": Pause(NOW, "unknown", "")}
