"""What a contract check works with: a fresh fake, a fake clock, and channels on it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime, timedelta
from typing import Any, Protocol, runtime_checkable

import httpx

from channelsync.channels import Channel, Operation
from channelsync.channels.windows import PullCursor
from channelsync.clock import FakeClock
from channelsync.credentials import CredentialStore
from channelsync.credentials.memory import MemorySecretBackend
from channelsync.http import RetryPolicy
from channelsync.models import Order, Refund
from channelsync.testing.fakes import FakeMarketplace, FakeOrder, PageKind

__all__ = ["SMALL_PAGE", "ContractHarness", "ContractViolation", "GeneratesOrders"]

CONTRACT_CHANNEL = "contract"
#: The page size the paging checks force: small, so a few orders fill several pages.
SMALL_PAGE = 4
#: The paged reads whose declared sizes the paging checks lower.
PAGED_READS = (Operation.PULL_ORDERS, Operation.PULL_REFUNDS, Operation.LIST_LISTINGS)


class ContractViolation(AssertionError):
    """A channel broke one of the promises the engine relies on."""


@runtime_checkable
class GeneratesOrders(Protocol):
    """A fake that can create buyers' orders (lowering its own stock as it does)."""

    def generate_orders(self, count: int) -> list[FakeOrder]:
        """Create up to ``count`` new paid orders."""
        ...


