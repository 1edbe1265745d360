"""The AWS access keys the fake's SQS accepts (kept apart so the fake imports without moto)."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["AwsKey"]


@dataclass(frozen=True)
class AwsKey:
    """An access key SQS knows: its secret and, for temporary keys, the session token."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)
