"""What every engine step needs: the store, the clock, the hooks and the channels' settings."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from channelsync.channels import Capability, Channel, ListingScope
from channelsync.clock import Clock
from channelsync.config import ChannelSyncSettings, EngineConfig
from channelsync.engine.pace import Visibility
from channelsync.plugins import PluginHost
from channelsync.store import Store, StoreSession

__all__ = ["BINDING_WRITES", "THREAD_ROWS", "ChannelInfo", "EngineContext", "until_ended"]

_T = TypeVar("_T")

logger = logging.getLogger(__name__)

#: The fewest rows a transaction writes for :meth:`EngineContext.transact` to run it in
#: a thread. Measured on PostgreSQL (``benchmarks/scale.py``, 20 workspaces, 2 workers):
#: every transaction in a thread took an order's p50 from import to flushed 0.26 s ->
#: 0.47 s; a first cycle's batches of 50 and a burst's pages gain 25-45 %.
THREAD_ROWS = 20
#: How many channels' bindings write at once in one process (see
#: :meth:`EngineContext.binding_turn`). Two rather than one: on PostgreSQL, 100,000 SKUs
#: x 4 bound in 9.7-10.7 s instead of 13.1-14.8 s, the peak 0.70-0.74 GB against 0.66 GB.
BINDING_WRITES = 2


@dataclass(frozen=True, slots=True)
class ChannelInfo:
    """One channel as the planner sees it: its settings and what it can be sent."""

    name: str
    type_name: str
    settings: ChannelSyncSettings
    inventory: bool
    pricing: bool
    listings: bool
    item_wide_status: bool = False
    """Whether listing and delisting act on a whole item, all its SKUs together."""

    @classmethod
    def of(cls, channel: Channel[Any], settings: ChannelSyncSettings) -> ChannelInfo:
        """Describe ``channel`` from its declared capabilities."""
        return cls(
            name=channel.name,
            type_name=channel.type_name,
            settings=settings,
            inventory=channel.supports(Capability.INVENTORY),
            pricing=channel.supports(Capability.PRICING),
            listings=channel.supports(Capability.LISTINGS),
            item_wide_status=channel.limits.listing_scope is ListingScope.ITEM,
        )

    @property
    def pushes_stock(self) -> bool:
        """Whether the engine sends this channel stock (it can, and the stock is ours)."""
        return self.inventory and self.settings.managed_stock


@dataclass
class EngineContext:
    """The engine's dependencies, passed to each step."""

    store: Store
    clock: Clock
    channels: Mapping[str, ChannelInfo]
    config: EngineConfig = field(default_factory=EngineConfig)
    host: PluginHost | None = None
    visibility: Visibility = field(default_factory=Visibility)
    """Each channel's visibility delay, for protection that knows the pace."""
    _binding_turns: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = field(
        default_factory=weakref.WeakKeyDictionary, init=False, repr=False, compare=False
    )

    def binding_turn(self) -> asyncio.Semaphore:
        """Return what lets :data:`BINDING_WRITES` channels' bindings write at once (per loop).

        A binding writes a row per listing of its channel, off the loop where
        :meth:`transact` runs it in a thread: a few channels' at a time, so channels
        bound side by side never hold all their written rows in memory together, while
        the server's write of one overlaps the building of the next one's rows.
        """
        loop = asyncio.get_running_loop()
        turn = self._binding_turns.get(loop)
        if turn is None:
            turn = self._binding_turns[loop] = asyncio.Semaphore(BINDING_WRITES)
        return turn

    async def transact(self, work: Callable[[StoreSession], _T], *, rows: int) -> _T:
        """Run ``work`` in one store transaction, off the event loop where that pays.

        ``rows`` is about how many rows the work writes (the orders of a page, the
        entries of a batch). On a store of many writers (PostgreSQL), a transaction of
        at least :data:`THREAD_ROWS` rows runs in a worker thread: while it waits for
        the database, the loop goes on with the other channels' steps (their calls,
        their decisions), which would otherwise queue behind every round trip. A
        smaller one runs here: handing it to a thread (and a connection of its own)
        costs more than the overlap gains, and a worker's many small jobs then wait
        longer. On a one-writer store (SQLite) the work is this process's own CPU,
        which a thread would only contend for: it always runs here. The thread sees
        the task's context variables (a worker's lease fence). A step cancelled while
        its transaction runs in a thread ends when the transaction has, committed or not.
        """
        if rows < THREAD_ROWS or not self.store.concurrent_writers:
            return self._transact(work)
        running = asyncio.ensure_future(asyncio.to_thread(self._transact, work))
        try:
            return await asyncio.shield(running)
        except asyncio.CancelledError:
            # A thread cannot be stopped: the transaction may still commit. The step
            # ends only after it, as after a transaction on the loop, so the channel's
            # next step (a retried job, the next loop) never runs beside it.
            await until_ended([running])
            if not running.cancelled() and (error := running.exception()) is not None:
                # Retrieved, or asyncio reports it as never retrieved once collected.
                # The step ends cancelled either way; the transaction was rolled back.
                # Its type only: a store error's text may quote the rows' values.
                logger.debug("a cancelled step's transaction failed: %s", type(error).__name__)
            raise

    def _transact(self, work: Callable[[StoreSession], _T]) -> _T:
        with self.store.transaction() as session:
            return work(session)


async def until_ended(futures: Collection[asyncio.Future[Any]]) -> None:
    """Return once every one of ``futures`` has ended, whatever cancels the caller meanwhile.

    For work that cannot be stopped (a transaction in a thread): the step waiting for
    it ends after it, never beside it.
    """
    while not all(future.done() for future in futures):
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait(futures)
