"""The chaos harness's judgement: the end state checked from the fakes' records and the store.

Every order imported once, every shipment pushed once, every channel showing what the
engine planned and never more than exists, every pushed event answered; the raises the
re-inflation guard holds at the end are bounded and seen released once the
marketplaces' lag has passed (on a clock the harness moves on).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from channelsync.channels import Channel
from channelsync.clock import Clock, SystemClock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.demo.stream import BACKDATE_MARGIN
from channelsync.engine.inbox import process_leftovers
from channelsync.engine.planner import plan_changes
from channelsync.engine.reconcile import reconcile_channel
from channelsync.engine.sync import SyncEngine
from channelsync.errors import ChannelError
from channelsync.http import RetryPolicy
from channelsync.plugins import PluginHost
from channelsync.store import OutboxItem, OutboxState, Store, StoreSession
from channelsync.testing.chaos_world import (
    ChaosResult,
    _Run,
    _Shop,
    _Snapshot,
    _snapshot,
)


def _check_end(run: _Run) -> None:
    """Judge the converged state from the fakes' own records and the store."""
    snap = _snapshot(run.shops)
    sold = snap.sold()
    result = run.result
    result.orders_placed = sum(len(orders) for orders in snap.orders.values())
    result.order_lines = sum(len(lines) for o in snap.orders.values() for lines in o.values())
    result.oversold_units = sum(max(0, sold[code] - n) for code, n in run.initial.items())
    with run.store.transaction() as session:
        _check_orders(session, run, snap)
        skus = session.skus()
        positions = session.positions([sku.id for sku in skus])
        # Each order's stock effect applied once: the ledger's available stock is what
        # the catalogue had minus what the marketplaces' own records say was sold.
        for sku in skus:
            expected = run.initial.get(sku.merchant_code, 0) - sold[sku.merchant_code]
            available = positions[sku.id].available
            if available != expected:
                result.problems.append(
                    f"{sku.merchant_code}: the ledger has {available} available, "
                    f"the marketplaces' orders leave {expected}"
                )
        held = _check_shown(session, run, snap, {i: p.available for i, p in positions.items()})
        _check_outbox(session, result, held)
        _check_inbox(session, run)
        states = {(s.channel, s.order_id): s.state for s in session.shipments()}
    _check_shipments(run, snap, states)
    for shop in run.shops:
        result.faults_injected.update(
            {str(kind): count for kind, count in shop.fake.faults.injected.items()}
        )
        result.calls[shop.channel] = Counter(shop.fake.calls)
        with shop.fake.store.lock:
            result.throttles[shop.channel] = Counter(shop.throttles)


def _check_throttles(result: ChaosResult) -> list[str]:
    """No marketplace answered "too many calls" because its own rate limit was spent.

    The counts are the fakes' (filled by :func:`_check_end`): every throttling answer
    is a call the channel's pacing should have held back, whichever process sent it.
    Returns the problems it added.
    """
    found = []
    for channel, counts in sorted(result.throttles.items()):
        if counts:
            limits = ", ".join(f"{key} {n}" for key, n in sorted(counts.items()))
            found.append(
                f"{channel}: the marketplace throttled {counts.total()} call(s), its rate "
                f"limit exceeded ({limits})"
            )
    result.problems += found
    return found


def _release_held(run: _Run, clock: _Advancing, *, max_held: int) -> None:
    """Bound the raises the guard holds at the end, then prove that time releases them.

    A raise is held while a channel shows less than was sent and no imported order
    explains it; it goes once the channel's order cursor has passed the first look
    (the marketplace's indexing lag, minutes) and a second look sees the same. The
    buyers' orders are dated back past that lag, so a drop from an order placed in
    the last moments can still be held when the run ends: at most ``max_held`` of
    them. The clock the fakes and ``run.engine`` share is moved on, cycle by cycle,
    until every hold is released and every channel shows what the ledger plans.
    """
    result = run.result
    if len(result.held) > max_held:
        result.problems.append(
            f"{len(result.held)} raises held by the re-inflation guard at the end, "
            f"at most {max_held} expected"
        )
    if not result.held:
        return
    step = max(shop.lag for shop in run.shops).total_seconds() + 60
    waited = 0.0
    for _ in range(_RELEASE_CYCLES):
        clock.advance(step)
        waited += step
        asyncio.run(_cycle_and_reconcile(run.engine))
        result.cycles += 1
        _check_cycle(run)
        holding = _holding(run)
        if not holding and _converged(run.store, run.shops, run.shipped):
            result.released_after = waited
            return
    result.problems.append(
        f"raises held by the re-inflation guard not all released {waited:.0f}s "
        f"(simulated) after the end: {', '.join(holding) or 'released, but not converged'}"
    )


