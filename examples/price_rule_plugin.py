"""A deployment-local plugin: a per-channel price rule on the ``channelsync_adjust_price`` hook.

Register it from code with ``build_plugin_manager(extra_plugins=[price_rule_plugin])``,
or publish it in a distribution with an entry point in the ``channelsync`` group::

    [project.entry-points.channelsync]
    campaign-prices = "price_rule_plugin"
"""

from __future__ import annotations

from decimal import Decimal

from channelsync import Money, build_plugin_manager, hookimpl
from channelsync.plugins import PriceContext

MARKUP = {"tmall": Decimal("1.05"), "pinduoduo": Decimal("0.98")}


@hookimpl
def channelsync_adjust_price(context: PriceContext, price: Money) -> Money | None:
    """Mark Tmall prices up 5% and Pinduoduo prices down 2%; leave other channels alone."""
    factor = MARKUP.get(context.channel_type)
    if factor is None:
        return None  # let the next rule (finally the built-in identity rule) decide
    return (price * factor).quantize()


if __name__ == "__main__":
    import sys

    host = build_plugin_manager(extra_plugins=[sys.modules[__name__]])
    catalogue_price = Money.of("99.00", "CNY")
    for channel_type in ("tmall", "jd", "pinduoduo"):
        context = PriceContext(
            channel=f"{channel_type}-1",
            channel_type=channel_type,
            merchant_code="TEE-RED-M",
            catalogue_price=catalogue_price,
        )
        print(channel_type, host.adjust_price(context, catalogue_price))
