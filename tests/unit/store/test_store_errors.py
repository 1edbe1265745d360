"""Naming the store's database errors without a statement's values."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError, OperationalError

from channelsync.store.sql.engine import build_engine
from channelsync.store.sql.errors import described, is_lock_conflict

BUYER = {"name": "Wang Fang", "phone": "13800138000"}


def test_a_deadlock_is_a_lock_conflict_named_without_the_statements_values() -> None:
    error = OperationalError(
        "INSERT INTO orders (buyer) VALUES (%(name)s)",
        BUYER,
        psycopg.errors.DeadlockDetected("deadlock detected\nDETAIL:  Process 1 waits"),
    )
    assert is_lock_conflict(error)
    assert described(error) == "DeadlockDetected: deadlock detected"
    assert "Wang" not in described(error)
    assert "13800138000" in str(error)  # what SQLAlchemy's own message would have logged


def test_a_serialization_failure_is_one_too_and_other_errors_are_not() -> None:
    assert is_lock_conflict(psycopg.errors.SerializationFailure("could not serialize"))
    unique = IntegrityError("INSERT ...", BUYER, psycopg.errors.UniqueViolation("duplicate key"))
    assert not is_lock_conflict(unique)
    assert not is_lock_conflict(ValueError("bad order"))
    assert described(unique) == "UniqueViolation: duplicate key"
    assert described(ValueError("bad order")) == "ValueError: bad order"


def test_a_failed_statement_of_the_store_shows_no_values(tmp_path: Path) -> None:
    engine = build_engine(f"sqlite:///{tmp_path / 'state.db'}")
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE buyers (phone TEXT UNIQUE)"))
        connection.execute(text("INSERT INTO buyers VALUES (:phone)"), {"phone": "13800138000"})
    with pytest.raises(IntegrityError) as raised, engine.begin() as connection:
        connection.execute(text("INSERT INTO buyers VALUES (:phone)"), {"phone": "13800138000"})
    engine.dispose()
    assert "13800138000" not in str(raised.value)
    assert "parameters hidden" in str(raised.value)
