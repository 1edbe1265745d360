"""Reading JOS answers: the ``_responce`` success roots, ``error_response`` and result flags.

The gateway answers HTTP 200 for nearly everything. A success has the root
``<method with dots as underscores>_responce`` (JD's spelling) holding a string ``code``
``"0"`` and the method's result; most results carry a second success flag of their
own. A failure has the root ``error_response`` with a string ``code``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import httpx

from channelsync.clock import Clock, SystemClock
from channelsync.errors import ChannelError, DataError
from channelsync.http import HttpStatusClassifier, UnreadableResponseError, decode_json
from channelsync_jd.codes import business_error, gateway_error

__all__ = [
    "JosClassifier",
    "api_result_error",
    "decode_body",
    "flag",
    "result_root",
    "root_keys",
    "text_of",
]

# Legacy ``360buy.*`` methods seen answering under their own older root names.
_LEGACY_ROOTS: dict[str, tuple[str, ...]] = {
    "360buy.get.vender.all.delivery.company": ("vender_delivery_all_company_response",),
}


def root_keys(method: str) -> tuple[str, ...]:
    """Return the success root names ``method`` may answer under, preferred first."""
    base = method.replace(".", "_")
    return (f"{base}_responce", f"{base}_response", *_LEGACY_ROOTS.get(method, ()))


def decode_body(response: httpx.Response, operation: str | None = None) -> dict[str, Any]:
    """Decode a JOS body, numbers with a fraction as ``Decimal``; :class:`DataError` if unusable."""
    context: dict[str, Any] = {"operation": operation, "status_code": response.status_code}
    content = response.content
    if not content.strip():
        raise UnreadableResponseError("empty answer where JSON was expected", **context)
    try:
        body = decode_json(response, parse_float=Decimal)
    except UnicodeDecodeError:
        raise UnreadableResponseError("answer is not UTF-8 JSON", **context) from None
    except json.JSONDecodeError as exc:
        raise UnreadableResponseError(
            f"malformed JSON answer: {exc.msg} at byte {exc.pos} of {len(content)}", **context
        ) from None
    if not isinstance(body, dict):
        raise DataError(f"answer is a JSON {type(body).__name__}, not an object", **context)
    return body


def text_of(record: Mapping[str, Any], *keys: str) -> str:
    """Return the first non-empty text among ``keys`` of ``record`` (``""`` if none)."""
    for key in keys:
        value = record.get(key)
        if value not in (None, ""):
            return str(value)
    return ""


def flag(value: Any) -> bool | None:
    """Read a JOS boolean, which may arrive as ``true`` or as the string ``"true"``."""
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _error_of(body: Mapping[str, Any], operation: str, clock: Clock) -> ChannelError | None:
    error = body.get("error_response")
    if error is None:
        return None
    if not isinstance(error, dict):
        return DataError("error_response is not an object", operation=operation)
    code = text_of(error, "code")
    message = text_of(error, "en_desc", "zh_desc", "msg")
    return gateway_error(
        code,
        message,
        operation=operation,
        now=clock.now(),
        request_id=text_of(error, "request_id") or None,
    )


def result_root(body: Mapping[str, Any], method: str) -> dict[str, Any]:
    """Return the success root of ``method``'s answer; :class:`DataError` when it is missing."""
    for key in root_keys(method):
        root = body.get(key)
        if isinstance(root, dict):
            return root
    raise DataError(f"the answer has no {root_keys(method)[0]} object", operation=method)


def api_result_error(
    result: Mapping[str, Any], operation: str, *, request_id: str | None = None
) -> ChannelError | None:
    """Return the error an ``apiResult``-style flag reports, or ``None`` when it succeeded."""
    success = flag(result.get("success"))
    if success is None:
        return DataError("the result has no success flag", operation=operation)
    if success:
        return None
    code = text_of(result, "numberCode", "errorCode") or None
    message = text_of(result, "englishErrCode", "chineseErrCode", "errorMessage", "message")
    return business_error(code, message, operation=operation, request_id=request_id)


class JosClassifier(HttpStatusClassifier):
    """Turns JOS answers into core errors: HTTP status, ``error_response``, root ``code``.

    Business flags inside results are left to the channel, because a refused SKU is a
    result of that SKU and not a failure of the whole call.
    """

    def __init__(self, clock: Clock | None = None) -> None:
        super().__init__(clock or SystemClock())

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return ``None`` for a usable success root, else the error to raise."""
        status_error = self.classify_status(response, operation)
        if status_error is not None:
            return status_error
        try:
            body = decode_body(response, operation)
            error = _error_of(body, operation, self.clock)
            if error is not None:
                return error
            root = result_root(body, operation)
        except DataError as unreadable:
            return unreadable
        code = text_of(root, "code")
        if code and code != "0":
            message = text_of(root, "error_description", "en_desc", "zh_desc")
            return gateway_error(code, message, operation=operation, now=self.clock.now())
        return None