def _take_over(run: _Run, clock: _Advancing, *, max_held: int) -> None:
    """Finish what the stopped daemon left, as its next start would; bound its holds.

    A stop may leave work queued (the docs promise the next start sends it), events
    acknowledged and not yet answered (the next start answers them), SKUs marked
    changed and not yet planned (the next pass plans them: a SKU whose units are held
    back for its pace is marked again every pass until its pace has decayed, so its
    plan keeps moving with the clock) and raises held by the re-inflation guard
    (released once the marketplaces' lag has passed). At most ``max_held`` holds may
    be left; then cycles run on the moved-on clock until nothing is pending or marked,
    nothing held and every channel shows what the engine planned.
    """
    result = run.result
    asyncio.run(_answer_leftovers(run.engine))
    result.held = [entry.split(" (", 1)[0] for entry in _holding(run)]
    unexplained = _unexplained_holds(run)
    if len(unexplained) > max_held:
        result.problems.append(
            f"{len(unexplained)} raises held by the re-inflation guard at the end that no "
            f"buyer's order placed after the last send explains ({', '.join(unexplained)}), "
            f"at most {max_held} expected"
        )
    step = max(shop.lag for shop in run.shops).total_seconds() + 60
    waited = 0.0
    for _ in range(_RELEASE_CYCLES):
        holding = _holding(run)
        if not holding and not _marked(run) and _converged(run.store, run.shops, run.shipped):
            if result.held:
                result.released_after = waited
            return
        clock.advance(step)
        waited += step
        asyncio.run(_cycle_and_reconcile(run.engine))
        result.cycles += 1
        _check_cycle(run)
    result.problems.append(
        f"the work the daemon left was not settled {waited:.0f}s (simulated) after the end: "
        f"{', '.join(_holding(run)) or 'nothing held, but not converged'}"
    )


def _marked(run: _Run) -> bool:
    """Whether any SKU is marked changed: work for the next planning pass."""
    with run.store.transaction() as session:
        return bool(session.changed_skus(limit=1))


def _unexplained_holds(run: _Run) -> list[str]:
    """Return the held raises no buyer's order placed after the listing's last send explains.

    The run dates every order back past the marketplace's lag, so no imported order
    "since the send" can explain a drop it caused: the guard holds such a raise until
    the lag has passed, rightly. Each order's real placing time is its creation time
    plus that shift; a hold with such an order on its channel and SKU placed after the
    send is explained, whatever their number at the end.
    """
    by_channel = {shop.channel: shop for shop in run.shops}
    holding = {entry.split(" (", 1)[0] for entry in _holding(run)}
    with run.store.transaction() as session:
        held = [b for b in session.bindings() if f"{b.channel} {b.merchant_code}" in holding]
    unexplained = []
    for binding in held:
        shop = by_channel.get(binding.channel)
        if shop is None or binding.sent_at is None:
            continue
        shift = shop.lag + BACKDATE_MARGIN
        # Marketplaces stamp whole seconds: an order in the second of the send may be later.
        since = binding.sent_at - timedelta(seconds=1)
        fake: Any = shop.fake
        with fake.store.lock:
            explained = any(
                order.created + shift >= since
                and any(line.merchant_code == binding.merchant_code for line in order.lines)
                for order in fake.store.orders.values()
            )
        if not explained:
            unexplained.append(f"{binding.channel} {binding.merchant_code}")
    return unexplained


async def _answer_leftovers(engine: SyncEngine) -> None:
    """Answer the events the daemon acknowledged and left, as its next start does."""
    for channel in engine.channels.values():
        for _ in range(_RELEASE_CYCLES):
            try:
                async with channel:
                    await process_leftovers(engine.context, channel)
            except ChannelError:
                continue  # a fault the fakes injected: the next try answers it
            break


async def _cycle_and_reconcile(engine: SyncEngine) -> None:
    """Run a cycle, then reconcile every channel, as the daemon's loops would in that time."""
    await engine.run_cycle()
    for channel in engine.channels.values():
        async with channel:
            await reconcile_channel(engine.context, channel)


