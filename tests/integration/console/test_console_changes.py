"""Changes through the console: the token, cross-site refusal, the audit trail, bad input."""

from __future__ import annotations

import httpx

from channelsync.console.app import build_app
from channelsync.console.source import ConsoleSource
from channelsync.engine.pausing import paused_channels
from channelsync.store import Store

from .conftest import TOKEN

JSON = {"Accept": "application/json"}
AUTH = {"Authorization": f"Bearer {TOKEN}", "X-Channelsync-Operator": "Mei"}
ENTRY = {"channel": "tmall", "kind": "stock", "key": "tmall-1/1"}


def _states(store: Store) -> dict[tuple[str, str], str]:
    with store.transaction() as s:
        return {(i.kind, i.key): i.state.value for i in s.outbox(channel="tmall")}


async def test_a_change_without_the_token_is_refused_with_401_and_changes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    before = _states(store)
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
        answer = await client.post("/parked/retry", data=ENTRY, headers={**JSON, **headers})
        assert answer.status_code == 401
        assert answer.headers["www-authenticate"] == "Bearer"
        assert answer.json() == {"error": "a valid console token is required"}
    assert _states(store) == before
    with store.transaction() as s:
        assert s.audit_trail(kind="outbox_retry") == []


async def test_a_console_without_a_token_refuses_every_change(
    source: ConsoleSource, store: Store
) -> None:
    transport = httpx.ASGITransport(app=build_app(source, token=None))
    async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as client:
        answer = await client.post("/parked/retry", data=ENTRY, headers={**JSON, **AUTH})
    assert answer.status_code == 401
    assert "none is configured" in answer.json()["error"]
    assert _states(store)[("stock", "tmall-1/1")] == "parked"


async def test_a_cross_site_request_is_refused_even_with_the_token(
    client: httpx.AsyncClient, store: Store
) -> None:
    for headers in ({"Origin": "http://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        answer = await client.post("/parked/retry", data=ENTRY, headers={**JSON, **AUTH, **headers})
        assert answer.status_code == 403
    assert _states(store)[("stock", "tmall-1/1")] == "parked"
    same = await client.post(
        "/parked/retry",
        data=ENTRY,
        headers={
            **JSON,
            **AUTH,
            "Origin": "http://127.0.0.1:8765",
            "Sec-Fetch-Site": "same-origin",
        },
    )
    assert same.status_code == 200


async def test_retrying_a_parked_entry_requeues_it_alone_and_audits_who_did_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    answer = await client.post("/parked/retry", data=ENTRY, headers={**JSON, **AUTH})
    assert answer.status_code == 200
    assert answer.json() == {
        "ok": True,
        "message": "re-queued the parked stock entry tmall-1/1 of tmall",
    }
    states = _states(store)
    assert (states[("stock", "tmall-1/1")], states[("price", "tmall-1/1")]) == ("pending", "parked")
    with store.transaction() as s:
        [entry] = s.audit_trail(kind="outbox_retry")
    assert entry.key == "stock/tmall-1/1"
    assert entry.sent["by"] == "Mei (console, from 127.0.0.1)"
    # Retrying what is no longer parked is a clear error.
    again = await client.post("/parked/retry", data=ENTRY, headers={**JSON, **AUTH})
    assert again.status_code == 400
    assert "no parked stock entry 'tmall-1/1' on tmall" in again.json()["error"]


async def test_dropping_needs_a_reason_and_is_audited_with_it(
    client: httpx.AsyncClient, store: Store
) -> None:
    bare = await client.post("/parked/drop", data=ENTRY, headers={**JSON, **AUTH})
    assert bare.status_code == 400
    assert "reason" in bare.json()["error"]
    assert _states(store)[("stock", "tmall-1/1")] == "parked"
    # The page asks with a prompt: its answer comes as a header, percent-encoded.
    answer = await client.post(
        "/parked/drop",
        data=ENTRY,
        headers={
            **JSON,
            **AUTH,
            "HX-Prompt": "listing%20deleted%20on%20purpose%20%E4%B8%8B%E6%9E%B6",
        },
    )
    assert answer.status_code == 200
    assert ("stock", "tmall-1/1") not in _states(store)
    with store.transaction() as s:
        [entry] = s.audit_trail(kind="outbox_drop")
    assert (
        entry.answer == "dropped by Mei (console, from 127.0.0.1): listing deleted on purpose 下架"
    )


async def test_bad_fields_are_named_and_change_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    before = _states(store)
    kind = await client.post(
        "/parked/retry", data={**ENTRY, "kind": "colour"}, headers={**JSON, **AUTH}
    )
    assert kind.status_code == 400
    assert (
        "field 'kind': kind must be one of stock, price, listing, shipment, not 'colour'"
        in (kind.json()["error"])
    )
    channel = await client.post(
        "/parked/retry", data={**ENTRY, "channel": "taobao"}, headers={**JSON, **AUTH}
    )
    assert channel.status_code == 400
    assert "no channel named 'taobao'" in channel.json()["error"]
    broken = await client.post(
        "/parked/retry",
        content=b"[1, 2]",
        headers={**JSON, **AUTH, "Content-Type": "application/json"},
    )
    assert broken.status_code == 400
    assert _states(store) == before


async def test_pausing_and_resuming_a_channel_through_the_console(
    client: httpx.AsyncClient, store: Store
) -> None:
    paused = await client.post(
        "/channels/jd/pause", json={"reason": "stocktake"}, headers={**JSON, **AUTH}
    )
    assert paused.status_code == 200
    with store.transaction() as s:
        pauses = paused_channels(s)
    assert pauses["jd"].reason == "stocktake"
    assert pauses["jd"].by == "Mei (console, from 127.0.0.1)"
    overview = (await client.get("/", headers=JSON)).json()
    jd = next(c for c in overview["channels"] if c["name"] == "jd")
    assert jd["health"] == "paused"
    assert jd["paused"]["reason"] == "stocktake"
    resumed = await client.post("/channels/jd/resume", headers={**JSON, **AUTH})
    assert resumed.status_code == 200
    with store.transaction() as s:
        assert paused_channels(s) == {}
        assert [e.kind for e in s.audit_trail(channel="jd") if e.kind in {"pause", "resume"}] == [
            "pause",
            "resume",
        ]


async def test_an_htmx_change_answers_the_refreshed_part_and_a_message(
    client: httpx.AsyncClient,
) -> None:
    answer = await client.post(
        "/parked/retry",
        data=ENTRY,
        headers={**AUTH, "HX-Request": "true", "HX-Target": "live"},
    )
    assert answer.status_code == 200
    assert "<header>" not in answer.text
    assert 'id="parked-count">1<' in answer.text
    assert "re-queued the parked stock entry" in answer.headers["hx-trigger"]
