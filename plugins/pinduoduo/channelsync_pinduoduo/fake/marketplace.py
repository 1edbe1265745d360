"""A stateful fake of the PDD gateway: verifies calls like PDD and keeps a shop's state.

Every call is checked the way the gateway checks it: POST to ``/api/router``, the
``client_id``, a ``timestamp`` within 10 minutes, the MD5 ``sign`` (20004 when it
does not match), the ``access_token`` (20032 unknown, 10019 expired), then PDD's
per-method limits (70031). Faults come from the shared toolkit; the throttle fault
answers 52101 and the expired-token fault 10019.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from channelsync.clock import CHINA_STANDARD_TIME, Clock
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
from channelsync_pinduoduo.fake.handlers import Params, PddHandlers, Reject
from channelsync_pinduoduo.fake.pmc import FakePmcServer, announcer
from channelsync_pinduoduo.fake.wire import ROOT_KEYS, error_response, ok

__all__ = ["DEFAULT_MALL_ID", "MAX_SKEW_SECONDS", "FakePdd"]

#: How far ``timestamp`` may be from the gateway's clock.
MAX_SKEW_SECONDS = 600

#: The fake shop's mall id. Real ones have nine digits; this one is past 2**53 so that a
#: client reading PMC's mallID through a float echoes it wrongly and is caught.
DEFAULT_MALL_ID = 2**53 + 4242

_TOKEN_FREE = frozenset({"pdd.pop.auth.token.create", "pdd.pop.auth.token.refresh"})
_REFRESH = "pdd.pop.auth.token.refresh"
_GATEWAY_PAGE = b"<html><body><h1>503 Service Temporarily Unavailable</h1></body></html>"


def _per(calls: int, seconds: int) -> ThrottleRule:
    rate = calls / seconds
    return ThrottleRule(rate=rate, burst=max(1, int(rate)))


class FakePdd(PddHandlers):
    """The fake PDD gateway for one shop.

    ``client_id``, ``client_secret``, ``access_token`` and ``refresh_token`` are the
    credentials it accepts; a refresh issues a new token pair, and the old pair retires
    when the new access token is first used.

    ``push`` holds the shop's PMC messages: the fake announces its own changes there
    (order confirmed, shipped, completed, risk review; refund created, agreed, closed)
    once the shop was opted in with ``pdd.pmc.user.permit`` (or :meth:`permit_events`),
    and :meth:`serve_events` serves them as PDD's message service.
    """

    #: The tightest merchant/app limit PDD publishes per method (else the API total).
    throttle_rules: ClassVar[Mapping[str, ThrottleRule]] = {
        "pdd.order.number.list.increment.get": _per(3000, 60),
        "pdd.order.information.get": _per(30000, 60),
        "pdd.goods.list.get": _per(600, 60),
        "pdd.goods.information.get": _per(3000, 60),
        "pdd.goods.skus.get": _per(1000, 1),
        "pdd.goods.quantity.update": _per(4200, 1),
        "pdd.goods.sku.price.update": _per(1200, 10),
        "pdd.goods.sale.status.set": _per(13200, 10),
        "pdd.logistics.online.send": _per(5000, 1),
        "pdd.logistics.companies.get": _per(1200, 10),
        "pdd.refund.list.increment.get": _per(100, 10),
    }

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        faults: FaultInjector | None = None,
        seed: int = 0,
        client_id: str = "fake-pdd-client-0001",
        client_secret: str = "fake-pdd-client-secret-0000",  # noqa: S107 - a fake's own secret
        access_token: str = "fake-pdd-access-token-0000",  # noqa: S107
        refresh_token: str | None = "fake-pdd-refresh-token-0000",  # noqa: S107
        token_lifetime: timedelta = timedelta(days=1),
        mall_id: int = DEFAULT_MALL_ID,
    ) -> None:
        super().__init__(clock=clock, faults=faults)
        self.client_id = client_id
        self.client_secret = client_secret
        self.token_lifetime = token_lifetime
        self.seed = seed
        self.mall_id = mall_id
        self.price_commits = 0
        self.push = PushQueue(clock=self.clock, seed=seed)
        self.store.on_change(announcer(self.push, lambda: self.mall_id, self.clock))
        #: Valid access tokens and when each expires.
        self.access_tokens: dict[str, datetime] = {access_token: self.clock.now() + token_lifetime}
        self.refresh_tokens: set[str] = {refresh_token} if refresh_token else set()
        self.refreshes = 0
        #: Access tokens issued by a refresh and not used yet, with their refresh tokens.
        self._unconfirmed: dict[str, str] = {}
        #: The verified parameters of every call, in order (``sign`` included).
        self.received: list[tuple[str, dict[str, str]]] = []
        self._next_goods = 300_000_000_001
        self._next_sku = 800_000_000_001
        self._next_refund = 500_000_001
        self._orders = OrderGenerator(
            self.store,
            self.clock,
            order_id=self._order_sn,
            status="1",
            seed=seed,
            decorate=self._decorate,
        )

    # -- the wire -----------------------------------------------------------------------

    @staticmethod
    def _fields(request: httpx.Request) -> dict[str, str]:
        kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        body = request.content.decode("utf-8", errors="replace")
        if kind == "application/json":
            data = json.loads(body or "{}")
            if not isinstance(data, dict):
                raise ValueError("JSON body is not an object")
            return {
                str(k): (
                    v
                    if isinstance(v, str)
                    else ("true" if v is True else "false")
                    if isinstance(v, bool)
                    else json.dumps(v, separators=(",", ":"), ensure_ascii=False)
                )
                for k, v in data.items()
                if v is not None
            }
        fields = dict(parse_qsl(body, keep_blank_values=True))
        fields.update(request.url.params.items())
        return fields

    def operation_of(self, request: httpx.Request) -> str:
        """Return the ``type`` of the call (``"unknown"`` when there is none)."""
        try:
            return self._fields(request).get("type") or "unknown"
        except ValueError:
            return "unknown"

    def takes_access_token(self, operation: str) -> bool:
        """Token creation and refresh carry no access token."""
        return operation not in _TOKEN_FREE

    def is_batch(self, operation: str) -> bool:
        """Return whether ``operation`` writes several SKUs in one call (a goods price commit)."""
        return operation == "pdd.goods.sku.price.update"

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """Answer as PDD does when throttling, failing at the gateway, or rejecting a token."""
        if fault is Fault.THROTTLE:
            return error_response(52101, "接口限流,请稍后重试")
        if fault is Fault.EXPIRED_TOKEN:
            return error_response(10019, "access_token已过期")
        return httpx.Response(503, headers={"Content-Type": "text/html"}, content=_GATEWAY_PAGE)

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Verify the call like the gateway, throttle it, then answer it."""
        if request.method != "POST" or not request.url.path.endswith("/api/router"):
            return httpx.Response(404, text="not found")
        try:
            params = self._verify(request)
            self._throttle(operation)
            if operation == _REFRESH:
                return self._refresh(params)
            return self.dispatch(operation, params, partial_failure=partial_failure)
        except Reject as reject:
            return error_response(reject.code, reject.message, sub_msg=reject.sub_msg)

    def _throttle(self, operation: str) -> None:
        if self.throttled(operation) is not None:
            raise Reject(70031, "调用过于频繁", "calls too frequent, slow down")

    def _verify(self, request: httpx.Request) -> Params:
        try:
            fields = self._fields(request)
        except ValueError:
            raise Reject(10001, "公共参数错误", "body is not a form or JSON object") from None
        for name in ("type", "client_id", "timestamp", "sign"):
            if not fields.get(name):
                raise Reject(10001, "公共参数错误", f"missing {name}")
        if fields["client_id"] != self.client_id:
            raise Reject(10016, "client_id错误或应用已下线")
        if fields.get("data_type", "JSON") not in ("JSON", "XML"):
            raise Reject(10001, "公共参数错误", "data_type must be JSON or XML (upper case)")
        try:
            stamp = int(fields["timestamp"])
        except ValueError:
            raise Reject(10001, "公共参数错误", "timestamp must be UNIX seconds") from None
        if abs(stamp - self.clock.now().timestamp()) > MAX_SKEW_SECONDS:
            raise Reject(10001, "公共参数错误", "timestamp is more than 10 minutes off")
        expected = sign_params(fields, self.client_secret, ParamDigest.MD5)
        if fields["sign"] != expected:
            raise Reject(20004, "签名校验失败")
        method = fields["type"]
        if method not in ROOT_KEYS:
            raise Reject(10017, "type错误", f"unknown type {method}")
        if method not in _TOKEN_FREE:
            expires = self.access_tokens.get(fields.get("access_token", ""))
            if expires is None:
                raise Reject(20032, "access_token或client_id错误")
            if self.clock.now() >= expires:
                raise Reject(10019, "access_token已过期")
            self._confirm(fields.get("access_token", ""), expires)
        self.received.append((method, dict(fields)))
        return Params(fields)

    def _confirm(self, token: str, expires: datetime) -> None:
        if token in self._unconfirmed:
            # The new pair is in use: every older access and refresh token retires now.
            self.refresh_tokens = {self._unconfirmed[token]}
            self.access_tokens = {token: expires}
            self._unconfirmed.clear()

    def _refresh(self, params: Params) -> httpx.Response:
        old = params.text("refresh_token")
        if old not in self.refresh_tokens:
            raise Reject(20032, "refresh_token错误")
        self.refreshes += 1
        access = f"fake-pdd-access-token-{self.seed}-{self.refreshes:04d}"
        renewed = f"fake-pdd-refresh-token-{self.seed}-{self.refreshes:04d}"
        now = self.clock.now()
        expires = now + self.token_lifetime
        # Rotation with grace: the previous token pair keeps working until the new access
        # token is first used, so a refresh whose answer was lost can be asked again. The
        # public material does not say whether PDD invalidates the old refresh token at once
        # (unverified); this is the behaviour that lets a client recover at all.
        self.access_tokens[access] = expires
        self.refresh_tokens.add(renewed)
        self._unconfirmed[access] = renewed
        grant_end = now + timedelta(days=30)
        return ok(
            _REFRESH,
            {
                "access_token": access,
                "expires_in": int(self.token_lifetime.total_seconds()),
                "expires_at": int(expires.timestamp()),
                "refresh_token": renewed,
                "refresh_token_expires_in": int((grant_end - now).total_seconds()),
                "refresh_token_expires_at": int(grant_end.timestamp()),
                "owner_id": "100200300",
                "owner_name": "fake-pdd-shop",
                "scope": sorted(ROOT_KEYS),
            },
        )

    def serve_events(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        heartbeat_interval: float = 10.0,
        idle_timeout: float = 60.0,
        poll_interval: float = 0.05,
        max_skew: float = 600.0,
    ) -> FakePmcServer:
        """Serve the shop's PMC messages on loopback (port 0: any free port); stop it when done.

        The timers are in seconds: how often the server sends ``HeartBeat``, how long a
        silent client stays connected, how often due messages are looked for, and how far
        a handshake's timestamp may be from the fake's clock (PDD's own is unverified).
        """
        server = FakePmcServer(
            push=self.push,
            clock=self.clock,
            client_id=self.client_id,
            client_secret=self.client_secret,
            mall_id=self.mall_id,
            host=host,
            port=port,
            heartbeat_interval=heartbeat_interval,
            idle_timeout=idle_timeout,
            poll_interval=poll_interval,
            max_skew=max_skew,
        )
        return server.start()

    # -- the shop's state, changed the way PDD and its buyers change it ------------------

    def seed_catalogue(self, items: Sequence[SeedItem]) -> list[FakeItem]:
        """Add goods for ``items``: the group price is the seed price, single-buy 3 yuan more."""
        now = self.clock.now()
        added = []
        with self.store.lock:
            for seed in items:
                goods_id = str(self._next_goods)
                self._next_goods += 1
                skus = []
                for variant in seed.skus:
                    skus.append(
                        FakeSku(
                            sku_id=str(self._next_sku),
                            merchant_code=variant.merchant_code,
                            price=variant.price,
                            quantity=variant.quantity,
                            properties=variant.properties,
                            extra={"single_price": variant.price + Decimal("3.00")},
                        )
                    )
                    self._next_sku += 1
                item = FakeItem(
                    goods_id, seed.title, seed.merchant_code, seed.price, True, now, now
                )
                item.skus = skus
                added.append(self.store.add_item(item))
        return added

    def _order_sn(self, number: int, now: datetime) -> str:
        local = now.astimezone(CHINA_STANDARD_TIME)
        return f"{local:%y%m%d}-{self.seed % 1000:03d}{number:012d}"

    def _decorate(self, order: FakeOrder) -> None:
        order.extra.update(
            confirm_status=1,
            group_status=1,
            refund_status=1,
            after_sales_status=0,
            risk_control_status=0,
        )

    def generate_orders(self, count: int = 1) -> list[FakeOrder]:
        """Let buyers place ``count`` paid, confirmed orders; stock drops at once."""
        return self._orders.generate(count)

    def _order(self, order_sn: str) -> FakeOrder:
        order = self.store.orders.get(order_sn)
        if order is None:
            raise KeyError(f"the fake has no order {order_sn}")
        return order

    def _touch(self, order: FakeOrder, **extra: Any) -> FakeOrder:
        order.extra.update(extra)
        order.modified = self.clock.now()
        return order

    def hold_for_risk_control(self, order_sn: str) -> FakeOrder:
        """Put an order under PDD's risk-control review (it must not ship)."""
        order = self._touch(self._order(order_sn), risk_control_status=1)
        self.store.changed(order, "risk_changed")
        return order

    def release_risk_control(self, order_sn: str) -> FakeOrder:
        """End the risk-control review of an order."""
        order = self._touch(self._order(order_sn), risk_control_status=0)
        self.store.changed(order, "risk_changed")
        return order

    def group_fails(self, order_sn: str) -> FakeOrder:
        """Fail the group buy: PDD cancels the order and puts the stock back."""
        order = self._order(order_sn)
        for line in order.lines:
            found = self.store.find_sku(line.sku_id or "")
            if found is not None:
                found[1].quantity += line.quantity
        self._touch(order, group_status=2, confirm_status=2)
        self.store.changed(order, "cancelled")
        return order

    def buyer_confirms_receipt(self, order_sn: str) -> FakeOrder:
        """Confirm receipt of a shipped order, as its buyer."""
        order = self._order(order_sn)
        order.status = "3"
        self._touch(order, received_at=self.clock.now())
        self.store.changed(order, "completed")
        return order

    def buyer_requests_refund(
        self, order_sn: str, *, return_goods: bool = False, reason: str = "不想要了"
    ) -> FakeRefund:
        """Open an after-sales case for the order's first line, as its buyer."""
        order = self._order(order_sn)
        line = order.lines[0]
        status = 3 if return_goods else 2
        now = self.clock.now()
        refund = FakeRefund(
            refund_id=str(self._next_refund),
            order_id=order_sn,
            status=str(status),
            amount=line.price * line.quantity,
            created=now,
            modified=now,
            line_id=line.line_id,
            reason=reason,
            extra={
                "after_sales_type": 3 if return_goods else 2,
                "goods_id": line.item_id,
                "sku_id": line.sku_id,
                "outer_id": line.merchant_code or "",
                "goods_number": line.quantity,
                "goods_price": line.price,
                "order_amount": order.total,
            },
        )
        self._next_refund += 1
        self._touch(order, refund_status=2, after_sales_status=status)
        return self.store.add_refund(refund)

    def _set_refund(
        self, refund_id: str, status: int, order_refund_status: int, change: str
    ) -> FakeRefund:
        refund = self.store.refunds[refund_id]
        refund.status = str(status)
        refund.modified = self.clock.now()
        self._touch(
            self._order(refund.order_id),
            refund_status=order_refund_status,
            after_sales_status=status,
        )
        self.store.changed(refund, change)
        return refund

    def complete_refund(self, refund_id: str) -> FakeRefund:
        """Pay the refund out (after-sales status 10, order refund status 4)."""
        return self._set_refund(refund_id, 10, 4, "refunded")

    def buyer_withdraws_refund(self, refund_id: str) -> FakeRefund:
        """Withdraw the case, as the buyer (after-sales status 11)."""
        return self._set_refund(refund_id, 11, 1, "closed")

    def put_in_promotion(self, goods_id: str) -> None:
        """Place goods in a promotion slot: PDD then refuses to reduce its stock."""
        self.store.items[goods_id].extra["promotion"] = True

    def expire_access_token(self) -> None:
        """Let every access token reach its expiry now."""
        now = self.clock.now()
        self.access_tokens = dict.fromkeys(self.access_tokens, now)
