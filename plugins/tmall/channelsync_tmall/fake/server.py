"""The fake TOP gateway: checks every call the way TOP does, then answers it from its store."""

from __future__ import annotations

import hmac
import itertools
import math
import random
import threading
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from channelsync.clock import Clock, parse_local_time
from channelsync.http import ParamDigest, sign_params
from channelsync.testing.fakes import (
    FakeItem,
    FakeOrder,
    FakeRefund,
    FakeSku,
    Fault,
    FaultInjector,
    OrderGenerator,
    PushQueue,
    SeedItem,
    ThrottleRule,
)
from channelsync_tmall.fake.control import TopControl
from channelsync_tmall.fake.methods import Body, Params, TopMethods, token_result
from channelsync_tmall.fake.tmc_methods import TmcMethods
from channelsync_tmall.fake.tmc_server import TmcServer
from channelsync_tmall.fake.tmc_topics import TmcAnnouncer
from channelsync_tmall.fake.wire import TopFault, error_body, json_response, root_key

__all__ = ["FakeTop"]

_DIGESTS = {
    "md5": ParamDigest.MD5,
    "hmac": ParamDigest.HMAC_MD5,
    "hmac-sha256": ParamDigest.HMAC_SHA256,
}
_SESSIONLESS = frozenset({"taobao.top.auth.token.refresh", "taobao.tmc.auth.get"})
_SKEW = timedelta(minutes=10)
_FIRST_TID = 3725362658812595205
_FIRST_ITEM = 600000000001
_FIRST_SKU = 5000000000001
_COLOUR_PID = 1627207
_COLOUR_VID = 28320
_HTML_502 = b"<html><body><h1>502 Bad Gateway</h1></body></html>"


