"""Reconciliation: a full read of a channel's listings, compared with what was last sent.

Someone may change a back office by hand. :func:`reconcile_channel` reads every
listing of a channel and compares each bound one with what the engine last sent it
(quantity and price). Each difference is drift: it is reported (in the returned
report and the audit trail) and corrected by queueing the engine's value through
the outbox, so the correction is sent, retried and audited like any change.

A quantity lower than the one sent may be a buyer's order the engine has not read
yet rather than a hand edit. Such a drop is not simply overwritten: unless imported
orders explain it, this read counts as the re-inflation guard's first look, and the
queued correction waits until a later look confirms the hand edit (see
:mod:`channelsync.engine.guard`). A quantity higher than the one sent is corrected at
once: lowering a channel is always safe.

A correction queues the newest planned value, read again once the SKUs of the
listings that differ are locked: read before another writer's plan committed, it
would replace that plan's newer entry in the outbox.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from channelsync.channels import Channel, ListingLookupCapability, ListingsCapability
from channelsync.engine.context import ChannelInfo, EngineContext
from channelsync.engine.errors import InputError, Problem
from channelsync.engine.guard import listing_key
from channelsync.engine.marketplace_stock import record_marketplace_stock, stock_warehouse
from channelsync.engine.outbox import Kind, stock_urgency
from channelsync.models import Listing
from channelsync.store import AuditEntry, BindingRecord, OutboxState, StoreSession

__all__ = [
    "RECONCILE_CURSOR",
    "Drift",
    "ReconcileReport",
    "correction_outcome",
    "reconcile_channel",
]

#: The cursor kind that records when a channel's listings were last read in full.
RECONCILE_CURSOR = "reconcile"


@dataclass(frozen=True, slots=True)
class Drift:
    """One listing whose channel value differs from what the engine last sent."""

    merchant_code: str
    item_id: str
    sku_id: str | None
    field: str
    """``quantity`` or ``price``."""
    shown: str
    expected: str
    action: str
    """``queued`` (the correction is in the outbox) or ``held`` (it waits for a second look)."""


@dataclass
class ReconcileReport:
    """What one reconciliation of one channel read and corrected."""

    channel: str
    listings: int = 0
    compared: int = 0
    drift: list[Drift] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Merchant codes of bound listings the channel no longer lists."""

    def summary(self) -> str:
        """Say what the reconcile found, in a line an operator reads."""
        held = sum(d.action == "held" for d in self.drift)
        return (
            f"{self.compared} of {self.listings} listings compared, {len(self.drift)} drifted "
            f"({held} held for a second look), {len(self.missing)} missing on the channel"
        )

    @property
    def corrected(self) -> int:
        """How many corrections were queued."""
        return len(self.drift)

    def to_dict(self) -> dict[str, Any]:
        """Return the report as plain data (for ``--json``)."""
        return {
            "channel": self.channel,
            "listings": self.listings,
            "compared": self.compared,
            "drift": [asdict(d) for d in self.drift],
            "missing": self.missing,
        }


async def reconcile_channel(context: EngineContext, channel: Channel[Any]) -> ReconcileReport:
    """Read every listing of ``channel``, report drift from what was sent, queue corrections."""
    if not isinstance(channel, ListingsCapability):
        raise InputError(
            "reconcile", [Problem(f"channel {channel.name!r} cannot list its listings")]
        )
    report = ReconcileReport(channel=channel.name)
    listings: dict[tuple[str, str], Listing] = {}
    async for listing in channel.iter_listings():
        listings[listing_key(listing.item_id, listing.sku_id)] = listing
    if isinstance(channel, ListingLookupCapability) and channel.scan_capped:
        # The scan stopped short: read the bound listings it did not reach by code.
        with context.store.transaction() as session:
            unread = [
                b.merchant_code
                for b in session.bindings(channel=channel.name)
                if b.sku_id is not None
                and b.merchant_code
                and listing_key(b.item_id, b.listing_sku_id) not in listings
            ]
        if unread:
            for listing in await channel.find_listings(unread):
                listings[listing_key(listing.item_id, listing.sku_id)] = listing
    report.listings = len(listings)
    info = context.channels.get(channel.name)
    now = context.clock.now()

    def compare(session: StoreSession) -> None:
        _compare(session, context, channel.name, listings, report)
        if info is not None:
            # What a marketplace holds (FBA) lands in its warehouse with the read.
            record_marketplace_stock(session, channel.name, info.settings, listings.values(), now)
        for drift in report.drift:
            session.audit(
                channel=channel.name,
                kind="reconcile",
                key=f"{drift.item_id}/{drift.sku_id or ''}",
                sent=asdict(drift),
                ok=True,
                answer=f"drift in {drift.field}: shown {drift.shown}, expected {drift.expected}",
                now=now,
            )
        # When the last full read finished, so status can tell "no drift" from "never looked".
        session.set_cursor(channel.name, RECONCILE_CURSOR, now, None)

    # Every listing of the channel compared: on PostgreSQL off the loop, which goes on
    # with the other channels' steps meanwhile.
    await context.transact(compare, rows=len(listings))
    return report


