"""TOP answers: the ``*_response`` success root, nested lists, and ``error_response``.

Success roots drop a leading ``taobao.`` from the method name and keep any other
prefix (``tmall.``, ``alibaba.``); lists keep their XML nesting
(``{"items": {"item": [...]}}``). Every failure, including a body that is not what
TOP sends, becomes a core error here, never a ``KeyError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx

from channelsync.errors import ChannelError, DataError
from channelsync.http import HttpStatusClassifier, UnreadableResponseError, decode_json
from channelsync_tmall.codes import TopErrorDetail, error_for

__all__ = [
    "TopClassifier",
    "error_detail",
    "nested_list",
    "response_key",
    "unwrap",
]

Record = dict[str, Any]


def response_key(method: str) -> str:
    """Return the success root of ``method``: ``taobao.item.get`` -> ``item_get_response``."""
    name = method.removeprefix("taobao.")
    return name.replace(".", "_") + "_response"


def _as_int(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value)
    return None


def _as_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def error_detail(body: object) -> TopErrorDetail | None:
    """Return the ``error_response`` of a decoded body, or ``None`` when there is none."""
    if not isinstance(body, Mapping):
        return None
    error = body.get("error_response")
    if error is None:
        return None
    if not isinstance(error, Mapping):
        return TopErrorDetail(code=None, msg="unreadable error_response")
    return TopErrorDetail(
        code=_as_int(error.get("code")),
        msg=_as_text(error.get("msg")) or "error",
        sub_code=_as_text(error.get("sub_code")),
        sub_msg=_as_text(error.get("sub_msg")),
        request_id=_as_text(error.get("request_id")),
    )


def unwrap(body: object, method: str, *, operation: str | None = None) -> Record:
    """Return the success object of ``method`` from a decoded body.

    Raises the mapped core error for an ``error_response`` and :class:`DataError` when
    the root is missing or is not an object.
    """
    detail = error_detail(body)
    if detail is not None:
        raise error_for(detail, operation=operation)
    key = response_key(method)
    root = body.get(key) if isinstance(body, Mapping) else None
    if not isinstance(root, dict):
        raise DataError(f"the answer has no {key!r} object", operation=operation)
    return root


def nested_list(
    container: Mapping[str, Any], outer: str, inner: str, *, operation: str | None = None
) -> list[Record]:
    """Return ``container[outer][inner]`` as a list of objects (absent: empty).

    TOP leaves the outer key out when the list is empty, and some answers give a single
    object instead of a one-element list; both are accepted. Anything else that is not
    an object is a :class:`DataError`.
    """
    wrapper = container.get(outer)
    if wrapper is None or wrapper == "":
        return []
    if not isinstance(wrapper, Mapping):
        raise DataError(f"{outer!r} is not an object", operation=operation)
    items = wrapper.get(inner)
    if items is None:
        return []
    if isinstance(items, Mapping):
        items = [items]
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise DataError(f"{outer}.{inner} is not a list of objects", operation=operation)
    return items


class TopClassifier(HttpStatusClassifier):
    """Reads TOP's ``error_response`` (sent with HTTP 200) as well as HTTP failures.

    A successful status with a body that is not JSON (an HTML error page, a body cut
    short) is an :class:`UnreadableResponseError`, which the transport retries.
    """

    def classify(self, response: httpx.Response, operation: str) -> ChannelError | None:
        """Return the error for an HTTP failure or an ``error_response``; ``None`` otherwise."""
        failed = self.classify_status(response, operation)
        if failed is not None:
            return failed
        try:
            body = decode_json(response)
        except ValueError:
            return UnreadableResponseError(
                f"the answer is not JSON ({len(response.content)} bytes)",
                operation=operation,
                status_code=response.status_code,
            )
        detail = error_detail(body)
        if detail is None:
            return None
        return error_for(detail, operation=operation)
