"""Orders and refunds on TOP: incremental pulls by modified time, and full trade detail.

``taobao.trades.sold.increment.get`` accepts windows of at most one day (TOP advises
30 minutes), sorts by ``modified`` descending and should be paged from the last page
back to the first, so a trade that changes while the pages are read moves towards
pages still to come. It returns partial trades: each one is then read in full with
``taobao.trade.fullinfo.get``.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Iterator
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any, ClassVar

from channelsync.channels import (
    DetailCache,
    Operation,
    OrderCountCapability,
    OrdersCapability,
    RefundsCapability,
    TimeWindow,
)
from channelsync.errors import DataError, NotFoundError
from channelsync.models import Order, Refund, RefundLine
from channelsync_tmall.envelope import nested_list
from channelsync_tmall.gateway import TopGateway
from channelsync_tmall.mapping import (
    format_time,
    order_from_trade,
    refund_from_record,
    refund_lines_from_detail,
    text_field,
)

__all__ = ["FULLINFO_FIELDS", "REFUND_FIELDS", "TopOrders", "split_window"]

INCREMENT_METHOD = "taobao.trades.sold.increment.get"
FULLINFO_METHOD = "taobao.trade.fullinfo.get"
#: Trades by creation time: its ``total_results`` is the count of a window.
COUNT_METHOD = "taobao.trades.sold.get"
REFUNDS_METHOD = "taobao.refunds.receive.get"
REFUND_DETAIL_METHOD = "taobao.refund.get"
#: What the detail read adds: the sub-order, its item and the units refunded.
REFUND_DETAIL_FIELDS = "refund_id,tid,oid,num_iid,outer_id,sku,num,has_good_return,status"

INCREMENT_FIELDS = "tid,tid_str,status,modified"
FULLINFO_FIELDS = (
    "tid,tid_str,status,type,created,modified,pay_time,consign_time,payment,total_fee,"
    "post_fee,buyer_message,receiver_name,receiver_mobile,receiver_phone,receiver_state,"
    "receiver_city,receiver_district,receiver_address,receiver_zip,oaid,buyer_open_uid,orders"
)
REFUND_FIELDS = (
    "refund_id,tid,oid,title,total_fee,status,created,refund_fee,good_status,payment,"
    "reason,desc,has_good_return,modified,order_status,refund_phase,dispute_type"
)


def split_window(window: TimeWindow, span: timedelta) -> Iterator[tuple[datetime, datetime]]:
    """Yield ``window`` cut into consecutive pieces no longer than ``span``."""
    start = window.start
    while start < window.end:
        end = min(start + span, window.end)
        yield start, end
        start = end


def _count(root: dict[str, Any], method: str) -> int:
    total = root.get("total_results", 0)
    if isinstance(total, bool) or not isinstance(total, int) or total < 0:
        raise DataError(f"total_results {total!r} is not a count", operation=method)
    return total


_SECOND = timedelta(seconds=1)


class TopOrders(TopGateway, OrdersCapability, OrderCountCapability, RefundsCapability):
    """Pulls trades and refunds by modified time and reads single trades in full."""

    #: ``page_no * page_size`` TOP answers at most; busier slices are halved.
    deep_paging_limit: ClassVar[int] = 20_000

    @property
    def trade_page_size(self) -> int:
        """Trades per page of the increment list: the declared ``PULL_ORDERS`` size."""
        return self.limits.batch_size(Operation.PULL_ORDERS)

    @property
    def refund_page_size(self) -> int:
        """Refunds per page of the refund list: the declared ``PULL_REFUNDS`` size."""
        return self.limits.batch_size(Operation.PULL_REFUNDS)

    # -- orders -----------------------------------------------------------------------

    async def count_orders(self, window: TimeWindow) -> int:
        """Return TOP's ``total_results`` for trades created in ``window``, in one call.

        ``taobao.trades.sold.get`` by creation time, every status, one trade a page;
        TOP's bounds are whole seconds and inclusive, so the end is the second before
        ``window.end``.
        """
        last = max(window.start, window.end - timedelta(seconds=1))
        root = await self.call(
            COUNT_METHOD,
            {
                "fields": "tid",
                "start_created": format_time(window.start),
                "end_created": format_time(last),
                "page_no": 1,
                "page_size": 1,
            },
        )
        # TOP leaves out members that are zero or empty, as it leaves out an empty list.
        total = root.get("total_results", 0)
        try:
            return int(total)
        except (TypeError, ValueError):
            message = f"total_results {total!r} is not a number"
            raise DataError(message, channel=self.name, operation=COUNT_METHOD) from None

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every trade modified inside ``window`` in full, slicing long windows."""
        seen: set[str] = set()
        for start, end in split_window(window, self.limits.order_window.span):
            async for tid, modified in self._trade_ids(start, end):
                if tid in seen:
                    continue  # trades on a slice boundary are answered by both slices
                seen.add(tid)
                # The overlap window lists unchanged trades again; their detail call
                # (the scarcest quota) is spent once per modification.
                order = self._details.get(tid, modified)
                if order is None:
                    order = await self.get_order(tid)
                    self._details.put(tid, modified, order)
                yield order

    async def _increment_page(
        self, start: datetime, end: datetime, page_no: int
    ) -> tuple[list[dict[str, Any]], int]:
        root = await self.call(
            INCREMENT_METHOD,
            {
                "fields": INCREMENT_FIELDS,
                "start_modified": format_time(start),
                "end_modified": format_time(end),
                "page_no": page_no,
                "page_size": self.trade_page_size,
            },
        )
        trades = nested_list(root, "trades", "trade", operation=INCREMENT_METHOD)
        return trades, _count(root, INCREMENT_METHOD)

    @cached_property
    def _details(self) -> DetailCache[Order]:
        return DetailCache()

    async def _trade_ids(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[tuple[str, str | None]]:
        """Yield ids and modified times in one slice: last page first, page 1 again at the end.

        A slice counting more trades than TOP pages through is halved (its halves
        share the middle second; the caller drops the doubles), so neither a busy
        half hour nor a corrupt count sends the reader through endless pages.
        """
        max_pages = max(1, self.deep_paging_limit // self.trade_page_size)
        slices = [(start, end)]
        while slices:
            start, end = slices.pop()
            first, total = await self._increment_page(start, end, 1)
            pages = max(1, math.ceil(total / self.trade_page_size))
            if pages > max_pages:
                if end - start <= _SECOND:
                    raise DataError(
                        f"{total} trades counted in one second, more than the "
                        f"{max_pages * self.trade_page_size} TOP serves",
                        operation=INCREMENT_METHOD,
                    )
                middle = start + timedelta(seconds=(end - start).total_seconds() // 2)
                slices.extend([(middle, end), (start, middle)])
                continue
            batches = [first]
            if pages > 1:
                batches = []
                for page_no in range(pages, 0, -1):
                    trades, _ = await self._increment_page(start, end, page_no)
                    batches.append(trades)
            for trades in batches:
                for trade in trades:
                    tid = text_field(trade, "tid_str") or text_field(trade, "tid", required=True)
                    if tid is not None:
                        yield tid, text_field(trade, "modified")

    async def get_order(self, order_id: str) -> Order:
        """Read one trade in full; :class:`NotFoundError` when TOP does not know it."""
        root = await self.call(FULLINFO_METHOD, {"tid": order_id, "fields": FULLINFO_FIELDS})
        trade = root.get("trade")
        if not isinstance(trade, dict):
            raise NotFoundError(
                f"trade {order_id} not found", channel=self.name, operation=FULLINFO_METHOD
            )
        try:
            lines = nested_list(trade, "orders", "order", operation=FULLINFO_METHOD)
            return order_from_trade(self.name, trade, lines)
        except DataError as error:
            raise error.with_context(channel=self.name, operation=FULLINFO_METHOD) from None

    async def trade_record(self, order_id: str) -> dict[str, Any]:
        """Return the raw trade (status and sub-orders) for checks inside the plugin."""
        root = await self.call(FULLINFO_METHOD, {"tid": order_id, "fields": "tid,status,orders"})
        trade = root.get("trade")
        if not isinstance(trade, dict):
            raise NotFoundError(
                f"trade {order_id} not found", channel=self.name, operation=FULLINFO_METHOD
            )
        return trade

    # -- refunds ----------------------------------------------------------------------

    async def fetch_refunds(self, window: TimeWindow) -> AsyncIterator[Refund]:
        """Yield every refund modified inside ``window``, slicing long windows.

        The refund list names the sub-order (``oid``) but not how many units; a refund
        that returns goods is read once more with ``taobao.refund.get`` (per change of
        the refund) for its ``num``, so the returned units can be restocked.
        """
        for start, end in split_window(window, self.limits.order_window.span):
            async for record in self._refund_records(start, end):
                try:
                    refund = refund_from_record(self.name, record)
                except DataError as error:
                    raise error.with_context(channel=self.name, operation=REFUNDS_METHOD) from None
                if refund.returns_goods:
                    refund = refund.model_copy(update={"lines": await self._refund_lines(refund)})
                yield refund

    async def _refund_lines(self, refund: Refund) -> tuple[RefundLine, ...]:
        modified = refund.updated_at.isoformat()
        lines = self._refund_details.get(refund.refund_id, modified)
        if lines is None:
            root = await self.call(
                REFUND_DETAIL_METHOD,
                {"refund_id": refund.refund_id, "fields": REFUND_DETAIL_FIELDS},
            )
            try:
                lines = refund_lines_from_detail(root)
            except DataError as error:
                raise error.with_context(
                    channel=self.name, operation=REFUND_DETAIL_METHOD
                ) from None
            self._refund_details.put(refund.refund_id, modified, lines)
        return lines

    @cached_property
    def _refund_details(self) -> DetailCache[tuple[RefundLine, ...]]:
        return DetailCache()

    async def _refund_page(
        self, start: datetime, end: datetime, page_no: int
    ) -> tuple[list[dict[str, Any]], int]:
        root = await self.call(
            REFUNDS_METHOD,
            {
                "fields": REFUND_FIELDS,
                "start_modified": format_time(start),
                "end_modified": format_time(end),
                "page_no": page_no,
                "page_size": self.refund_page_size,
            },
        )
        refunds = nested_list(root, "refunds", "refund", operation=REFUNDS_METHOD)
        return refunds, _count(root, REFUNDS_METHOD)

    async def _refund_records(
        self, start: datetime, end: datetime
    ) -> AsyncIterator[dict[str, Any]]:
        """Yield the refunds of one slice: the last page first, page 1 again at the end.

        A refund that changes while the pages are read leaves the slice and moves the
        ones behind it a place forward; read backwards, they move onto pages still to
        come instead of past the reader (TOP's advice for its modified-time lists).
        """
        first, total = await self._refund_page(start, end, 1)
        pages = max(1, math.ceil(total / self.refund_page_size))
        if pages == 1:
            for record in first:
                yield record
            return
        for page_no in range(pages, 0, -1):
            refunds, _ = await self._refund_page(start, end, page_no)
            for record in refunds:
                yield record
