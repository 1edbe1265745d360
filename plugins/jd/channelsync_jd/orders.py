"""Orders on JOS: ``pop.order.search`` by time window, pages read backwards; ``pop.order.get``."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Mapping
from datetime import datetime, timedelta
from typing import Any

from channelsync.channels import (
    Operation,
    OrderCountCapability,
    OrdersCapability,
    TimeWindow,
    next_page_number,
)
from channelsync.clock import format_local_time
from channelsync.errors import DataError, NotFoundError
from channelsync.models import Order
from channelsync_jd.envelope import api_result_error
from channelsync_jd.gateway import JosGateway
from channelsync_jd.mapping import ORDER_STATES, order_from_info
from channelsync_jd.methods import GET_ORDER, ORDER_FIELDS, SEARCH_ORDERS, split_window

__all__ = ["JosOrders"]


class JosOrders(JosGateway, OrdersCapability, OrderCountCapability):
    """Pulls orders by modification time, counts them by creation time, reads one order."""

    async def fetch_orders(self, window: TimeWindow) -> AsyncIterator[Order]:
        """Yield every order modified inside ``window``, cut into spans JD accepts."""
        size = self.limits.batch_size(Operation.PULL_ORDERS)
        for piece in split_window(window, self.limits.order_window.max_span):
            async for info in self._order_infos(piece, size):
                yield order_from_info(info, channel=self.name)

    async def _order_infos(self, piece: TimeWindow, size: int) -> AsyncIterator[dict[str, Any]]:
        """Yield the orders of one span: the last page first, page 1 again at the end.

        An order that changes while the pages are read leaves the span and moves the
        ones behind it a place forward; read backwards, they move onto pages still to
        come instead of past the reader. Without a total, pages are read forward until
        a short one.
        """
        first = await self._search_orders(piece.start, piece.end, 1, size)
        infos, total = _order_page(first)
        if total is None:
            page: int | None = 1
            while page is not None:
                for info in infos:
                    yield info
                page = next_page_number(page, size, len(infos), None)
                if page is not None:
                    infos, _ = _order_page(
                        await self._search_orders(piece.start, piece.end, page, size)
                    )
            return
        pages = max(1, math.ceil(total / size))
        if pages == 1:
            for info in infos:
                yield info
            return
        for number in range(pages, 0, -1):
            infos, _ = _order_page(await self._search_orders(piece.start, piece.end, number, size))
            for info in infos:
                yield info

    async def count_orders(self, window: TimeWindow) -> int:
        """Return JD's ``orderTotal`` for orders created in ``window``, in one call.

        A search by creation time (``dateType`` 1) over every state, one order a page:
        JD's bounds are whole seconds and inclusive, so the end is the second before
        ``window.end``.
        """
        last = max(window.start, window.end - timedelta(seconds=1))
        result = await self._search_orders(window.start, last, 1, 1, by_created=True)
        _, total = _order_page(result)
        if total is None:
            raise DataError("the answer has no orderTotal", operation=SEARCH_ORDERS)
        return total

    async def _search_orders(
        self, start: datetime, end: datetime, page: int, size: int, *, by_created: bool = False
    ) -> dict[str, Any]:
        root = await self.call(
            SEARCH_ORDERS,
            {
                "start_date": format_local_time(start),
                "end_date": format_local_time(end),
                # 0: filter on modification time (state or waybill changes); 1: creation.
                "dateType": "1" if by_created else "0",
                "order_state": ",".join(ORDER_STATES),
                "optional_fields": ORDER_FIELDS,
                "page": str(page),
                "page_size": str(size),
                "sortType": "0",
            },
        )
        result = root.get("searchorderinfo_result")
        if not isinstance(result, dict):
            raise DataError("the answer has no searchorderinfo_result", operation=SEARCH_ORDERS)
        self._raise_for_api_result(result, SEARCH_ORDERS)
        return result

    @staticmethod
    def _raise_for_api_result(result: Mapping[str, Any], method: str) -> None:
        api_result = result.get("apiResult")
        if not isinstance(api_result, dict):
            raise DataError("the result has no apiResult", operation=method)
        error = api_result_error(api_result, method)
        if error is not None:
            raise error

    async def get_order(self, order_id: str) -> Order:
        """Return one order with its lines (``NotFoundError`` when JD does not know it)."""
        if not order_id.isdigit():
            raise NotFoundError(
                f"order {order_id!r} cannot exist on JD (ids are numbers)",
                channel=self.name,
                operation=GET_ORDER,
            )
        root = await self.call(
            GET_ORDER, {"order_id": int(order_id), "optional_fields": ORDER_FIELDS}
        )
        detail = root.get("orderDetailInfo")
        if not isinstance(detail, dict):
            raise DataError("the answer has no orderDetailInfo", operation=GET_ORDER)
        self._raise_for_api_result(detail, GET_ORDER)
        info = detail.get("orderInfo")
        if not isinstance(info, dict):
            raise NotFoundError(f"order {order_id} not found", operation=GET_ORDER)
        return order_from_info(info, channel=self.name)

    async def marketplace_now(self) -> datetime:
        """Return the time windows are planned against (the local clock; JD has no time API)."""
        return self.clock.now()


def _order_page(result: Mapping[str, Any]) -> tuple[list[dict[str, Any]], int | None]:
    """Return the order infos of one search answer and its ``orderTotal`` (``None``: absent)."""
    infos = result.get("orderInfoList") or []
    if not isinstance(infos, list):
        raise DataError("orderInfoList is not a list", operation=SEARCH_ORDERS)
    if not all(isinstance(info, dict) for info in infos):
        raise DataError("an orderInfo is not an object", operation=SEARCH_ORDERS)
    total = result.get("orderTotal")
    try:
        known = None if total in (None, "") else int(total)
    except (TypeError, ValueError):
        raise DataError(f"orderTotal {total!r} is not a number", operation=SEARCH_ORDERS) from None
    return infos, known
