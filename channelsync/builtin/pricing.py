"""The default price rule: publish the proposed price unchanged.

The engine relies on it being the identity: with no other price rule loaded, a
planning pass shares its price computations as if there were no plugin host
(:class:`~channelsync.engine.pricing.PricePlans`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from channelsync.plugins import hookimpl

if TYPE_CHECKING:
    from channelsync.models import Money
    from channelsync.plugins.context import PriceContext


@hookimpl(trylast=True)
def channelsync_adjust_price(context: PriceContext, price: Money) -> Money | None:
    """Return ``price`` unchanged; runs after every other price rule."""
    return price
