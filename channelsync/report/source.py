"""Feeding a report from the state store: the catalogue, the stock and the imported orders."""

from __future__ import annotations

from decimal import Decimal

from pydantic import ValidationError

from channelsync.models import Order, OrderStatus
from channelsync.report.compute import CatalogueIndex, ReportBuilder
from channelsync.report.errors import ReportDataError
from channelsync.report.figures import Report
from channelsync.report.period import ReportPeriod
from channelsync.store import StoredOrder, StoreSession

__all__ = ["build_report"]


def build_report(
    session: StoreSession,
    period: ReportPeriod,
    *,
    channel: str | None = None,
    window_days: int = 14,
    low_days: Decimal = Decimal(7),
    top: int = 10,
) -> Report:
    """Compute a report over the orders imported into the store and its catalogue.

    Orders are read back one at a time into :class:`~channelsync.models.Order` and
    handed to the builder; none is kept. Raises :class:`ReportDataError` naming the
    channel and order when a stored order no longer reads as a valid order.
    """
    skus = session.skus()
    kits = session.components_of(session.kit_ids())
    catalogue = CatalogueIndex.build(skus, session.bindings(), kits)
    builder = ReportBuilder(
        period, catalogue, channel=channel, window_days=window_days, low_days=low_days, top=top
    )
    earliest = builder.earliest
    # One status at a time: the store answers with a list, so this bounds what is held
    # at once to the largest status's orders rather than all of them.
    for status in OrderStatus:
        # The store filters on the last change, which is never before the order was
        # placed, so every order placed since ``earliest`` is among these.
        for stored in session.orders(status=status.value, since=earliest):
            if earliest <= stored.created_at < period.until:
                builder.add(_read(stored))
    positions = session.positions(sku.id for sku in skus)
    return builder.finish(positions)


def _read(stored: StoredOrder) -> Order:
    try:
        return Order.model_validate(stored.raw)
    except ValidationError as error:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or 'order'}: {e['msg']}" for e in error.errors()
        )
        raise ReportDataError(stored.channel, stored.order_id, problems) from None