def _holding(run: _Run) -> list[str]:
    """Return the listings a channel shows less of than was sent while the guard holds."""
    snap = _snapshot(run.shops)
    with run.store.transaction() as session:
        bindings = session.bindings()
    return [
        f"{b.channel} {b.merchant_code} (shows {shown}, sent {b.sent_quantity}, "
        f"planned {b.planned_quantity})"
        for b in bindings
        if b.held_since is not None
        and b.sent_quantity is not None
        and (shown := snap.stock[b.channel].get(b.merchant_code or "")) is not None
        and shown < b.sent_quantity
    ]


def _check_plan(run: _Run) -> None:
    """Check that what the engine would send now from the ledger is what it already sent.

    A change found names its entries, and whether each one's SKU was marked changed
    (left for the next pass to plan) or not (a plan that missed a change).
    """
    with run.store.preview() as session:
        marked = set(session.changed_skus())
        before = {(i.channel, i.kind, i.key): i.version for i in session.outbox()}
        skus = {sku.merchant_code: sku.id for sku in session.skus()}
        plan = plan_changes(session, run.engine.context, list(skus.values()))
        queued_now = [
            item
            for item in session.outbox(state=OutboxState.PENDING)
            if before.get((item.channel, item.kind, item.key)) != item.version
        ]
    for channel, queued in plan.queued.items():
        if queued:
            entries = [_entry(i, skus, marked) for i in queued_now if i.channel == channel]
            run.result.problems.append(
                f"{channel}: {queued} change(s) not yet sent after converging: "
                + "; ".join(entries[:6])
            )


def _entry(item: OutboxItem, skus: dict[str, int], marked: set[int]) -> str:
    """Describe an entry a fresh plan queued: what it sets, and whether its SKU was marked."""
    code = str(item.payload.get("merchant_code"))
    p = item.payload
    value = p.get("quantity", p.get("amount", p.get("status")))
    mark = "marked changed" if skus.get(code) in marked else "not marked"
    return f"{item.kind} {code} = {value} (its SKU {mark})"


def _check_inbox(session: StoreSession, run: _Run) -> None:
    """Every event written to the inbox was answered, however the daemon was killed."""
    for shop in run.shops:
        summary = session.inbox_summary(shop.channel, datetime(2000, 1, 1, tzinfo=UTC))
        run.result.events_received += summary.received
        if summary.unprocessed:
            run.result.problems.append(
                f"{shop.channel}: {summary.unprocessed} event(s) in the inbox never answered"
            )


def _check_orders(session: StoreSession, run: _Run, snap: _Snapshot) -> None:
    problems = run.result.problems
    for shop in run.shops:
        stored = Counter(o.order_id for o in session.orders(channel=shop.channel))
        run.result.orders_imported += stored.total()
        problems += [
            f"{shop.channel} order {o} stored {n} times" for o, n in stored.items() if n > 1
        ]
        placed = set(snap.orders[shop.channel])
        problems += [
            f"{shop.channel} order {o} was never imported" for o in sorted(placed - set(stored))
        ]
        problems += [
            f"{shop.channel} order {o} is in the store but not on the marketplace"
            for o in sorted(set(stored) - placed)
        ]


def _check_shown(
    session: StoreSession, run: _Run, snap: _Snapshot, available: dict[int, int]
) -> set[int]:
    """Check what every channel shows; return the ids of bindings whose raise is held."""
    held: set[int] = set()
    for shop in run.shops:
        if not run.engine.context.channels[shop.channel].pushes_stock:
            continue
        for binding in session.bindings(channel=shop.channel):
            code = binding.merchant_code
            if binding.sku_id is None or code is None:
                continue
            shown = snap.stock[shop.channel].get(code)
            if (
                binding.held_since is not None
                and shown is not None
                and binding.sent_quantity is not None
                and shown < binding.sent_quantity
            ):
                held.add(binding.id)
                run.result.held.append(f"{shop.channel} {code}")
            elif shown != binding.sent_quantity or binding.planned_quantity != shown:
                run.result.problems.append(
                    f"{shop.channel} shows {shown} of {code}; the engine planned "
                    f"{binding.planned_quantity} and recorded {binding.sent_quantity} as sent"
                )
            exists = max(available[binding.sku_id], 0)
            if shown is not None and shown > exists:
                run.result.problems.append(
                    f"{shop.channel} shows {shown} of {code}, {exists} exist"
                )
    return held


