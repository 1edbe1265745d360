"""A channel's price for a SKU: the catalogue price through the channel's price rules.

Order of application: a campaign active at the moment (fixed price or markup)
replaces the rule's markup; otherwise the rule's markup or discount applies; the
result is rounded up to the price ending; the price hook may adjust it; finally the
floors (cost + margin, an absolute floor) are applied, so no rule or hook can take a
price below them. The result is rounded to the currency's minor unit.

Currency: a channel whose price rule names a ``currency`` sells in it. A SKU priced in
another currency is converted with the rule's explicit rate for that currency (the
markup, ending, floors and campaign prices are then in the channel's currency, and
cost is converted with the same rate); without a rate there is no price to send, and
:func:`plan_price` answers a :class:`CurrencyMismatch` that the planner parks.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal

from channelsync.config import ChannelSyncSettings
from channelsync.models import Money, minor_unit_exponent
from channelsync.plugins import PluginHost, PriceContext
from channelsync.store import ParkedRecord, SkuRecord, StoreSession

__all__ = [
    "MISMATCH_KIND",
    "CurrencyMismatch",
    "CurrencyMismatchError",
    "CurrencyNote",
    "PricePlans",
    "channel_price",
    "check_currency",
    "plan_price",
    "record_currency",
    "round_to_ending",
]

#: The kind of parked record a price that cannot be sent is kept as.
MISMATCH_KIND = "price"

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


@dataclass(frozen=True, slots=True)
class CurrencyMismatch:
    """A SKU priced in a currency its channel does not sell in, with no rate to convert."""

    merchant_code: str
    channel: str
    catalogue_currency: str
    channel_currency: str

    @property
    def reason(self) -> str:
        """The parked reason, naming the SKU, the channel and both currencies."""
        return (
            f"CURRENCY_MISMATCH: SKU {self.merchant_code} is priced in "
            f"{self.catalogue_currency} but channel {self.channel} sells in "
            f"{self.channel_currency}; no price sent (give the channel's price rule "
            f"rates.{self.catalogue_currency} to convert)"
        )


class CurrencyMismatchError(ValueError):
    """Raised by :func:`channel_price` when there is no price in the channel's currency."""

    def __init__(self, mismatch: CurrencyMismatch) -> None:
        super().__init__(mismatch.reason)
        self.mismatch = mismatch


def channel_price(
    sku: SkuRecord,
    settings: ChannelSyncSettings,
    *,
    channel: str,
    channel_type: str,
    now: datetime,
    host: PluginHost | None = None,
) -> Money:
    """Return what ``channel`` should charge for ``sku`` at ``now``.

    Raises :class:`CurrencyMismatchError` when the channel sells in another currency
    and its price rule gives no rate (see :func:`plan_price`, which answers instead).
    """
    price = plan_price(
        sku, settings, channel=channel, channel_type=channel_type, now=now, host=host
    )
    if isinstance(price, CurrencyMismatch):
        raise CurrencyMismatchError(price)
    return price


def plan_price(
    sku: SkuRecord,
    settings: ChannelSyncSettings,
    *,
    channel: str,
    channel_type: str,
    now: datetime,
    host: PluginHost | None = None,
) -> Money | CurrencyMismatch:
    """Return what ``channel`` should charge for ``sku`` at ``now``, or why it cannot."""
    campaign = _campaign(settings, sku.merchant_code, now)
    return _price(sku, settings, campaign, channel=channel, channel_type=channel_type, host=host)


def _campaign(settings: ChannelSyncSettings, merchant_code: str, now: datetime) -> int | None:
    """Return the position of the campaign that prices ``merchant_code`` at ``now``, if any."""
    for position, campaign in enumerate(settings.campaigns):
        if campaign.start <= now < campaign.end and (
            not campaign.skus or merchant_code in campaign.skus
        ):
            return position
    return None


def _price(
    sku: SkuRecord,
    settings: ChannelSyncSettings,
    campaign_at: int | None,
    *,
    channel: str,
    channel_type: str,
    host: PluginHost | None,
) -> Money | CurrencyMismatch:
    """Return the price of ``sku`` under the campaign at ``campaign_at`` (or none)."""
    base = Money.of(sku.price, sku.currency)
    rule = settings.price
    currency = rule.currency or sku.currency
    rate = Decimal(1)
    if currency != sku.currency:
        found = rule.rates.get(sku.currency)
        if found is None:
            return CurrencyMismatch(sku.merchant_code, channel, sku.currency, currency)
        rate = found
    converted = base.amount * rate
    amount = converted * (1 + rule.markup / _HUNDRED)
    if campaign_at is not None:
        campaign = settings.campaigns[campaign_at]
        if campaign.price is not None:
            amount = campaign.price
        elif campaign.markup is not None:
            amount = converted * (1 + campaign.markup / _HUNDRED)
    if rule.ending is not None:
        amount = round_to_ending(amount, rule.ending)
    price = Money.of(amount, currency)
    cost = None if sku.cost is None else Money.of(Decimal(sku.cost) * rate, currency)
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
        step = Decimal(1).scaleb(-minor_unit_exponent(currency))
        price = Money.of(max(floors).quantize(step, rounding=ROUND_CEILING), currency)
    return price


