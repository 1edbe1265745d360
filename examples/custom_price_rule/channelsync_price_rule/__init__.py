"""A tiny price rule plugin: a markup and a ``.99`` ending on one channel.

channelsync asks the ``channelsync_adjust_price`` hook for the price of every SKU it is
about to publish on a channel. :class:`MarkupRule` answers for one channel (a channel
name such as ``tmall-flagship``, or a whole channel type such as ``tmall``) and returns
``None`` for every other one, which leaves the price to the next rule and finally to
the built-in rule (the catalogue price after the ``[channels.sync.price]`` settings).

Installed, the distribution registers :data:`plugin` through its entry point in the
``channelsync`` group; a script can register its own instance instead::

    host = build_plugin_manager(extra_plugins=[MarkupRule("jd", markup=Decimal("0.10"))])
"""

from __future__ import annotations

from decimal import ROUND_CEILING, Decimal

from channelsync import Money, hookimpl
from channelsync.plugins import PriceContext

__all__ = ["MarkupRule", "plugin"]


class MarkupRule:
    """Mark prices on one channel up by ``markup`` and round them up to ``ending``.

    ``applies_to`` is a channel name or a channel type; ``ending`` is the fraction a
    price ends in (``0.99``: 52.40 becomes 52.99).
    """

    def __init__(
        self,
        applies_to: str,
        *,
        markup: Decimal = Decimal("0.05"),
        ending: Decimal = Decimal("0.99"),
    ) -> None:
        if not Decimal(0) <= ending < Decimal(1):
            raise ValueError(f"ending must be a fraction of a unit, got {ending}")
        self.applies_to = applies_to
        self.markup = markup
        self.ending = ending

    def price_for(self, price: Money) -> Money:
        """Return ``price`` marked up and rounded up to the ending, in its currency."""
        marked_up = price.amount * (1 + self.markup)
        whole = (marked_up - self.ending).to_integral_value(rounding=ROUND_CEILING)
        return Money.of(whole + self.ending, price.currency)

    @hookimpl
    def channelsync_adjust_price(self, context: PriceContext, price: Money) -> Money | None:
        """Answer for the one channel this rule applies to; ``None`` (no opinion) elsewhere."""
        if self.applies_to not in (context.channel, context.channel_type):
            return None
        return self.price_for(price)

    def __repr__(self) -> str:
        return f"MarkupRule({self.applies_to!r}, markup={self.markup}, ending={self.ending})"


#: The instance the entry point registers: +5% and a .99 ending on every Tmall channel.
plugin = MarkupRule("tmall")
