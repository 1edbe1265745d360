"""PDD gateway envelopes: success roots from a lookup table, ``error_response`` to errors.

The gateway answers HTTP 200 for most failures, with an ``error_response`` body;
successes sit under a root key that cannot be derived from the ``type`` parameter
(``pdd.goods.sku.price.update`` answers ``goods_update_sku_price_response``), so the
keys are a table. Bodies are decoded with JSON numbers as ``Decimal`` because order
and refund amounts come as yuan numbers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from channelsync.errors import ChannelError, DataError, RateLimitedError
from channelsync.http import HttpStatusClassifier, UnreadableResponseError, decode_json
from channelsync_pinduoduo.codes import EXPIRED_TOKEN_CODE, rule_for

__all__ = [
    "RESPONSE_KEYS",
    "PddClassifier",
    "decode_body",
    "error_code_of",
    "error_from_envelope",
    "is_expired_token",
    "success_root",
]

#: The success root key of every method the plugin calls (and a few it documents).
RESPONSE_KEYS: Mapping[str, str] = {
    "pdd.goods.list.get": "goods_list_get_response",
    "pdd.goods.information.get": "goods_info_get_response",
    "pdd.goods.detail.get": "goods_detail_get_response",
    "pdd.goods.skus.get": "goods_sku_get_response",
    "pdd.goods.quantity.update": "goods_quantity_update_response",
    "pdd.goods.sku.price.update": "goods_update_sku_price_response",
    "pdd.goods.sale.status.set": "goods_sale_status_set_response",
    "pdd.order.number.list.increment.get": "order_sn_increment_get_response",
    "pdd.order.information.get": "order_info_get_response",
    "pdd.logistics.online.send": "logistics_online_send_response",
    "pdd.logistics.companies.get": "logistics_companies_get_response",
    "pdd.refund.list.increment.get": "refund_increment_get_response",
    "pdd.pop.auth.token.create": "pop_auth_token_create_response",
    "pdd.pop.auth.token.refresh": "pop_auth_token_refresh_response",
    "pdd.open.decrypt.batch": "open_decrypt_batch_response",
    "pdd.fds.order.get": "pdd_fds_order_get_response",
    "pdd.pmc.user.permit": "pmc_user_permit_response",
}


def decode_body(response: httpx.Response, operation: str | None = None) -> Any:
    """Return the JSON body with numbers as ``Decimal``; :class:`DataError` if it is not JSON.

    The message names the fault's position only, never the body (it holds buyer data).
    """
    context: dict[str, Any] = {"operation": operation, "status_code": response.status_code}
    content = response.content
    if not content.strip():
        raise UnreadableResponseError("empty response body where JSON was expected", **context)
    try:
        return decode_json(response, parse_float=Decimal)
    except UnicodeDecodeError:
        raise UnreadableResponseError("response body is not valid UTF-8 JSON", **context) from None
    except json.JSONDecodeError as exc:
        raise UnreadableResponseError(
            f"malformed JSON response: {exc.msg} at byte {exc.pos} of {len(content)}", **context
        ) from None


def error_code_of(body: Any) -> int | None:
    """Return the ``error_response.error_code`` of a decoded body, or ``None``."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error_response")
    if not isinstance(error, Mapping):
        return None
    code = error.get("error_code")
    if isinstance(code, bool) or not isinstance(code, int | str | Decimal):
        return None
    try:
        return int(code)
    except (TypeError, ValueError, ArithmeticError):
        return None


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def error_from_envelope(
    error: Mapping[str, Any], operation: str | None = None, status_code: int | None = None
) -> ChannelError:
    """Build the channelsync error for one ``error_response`` object."""
    code = error_code_of({"error_response": error})
    rule = rule_for(code)
    sub_code = _text(error.get("sub_code"))
    message = " / ".join(
        part for part in (_text(error.get("error_msg")), _text(error.get("sub_msg"))) if part
    )
    text = f"{rule.meaning}: {message}" if message else rule.meaning
    code_text = _text(error.get("error_code")) or None
    if code_text and sub_code:
        code_text = f"{code_text}/{sub_code}"
    request_id = _text(error.get("request_id")) or None
    common: dict[str, Any] = {
        "operation": operation,
        "code": code_text,
        "status_code": status_code,
        "request_id": request_id,
    }
    if rule.error is RateLimitedError:
        # PDD's throttle answer states no wait; the transport backs off on its own.
        return RateLimitedError(text, retry_after=None, **common)
    return rule.error(text, **common)


def success_root(body: Any, method: str) -> dict[str, Any]:
    """Return the success object of ``method`` from a decoded body.

    Raises the mapped error for an ``error_response`` and :class:`DataError` when
    the expected root is missing or not an object.
    """
    if not isinstance(body, Mapping):
        raise DataError(f"{method}: the answer is not a JSON object", operation=method)
    error = body.get("error_response")
    if isinstance(error, Mapping):
        raise error_from_envelope(error, method)
    key = RESPONSE_KEYS.get(method)
    if key is None:
        raise DataError(f"{method}: no success root key is known for this method")
    root = body.get(key)
    if not isinstance(root, Mapping):
        raise DataError(f"{method}: the answer has no {key!r} object", operation=method)
    return dict(root)


class PddClassifier(HttpStatusClassifier):
    """Reads PDD answers: HTTP failures first, then the ``error_response`` envelope.

    A successful HTTP status with a body that is not JSON (an HTML error page, a
    body cut short) is a :class:`DataError`.
    """

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return the error ``response`` carries, or ``None`` for a success."""
        status_error = self.classify_status(response, operation)
        if status_error is not None:
            return status_error
        try:
            body = decode_body(response, operation)
        except DataError as unreadable:
            return unreadable
        if isinstance(body, Mapping):
            envelope = body.get("error_response")
            if isinstance(envelope, Mapping):
                return error_from_envelope(envelope, operation, response.status_code)
        return None


def is_expired_token(response: httpx.Response) -> bool:
    """Return whether ``response`` is PDD's "access_token expired" answer."""
    try:
        body = decode_body(response)
    except DataError:
        return False
    return error_code_of(body) == EXPIRED_TOKEN_CODE
