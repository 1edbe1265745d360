"""Bugs a plugin author in a hurry could write into the Douyin example, by promise family.

Each mutant edits the channel code only (``channel.py``, ``mapping.py``); the fake and
the suite stay as they are. ``FAMILIES`` names the contract promises that stand for
each family: CI requires every mutant to break at least one promise of its family.
"""

from __future__ import annotations

from collections.abc import Sequence

from .mutation import Edit, Mutant

CH = "channel.py"
MAP = "mapping.py"

#: The promise family of each mutant, and the contract checks that must catch it.
FAMILIES: dict[str, Sequence[str]] = {
    "paging": ("OrderPullIsComplete",),
    "status": ("OrderStatusFollowsTheMarketplace",),
    "changed": ("ChangedOldOrderComesBack",),
    "mid-read": ("PagesStayConsistentWhileOrdersChange",),
    "sold-out": ("SoldOutLands",),
}

_BACKWARD = "        for page in [*range(pages - 1, 0, -1), 0]:\n"
_PAGES = "        pages = math.ceil(total / size)\n"
_FILTER = "            if window.start <= order.updated_at < window.end:\n"
_PARSE = "            order = parse_order(record, self.name)\n"
_STOCK_NUM = '                    "stock_num": update.quantity,\n'
_PER_SKU = (
    "            if update.sku_id is None:\n"
    '                results.append(UpdateResult.failure(update, "Douyin stock is set per SKU"))\n'
    "                continue\n"
)
_UPDATED_AT = '            updated_at=from_unix(get_int(record, "update_time", what)),\n'


def _loop(body: str) -> Edit:
    """Replace the backward page loop (its header and its three body lines) with ``body``."""
    old = (
        _BACKWARD + "            records, _ = await self._search_page(start, end, page)\n"
        "            for record in records:\n"
        "                yield record\n"
    )
    return Edit(CH, old, body)


PAGING = [
    Mutant(
        "floor-division-page-count",
        "paging",
        "counts pages with // and loses the last, partly filled page",
        (Edit(CH, _PAGES, "        pages = total // size\n"),),
    ),
    Mutant(
        "page-count-from-page-length",
        "paging",
        "counts pages from the records on the first page instead of the total",
        (Edit(CH, _PAGES, "        pages = math.ceil(len(first) / size)\n"),),
    ),
    Mutant(
        "loop-stops-before-page-one",
        "paging",
        "an off-by-one in the backward range skips page 1",
        (Edit(CH, _BACKWARD, "        for page in [*range(pages - 1, 1, -1), 0]:\n"),),
    ),
    Mutant(
        "one-based-page-numbers",
        "paging",
        "reads pages 2..n as if numbering started at 1; page 1 is never read",
        (Edit(CH, _BACKWARD, "        for page in range(2, pages + 1):\n"),),
    ),
    Mutant(
        "full-page-test-inverted",
        "paging",
        "stops when the first page is 'not over-full' (always) instead of when it is short",
        (Edit(CH, "        if pages <= 1:\n", "        if len(first) <= size:\n"),),
    ),
    Mutant(
        "hard-coded-page-size",
        "paging",
        "asks for the gateway's maximum page while counting pages with the declared size",
        (
            Edit(
                CH,
                '                "size": self.page_size(Operation.PULL_ORDERS),\n',
                '                "size": 100,\n',
            ),
        ),
    ),
    Mutant(
        "total-from-page-length",
        "paging",
        "reads 'total' as the number of records on the page",
        (
            Edit(
                CH,
                '        return records, get_int(data, "total", what)\n',
                "        return records, len(records)\n",
            ),
        ),
    ),
    Mutant(
        "page-number-shifted",
        "paging",
        "sends page + 1 because the docs' examples start at 1; page 0 is never read",
        (Edit(CH, '                "page": page,\n', '                "page": page + 1,\n'),),
    ),
    Mutant(
        "range-without-step",
        "paging",
        "range(pages - 1, 0) without its -1 step is empty: only the first page is read",
        (Edit(CH, _BACKWARD, "        for page in [*range(pages - 1, 0), 0]:\n"),),
    ),
    Mutant(
        "short-page-ends-the-read",
        "paging",
        "forward-paging habit in a backward loop: the (short) last page ends the read",
        (
            _loop(
                _BACKWARD + "            records, _ = await self._search_page(start, end, page)\n"
                "            for record in records:\n"
                "                yield record\n"
                "            if len(records) < size:\n"
                "                return\n"
            ),
        ),
    ),
]

