"""Every hook channelsync calls, in one place.

Plugins implement these with :data:`channelsync.plugins.hookimpl` and are found
through the ``channelsync`` entry-point group. Every hook name starts with
``channelsync_``. An implementation may accept fewer arguments than the
specification (new arguments can be added later without breaking it), but never
other ones; unknown hook names are refused when the plugin is loaded.

Call order: implementations run in reverse order of registration (the last registered
plugin first), adjusted by ``tryfirst`` and ``trylast``. Built-in behaviour is
implemented as ``trylast`` plugins using the same hooks, so a third-party
implementation always runs before it.

Hooks that talk to the outside world should stay small and fast: marketplace I/O
belongs in the channel classes. Engine code never calls ``pm.hook`` directly; it uses
the typed facade :class:`channelsync.plugins.manager.PluginHost`.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import TYPE_CHECKING

from channelsync.plugins._markers import hookspec

if TYPE_CHECKING:
    from channelsync.models import Money, Order, OrderStatus
    from channelsync.plugins.context import LowStockAlert, PriceContext
    from channelsync.plugins.registry import ChannelRegistry


# -- discovery -------------------------------------------------------------------------


@hookspec
def channelsync_register_channels(registry: ChannelRegistry) -> None:
    """Add the plugin's channel types to the registry.

    Called once per plugin, right after the plugins are loaded, while the plugin
    manager is built (see :func:`channelsync.plugins.build_plugin_manager`). Each plugin
    is called on its own, so a failure is attributed to it: when this raises, the
    plugin is unloaded, the types it added are removed and the failure is reported by
    ``channelsync plugins``.

    :param registry: the channel registry, scoped to the calling plugin; call
        ``registry.add(ChannelClass)`` for each :class:`~channelsync.channels.Channel`
        subclass the plugin provides. It refuses non-``Channel`` classes, abstract
        classes, classes without a ``type_name`` and type names another plugin already
        registered, raising :class:`~channelsync.errors.PluginError`.
    :return: nothing; the return value is ignored. Every implementation is called.
    """


# -- pricing ---------------------------------------------------------------------------


@hookspec(firstresult=True)
def channelsync_adjust_price(context: PriceContext, price: Money) -> Money | None:
    """Decide the price to publish for one SKU on one channel.

    Called by the engine before a price change is sent to a channel, once per
    (channel, SKU) price to publish. It runs inside the store transaction that plans
    the change: on PostgreSQL a large one (an order page) runs in a worker thread, so
    calls for two channels may overlap; keep a rule free of unguarded shared state.

    :param context: the channel name and type, the SKU's merchant code, the
        catalogue price and the unit cost when known.
    :param price: the price proposed so far (the catalogue price, in its currency).
    :return: the price to publish, in the same currency as ``price``; or ``None`` to
        leave the decision to the next implementation. The first non-``None`` answer
        wins and the remaining implementations are not called. The built-in rule
        (``trylast``) returns ``price`` unchanged, so without other rules the
        catalogue price is published.
    """


# -- sync events -----------------------------------------------------------------------


@hookspec
def channelsync_order_imported(
    order: Order, previous_status: OrderStatus | None
) -> Awaitable[None] | None:
    """React to an order that was imported or whose status changed (e.g. hand it to an ERP).

    Called once per newly imported order and once per status change of a known order,
    after the change has been stored, so a crash afterwards does not repeat it within
    the same run. Delivery is at least once across restarts: make handlers idempotent
    (key them on ``order.channel`` and ``order.order_id``).

    This hook may be asynchronous: an implementation can be an ``async def`` function
    or return any awaitable, and the engine awaits it before calling the next
    implementation. An implementation that raises is logged with its plugin name and
    does not stop the others.

    :param order: the order in canonical form, as now stored.
    :param previous_status: the status before this change, or ``None`` when the order
        is new.
    :return: ``None`` or an awaitable resolving to ``None``. Every implementation is
        called; results are ignored.
    """


# -- alerts ----------------------------------------------------------------------------


@hookspec
def channelsync_low_stock(alert: LowStockAlert) -> None:
    """Report that available stock fell below its threshold.

    Called once per crossing: when available stock goes from at or above the
    threshold to below it. It is not called again while stock stays below, and is
    called again after stock has been at or above the threshold in between. The
    built-in sink (``trylast``) logs the alert at ``WARNING`` on the
    ``channelsync.alerts`` logger.

    Implementations are synchronous and should return quickly (queue slow work). An
    implementation that raises is logged with its plugin name and does not stop the
    others.

    :param alert: the SKU's merchant code, the available stock, the threshold, the
        channel (``None`` for the master stock) and when it happened.
    :return: nothing; every implementation is called and results are ignored.
    """