class PricePlans:
    """:func:`plan_price` for one planning pass, computed once per set of SKUs priced alike.

    Without a price hook a price depends only on the SKU's price, currency and cost,
    the channel's settings and the campaign in force, so the SKUs of a catalogue that
    agree on those share one computation (a pass plans thousands of listings). With a
    hook every price is computed as :func:`plan_price` computes it: a hook may look at
    anything. A mismatch names its SKU, so it is never shared.
    """

    def __init__(self, host: PluginHost | None) -> None:
        # The built-in rule publishes the price unchanged: with no other price rule
        # loaded, the answers are those of no host, and are shared like them.
        if host is not None and not host.implements("channelsync_adjust_price", builtin=False):
            host = None
        self._host = host
        self._known: dict[tuple[object, ...], tuple[Money, str]] = {}
        # Kept alive with the answers, so an id in a key never names another object.
        self._settings: dict[int, ChannelSyncSettings] = {}

    def price(
        self,
        sku: SkuRecord,
        settings: ChannelSyncSettings,
        *,
        channel: str,
        channel_type: str,
        now: datetime,
    ) -> Money | CurrencyMismatch:
        """Return what :func:`plan_price` returns for these arguments (and this pass's hook)."""
        quoted = self.quote(sku, settings, channel=channel, channel_type=channel_type, now=now)
        return quoted if isinstance(quoted, CurrencyMismatch) else quoted[0]

    def quote(
        self,
        sku: SkuRecord,
        settings: ChannelSyncSettings,
        *,
        channel: str,
        channel_type: str,
        now: datetime,
    ) -> tuple[Money, str] | CurrencyMismatch:
        """Return :meth:`price` with its amount as the planner records it (``format(a, "f")``)."""
        campaign = _campaign(settings, sku.merchant_code, now) if settings.campaigns else None
        if self._host is not None:
            price = _price(
                sku, settings, campaign, channel=channel, channel_type=channel_type, host=self._host
            )
            return price if isinstance(price, CurrencyMismatch) else (price, _text(price))
        key = (id(settings), sku.price, sku.currency, sku.cost, campaign)
        found = self._known.get(key)
        if found is not None:
            return found
        self._settings.setdefault(id(settings), settings)
        price = _price(
            sku, settings, campaign, channel=channel, channel_type=channel_type, host=None
        )
        if isinstance(price, CurrencyMismatch):
            return price
        found = self._known[key] = (price, _text(price))
        return found


def _text(price: Money) -> str:
    """Return a price's amount as it is planned and sent: plain decimal text."""
    return format(price.amount, "f")


@dataclass(frozen=True, slots=True)
class CurrencyNote:
    """A listing's price outcome on a channel that declares its currency."""

    channel: str
    key: str
    mismatch: CurrencyMismatch | None
    """Why no price can be sent, or ``None`` when one can (an older mismatch is over)."""


def check_currency(
    notes: list[CurrencyNote],
    settings: ChannelSyncSettings,
    *,
    channel: str,
    key: str,
    price: Money | CurrencyMismatch,
) -> Money | None:
    """Pass a price on, or answer ``None`` for a mismatch; note either for :func:`record_currency`.

    Only channels that declare a currency are noted: no other can have a mismatch.
    """
    if settings.price.currency is not None:
        mismatch = price if isinstance(price, CurrencyMismatch) else None
        notes.append(CurrencyNote(channel, key, mismatch))
    return None if isinstance(price, CurrencyMismatch) else price


def record_currency(session: StoreSession, notes: list[CurrencyNote], now: datetime) -> None:
    """Park each noted mismatch with its reason, and forget those that are over."""
    for note in notes:
        if note.mismatch is None:
            session.unpark(note.channel, MISMATCH_KIND, note.key)
            continue
        session.park(
            ParkedRecord(
                channel=note.channel,
                kind=MISMATCH_KIND,
                key=note.key,
                reason=note.mismatch.reason,
                payload={
                    "merchant_code": note.mismatch.merchant_code,
                    "catalogue_currency": note.mismatch.catalogue_currency,
                    "channel_currency": note.mismatch.channel_currency,
                },
            ),
            now,
        )