STATUS = [
    Mutant(
        "cancelled-mapped-to-paid",
        "status",
        "a copy-paste slip in the status table: 已取消 read as paid",
        (Edit(MAP, "    4: OrderStatus.CANCELLED,", "    4: OrderStatus.PAID,"),),
    ),
    Mutant(
        "shipped-mapped-to-paid",
        "status",
        "已发货 mapped to paid, so shipped orders are offered for shipping again",
        (Edit(MAP, "    3: OrderStatus.SHIPPED,", "    3: OrderStatus.PAID,"),),
    ),
    Mutant(
        "completed-mapped-to-shipped",
        "status",
        "已完成 (received) kept as shipped",
        (Edit(MAP, "    5: OrderStatus.COMPLETED,", "    5: OrderStatus.SHIPPED,"),),
    ),
    Mutant(
        "refund-main-status-incomplete",
        "status",
        "one of the refund-closed main statuses left out of the set",
        (
            Edit(
                MAP,
                "REFUNDED_MAIN_STATUSES = frozenset({21, 22, 39})",
                "REFUNDED_MAIN_STATUSES = frozenset({21, 22})",
            ),
        ),
    ),
    Mutant(
        "refund-read-from-order-status",
        "status",
        "the refund test reads order_status instead of main_status",
        (
            Edit(
                MAP,
                'if get_int(record, "main_status", what, default=0) in REFUNDED_MAIN_STATUSES:',
                'if get_int(record, "order_status", what, default=0) in REFUNDED_MAIN_STATUSES:',
            ),
        ),
    ),
    Mutant(
        "refunded-lumped-with-cancelled",
        "status",
        "a closed refund reported as a cancellation",
        (
            Edit(
                MAP,
                "        return OrderStatus.REFUNDED, raw_text, None\n",
                "        return OrderStatus.CANCELLED, raw_text, None\n",
            ),
        ),
    ),
    Mutant(
        "after-sale-request-status-missing",
        "status",
        "待退款 (6) missing from the open after-sale statuses",
        (
            Edit(
                MAP,
                "OPEN_AFTER_SALE = frozenset({6, 7, 11, 13, 14})",
                "OPEN_AFTER_SALE = frozenset({7, 11, 13, 14})",
            ),
        ),
    ),
    Mutant(
        "refund-request-only-after-shipping",
        "status",
        "treats a refund request as such only once the order shipped",
        (
            Edit(
                MAP,
                "    if open_cases and not status.is_final:\n",
                "    if open_cases and status is OrderStatus.SHIPPED:\n",
            ),
        ),
    ),
    Mutant(
        "after-sale-read-from-shop-order",
        "status",
        "looks for after_sale_info on the shop order instead of its SKU orders",
        (
            Edit(
                MAP,
                '        item.get("after_sale_info") or {}\n',
                '        record.get("after_sale_info") or {}\n',
            ),
        ),
    ),
    Mutant(
        "only-orders-to-ship-imported",
        "status",
        "keeps only orders awaiting shipment: a cancellation never reaches the engine",
        (
            Edit(
                CH,
                _FILTER,
                "            if window.start <= order.updated_at < window.end and "
                "order.status.awaits_shipment:\n",
            ),
        ),
    ),
    Mutant(
        "parsed-orders-memoised-by-id",
        "status",
        "memoises parsed orders by id to save CPU; later states are never parsed",
        (
            Edit(
                CH,
                "__all__ = [",
                "_PARSED: dict[str, Order] = {}\n\n__all__ = [",
            ),
            Edit(
                CH,
                _PARSE,
                "            order = _PARSED.setdefault(\n"
                '                record["order_id"], parse_order(record, self.name)\n'
                "            )\n",
            ),
        ),
    ),
    Mutant(
        "refund-requested-treated-as-paid",
        "status",
        "business shortcut: an order with a refund request is still 'paid, to ship'",
        (
            Edit(
                MAP,
                "            status=status,\n            raw_status=raw_status,\n",
                "            status=OrderStatus.PAID if status is OrderStatus.REFUND_REQUESTED "
                "else status,\n            raw_status=raw_status,\n",
            ),
        ),
    ),
]

