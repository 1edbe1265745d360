"""A channel's price for a SKU: the catalogue price through the channel's price rules.

Order of application: a campaign active at the moment (fixed price or markup)
replaces the rule's markup; otherwise the rule's markup or discount applies; the
result is rounded up to the price ending; the price hook may adjust it; finally the
floors (cost + margin, an absolute floor) are applied, so no rule or hook can take a
price below them. The result is rounded to the currency's minor unit.
"""

from __future__ import annotations

from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from channelsync.config import ChannelSyncSettings
from channelsync.models import Money, minor_unit_exponent
from channelsync.plugins import PluginHost, PriceContext
from channelsync.store import SkuRecord

__all__ = ["channel_price", "round_to_ending"]

_HUNDRED = Decimal(100)


def round_to_ending(amount: Decimal, ending: Decimal) -> Decimal:
    """Return the smallest price at or above ``amount`` that ends in ``ending``.

    An ending below 1 (``0.90``) is the fraction of a whole unit; an ending of 1 or
    more (``9``, ``99``) is the last digits of the whole units.
    """
    step = Decimal(1) if ending < 1 else Decimal(10) ** len(str(int(ending)))
    candidate = (amount / step).to_integral_value(rounding=ROUND_FLOOR) * step + ending
    while candidate < amount:
        candidate += step
    return candidate


def channel_price(
    sku: SkuRecord,
    settings: ChannelSyncSettings,
    *,
    channel: str,
    channel_type: str,
    now: datetime,
    host: PluginHost | None = None,
) -> Money:
    """Return what ``channel`` should charge for ``sku`` at ``now``."""
    base = Money.of(sku.price, sku.currency)
    rule = settings.price
    amount = base.amount * (1 + rule.markup / _HUNDRED)
    for campaign in settings.campaigns:
        if campaign.start <= now < campaign.end and (
            not campaign.skus or sku.merchant_code in campaign.skus
        ):
            if campaign.price is not None:
                amount = campaign.price
            elif campaign.markup is not None:
                amount = base.amount * (1 + campaign.markup / _HUNDRED)
            break
    if rule.ending is not None:
        amount = round_to_ending(amount, rule.ending)
    price = Money.of(amount, sku.currency)
    cost = None if sku.cost is None else Money.of(sku.cost, sku.currency)
    if host is not None:
        context = PriceContext(
            channel=channel,
            channel_type=channel_type,
            merchant_code=sku.merchant_code,
            catalogue_price=base,
            cost=cost,
        )
        price = host.adjust_price(context, price)
    floors = []
    if rule.floor is not None:
        floors.append(rule.floor)
    if rule.floor_margin is not None and cost is not None:
        floors.append(cost.amount * (1 + rule.floor_margin / _HUNDRED))
    price = price.quantize()
    if floors and price.amount < max(floors):
        # Round the floor up: rounding it to the nearest minor unit could cross it.
        step = Decimal(1).scaleb(-minor_unit_exponent(sku.currency))
        price = Money.of(max(floors).quantize(step, rounding=ROUND_CEILING), sku.currency)
    return price
