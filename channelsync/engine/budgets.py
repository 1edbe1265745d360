"""Carrying rate budgets across processes: restore a channel's buckets, save them after.

Each ``sync --once`` (or a restarted daemon) opens its channels with full rate-limit
buckets, but the marketplace remembers what the previous process spent. The engine
restores a channel's saved levels the first time its transport is used and saves
them after each step, so the next process paces from where this one stopped.
"""

from __future__ import annotations

import logging
import weakref
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from channelsync.channels import Channel
from channelsync.engine.context import EngineContext
from channelsync.errors import ChannelNotOpenError
from channelsync.http import ChannelHttpClient

__all__ = ["budgeted", "restore_budgets", "save_budgets"]

logger = logging.getLogger(__name__)

# Transports whose buckets were restored already: a reopened channel has a new one.
_restored: weakref.WeakSet[ChannelHttpClient] = weakref.WeakSet()
# What each transport saved last: an idle channel's full buckets are not written again
# after every step (the daemon's flush loop looks every few seconds).
_saved: weakref.WeakKeyDictionary[ChannelHttpClient, dict[str, float]] = weakref.WeakKeyDictionary()


def _transport(channel: Channel[Any]) -> ChannelHttpClient | None:
    """Return the channel's open transport; ``None`` when closed or when it has none."""
    try:
        return channel.http
    except ChannelNotOpenError:
        return None  # closed, or a channel that calls no HTTP API (in-memory, say)


def restore_budgets(context: EngineContext, channel: Channel[Any]) -> None:
    """Start ``channel``'s buckets from their saved levels (once per open transport)."""
    http = _transport(channel)
    if http is None or http in _restored:
        return
    _restored.add(http)
    with context.store.transaction() as session:
        saved = session.rate_budgets(channel.name)
    if not saved:
        return
    now = context.clock.now()
    http.rate_limiter.restore(
        channel.name,
        {op: (tokens, (now - at).total_seconds()) for op, (tokens, at) in saved.items()},
    )


def save_budgets(context: EngineContext, channel: Channel[Any]) -> None:
    """Record how full ``channel``'s buckets are now."""
    http = _transport(channel)
    if http is None:
        return
    levels = http.rate_limiter.levels(channel.name)
    if not levels or _saved.get(http) == levels:
        return
    with context.store.transaction() as session:
        session.save_rate_budgets(channel.name, levels, context.clock.now())
    _saved[http] = levels


@asynccontextmanager
async def budgeted(context: EngineContext, channel: Channel[Any]) -> AsyncIterator[None]:
    """Restore ``channel``'s budgets before a step and save them after, failed or not."""
    restore_budgets(context, channel)
    try:
        yield
    finally:
        try:
            save_budgets(context, channel)
        except Exception:  # losing a budget costs a throttle later, never the step
            logger.warning("could not save the rate budgets of %s", channel.name, exc_info=True)