CHANGED = [
    Mutant(
        "window-filter-on-created-time",
        "changed",
        "keeps the orders created in the window instead of those updated in it",
        (
            Edit(
                CH,
                _FILTER,
                "            if window.start <= order.created_at < window.end:\n",
            ),
        ),
    ),
    Mutant(
        "search-by-create-time",
        "changed",
        "searches by creation time: an old order that changes is never listed again",
        (
            Edit(CH, '"update_time_start": start,', '"create_time_start": start,'),
            Edit(CH, '"update_time_end": end,', '"create_time_end": end,'),
        ),
    ),
    Mutant(
        "search-start-by-create-time",
        "changed",
        "half a rename: the window's start is searched by creation time",
        (Edit(CH, '"update_time_start": start,', '"create_time_start": start,'),),
    ),
    Mutant(
        "updated-at-from-create-time",
        "changed",
        "reads updated_at from create_time",
        (
            Edit(
                MAP,
                _UPDATED_AT,
                '            updated_at=from_unix(get_int(record, "create_time", what)),\n',
            ),
        ),
    ),
    Mutant(
        "updated-at-from-pay-time",
        "changed",
        "reads updated_at from pay_time, the field beside it in the docs",
        (
            Edit(
                MAP,
                _UPDATED_AT,
                '            updated_at=from_unix(get_int(record, "pay_time", what)),\n',
            ),
        ),
    ),
    Mutant(
        "seen-orders-skipped",
        "changed",
        "skips order ids it has seen before, to spare the engine duplicates",
        (
            Edit(CH, "__all__ = [", "_SEEN: set[str] = set()\n\n__all__ = ["),
            Edit(
                CH,
                _FILTER,
                "            if order.order_id in _SEEN:\n"
                "                continue\n"
                "            _SEEN.add(order.order_id)\n" + _FILTER,
            ),
        ),
    ),
    Mutant(
        "seen-orders-in-a-class-attribute",
        "changed",
        "a mutable class attribute shared by every channel remembers imported ids",
        (
            Edit(
                CH,
                '    type_name: ClassVar[str] = "douyin"\n',
                '    type_name: ClassVar[str] = "douyin"\n'
                "    imported: ClassVar[set[str]] = set()\n",
            ),
            Edit(
                CH,
                _FILTER,
                "            if order.order_id in self.imported:\n"
                "                continue\n"
                + _FILTER
                + "                self.imported.add(order.order_id)\n",
            ),
        ),
    ),
    Mutant(
        "memoised-by-id-and-creation",
        "changed",
        "memoises parsed orders by (id, create time), which never changes",
        (
            Edit(CH, "__all__ = [", "_PARSED: dict[tuple[str, str], Order] = {}\n\n__all__ = ["),
            Edit(
                CH,
                _PARSE,
                '            key = (record["order_id"], record["create_time"])\n'
                "            order = _PARSED.setdefault(key, parse_order(record, self.name))\n",
            ),
        ),
    ),
    Mutant(
        "newest-creation-watermark",
        "changed",
        "imports only orders created after the newest one it has imported",
        (
            Edit(CH, "__all__ = [", "_NEWEST: list[Order] = []\n\n__all__ = ["),
            Edit(
                CH,
                _FILTER,
                "            if _NEWEST and order.created_at < _NEWEST[0].created_at:\n"
                "                continue\n"
                "            if not _NEWEST or order.created_at > _NEWEST[0].created_at:\n"
                "                _NEWEST[:] = [order]\n" + _FILTER,
            ),
        ),
    ),
    Mutant(
        "overlap-duplicates-dropped-by-creation",
        "changed",
        "drops orders created before the window ('the overlap we already have')",
        (
            Edit(
                CH,
                _FILTER,
                "            if order.created_at < window.start:\n"
                "                continue\n" + _FILTER,
            ),
        ),
    ),
]

MID_READ = [
    Mutant(
        "forward-paging",
        "mid-read",
        "reads the pages first to last, the obvious way",
        (Edit(CH, _BACKWARD, "        for page in range(1, pages):\n"),),
    ),
    Mutant(
        "forward-paging-first-page-again",
        "mid-read",
        "reads the first page again, then the rest first to last",
        (Edit(CH, _BACKWARD, "        for page in [0, *range(1, pages)]:\n"),),
    ),
    Mutant(
        "forward-then-first-page",
        "mid-read",
        "reads pages first to last and the first page again at the end",
        (Edit(CH, _BACKWARD, "        for page in [*range(1, pages), 0]:\n"),),
    ),
    Mutant(
        "first-page-not-read-again",
        "mid-read",
        "drops the second read of the first page as a wasted call",
        (Edit(CH, _BACKWARD, "        for page in range(pages - 1, 0, -1):\n"),),
    ),
    Mutant(
        "one-based-backward",
        "mid-read",
        "backward from page n as if numbering started at 1, the first page not read again",
        (Edit(CH, _BACKWARD, "        for page in range(pages, 0, -1):\n"),),
    ),
    Mutant(
        "forward-until-short-page",
        "mid-read",
        "pages forward until a short page, the usual loop",
        (
            _loop(
                "        page = 1\n"
                "        while True:\n"
                "            records, _ = await self._search_page(start, end, page)\n"
                "            for record in records:\n"
                "                yield record\n"
                "            if len(records) < size:\n"
                "                return\n"
                "            page += 1\n"
            ),
        ),
    ),
    Mutant(
        "forward-against-the-latest-total",
        "mid-read",
        "pages forward, re-reading the total on every page",
        (
            _loop(
                "        page = 1\n"
                "        while page * size < total:\n"
                "            records, total = await self._search_page(start, end, page)\n"
                "            for record in records:\n"
                "                yield record\n"
                "            page += 1\n"
            ),
        ),
    ),
    Mutant(
        "pages-fetched-together",
        "mid-read",
        "fetches the remaining pages with asyncio.gather to save time",
        (
            Edit(CH, "import math\n", "import asyncio\nimport math\n"),
            _loop(
                "        answers = await asyncio.gather(\n"
                "            *(self._search_page(start, end, page) for page in range(1, pages))\n"
                "        )\n"
                "        for records, _ in answers:\n"
                "            for record in records:\n"
                "                yield record\n"
            ),
        ),
    ),
    Mutant(
        "newest-first-forward",
        "mid-read",
        "sorts newest first and pages forward",
        (
            Edit(CH, '"order_asc": True,', '"order_asc": False,'),
            Edit(CH, _BACKWARD, "        for page in range(1, pages):\n"),
        ),
    ),
    Mutant(
        "empty-page-ends-the-read",
        "mid-read",
        "stops at an empty page, a guard copied from forward paging",
        (
            _loop(
                _BACKWARD + "            records, _ = await self._search_page(start, end, page)\n"
                "            if not records:\n"
                "                return\n"
                "            for record in records:\n"
                "                yield record\n"
            ),
        ),
    ),
]

