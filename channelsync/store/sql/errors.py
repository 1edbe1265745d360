"""What the store's database errors mean to their callers, and how to name them safely.

A statement's error from SQLAlchemy carries the statement and its values; the values
of an order's insert are a buyer's name, phone and address. :func:`described` names an
error without them, for logs and parked records. :func:`is_lock_conflict` tells a
transaction PostgreSQL broke off to end a deadlock (or a serialization conflict): it
did nothing, and the same work succeeds when tried again, so it is never the fault of
the order or the entry being written. :class:`StoreUnavailableError` is a store whose
database cannot be reached at all.
"""

from __future__ import annotations

from sqlalchemy.engine import make_url
from sqlalchemy.exc import StatementError

from channelsync.errors import ChannelSyncError

__all__ = ["StoreUnavailableError", "described", "is_lock_conflict"]

# SQLSTATE codes: serialization_failure, deadlock_detected.
_CONFLICTS = frozenset({"40001", "40P01"})


def _cause(error: BaseException) -> BaseException | None:
    return getattr(error, "orig", None) or error.__cause__


def is_lock_conflict(error: BaseException) -> bool:
    """Whether ``error`` is PostgreSQL breaking a deadlock or a serialization conflict.

    Such a transaction did nothing and succeeds when run again; the error says nothing
    about the work itself.
    """
    for found in (error, _cause(error)):
        if found is not None and getattr(found, "sqlstate", None) in _CONFLICTS:
            return True
    return False


def described(error: BaseException) -> str:
    """Return ``error`` named by its class and first line, without a statement's values."""
    if isinstance(error, StatementError) and error.orig is not None:
        cause = error.orig
        first = str(cause).strip().splitlines()[0] if str(cause).strip() else ""
        return f"{type(cause).__name__}: {first}" if first else type(cause).__name__
    return f"{type(error).__name__}: {error}"


class StoreUnavailableError(ChannelSyncError):
    """The store's database cannot be reached (refused, unknown host, no answer in time).

    The message names the database by its URL, password hidden, and the driver's reason.
    """

    def __init__(self, url: str, error: BaseException) -> None:
        self.url = safe_url(url)
        super().__init__(f"cannot reach the store's database at {self.url}: {described(error)}")


def safe_url(url: str) -> str:
    """Return a store URL fit for a message: its password hidden."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a URL SQLAlchemy cannot parse is shown by its scheme alone
        return url.partition("://")[0] + "://…"
