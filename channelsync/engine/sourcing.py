"""Warehouse sourcing: which warehouses feed a channel, and where an order's units are held.

Each channel is fed by some warehouses in a priority order: the ``warehouses`` of its
configuration, or by default every warehouse stock is kept in except those a
marketplace holds. A warehouse in a channel's ``marketplace_warehouses`` (Amazon FBA)
is the marketplace's to sell: it feeds no channel, not even the one whose marketplace
holds it, whose stock there is read and never pushed.

An order's reservation is held in one warehouse: the first of the ordering channel's
sources that can cover it, so a preferred warehouse is drawn down before the next.
A channel whose marketplace holds the stock it sells (``managed_stock = false`` with
``marketplace_warehouses``: Amazon FBA) sells only from there, so its orders reserve,
ship and release in its held warehouses (:func:`order_sources`), never in the
merchant's own, whose units the other channels are shown.

The functions here are pure; the order ingestion and the planner call them with what
they read from the store.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence

from channelsync.config import ChannelSyncSettings
from channelsync.engine.errors import Problem

__all__ = [
    "channel_sources",
    "held_warehouses",
    "marketplace_sells",
    "order_sources",
    "reservation_warehouse",
    "unknown_sources",
]


def held_warehouses(settings: Mapping[str, ChannelSyncSettings]) -> dict[str, str]:
    """Return each marketplace-held warehouse with the channel whose marketplace holds it.

    ``settings`` maps channel names to their settings. The configuration refuses a
    warehouse held by two channels; should one reach here anyway, the first keeps it.
    """
    held: dict[str, str] = {}
    for channel, channel_settings in settings.items():
        for warehouse in channel_settings.marketplace_warehouses:
            held.setdefault(warehouse, channel)
    return held


def channel_sources(
    settings: ChannelSyncSettings, present: Iterable[str], held: Collection[str]
) -> tuple[str, ...]:
    """Return the warehouses feeding a channel, preferred first.

    Its explicit ``warehouses``, in their order; by default the ``present`` warehouses
    (those stock is kept in) that no marketplace holds, the default warehouse ``""``
    first, then by name. A held warehouse is never a source, whatever is configured.
    """
    if settings.warehouses is not None:
        return tuple(w for w in settings.warehouses if w not in held)
    return tuple(sorted({w for w in present if w not in held}, key=lambda w: (w != "", w)))


def marketplace_sells(settings: ChannelSyncSettings) -> bool:
    """Whether a channel's marketplace holds the stock the channel sells (Amazon FBA).

    Its stock is not the engine's to manage (``managed_stock = false``) and it names
    the warehouses its marketplace holds: its orders are filled from those, and its
    listing reads say what they hold.
    """
    return not settings.managed_stock and bool(settings.marketplace_warehouses)


def order_sources(
    settings: ChannelSyncSettings, present: Iterable[str], held: Collection[str]
) -> tuple[str, ...]:
    """Return the warehouses a channel's orders are reserved and shipped in, preferred first.

    For a channel whose marketplace holds the stock it sells (:func:`marketplace_sells`),
    its own held warehouses, in their order: the marketplace ships those orders, so
    reserving them in the merchant's warehouses would wrongly lower what the other
    channels are shown. For any other channel, the warehouses feeding it
    (:func:`channel_sources`).
    """
    if marketplace_sells(settings):
        return settings.marketplace_warehouses
    return channel_sources(settings, present, held)


def reservation_warehouse(sources: Sequence[str], free: Mapping[str, int], quantity: int) -> str:
    """Return the warehouse an order's ``quantity`` units are reserved in.

    ``free`` is each warehouse's units neither reserved nor shipped (on hand minus
    reserved there). The first source whose free units cover ``quantity``; when none
    does, the source with the most free units (the earliest of those tied), so as much
    as possible is taken from one place; when no source has any, the first source.
    ``""`` (not attributed) when the channel has no sources at all.
    """
    if not sources:
        return ""
    for warehouse in sources:
        if free.get(warehouse, 0) >= quantity:
            return warehouse
    most = max(sources, key=lambda w: free.get(w, 0))  # max keeps the earliest of a tie
    return most if free.get(most, 0) > 0 else sources[0]


def unknown_sources(
    settings: Mapping[str, ChannelSyncSettings], known: Collection[str]
) -> list[Problem]:
    """Return a problem for each warehouse a channel's ``warehouses`` names that is not ``known``.

    ``known`` are the warehouses stock is kept in; a channel fed from another one would
    be offered nothing from it, which is almost always a typo.
    """
    listed = ", ".join(repr(w) if w else "'' (the default)" for w in sorted(known)) or "none"
    return [
        Problem(
            f"channel {channel!r} is fed from warehouse {warehouse!r}, which holds no "
            f"stock (known warehouses: {listed})",
            field="warehouses",
        )
        for channel, channel_settings in settings.items()
        for warehouse in channel_settings.warehouses or ()
        if warehouse not in known
    ]
