"""Reading the gateway's answers: the envelope, its errors, and typed field access.

Every answer is HTTP 200 with ``{"code", "msg", "sub_code", "sub_msg", "data",
"log_id"}``; ``code`` 10000 is success. The classifier turns any other code into the
error :mod:`channelsync_douyin.codes` names, and a body that is not this envelope into
:class:`~channelsync.errors.DataError`. Field readers raise ``DataError`` naming the
missing or mistyped field, never ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx
from channelsync.errors import ChannelError, DataError, RateLimitedError
from channelsync.http import HttpStatusClassifier, parse_json

from channelsync_douyin.codes import SUCCESS, THROTTLE_WAIT, error_class

__all__ = [
    "DouyinClassifier",
    "Record",
    "envelope_error",
    "get_int",
    "get_list",
    "get_record",
    "get_str",
    "read_data",
]

Record = Mapping[str, Any]


def _envelope(body: object, operation: str) -> Record:
    if not isinstance(body, dict) or "code" not in body:
        raise DataError("answer is not a gateway envelope (no 'code')", operation=operation)
    return body


def envelope_error(body: Record, operation: str) -> ChannelError | None:
    """Return the error a parsed envelope reports, or ``None`` for success."""
    code = body.get("code")
    if isinstance(code, bool) or not isinstance(code, int | str):
        return DataError(f"envelope 'code' is {type(code).__name__}", operation=operation)
    try:
        number = int(code)
    except ValueError:
        return DataError(f"envelope 'code' {code!r} is not a number", operation=operation)
    if number == SUCCESS:
        return None
    sub_code = str(body.get("sub_code") or "")
    message = str(body.get("sub_msg") or body.get("msg") or "gateway error")
    request_id = str(body.get("log_id") or "") or None
    cls = error_class(number, sub_code)
    common: dict[str, Any] = {
        "operation": operation,
        "code": sub_code or str(number),
        "request_id": request_id,
    }
    if cls is RateLimitedError:
        return RateLimitedError(message, retry_after=THROTTLE_WAIT, **common)
    return cls(message, **common)


class DouyinClassifier(HttpStatusClassifier):
    """Reads the envelope of every HTTP 200 answer; other statuses by HTTP status."""

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return the envelope's error, ``DataError`` for a foreign body, or ``None``."""
        if response.status_code != 200:
            return self.classify_status(response, operation) or DataError(
                f"unexpected HTTP {response.status_code}", operation=operation
            )
        body = _envelope(parse_json(response, operation=operation), operation)
        return envelope_error(body, operation)


def read_data(response: httpx.Response, operation: str) -> Any:
    """Return ``data`` of a successful answer (the classifier has vetted the envelope)."""
    body = _envelope(parse_json(response, operation=operation), operation)
    return body.get("data")


def get_record(record: object, name: str, what: str) -> Record:
    """Return the object member ``name`` of ``record``; ``DataError`` if absent or not one."""
    value = _member(record, name, what)
    if not isinstance(value, dict):
        raise DataError(f"{what}: '{name}' is {type(value).__name__}, not an object")
    return value


def get_list(record: object, name: str, what: str, *, default_empty: bool = False) -> list[Any]:
    """Return the list member ``name`` (``null`` or absent is ``[]`` with ``default_empty``)."""
    if default_empty and (not isinstance(record, dict) or record.get(name) is None):
        if not isinstance(record, dict):
            raise DataError(f"{what}: expected an object, got {type(record).__name__}")
        return []
    value = _member(record, name, what)
    if not isinstance(value, list):
        raise DataError(f"{what}: '{name}' is {type(value).__name__}, not a list")
    return value


def get_int(record: object, name: str, what: str, *, default: int | None = None) -> int:
    """Return the integer member ``name`` (digits in a string count; absent: ``default``)."""
    if default is not None and isinstance(record, dict) and record.get(name) in (None, ""):
        return default
    value = _member(record, name, what)
    if isinstance(value, bool):
        raise DataError(f"{what}: '{name}' is a boolean, not an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    raise DataError(f"{what}: '{name}' is not an integer ({type(value).__name__})")


def get_str(record: object, name: str, what: str, *, default: str | None = None) -> str:
    """Return member ``name`` as text (ids sent as numbers too; absent: ``default``)."""
    if default is not None and isinstance(record, dict) and record.get(name) is None:
        return default
    value = _member(record, name, what)
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise DataError(f"{what}: '{name}' is {type(value).__name__}, not text")
    return str(value)


def _member(record: object, name: str, what: str) -> Any:
    if not isinstance(record, dict):
        raise DataError(f"{what}: expected an object, got {type(record).__name__}")
    if name not in record or record[name] is None:
        raise DataError(f"{what}: field '{name}' is missing")
    return record[name]
