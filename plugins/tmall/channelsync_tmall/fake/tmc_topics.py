"""What the fake announces on TMC: its store's changes as TMC topics and content.

Written from the wire reference (push.md §1.8), independently of the plugin's
mapping: trade content has ``tid``/``oid`` as integers and ``payment`` as a yuan
string; refund content adds ``refund_id``, ``refund_fee`` and ``modified`` (GMT+8
wall time); ``ItemStockChanged`` has ``num_iid``, ``sku_id``, ``num``, ``sku_num``
and ``increment``. A trade that is created paid is announced twice within the same
second (``TradeCreate`` and ``TradeBuyerPay``), as TMC does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from channelsync.testing.fakes import (
    FakeChange,
    FakeItem,
    FakeOrder,
    FakeRefund,
    FakeStore,
    PushQueue,
)
from channelsync_tmall.fake.wire import top_time, yuan

__all__ = [
    "ANNOUNCED_METHODS",
    "SELLER_ID",
    "SELLER_NICK",
    "SUBSCRIBED_TOPICS",
    "TmcAnnouncer",
]

SELLER_NICK = "channelsync旗舰店"
SELLER_ID = 2200000000001

_TRADE = (
    "TradeCreate TradeBuyerPay TradeSellerShip TradePartlySellerShip TradeSuccess TradeClose "
    "TradeCloseAndModifyDetailOrder TradeModifyFee TradeMemoModified "
    "TradeLogisticsAddressChanged TradeChanged TradePartlyRefund TradeDelayConfirmPay TradeRated"
)
_REFUND = (
    "RefundCreated RefundSellerAgreeAgreement RefundSellerRefuseAgreement "
    "RefundBuyerModifyAgreement RefundBuyerReturnGoods RefundClosed RefundSuccess"
)
_ITEM = (
    "ItemAdd ItemUpshelf ItemDownshelf ItemDelete ItemUpdate ItemZeroStock ItemSkuZeroStock "
    "ItemStockChanged"
)
#: The topics the fake's app subscribed in the console (what a permit may name).
SUBSCRIBED_TOPICS: frozenset[str] = frozenset(
    [f"taobao_trade_{name}" for name in _TRADE.split()]
    + [f"taobao_refund_{name}" for name in _REFUND.split()]
    + [f"taobao_item_{name}" for name in _ITEM.split()]
    + ["taobao_fenxiao_FxOrderSuccess"]  # subscribed, but not a topic channelsync maps
)

_PAID = frozenset({"WAIT_SELLER_SEND_GOODS", "SELLER_CONSIGNED_PART", "PAID_FORBID_CONSIGN"})
_ORDER_TOPICS = {
    "updated": "TradeChanged",
    "paid": "TradeBuyerPay",
    "cancelled": "TradeClose",
    "finished": "TradeSuccess",
}
_REFUND_TOPICS = {
    "SUCCESS": "RefundSuccess",
    "CLOSED": "RefundClosed",
    "WAIT_BUYER_RETURN_GOODS": "RefundSellerAgreeAgreement",
    "SELLER_REFUSE_BUYER": "RefundSellerRefuseAgreement",
    "WAIT_SELLER_CONFIRM_GOODS": "RefundBuyerReturnGoods",
}
_ITEM_TOPICS = {"listed": "ItemUpshelf", "delisted": "ItemDownshelf", "price": "ItemUpdate"}

#: Gateway methods that change a record in place: the record's key parameter and the change.
ANNOUNCED_METHODS: Mapping[str, tuple[str, str]] = {
    "taobao.item.update.listing": ("num_iid", "listed"),
    "taobao.item.update.delisting": ("num_iid", "delisted"),
    "taobao.skus.quantity.update": ("num_iid", "stock"),
    "taobao.item.quantity.update": ("num_iid", "stock"),
    "taobao.item.sku.price.update": ("num_iid", "price"),
    "taobao.logistics.offline.send": ("tid", "shipped"),
}


def _trade(order: FakeOrder) -> dict[str, Any]:
    oid = int(order.lines[0].line_id) if order.lines else int(order.order_id)
    return {
        "buyer_nick": order.buyer_name,
        "payment": yuan(order.total + order.shipping_fee - order.discount),
        "oid": oid,
        "tid": int(order.order_id),
        "type": "fixed",
        "seller_nick": SELLER_NICK,
        "status": order.status,
    }


def _refund(refund: FakeRefund, order: FakeOrder | None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "buyer_nick": order.buyer_name if order is not None else "",
        "refund_id": int(refund.refund_id),
        "refund_fee": yuan(refund.amount),
        "tid": int(refund.order_id),
        "refund_phase": "onsale",
        "bill_type": "refund_bill",
        "seller_nick": SELLER_NICK,
        "modified": top_time(refund.modified),
    }
    if refund.line_id is not None:
        content["oid"] = int(refund.line_id)
    return content


def _stock(item: FakeItem, sku_id: str | None, increment: int | None) -> dict[str, Any]:
    content: dict[str, Any] = {
        "num_iid": int(item.item_id),
        "nick": SELLER_NICK,
        "num": item.quantity,
    }
    sku = next((s for s in item.skus if s.sku_id == sku_id), None)
    if sku is not None:
        content.update(sku_id=int(sku.sku_id), sku_num=sku.quantity)
    if increment is not None:
        content["increment"] = increment
    return content


class TmcAnnouncer:
    """Turns the store's changes into TMC messages on ``push`` and wakes the servers.

    Register it with :meth:`FakeStore.on_change`; it runs under the store's lock.
    """

    def __init__(self, push: PushQueue, store: FakeStore) -> None:
        self.push = push
        self.store = store
        self._wakers: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def add_waker(self, wake: Callable[[], None]) -> None:
        """Call ``wake`` whenever a message was published (a server's pushers wake up)."""
        with self._lock:
            self._wakers.append(wake)

    def remove_waker(self, wake: Callable[[], None]) -> None:
        """Stop calling ``wake``."""
        with self._lock:
            if wake in self._wakers:
                self._wakers.remove(wake)

    def __call__(self, change: FakeChange) -> None:
        """Announce ``change``."""
        messages = list(self._messages(change))
        published = [self.push.publish(topic, key, content) for topic, key, content in messages]
        if any(published):
            with self._lock:
                wakers = list(self._wakers)
            for wake in wakers:
                wake()

    def announce_call(self, method: str, params: Mapping[str, str]) -> None:
        """Announce the record a successful gateway ``method`` changed in place."""
        target = ANNOUNCED_METHODS.get(method)
        if target is None:
            return
        name, change = target
        key = params.get(name, "")
        record = (self.store.orders if name == "tid" else self.store.items).get(key)
        if record is not None:
            self.store.changed(record, change)

    def _messages(self, change: FakeChange) -> Iterable[tuple[str, str, dict[str, Any]]]:
        record = change.record
        if isinstance(record, FakeOrder):
            yield from self._order(record, change.change)
        elif isinstance(record, FakeRefund):
            yield from self._refund(record, change.change)
        else:
            yield from self._item(record, change.change)

    def _order(self, order: FakeOrder, change: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
        content = _trade(order)
        if change == "created":
            yield "taobao_trade_TradeCreate", order.order_id, content
            if order.status in _PAID:
                yield "taobao_trade_TradeBuyerPay", order.order_id, content
            for line in order.lines:
                item = self.store.items.get(line.item_id)
                if item is not None:
                    yield from self._stock_changed(item, line.sku_id, -line.quantity)
            return
        if change == "shipped":
            partly = order.status == "SELLER_CONSIGNED_PART"
            name = "TradePartlySellerShip" if partly else "TradeSellerShip"
        else:
            name = _ORDER_TOPICS.get(change, "TradeChanged")
        yield f"taobao_trade_{name}", order.order_id, content

    def _refund(self, refund: FakeRefund, change: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
        if change == "created":
            name = "RefundCreated"
        else:
            name = _REFUND_TOPICS.get(refund.status, "RefundBuyerModifyAgreement")
        content = _refund(refund, self.store.orders.get(refund.order_id))
        yield f"taobao_refund_{name}", refund.refund_id, content

    def _item(self, item: FakeItem, change: str) -> Iterable[tuple[str, str, dict[str, Any]]]:
        if change == "stock":
            yield from self._stock_changed(item)
            return
        name = _ITEM_TOPICS.get(change, "ItemUpdate")
        content = {"num_iid": int(item.item_id), "nick": SELLER_NICK, "title": item.title}
        yield f"taobao_item_{name}", item.item_id, content

    def _stock_changed(
        self, item: FakeItem, sku_id: str | None = None, increment: int | None = None
    ) -> Iterable[tuple[str, str, dict[str, Any]]]:
        yield "taobao_item_ItemStockChanged", item.item_id, _stock(item, sku_id, increment)
        sku = next((s for s in item.skus if s.sku_id == sku_id), None)
        if sku is not None and sku.quantity == 0:
            content = {"num_iid": int(item.item_id), "sku_id": int(sku.sku_id), "nick": SELLER_NICK}
            yield "taobao_item_ItemSkuZeroStock", item.item_id, content
        if item.quantity == 0:
            content = {"num_iid": int(item.item_id), "nick": SELLER_NICK}
            yield "taobao_item_ItemZeroStock", item.item_id, content