class FakeTop(TopMethods, TmcMethods, TopControl):
    """A stateful fake of the TOP gateway for one app and one shop.

    Verifies the app key, the signature (``md5``, ``hmac``, ``hmac-sha256``), the
    timestamp (GMT+8 or epoch milliseconds, within 10 minutes of its clock) and the
    session, then answers with TOP's envelopes. Calls are throttled per app and
    method with TOP's code 7 answer. Answers on ``/router/rest`` (and ``/``).

    Its changes are announced as TMC messages on :attr:`push` (only the topics the
    shop permitted with ``taobao.tmc.user.permit``: none until then);
    :meth:`serve_events` serves them over TMC's WebSocket protocol.
    """

    #: Every method: what one app may call per second before TOP bans it.
    throttle_rule: ClassVar[ThrottleRule] = ThrottleRule(rate=40.0, burst=40)
    token_lifetime: ClassVar[int] = 86_400

    def __init__(
        self,
        *,
        app_key: str,
        app_secret: str,
        session: str,
        refresh_token: str | None = None,
        clock: Clock | None = None,
        faults: FaultInjector | None = None,
        seed: int = 0,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.app_key = app_key
        self._secret = app_secret
        #: Sessions TOP accepts now; an expired one is kept and answered "session-expired".
        self.sessions: dict[str, bool] = {session: True}
        self.refresh_tokens: set[str] = {refresh_token} if refresh_token else set()
        #: Sessions issued by a refresh and not used yet, with their refresh tokens.
        self._unconfirmed: dict[str, str] = {}
        self._rng = random.Random(seed)  # noqa: S311 - fake request ids
        self._issued = itertools.count(1)
        self._request_ids = itertools.count(1)
        self._server_errors = itertools.count()
        self._ids = itertools.count()
        self._refund_ids = itertools.count(1)
        self._id_lock = threading.Lock()
        self.orders = OrderGenerator(
            self.store,
            self.clock,
            order_id=lambda n, _now: str(_FIRST_TID + 100 * n),
            status="WAIT_SELLER_SEND_GOODS",
            seed=seed,
            decorate=self._number_sub_orders,
        )
        #: The shop's TMC messages (what the TMC server pushes).
        self.push = PushQueue(clock=self.clock, seed=seed)
        self.tmc_auth_tokens: set[str] = set()
        self.tmc_groups: frozenset[str] = frozenset({"default"})
        #: Serving events opts the shop in to every topic if it never called the permit
        #: (the demo shop); otherwise nothing is announced before a permit.
        self.tmc_permit_on_serve = False
        self.tmc = TmcAnnouncer(self.push, self.store)
        self.store.on_change(self.tmc)
        self._seed = seed
        self._handlers: dict[str, Callable[[Params, bool], Body]] = {
            "taobao.items.onsale.get": lambda p, _f: self.items_onsale_get(p),
            "taobao.items.inventory.get": lambda p, _f: self.items_inventory_get(p),
            "taobao.item.skus.get": lambda p, _f: self.item_skus_get(p),
            "taobao.item.seller.get": lambda p, _f: self.item_seller_get(p),
            "taobao.item.update.listing": lambda p, _f: self.item_update_listing(p),
            "taobao.item.update.delisting": lambda p, _f: self.item_update_delisting(p),
            "taobao.skus.quantity.update": self.skus_quantity_update,
            "taobao.item.quantity.update": lambda p, _f: self.item_quantity_update(p),
            "taobao.item.sku.price.update": lambda p, _f: self.item_sku_price_update(p),
            "taobao.trades.sold.increment.get": lambda p, _f: self.trades_sold_increment_get(p),
            "taobao.trades.sold.get": lambda p, _f: self.trades_sold_get(p),
            "taobao.trade.fullinfo.get": lambda p, _f: self.trade_fullinfo_get(p),
            "taobao.logistics.companies.get": lambda p, _f: self.logistics_companies_get(p),
            "taobao.logistics.offline.send": lambda p, _f: self.logistics_offline_send(p),
            "taobao.refunds.receive.get": lambda p, _f: self.refunds_receive_get(p),
            "taobao.refund.get": lambda p, _f: self.refund_get(p),
            "taobao.top.auth.token.refresh": lambda p, _f: self._refresh(p),
            "taobao.tmc.user.permit": lambda p, _f: self.tmc_user_permit(dict(p)),
            "taobao.tmc.user.get": lambda p, _f: self.tmc_user_get(dict(p)),
            "taobao.tmc.auth.get": lambda p, _f: self.tmc_auth_get(dict(p)),
        }

    # -- state the marketplace itself changes -----------------------------------------

    def seed_catalogue(self, items: Iterable[SeedItem]) -> list[FakeItem]:
        """Put ``items`` on sale, with TOP-style numeric ids and property strings."""
        now = self.clock.now()
        created = []
        for seed in items:
            item_no = next(self._ids)
            skus = [
                FakeSku(
                    sku_id=str(_FIRST_SKU + item_no * 100 + index),
                    merchant_code=sku.merchant_code,
                    price=sku.price,
                    quantity=sku.quantity,
                    properties=sku.properties,
                    extra={
                        "properties": f"{_COLOUR_PID}:{_COLOUR_VID + index}",
                        "properties_name": f"{_COLOUR_PID}:{_COLOUR_VID + index}:" + sku.properties,
                        "modified": now,
                    },
                )
                for index, sku in enumerate(seed.skus)
            ]
            price = min((sku.price for sku in skus), default=seed.price)
            item = FakeItem(
                item_id=str(_FIRST_ITEM + item_no),
                title=seed.title,
                merchant_code=seed.merchant_code,
                price=price,
                on_sale=True,
                created=now,
                modified=now,
                skus=skus,
                extra={"list_time": now},
            )
            created.append(self.store.add_item(item))
        return created

    def add_plain_item(
        self, merchant_code: str, title: str, price: Decimal, quantity: int
    ) -> FakeItem:
        """Put an item without SKUs on sale."""
        now = self.clock.now()
        item = FakeItem(
            item_id=str(_FIRST_ITEM + next(self._ids)),
            title=title,
            merchant_code=merchant_code,
            price=price,
            on_sale=True,
            created=now,
            modified=now,
            extra={"quantity": quantity, "list_time": now},
        )
        return self.store.add_item(item)

    def generate_orders(self, count: int = 1) -> list[FakeOrder]:
        """Buyers place and pay up to ``count`` orders; stock drops as on TOP."""
        return self.orders.generate(count)

    def _number_sub_orders(self, order: FakeOrder) -> None:
        for position, line in enumerate(order.lines, start=1):
            line.line_id = str(int(order.order_id) + position)

    def _change(self, tid: str, status: str, change: str) -> FakeOrder:
        with self.store.lock:
            order = self.store.orders[tid]
            order.status = status
            order.modified = self.clock.now()
            self.store.changed(order, change)
            return order

    def close_by_taobao(self, tid: str) -> FakeOrder:
        """Close the trade before payment (the buyer cancelled or it timed out)."""
        return self._change(tid, "TRADE_CLOSED_BY_TAOBAO", "cancelled")

    def forbid_shipping(self, tid: str) -> FakeOrder:
        """Forbid shipping the paid trade (group buy not formed, controlled goods)."""
        return self._change(tid, "PAID_FORBID_CONSIGN", "updated")

    def confirm_receipt(self, tid: str) -> FakeOrder:
        """Confirm receipt for the buyer: the trade is finished."""
        return self._change(tid, "TRADE_FINISHED", "finished")

    def request_refund(
        self,
        tid: str,
        *,
        oid: str | None = None,
        amount: Decimal | None = None,
        reason: str = "不想要了",
        num: int | None = None,
        has_good_return: bool = False,
    ) -> FakeRefund:
        """Ask for a refund of one sub-order (the first one by default), as a buyer does.

        ``num`` units of it (all by default); ``has_good_return``: the goods come back.
        """
        with self.store.lock:
            order = self.store.orders[tid]
            line = next((x for x in order.lines if oid is None or x.line_id == oid), None)
            if line is None:
                raise KeyError(oid)
            now = self.clock.now()
            refund = FakeRefund(
                refund_id=str(70000000000000 + next(self._refund_ids)),
                order_id=tid,
                status="WAIT_SELLER_AGREE",
                amount=amount if amount is not None else line.price * line.quantity,
                created=now,
                modified=now,
                line_id=line.line_id,
                reason=reason,
                extra={"num": num or line.quantity, "has_good_return": has_good_return},
            )
            order.extra.setdefault("line_refund", {})[line.line_id] = "WAIT_SELLER_AGREE"
            order.modified = now
            return self.store.add_refund(refund)

    def settle_refund(self, refund_id: str, status: str = "SUCCESS") -> FakeRefund:
        """Move the refund to ``status`` (``SUCCESS`` by default)."""
        with self.store.lock:
            refund = self.store.refunds[refund_id]
            refund.status = status
            refund.modified = self.clock.now()
            order = self.store.orders[refund.order_id]
            if refund.line_id is not None:
                order.extra.setdefault("line_refund", {})[refund.line_id] = status
            order.modified = refund.modified
            change = {"SUCCESS": "refunded", "CLOSED": "closed"}.get(status, "updated")
            self.store.changed(refund, change)
            return refund

    def serve_events(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        require_auth_token: bool = False,
        gzip_rate: float = 0.3,
        idle_timeout: float | None = None,
        timestamp_tolerance: timedelta = timedelta(minutes=10),
    ) -> TmcServer:
        """Serve this shop's TMC messages over WebSocket; ``.url`` is the ``events_url``.

        Stop it with ``.stop()`` or use it as a context manager.
        """
        server = TmcServer(
            app_key=self.app_key,
            secret=self._secret,
            push=self.push,
            clock=self.clock,
            auth_tokens=self.tmc_auth_tokens,
            groups=self.tmc_groups,
            host=host,
            port=port,
            require_auth_token=require_auth_token,
            gzip_rate=gzip_rate,
            idle_timeout=idle_timeout,
            timestamp_tolerance=timestamp_tolerance,
            seed=self._seed,
        )
        if self.tmc_permit_on_serve and self.push.permitted == frozenset():
            self.tmc_user_permit({})
        server.start()
        self.tmc.add_waker(server.wake)
        server.on_stop(lambda: self.tmc.remove_waker(server.wake))
        return server

    def expire_session(self) -> None:
        """Every session issued so far expires (TOP answers code 27 ``session-expired``)."""
        with self.store.lock:
            self.sessions = dict.fromkeys(self.sessions, False)

    # -- the gateway --------------------------------------------------------------------

    @staticmethod
    def params_of(request: httpx.Request) -> dict[str, str]:
        """Return the union of the query string and the form body, as TOP reads them."""
        params = dict(request.url.params.items())
        if request.content:
            params.update(parse_qsl(request.content.decode("utf-8"), keep_blank_values=True))
        return params

    def operation_of(self, request: httpx.Request) -> str:
        """Return the TOP method of ``request``."""
        try:
            return self.params_of(request).get("method") or "unknown"
        except UnicodeDecodeError:
            return "unknown"

    def takes_access_token(self, operation: str) -> bool:
        """Return ``False`` for the token refresh, which carries no session."""
        return operation not in _SESSIONLESS

    def is_batch(self, operation: str) -> bool:
        """``taobao.skus.quantity.update`` is the one batch write."""
        return operation == "taobao.skus.quantity.update"

    def _request_id(self) -> str:
        with self._id_lock:
            return f"{next(self._request_ids):x}{self._rng.getrandbits(32):08x}"

    def _error(self, fault: TopFault) -> httpx.Response:
        return json_response(error_body(fault, self._request_id()))

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Check the call as TOP does, then answer the method."""
        if request.url.path.rstrip("/") not in ("", "/router/rest"):
            return httpx.Response(404, content=b"Not Found")
        if request.method not in ("GET", "POST"):
            return self._error(TopFault(9, "Http Action Not Allowed"))
        try:
            params = self.params_of(request)
            self._check(params)
            method = params["method"]
            wait = self.throttled(f"{self.app_key}:{method}", self.throttle_rule)
            if wait is not None:
                raise _ban(wait)
            body = self._handlers[method](params, partial_failure)
        except TopFault as fault:
            return self._error(fault)
        self.tmc.announce_call(method, params)
        body["request_id"] = self._request_id()
        return json_response({root_key(operation): body})

    def _check(self, params: Mapping[str, str]) -> None:
        method = params.get("method")
        if not method:
            raise TopFault(21, "Missing Method")
        if method not in self._handlers:
            raise TopFault(22, "Invalid Method")
        if not params.get("app_key"):
            raise TopFault(28, "Missing App Key")
        if params["app_key"] != self.app_key:
            raise TopFault(29, "Invalid App Key")
        self._check_signature(params)
        self._check_timestamp(params.get("timestamp"))
        if not params.get("v"):
            raise TopFault(32, "Missing Version")
        if params["v"] != "2.0":
            raise TopFault(34, "Unsupported Version")
        if params.get("format", "xml") != "json":
            raise TopFault(23, "Invalid Format", sub_msg="this gateway answers format=json only")
        if method not in _SESSIONLESS:
            self._check_session(params.get("session"))

    def _check_signature(self, params: Mapping[str, str]) -> None:
        if not params.get("sign"):
            raise TopFault(24, "Missing Signature")
        digest = _DIGESTS.get(params.get("sign_method", "md5"))
        if digest is None:
            raise TopFault(41, "Invalid Arguments", "isv.invalid-parameter:sign_method")
        expected = sign_params(params, self._secret, digest)
        if not hmac.compare_digest(expected, params["sign"]):
            raise TopFault(25, "Invalid Signature")

    def _check_session(self, session: str | None) -> None:
        if not session:
            raise TopFault(26, "Missing Session")
        valid = self.sessions.get(session)
        if valid is None:
            raise TopFault(27, "Invalid session", "invalid-sessionkey", "SessionKey非法")
        if not valid:
            raise TopFault(27, "Invalid session", "session-expired", "SessionKey已过期")
        if session in self._unconfirmed:
            # The new pair is in use: every older session and refresh token retires now.
            self.refresh_tokens = {self._unconfirmed[session]}
            self.sessions = {session: True}
            self._unconfirmed.clear()

    def _check_timestamp(self, raw: str | None) -> None:
        if not raw:
            raise TopFault(30, "Missing Timestamp")
        try:
            sent = (
                datetime.fromtimestamp(int(raw) / 1000, tz=UTC)
                if raw.isdigit()
                else parse_local_time(raw)
            )
        except (ValueError, OverflowError, OSError):
            raise TopFault(31, "Invalid Timestamp", sub_msg="use yyyy-MM-dd HH:mm:ss") from None
        if abs(sent - self.clock.now()) > _SKEW:
            raise TopFault(31, "Invalid Timestamp", sub_msg="timestamp is more than 10 minutes off")

    def _refresh(self, params: Params) -> Body:
        old = params.get("refresh_token")
        if not old:
            raise TopFault(40, "Missing Required Arguments", "isv.missing-parameter:refresh_token")
        if old not in self.refresh_tokens:
            raise TopFault(
                15, "Remote service error", "isv.refresh-token-invalid", "refresh_token非法"
            )
        number = next(self._issued)
        session, refresh = f"fake-session-{number}", f"fake-refresh-{number}"
        # Rotation with grace: the previous token pair keeps working until the new access
        # token is first used, so a refresh whose answer was lost can be asked again. The
        # public material does not say whether TOP invalidates the old refresh token at once
        # (unverified); this is the behaviour that lets a client recover at all.
        self.refresh_tokens.add(refresh)
        self.sessions[session] = True
        self._unconfirmed[session] = refresh
        return {"token_result": token_result(session, refresh, self.token_lifetime)}

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """TOP's own throttle, server-error and expired-session answers."""
        if fault is Fault.THROTTLE:
            return self._error(_ban(1.0))
        if fault is Fault.EXPIRED_TOKEN:
            session = self.params_of(request).get("session")
            if session in self.sessions:
                self.sessions[session] = False
            return self._error(
                TopFault(27, "Invalid session", "session-expired", "SessionKey已过期")
            )
        if next(self._server_errors) % 2 == 0:
            return httpx.Response(502, headers={"Content-Type": "text/html"}, content=_HTML_502)
        return self._error(
            TopFault(15, "Remote service error", "isp.top-remote-connection-timeout", "超时")
        )

    def snapshot(self) -> dict[str, Any]:
        """Return stock by merchant code and order statuses, for assertions."""
        with self.store.lock:
            return {
                "stock": self.store.stock_by_merchant_code(),
                "orders": {tid: o.status for tid, o in self.store.orders.items()},
            }


def _ban(wait: float) -> TopFault:
    seconds = max(1, math.ceil(wait))
    return TopFault(
        7,
        "App Call Limited",
        "accesscontrol.limited-by-app-api-access-count",
        f"This ban will last for {seconds} more seconds",
    )