def _compare(
    session: StoreSession,
    context: EngineContext,
    channel: str,
    listings: dict[tuple[str, str], Listing],
    report: ReconcileReport,
) -> None:
    """Compare the channel's bound listings with what was sent; queue the corrections."""
    info = context.channels.get(channel)
    compared: list[tuple[BindingRecord, Listing]] = []
    for binding in session.bindings(channel=channel):
        if binding.sku_id is None:
            continue
        found = listings.get(listing_key(binding.item_id, binding.listing_sku_id))
        if found is None:
            report.missing.append(binding.merchant_code or binding.item_id)
            continue
        compared.append((binding, found))
    report.compared = len(compared)
    if info is None:
        return
    # Locked before this transaction writes anything, in the order every stock writer locks.
    drifting = _held_again(session, channel, compared, info)
    if info.pushes_stock:
        shown = {b.id: found.quantity for b, found in compared if found.quantity is not None}
        session.set_observed_many(shown, context.clock.now())
    for binding, found in drifting:
        if info.pushes_stock:
            _quantity(session, context, binding, found, report)
        if info.pricing:
            _price(session, binding, found, report, context, info.settings.price.currency)


def _held_again(
    session: StoreSession,
    channel: str,
    compared: list[tuple[BindingRecord, Listing]],
    info: ChannelInfo,
) -> list[tuple[BindingRecord, Listing]]:
    """Return the drifting pairs of ``compared`` with their bindings read again under lock.

    The first read took no lock, and a correction queues the binding's planned value:
    a plan committed since (another writer's order) has queued a newer one, which a
    value read before it would overwrite, leaving the listing at the old value with
    nothing left to send. So the SKUs of the listings that differ are locked, in
    ascending order as every stock writer locks them, and their bindings read again.
    """
    drifting = [(b, found) for b, found in compared if _differs(b, found, info)]
    locked = drifting
    if stock_warehouse(info.settings) is not None:
        # The read's stock lands in a warehouse too (record_marketplace_stock): every
        # bound SKU is locked in this one ascending call, not in two that could cross.
        locked = compared
    sku_ids = sorted({b.sku_id for b, _ in locked if b.sku_id is not None})
    if not sku_ids:
        return []
    session.lock_skus(sku_ids)
    if not drifting:
        return []
    fresh = {b.id: b for b in session.bindings(channel=channel, sku_ids=sku_ids)}
    # A binding gone or bound to another SKU meanwhile is left to the next look.
    return [
        (fresh[b.id], found)
        for b, found in drifting
        if b.id in fresh and fresh[b.id].sku_id == b.sku_id
    ]


def _differs(binding: BindingRecord, listing: Listing, info: ChannelInfo) -> bool:
    """Whether ``listing`` shows a quantity or a price other than the one sent ``binding``."""
    if info.pushes_stock and _shown_quantity(binding, listing) is not None:
        return True
    return info.pricing and _shown_price(binding, listing) is not None


def _shown_quantity(binding: BindingRecord, listing: Listing) -> int | None:
    """Return the quantity ``listing`` shows if it is not the one sent (else ``None``)."""
    shown, sent = listing.quantity, binding.sent_quantity
    return shown if shown is not None and sent is not None and shown != sent else None


def _shown_price(binding: BindingRecord, listing: Listing) -> Decimal | None:
    """Return the amount ``listing`` shows if it is not the one sent (else ``None``)."""
    if listing.price is None or binding.sent_price is None:
        return None
    try:
        sent = Decimal(binding.sent_price)
    except InvalidOperation:  # pragma: no cover - the engine only stores decimal text
        return None
    return listing.price.amount if listing.price.amount != sent else None