def _check_outbox(session: StoreSession, result: ChaosResult, held: set[int]) -> None:
    for item in session.outbox(state=OutboxState.PENDING):
        if item.kind == "stock" and item.payload.get("binding_id") in held:
            continue  # the held raise itself, waiting for the guard's second look
        result.problems.append(f"still pending: {item.channel} {item.kind} {item.key}")
    for item in session.outbox(state=OutboxState.PARKED):
        result.problems.append(f"parked: {item.channel} {item.kind} {item.key}: {item.reason}")
    for record in session.parked():
        result.problems.append(f"parked order: {record.channel} {record.key}: {record.reason}")


def _check_shipments(run: _Run, snap: _Snapshot, states: dict[tuple[str, str], str]) -> None:
    result = run.result
    for (channel, order_id), state in states.items():
        if state != "sent":
            result.problems.append(f"shipment of {channel} order {order_id} is {state}")
    for channel, per_order in snap.shipments.items():
        for order_id, count in per_order.items():
            wanted = 1 if (channel, order_id) in run.shipped else 0
            if count != wanted:
                result.problems.append(
                    f"{channel} order {order_id} has {count} shipment(s) on the marketplace, "
                    f"{wanted} were asked for"
                )
            elif wanted:
                result.shipments_pushed_once += 1


def _converged(
    store: Store,
    shops: Sequence[_Shop],
    shipped: dict[tuple[str, str], str],
    *,
    holds_allowed: bool = False,
) -> bool:
    """Whether every order is imported and every change and shipment sent and recorded.

    A shipped order's status change is not waited for: the marketplaces let it be
    read only after their order lag (minutes); it changes no stock that is shown.
    With ``holds_allowed``, a raise the re-inflation guard holds (the channel shows
    less than was sent) does not count as unsent: it waits for that lag too, and
    :func:`_release_held` bounds and releases such raises afterwards.
    """
    snap = _snapshot(shops)
    with store.transaction() as session:
        stored = {(o.channel, o.order_id) for o in session.orders()}
        imported = all(
            (shop.channel, order_id) in stored
            for shop in shops
            for order_id in snap.orders[shop.channel]
        )
        held = {
            b.id
            for b in session.bindings()
            if holds_allowed and b.held_since is not None and b.sent_quantity is not None
        }
        pending = [
            item
            for item in session.outbox(state=OutboxState.PENDING)
            if not (item.kind == "stock" and item.payload.get("binding_id") in held)
        ]
        idle = not pending and all(s.state in ("sent", "parked") for s in session.shipments())
        shown = all(
            binding.id in held
            or (
                binding.planned_quantity == binding.sent_quantity
                and (
                    binding.sent_quantity is None
                    or snap.stock[shop.channel].get(binding.merchant_code) == binding.sent_quantity
                )
            )
            for shop in shops
            for binding in session.bindings(channel=shop.channel)
            if binding.sku_id is not None and binding.merchant_code is not None
        )
    pushed = all(snap.shipments[c].get(o, 0) >= 1 for c, o in shipped)
    return imported and idle and shown and pushed


def _unsettled(
    store: Store, shops: Sequence[_Shop], shipped: dict[tuple[str, str], str]
) -> list[str]:
    """Name what keeps :func:`_converged` (with holds allowed) false, for a run's report."""
    snap = _snapshot(shops)
    found: list[str] = []
    with store.transaction() as session:
        stored = {(o.channel, o.order_id) for o in session.orders()}
        found += [
            f"{shop.channel} order {order_id} not imported"
            for shop in shops
            for order_id in snap.orders[shop.channel]
            if (shop.channel, order_id) not in stored
        ]
        held = {
            b.id
            for b in session.bindings()
            if b.held_since is not None and b.sent_quantity is not None
        }
        found += [
            f"pending: {item.channel} {item.kind} {item.key}"
            for item in session.outbox(state=OutboxState.PENDING)
            if not (item.kind == "stock" and item.payload.get("binding_id") in held)
        ]
        found += [
            f"shipment of {s.channel} order {s.order_id} is {s.state}"
            for s in session.shipments()
            if s.state not in ("sent", "parked")
        ]
        for shop in shops:
            for b in session.bindings(channel=shop.channel):
                if b.sku_id is None or b.merchant_code is None or b.id in held:
                    continue
                shown = snap.stock[shop.channel].get(b.merchant_code)
                if b.planned_quantity != b.sent_quantity or (
                    b.sent_quantity is not None and shown != b.sent_quantity
                ):
                    found.append(
                        f"{shop.channel} {b.merchant_code}: planned {b.planned_quantity}, "
                        f"sent {b.sent_quantity}, shown {shown}"
                    )
    found += [
        f"shipment of {c} order {o} not on the marketplace"
        for c, o in shipped
        if snap.shipments[c].get(o, 0) < 1
    ]
    return found


