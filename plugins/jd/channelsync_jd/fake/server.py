"""A stateful fake of the JOS ``routerjson`` gateway and its OAuth refresh endpoint.

It checks what JD checks (app key, signature over the raw ``360buy_param_json`` text,
GMT+8 timestamp within 6 minutes, access token) and answers with JD's envelopes,
string codes, result flags, page shapes and limits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, ClassVar
from urllib.parse import parse_qsl

import httpx

from channelsync.clock import CHINA_STANDARD_TIME, Clock, SystemClock
from channelsync.http import ParamDigest, sign_params
from channelsync.testing.fakes import (
    FakeItem,
    FakeOrder,
    FakeShipment,
    FakeSku,
    Fault,
    FaultInjector,
    OrderGenerator,
    SeedItem,
    ThrottleRule,
)
from channelsync_jd.fake import handlers
from channelsync_jd.fake.control import JosControl
from channelsync_jd.fake.wire import (
    CODE_CALL_LIMITED,
    CODE_INVALID_METHOD,
    CODE_INVALID_SIGNATURE,
    CODE_INVALID_TIMESTAMP,
    CODE_INVALID_TOKEN,
    CODE_INVALID_VERSION,
    CODE_MISSING_METHOD,
    CODE_MISSING_SIGNATURE,
    CODE_MISSING_TIMESTAMP,
    CODE_MISSING_VERSION,
    CODE_PARAMETER,
    error_response,
    jos_json,
)

__all__ = ["DEFAULT_CARRIERS", "FakeJos"]

_DIGESTS = {
    "": ParamDigest.MD5,
    "md5": ParamDigest.MD5,
    "hmacmd5": ParamDigest.HMAC_MD5,
    "hmacsha256": ParamDigest.HMAC_SHA256,
}
_MAX_SKEW = timedelta(minutes=6)
_GATEWAY_PATHS = frozenset({"/routerjson", "/"})
_REFRESH_PATH = "/oauth2/refresh_token"

#: The carriers the fake shop may ship with (id, name). 467, 465 and 1274 are the ids
#: every source agrees on; the others are demo data.
DEFAULT_CARRIERS: dict[str, str] = {
    "467": "顺丰快递",
    "465": "邮政EMS",
    "463": "圆通快递",
    "1499": "中通速递",
    "1327": "韵达快递",
    "470": "申通快递",
    "2087": "京东快递",
    "1274": "厂家自送",
}


def _parse_timestamp(text: str) -> datetime | None:
    for pattern in ("%Y-%m-%d %H:%M:%S.%f%z", "%Y-%m-%d %H:%M:%S%z"):
        try:
            return datetime.strptime(text, pattern)  # noqa: DTZ007 - both patterns carry %z
        except ValueError:
            continue
    try:
        naive = datetime.strptime(text, "%Y-%m-%d %H:%M:%S")  # noqa: DTZ007 - zone added next
    except ValueError:
        return None
    return naive.replace(tzinfo=CHINA_STANDARD_TIME)


class FakeJos(JosControl):
    """A fake JD shop behind the JOS gateway: wares, SKUs, stock, orders, shipments.

    Accepts one app (``app_key``/``app_secret``) and the tokens it issued. Per-method
    calls are throttled at ``qps`` with JD's code-2 answer; ``daily_quota`` (if set)
    limits calls per GMT+8 day the same way.
    """

    throttle_rules: ClassVar[Mapping[str, ThrottleRule]] = {}

    def __init__(
        self,
        *,
        clock: Clock | None = None,
        faults: FaultInjector | None = None,
        seed: int = 0,
        app_key: str,
        app_secret: str,
        access_token: str,
        refresh_token: str | None = None,
        token_lifetime: timedelta = timedelta(days=7),
        qps: float = 10.0,
        daily_quota: int | None = None,
        carriers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(clock=clock or SystemClock(), faults=faults)
        self.app_key = app_key
        self.app_secret = app_secret
        self.token_lifetime = token_lifetime
        self.qps = qps
        self.daily_quota = daily_quota
        self.carriers: dict[str, str] = dict(carriers or DEFAULT_CARRIERS)
        #: Access tokens and when they expire; refresh tokens and the access token they renew.
        self.tokens: dict[str, datetime] = {access_token: self.clock.now() + token_lifetime}
        self.refresh_tokens: dict[str, str] = {refresh_token: access_token} if refresh_token else {}
        self.refreshes = 0
        #: Access tokens issued by a refresh and not used yet, with their refresh tokens.
        self._unconfirmed: dict[str, str] = {}
        #: Every accepted call: (method, business parameters as decoded).
        self.received: list[tuple[str, dict[str, Any]]] = []
        self._day_calls: dict[str, int] = {}
        self._seed = seed
        self._next_ware = 100_000_000 + seed * 1_000_000
        self._orders = OrderGenerator(
            self.store,
            self.clock,
            order_id=lambda n, _now: str(2_900_000_000_000 + seed * 100_000 + n),
            status="WAIT_SELLER_STOCK_OUT",
            seed=seed,
        )

    # -- catalogue and buyers -------------------------------------------------------

    def seed_catalogue(self, items: Sequence[SeedItem]) -> list[FakeItem]:
        """Create one on-sale ware per seed item, with numeric ware and SKU ids."""
        created = []
        now = self.clock.now()
        for seed_item in items:
            self._next_ware += 1
            ware_id = str(self._next_ware)
            skus = [
                FakeSku(
                    sku_id=f"{ware_id}{index:03d}",
                    merchant_code=seed_sku.merchant_code,
                    price=seed_sku.price,
                    quantity=seed_sku.quantity,
                    properties=seed_sku.properties,
                )
                for index, seed_sku in enumerate(seed_item.skus, start=1)
            ]
            item = FakeItem(
                item_id=ware_id,
                title=seed_item.title,
                merchant_code=seed_item.merchant_code,
                price=seed_item.price,
                on_sale=True,
                created=now,
                modified=now,
                skus=skus,
                extra={"wareStatus": 8},
            )
            created.append(self.store.add_item(item))
        return created

    def generate_orders(self, count: int = 1) -> list[FakeOrder]:
        """Let buyers place up to ``count`` paid orders, taking the stock they buy."""
        return self._orders.generate(count)

    def _set_state(self, order_id: str, state: str) -> FakeOrder:
        with self.store.lock:
            order = self.store.orders[order_id]
            order.status = state
            order.modified = self.clock.now()
            return order

    def cancel_order(self, order_id: str) -> FakeOrder:
        """Cancel an order as its buyer; an unshipped order gives its stock back."""
        with self.store.lock:
            order = self.store.orders[order_id]
            if order.status == "WAIT_SELLER_STOCK_OUT":
                for line in order.lines:
                    found = self.store.find_sku(line.sku_id or "")
                    if found is not None:
                        found[1].quantity += line.quantity
            return self._set_state(order_id, "TRADE_CANCELED")

    def lock_order(self, order_id: str) -> FakeOrder:
        """JD locks the order (after-sales request or risk control)."""
        return self._set_state(order_id, "LOCKED")

    def confirm_receipt(self, order_id: str) -> FakeOrder:
        """Confirm receipt as the buyer: the order is finished."""
        return self._set_state(order_id, "FINISHED_L")

    def expire_tokens(self) -> None:
        """Let every access token run out (as time passing would)."""
        now = self.clock.now()
        self.tokens = dict.fromkeys(self.tokens, now - timedelta(seconds=1))

    # -- FakeMarketplace ------------------------------------------------------------

    def takes_access_token(self, operation: str) -> bool:
        """Return ``False`` for the OAuth refresh (no access token); gateway calls carry one."""
        return operation != "oauth2.refresh_token"

    def operation_of(self, request: httpx.Request) -> str:
        """Name the call: the JOS method, or the OAuth refresh."""
        if request.url.path == _REFRESH_PATH:
            return "oauth2.refresh_token"
        return self._params(request).get("method") or "unknown"

    @staticmethod
    def _params(request: httpx.Request) -> dict[str, str]:
        params = dict(request.url.params.items())
        kind = request.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
        if request.content and kind == "application/x-www-form-urlencoded":
            # Form fields are decoded to the exact text that was sent, never re-serialised.
            form = parse_qsl(request.content.decode("utf-8"), keep_blank_values=True)
            params.update(form)
        return params

    def fault_response(
        self, fault: Fault, request: httpx.Request, operation: str
    ) -> httpx.Response:
        """Render JD's throttle (code 2), a gateway 5xx, or the expired-token answer."""
        if fault is Fault.THROTTLE:
            return error_response(CODE_CALL_LIMITED)
        if fault is Fault.EXPIRED_TOKEN:
            return error_response(CODE_INVALID_TOKEN)
        return httpx.Response(
            503, headers={"Content-Type": "text/plain"}, content=b"Service Unavailable"
        )

    def handle(
        self, request: httpx.Request, operation: str, *, partial_failure: bool
    ) -> httpx.Response:
        """Check the call as the gateway does, then answer it from the store."""
        if request.url.path == _REFRESH_PATH:
            return self._refresh(dict(request.url.params.items()))
        if request.url.path not in _GATEWAY_PATHS:
            return httpx.Response(404, content=b"Not Found")
        params = self._params(request)
        refused = self._check_gateway(params)
        if refused is not None:
            return refused
        method = params["method"]
        try:
            business = json.loads(params.get("360buy_param_json") or "{}", parse_float=Decimal)
        except ValueError:
            return error_response(CODE_PARAMETER, "360buy_param_json is not JSON")
        if not isinstance(business, dict):
            return error_response(CODE_PARAMETER, "360buy_param_json is not an object")
        self.received.append((method, business))
        return handlers.ROUTES[method](self, business)

    def _check_gateway(  # noqa: PLR0911, PLR0912 - one answer per gateway check, in order
        self, params: dict[str, str]
    ) -> httpx.Response | None:
        method = params.get("method")
        if not method:
            return error_response(CODE_MISSING_METHOD)
        if method not in handlers.ROUTES:
            return error_response(CODE_INVALID_METHOD, method)
        if not params.get("v"):
            return error_response(CODE_MISSING_VERSION)
        if params["v"] != "2.0":
            return error_response(CODE_INVALID_VERSION)
        if not params.get("timestamp"):
            return error_response(CODE_MISSING_TIMESTAMP)
        sent = _parse_timestamp(params["timestamp"])
        if sent is None or abs(sent - self.clock.now()) > _MAX_SKEW:
            return error_response(CODE_INVALID_TIMESTAMP)
        if not params.get("sign"):
            return error_response(CODE_MISSING_SIGNATURE)
        digest = _DIGESTS.get(params.get("sign_method", "").lower())
        if params.get("app_key") != self.app_key or digest is None:
            return error_response(CODE_INVALID_SIGNATURE)
        if sign_params(params, self.app_secret, digest) != params["sign"]:
            return error_response(CODE_INVALID_SIGNATURE)
        token = params.get("access_token", "")
        expires = self.tokens.get(token)
        if expires is None or expires <= self.clock.now():
            return error_response(CODE_INVALID_TOKEN)
        if token in self._unconfirmed:
            # The new pair is in use: every older access and refresh token retires now.
            self.refresh_tokens = {self._unconfirmed[token]: token}
            self.tokens = {token: expires}
            self._unconfirmed.clear()
        if self.throttled(method, ThrottleRule(rate=self.qps, burst=max(1, int(self.qps)))):
            return error_response(CODE_CALL_LIMITED)
        if self.daily_quota is not None:
            day = self.clock.now().astimezone(CHINA_STANDARD_TIME).date().isoformat()
            self._day_calls[day] = self._day_calls.get(day, 0) + 1
            if self._day_calls[day] > self.daily_quota:
                return error_response(CODE_CALL_LIMITED)
        return None

    def _refresh(self, params: dict[str, str]) -> httpx.Response:
        if params.get("app_key") != self.app_key or params.get("app_secret") != self.app_secret:
            return jos_json({"code": 2001, "msg": "app_key or app_secret invalid"})
        if params.get("grant_type") != "refresh_token":
            return jos_json({"code": 2002, "msg": "grant_type must be refresh_token"})
        old = self.refresh_tokens.get(params.get("refresh_token", ""))
        if old is None:
            return jos_json({"code": 2003, "msg": "refresh_token invalid"})
        if self.tokens.get(old, datetime.min.replace(tzinfo=UTC)) <= self.clock.now():
            # JD: an expired access token cannot be refreshed; the shop authorizes again.
            return jos_json({"code": 2004, "msg": "access_token expired, authorize again"})
        self.refreshes += 1
        suffix = f"{self._seed}-{self.refreshes}"
        access, refresh = f"fake-jd-access-{suffix}", f"fake-jd-refresh-{suffix}"
        # Rotation with grace: the previous token pair keeps working until the new access
        # token is first used, so a refresh whose answer was lost can be asked again. The
        # public material does not say whether JD invalidates the old refresh token at once
        # (unverified); this is the behaviour that lets a client recover at all.
        now = self.clock.now()
        self.tokens[access] = now + self.token_lifetime
        self.refresh_tokens[refresh] = access
        self._unconfirmed[access] = refresh
        return jos_json(
            {
                "access_token": access,
                "expires_in": int(self.token_lifetime.total_seconds()),
                "refresh_token": refresh,
                "scope": "snsapi_base",
                "open_id": "fake-open-id",
                "time": int(now.timestamp() * 1000),
                "token_type": "bearer",
                "xid": "fake-xid",
            }
        )

    # -- store changes made by the handlers ------------------------------------------

    def record_shipment(self, order: FakeOrder, carrier: str, tracking: str) -> None:
        """Record an outbound shipment and move the order to awaiting receipt."""
        now = self.clock.now()
        order.shipments.append(FakeShipment(order.order_id, carrier, tracking, now))
        order.status = "WAIT_GOODS_RECEIVE_CONFIRM"
        order.modified = now