def _address(binding: BindingRecord) -> dict[str, Any]:
    return {
        "binding_id": binding.id,
        "item_id": binding.item_id,
        "sku_id": binding.listing_sku_id,
        "merchant_code": binding.merchant_code,
    }


def _key(binding: BindingRecord) -> str:
    return f"{binding.item_id}/{binding.listing_sku_id or ''}"


def _quantity(
    session: StoreSession,
    context: EngineContext,
    binding: BindingRecord,
    listing: Listing,
    report: ReconcileReport,
) -> None:
    now = context.clock.now()
    shown, expected = _shown_quantity(binding, listing), binding.sent_quantity
    if shown is None or expected is None:
        return
    if shown == binding.planned_quantity:
        # A send landed but its answer was lost (a crash in between): the outbox still
        # holds it and records it when resent. Queueing it again would only renew the
        # entry under a send in flight, whose answer then never settles it.
        return
    action = "queued"
    if shown < expected:
        explained = 0
        if binding.sent_at is not None and binding.sku_id is not None:
            explained = session.units_ordered_since(
                binding.channel, binding.sku_id, binding.sent_at
            )
        if expected - shown <= explained:
            return  # orders already imported explain it; the planner has queued their effect
        if binding.held_since is None or binding.held_shown != shown:
            session.set_hold(binding.id, now, shown)
        action = "held"
    # The newest planned value is what the channel should show.
    target = binding.planned_quantity if binding.planned_quantity is not None else expected
    session.enqueue(
        channel=binding.channel,
        kind=Kind.STOCK,
        key=_key(binding),
        payload={**_address(binding), "quantity": target, "previous": shown},
        urgency=stock_urgency(target, shown),
        now=now,
    )
    report.drift.append(
        Drift(
            merchant_code=binding.merchant_code or "",
            item_id=binding.item_id,
            sku_id=binding.listing_sku_id,
            field="quantity",
            shown=str(shown),
            expected=str(target),
            action=action,
        )
    )


def _price(  # noqa: PLR0917 - one listing's facts, handed on
    session: StoreSession,
    binding: BindingRecord,
    listing: Listing,
    report: ReconcileReport,
    context: EngineContext,
    channel_currency: str | None,
) -> None:
    shown, sent = _shown_price(binding, listing), binding.sent_price
    if shown is None or sent is None:
        return
    if binding.planned_price is not None and shown == Decimal(binding.planned_price):
        return  # a send whose answer was lost, as for quantities above
    target = binding.planned_price if binding.planned_price is not None else sent
    assert binding.sku_id is not None
    # The amounts sent and planned are already in the channel's currency (converted
    # once by the pricing rule); the correction carries that currency, not the catalogue's.
    currency = channel_currency or session.skus_by_id([binding.sku_id])[binding.sku_id].currency
    session.enqueue(
        channel=binding.channel,
        kind=Kind.PRICE,
        key=_key(binding),
        payload={**_address(binding), "amount": target, "currency": currency},
        urgency=0,
        now=context.clock.now(),
    )
    report.drift.append(
        Drift(
            merchant_code=binding.merchant_code or "",
            item_id=binding.item_id,
            sku_id=binding.listing_sku_id,
            field="price",
            shown=format(shown, "f"),
            expected=target,
            action="queued",
        )
    )


def correction_outcome(session: StoreSession, drift: AuditEntry) -> str:
    """Say what became of the correction a reconcile queued for one drift (its audit entry).

    ``corrected`` only when a send of that listing's value was accepted by the
    marketplace after the drift was found; otherwise what the outbox holds: queued
    (or held, with the reason), parked with the reason, or failed with the answer.
    """
    kind = Kind.PRICE if drift.sent.get("field") == "price" else Kind.STOCK
    sends = [
        entry
        for entry in session.audit_trail(channel=drift.channel, key=drift.key, kind=kind)
        if entry.at >= drift.at
    ]
    if sends and sends[-1].ok:
        return "corrected"
    entry = next(
        (i for i in session.outbox(channel=drift.channel) if i.kind == kind and i.key == drift.key),
        None,
    )
    if entry is not None and entry.state is OutboxState.PARKED:
        return f"correction parked: {entry.reason}"
    if sends:
        return f"correction failed: {sends[-1].answer}"
    if entry is not None and entry.state is OutboxState.PENDING:
        return f"correction queued{f' ({entry.reason})' if entry.reason else ''}"
    return "correction not sent"