#: Cycles of :func:`_release_held`, each a marketplace lag and a minute later.
_RELEASE_CYCLES = 6


class _Advancing(Clock, Protocol):
    """A clock the harness can move on (:class:`FakeClock`, :class:`_MovableClock`)."""

    def advance(self, seconds: float) -> None:
        """Move the clock ``seconds`` ahead."""


class _MovableClock(SystemClock):
    """Real time, plus whatever the harness has moved it on by.

    The daemon under test runs on real time; the fakes run on this clock, which is
    real time until the daemon is gone. Then the harness moves it (and an in-process
    engine on the same clock) past the marketplaces' lag without waiting minutes.
    """

    def __init__(self) -> None:
        self.offset = 0.0

    def now(self) -> datetime:
        return super().now() + timedelta(seconds=self.offset)

    def monotonic(self) -> float:
        return super().monotonic() + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += seconds


def _in_process_engine(
    store: Store,
    shops: Sequence[_Shop],
    clock: Clock,
    *,
    config: EngineConfig,
    host: PluginHost,
) -> SyncEngine:
    """Build an engine on ``store`` that talks to the fakes in-process, on ``clock``."""
    settings = {
        shop.channel: ChannelSyncSettings.model_validate(shop.sync) for shop in shops if shop.sync
    }
    channels = [_in_process_channel(shop, clock) for shop in shops]
    return SyncEngine(store, channels, settings=settings, config=config, clock=clock, host=host)


def _in_process_channel(shop: _Shop, clock: Clock) -> Channel[Any]:
    cls = shop.channel_cls
    backend = MemorySecretBackend({(shop.channel, k): v for k, v in shop.credentials.items()})
    credentials = CredentialStore(backend=backend, environ={})
    return cls(
        shop.channel,
        cls.settings_model.model_validate(shop.settings),
        credentials.for_channel(shop.channel, cls.all_credential_fields()),
        transport=shop.fake.transport(),
        clock=clock,
        retry_policy=RetryPolicy(max_attempts=5, initial_wait=0.5, jitter=0.0),
    )


def _check_cycle(run: _Run) -> None:
    """After a full cycle: nobody shows more than the ledger has; scarce SKUs partitioned."""
    store, engine, shops, result = run.store, run.engine, run.shops, run.result
    snap = _snapshot(shops)
    threshold = engine.context.config.scarce_threshold
    with store.transaction() as session:
        skus = {sku.id: sku for sku in session.skus()}
        positions = session.positions(list(skus))
        totals: Counter[int] = Counter()
        settled: dict[int, bool] = {}
        for shop in shops:
            if not engine.context.channels[shop.channel].pushes_stock:
                continue
            for binding in session.bindings(channel=shop.channel):
                if binding.sku_id is None or binding.merchant_code is None:
                    continue
                shown = snap.stock[shop.channel].get(binding.merchant_code, 0)
                totals[binding.sku_id] += shown
                # A send that failed (and waits for its retry) leaves the older value up.
                done = binding.planned_quantity == binding.sent_quantity
                settled[binding.sku_id] = settled.get(binding.sku_id, True) and done
                available = max(positions[binding.sku_id].available, 0)
                if done and shown > available:
                    result.problems.append(
                        f"cycle {result.cycles}: {shop.channel} shows {shown} of "
                        f"{binding.merchant_code}, the ledger has {available}"
                    )
        for sku_id, total in totals.items():
            available = max(positions[sku_id].available, 0)
            scarce = threshold is not None and available <= threshold
            if scarce and settled.get(sku_id, False) and total > available:
                result.problems.append(
                    f"cycle {result.cycles}: {skus[sku_id].merchant_code} is scarce "
                    f"({available} available) and the channels show {total} together"
                )