SOLD_OUT = [
    Mutant(
        "zero-skipped-as-success",
        "sold-out",
        "believes the gateway refuses 0 and reports the skipped update as sent",
        (
            Edit(
                CH,
                _PER_SKU,
                _PER_SKU + "            if update.quantity == 0:\n"
                "                results.append(UpdateResult.success(update))\n"
                "                continue\n",
            ),
        ),
    ),
    Mutant(
        "zero-refused-as-per-sku",
        "sold-out",
        "an empty-value guard folded into the per-SKU test",
        (
            Edit(
                CH,
                "            if update.sku_id is None:\n",
                "            if update.sku_id is None or not update.quantity:\n",
            ),
        ),
    ),
    Mutant(
        "zero-floored-to-one",
        "sold-out",
        "keeps one unit so the product stays visible",
        (Edit(CH, _STOCK_NUM, '                    "stock_num": max(update.quantity, 1),\n'),),
    ),
    Mutant(
        "zero-or-one",
        "sold-out",
        "`or 1` as a default for a missing quantity, which also catches 0",
        (Edit(CH, _STOCK_NUM, '                    "stock_num": update.quantity or 1,\n'),),
    ),
    Mutant(
        "zero-sent-as-null",
        "sold-out",
        "`or None` to leave unset values out, which also drops 0",
        (Edit(CH, _STOCK_NUM, '                    "stock_num": update.quantity or None,\n'),),
    ),
    Mutant(
        "falsy-parameters-dropped",
        "sold-out",
        "a generic 'drop empty parameters' step before signing",
        (
            Edit(
                CH,
                '            content=param_json(params).encode("utf-8"),\n',
                "            content=param_json({k: v for k, v in params.items() if v})"
                '.encode("utf-8"),\n',
            ),
        ),
    ),
    Mutant(
        "zero-updates-not-answered",
        "sold-out",
        "skips zero updates without a result for them",
        (
            Edit(
                CH,
                _PER_SKU,
                _PER_SKU + "            if not update.quantity:\n                continue\n",
            ),
        ),
    ),
    Mutant(
        "zero-means-delist",
        "sold-out",
        "refuses zero, thinking sold-out SKUs are delisted instead",
        (
            Edit(
                CH,
                _PER_SKU,
                _PER_SKU + "            if update.quantity == 0:\n"
                "                results.append(\n"
                '                    UpdateResult.failure(update, "delist sold-out SKUs instead")\n'
                "                )\n"
                "                continue\n",
            ),
        ),
    ),
    Mutant(
        "zero-filtered-from-the-batch",
        "sold-out",
        "filters the batch down to non-zero updates before the loop",
        (
            Edit(
                CH,
                "        for update in batch:\n            if update.sku_id is None:\n",
                "        for update in [u for u in batch if u.quantity]:\n"
                "            if update.sku_id is None:\n",
            ),
        ),
    ),
    Mutant(
        "incremental-stock",
        "sold-out",
        "sends the quantity as an increment: 0 adds nothing and the SKU stays in stock",
        (
            Edit(
                CH,
                '                    "incremental": False,\n',
                '                    "incremental": True,\n'
                '                    "idempotent_id": f"{sku_id}-{update.quantity}",\n',
            ),
        ),
    ),
]

MUTANTS: Sequence[Mutant] = (*PAGING, *STATUS, *CHANGED, *MID_READ, *SOLD_OUT)
