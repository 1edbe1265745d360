"""Scrub secrets out of anything that may reach a log line or an exception.

Two complementary rules: values stored under a secret-looking *key* (query
parameter, form field, header, JSON member) are masked wherever they appear, and
*known secret values* (the credentials a channel resolved) are masked anywhere in
free text, including their URL-encoded spellings.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

import httpx

__all__ = ["DEFAULT_SECRET_KEYS", "MASK", "RedactingFilter", "Redactor"]

MASK = "***"

#: Key names whose values are always masked (compared case-insensitively, ``-`` = ``_``).
DEFAULT_SECRET_KEYS: frozenset[str] = frozenset(
    {
        "access_token",
        "app_secret",
        "authorization",
        "client_secret",
        "cookie",
        "lwa_client_secret",
        "password",
        "proxy_authorization",
        "refresh_token",
        "secret",
        "session",
        "session_key",
        "set_cookie",
        "sign",
        "signature",
        "token",
        "x_amz_access_token",
        "x_amz_security_token",
    }
)

# Scrubbing very short values would mask ordinary words and digits all over the logs.
_MIN_SECRET_LENGTH = 4


def _normalise(key: str) -> str:
    return key.strip().lower().replace("-", "_")


class Redactor:
    """Masks secrets by key name and by known value.

    ``keys`` extends :data:`DEFAULT_SECRET_KEYS` (or replaces it when
    ``include_defaults`` is false). Its repr never shows the registered values.
    """

    def __init__(self, keys: Iterable[str] = (), *, include_defaults: bool = True) -> None:
        base = DEFAULT_SECRET_KEYS if include_defaults else frozenset()
        self._keys: set[str] = set(base) | {_normalise(k) for k in keys}
        self._secrets: set[str] = set()
        # Longest first, so a secret that contains another is masked whole.
        self._ordered: list[str] = []

    def __repr__(self) -> str:
        return f"Redactor(keys={len(self._keys)}, secrets={len(self._secrets)})"

    def add_key(self, *names: str) -> None:
        """Treat values stored under ``names`` as secret from now on."""
        self._keys.update(_normalise(n) for n in names)

    def add_secret(self, value: str | None) -> None:
        """Register a known secret value; it is masked in all text from now on.

        Empty and very short values (under four characters) are ignored.
        """
        if not value or len(value) < _MIN_SECRET_LENGTH:
            return
        # A secret travels URL-encoded in queries and form bodies.
        spellings = {value, quote(value, safe=""), quote_plus(value, safe="")}
        self._secrets.update(spellings)
        self._ordered = sorted(self._secrets, key=len, reverse=True)

    def is_secret_key(self, name: str) -> bool:
        """Return whether values under ``name`` are masked."""
        return _normalise(name) in self._keys

    def redact_text(self, text: str) -> str:
        """Replace every occurrence of a registered secret value with ``***``."""
        for secret in self._ordered:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def redact_url(self, url: str | httpx.URL) -> str:
        """Return ``url`` with secret query parameters and any password masked."""
        text = str(url)
        try:
            parts = urlsplit(text)
        except ValueError:
            return self.redact_text(text)
        netloc, query = parts.netloc, parts.query
        userinfo, at, host = netloc.rpartition("@")
        if at and ":" in userinfo:
            netloc = f"{userinfo.split(':', 1)[0]}:{MASK}@{host}"
        if query:
            pairs = parse_qsl(query, keep_blank_values=True)
            if any(self.is_secret_key(k) for k, _ in pairs):
                # Re-encoded only when something is masked; "***" is kept readable.
                query = urlencode(
                    [(k, MASK if self.is_secret_key(k) else v) for k, v in pairs], safe="*"
                )
        return self.redact_text(urlunsplit(parts._replace(netloc=netloc, query=query)))

    def redact_headers(self, headers: Mapping[str, str] | httpx.Headers) -> dict[str, str]:
        """Return the headers as a dict with secret ones masked."""
        items = headers.multi_items() if isinstance(headers, httpx.Headers) else headers.items()
        out: dict[str, str] = {}
        for key, value in items:
            masked = MASK if self.is_secret_key(key) else self.redact_text(value)
            out[key] = f"{out[key]}, {masked}" if key in out else masked
        return out

    def redact_mapping(self, mapping: Mapping[str, Any]) -> dict[str, Any]:
        """Return a deep copy of ``mapping`` with secret members masked (nested too)."""
        return {
            key: MASK if self.is_secret_key(str(key)) else self._redact_value(value)
            for key, value in mapping.items()
        }

    def _redact_value(self, value: Any) -> Any:
        if isinstance(value, Mapping):
            return self.redact_mapping(value)
        if isinstance(value, list | tuple):
            return [self._redact_value(v) for v in value]
        if isinstance(value, str):
            return self.redact_text(value)
        return value

    def redact_body(self, content: bytes, content_type: str | None) -> str:
        """Return a printable, masked rendering of a request or response body.

        Form-urlencoded and JSON bodies are masked by key and value; anything else
        is decoded leniently and masked by value.
        """
        text = content.decode("utf-8", errors="replace")
        if not text:
            return ""
        kind = (content_type or "").split(";", 1)[0].strip().lower()
        if kind == "application/x-www-form-urlencoded":
            pairs = [
                (k, MASK if self.is_secret_key(k) else v)
                for k, v in parse_qsl(text, keep_blank_values=True)
            ]
            return self.redact_text(urlencode(pairs, safe="*"))
        if kind == "application/json" or kind.endswith("+json"):
            try:
                parsed = json.loads(text)
            except ValueError:
                return self.redact_text(text)
            return self.redact_text(
                json.dumps(self._redact_value(parsed), ensure_ascii=False, sort_keys=False)
            )
        return self.redact_text(text)


class RedactingFilter(logging.Filter):
    """A logging filter that masks registered secret values in every record.

    The message is rendered (``msg % args``) and scrubbed, and exception text is
    rendered and scrubbed too, so handlers never see the raw values.
    """

    def __init__(self, redactor: Redactor, name: str = "") -> None:
        super().__init__(name)
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        """Scrub the record in place; never drops it."""
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            # A malformed format string: scrub what is there rather than fail logging.
            message = f"{record.msg} {record.args}"
        record.msg = self.redactor.redact_text(message)
        record.args = None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = self.redactor.redact_text(record.exc_text)
        return True