class _CountingTransport(httpx.AsyncBaseTransport):
    """Counts the requests a channel sends through the fake's transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await self.inner.handle_async_request(request)


class _Capture(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


class ContractHarness:
    """A fresh fake marketplace and a fake clock for one check; opens channels on them."""

    def __init__(
        self,
        *,
        channel_class: type[Channel[Any]],
        settings: Mapping[str, object],
        credentials: Mapping[str, str],
        make_fake: Callable[[FakeClock], FakeMarketplace],
        start: datetime,
    ) -> None:
        self.channel_class = channel_class
        self.settings = settings
        self.credentials = dict(credentials)
        self.clock = FakeClock(start)
        self.start = start
        self.fake = make_fake(self.clock)
        self.transport = _CountingTransport(self.fake.transport())
        self.page_size: int | None = None

    def fail(self, detail: str) -> ContractViolation:
        """Return the violation to raise, with ``detail`` saying what was observed."""
        return ContractViolation(detail)

    def expect(self, condition: bool, detail: str) -> None:
        """Raise a violation with ``detail`` unless ``condition`` holds."""
        if not condition:
            raise self.fail(detail)

    def force_small_pages(self, size: int = SMALL_PAGE) -> None:
        """Make every paged read hold at most ``size`` records, on both sides.

        The fake serves pages of at most ``size`` (refusing larger ones as its
        marketplace refuses a page size over the maximum), and the channels built from
        now on declare ``size`` for their paged reads: a channel that pages with the
        sizes it declares reads many pages from a handful of records.
        """
        self.fake.force_page_size(size)
        self.page_size = size

    @property
    def channel_type(self) -> type[Channel[Any]]:
        """The channel class to build: the plugin's, with small page sizes when forced."""
        if self.page_size is None:
            return self.channel_class
        limits = self.channel_class.limits
        sizes = dict(limits.batch_sizes)
        for operation in PAGED_READS:
            if operation in sizes:
                sizes[operation] = min(sizes[operation], self.page_size)
        lowered = limits.model_copy(update={"batch_sizes": sizes})
        return type(
            self.channel_class.__name__,
            (self.channel_class,),
            {"limits": lowered, "__module__": self.channel_class.__module__},
        )

    def pages_served(self, kind: PageKind) -> int:
        """Return how many pages of ``kind`` the fake has served so far."""
        return self.fake.pages_served[kind]

    def expect_pages(self, kind: PageKind, before: int, records: int) -> None:
        """Fail unless a read of ``records`` records since ``before`` took several pages.

        This is the premise of every paging check; it fails when the channel does not
        page with its declared sizes, or when the fake neither honours the forced page
        size nor reports its pages (``page_served``).
        """
        pages = self.pages_served(kind) - before
        self.expect(
            pages >= 2,
            f"{records} {kind.value} were read in {pages} page(s) at a forced page size of "
            f"{self.page_size}: the channel must page {kind.value} with the size it declares "
            f"in limits.batch_sizes, and the fake must honour force_page_size() and report "
            f"each page with page_served()",
        )

    def build(
        self, *, credentials: Mapping[str, str] | None = None, retries: int = 1
    ) -> Channel[Any]:
        """Return an unopened channel on the fake (``retries``: attempts per call)."""
        secrets = self.credentials if credentials is None else credentials
        backend = MemorySecretBackend(
            {(CONTRACT_CHANNEL, field): value for field, value in secrets.items()}
        )
        store = CredentialStore(backend=backend, environ={})
        model = self.channel_class.settings_model
        return self.channel_type(
            CONTRACT_CHANNEL,
            model.model_validate(dict(self.settings)),
            store.for_channel(CONTRACT_CHANNEL, self.channel_class.all_credential_fields()),
            transport=self.transport,
            clock=self.clock,
            retry_policy=RetryPolicy(max_attempts=retries, initial_wait=0.0, jitter=0.0),
        )

    @asynccontextmanager
    async def channel(
        self, *, credentials: Mapping[str, str] | None = None, retries: int = 1
    ) -> AsyncIterator[Any]:
        """Open a channel on the fake for the duration of the block."""
        async with self.build(credentials=credentials, retries=retries) as channel:
            yield channel

    def generate_orders(self, count: int) -> list[FakeOrder]:
        """Have the fake create ``count`` buyers' orders."""
        if not isinstance(self.fake, GeneratesOrders):
            raise self.fail(
                f"{type(self.fake).__name__} has no generate_orders(count) method; the order "
                "checks need the fake to create orders as buyers would"
            )
        return self.fake.generate_orders(count)

    def advance(self, seconds: float) -> None:
        """Move the marketplace's (and the channel's) clock forward."""
        self.clock.advance(seconds)

    async def pull_all(self, channel: Any, cursor: PullCursor) -> tuple[list[Order], PullCursor]:
        """Pull windows from ``cursor`` until caught up; return the orders and the last cursor.

        Checks that each cursor moves forward and that the pull terminates.
        """
        orders: list[Order] = []
        for _ in range(10_000):
            pull = await channel.pull_orders(cursor)
            self.expect(
                pull.cursor.since >= cursor.since,
                f"cursor moved backwards: {cursor.since.isoformat()} -> "
                f"{pull.cursor.since.isoformat()}",
            )
            orders.extend(pull.orders)
            cursor = pull.cursor
            if pull.caught_up:
                return orders, cursor
        raise self.fail("pull_orders never reported caught_up after 10,000 windows")

    async def pull_all_refunds(
        self, channel: Any, cursor: PullCursor
    ) -> tuple[list[Refund], PullCursor]:
        """Pull refund windows from ``cursor`` until caught up, as :meth:`pull_all` does."""
        refunds: list[Refund] = []
        for _ in range(10_000):
            pull = await channel.pull_refunds(cursor)
            self.expect(
                pull.cursor.since >= cursor.since,
                f"refund cursor moved backwards: {cursor.since.isoformat()} -> "
                f"{pull.cursor.since.isoformat()}",
            )
            refunds.extend(pull.refunds)
            cursor = pull.cursor
            if pull.caught_up:
                return refunds, cursor
        raise self.fail("pull_refunds never reported caught_up after 10,000 windows")

    def quiet_moment(self, since: datetime) -> None:
        """Advance the clock into a span that one window of a pull from ``since`` covers alone.

        Windows overlap by the declared overlap, and an order in an overlap is read by
        two windows: a check that wants a lost order to stay lost places its orders
        where no second window reads them. Where windows overlap everywhere, the clock
        stays where it is.
        """
        rules = self.channel_class.limits.order_window
        step = rules.span - rules.overlap
        start = since - rules.overlap
        now = self.clock.now()
        for _ in range(10_000):
            alone_from, alone_to = start + rules.overlap, start + rules.span - rules.overlap
            if alone_to > now and alone_from < alone_to:
                if alone_from > now:
                    self.advance((alone_from - now).total_seconds())
                return
            if alone_from >= alone_to:
                return
            start += step

    def past_the_horizon(self) -> None:
        """Advance the clock so everything generated so far is inside a readable window."""
        lag = self.channel_class.limits.order_window.lag
        self.advance((lag + timedelta(minutes=1)).total_seconds())

    @contextmanager
    def captured_logs(self) -> Iterator[list[str]]:
        """Capture every log line (all levels) written inside the block."""
        handler = _Capture()
        root = logging.getLogger()
        previous = root.level
        root.addHandler(handler)
        root.setLevel(logging.DEBUG)
        try:
            yield handler.lines
        finally:
            root.removeHandler(handler)
            root.setLevel(previous)
