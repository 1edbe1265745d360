"""How a failed step is retried: the daemon's backoff, and never what cannot work."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import psycopg
import pytest
import sqlalchemy.exc
from procrastinate import exceptions
from procrastinate.jobs import Job

from channelsync.errors import ConfigurationError, RateLimitedError, TransientError, UsageError
from channelsync.workers.app import StepRetry

RETRY = StepRetry(first=5, ceiling=60, retries=5)


def wait(exception: BaseException, attempts: int) -> float | None:
    """Return in how many seconds the step is run again (``None``: it fails)."""
    job = Job(
        id=1,
        queue="channelsync",
        lock="channel:tmall:flush",
        queueing_lock="flush:tmall",
        task_name="channelsync.flush",
        attempts=attempts,
    )
    decision = RETRY.get_retry_decision(exception=exception, job=job)
    if decision is None:
        return None
    assert decision.retry_at is not None
    return (decision.retry_at - datetime.now(UTC)).total_seconds()


@pytest.mark.parametrize(("attempts", "seconds"), [(0, 5), (1, 10), (2, 20), (3, 40), (4, 60)])
def test_a_failed_step_waits_its_interval_doubled_each_time_up_to_the_ceiling(
    attempts: int, seconds: float
) -> None:
    assert wait(TransientError("down"), attempts) == pytest.approx(seconds, abs=0.5)


def test_after_its_retries_a_step_fails_and_waits_for_the_clock() -> None:
    assert wait(TransientError("down"), 5) is None


def test_a_throttled_step_waits_at_least_what_the_marketplace_asked() -> None:
    assert wait(RateLimitedError("slow down", retry_after=30), 0) == pytest.approx(30, abs=0.5)
    assert wait(RateLimitedError("slow down", retry_after=1), 2) == pytest.approx(20, abs=0.5)


@pytest.mark.parametrize("error", [ConfigurationError("no such channel"), UsageError("no lock")])
def test_a_step_that_cannot_work_here_is_not_retried(error: Exception) -> None:
    assert wait(error, 0) is None


@pytest.mark.parametrize("error", [asyncio.CancelledError(), exceptions.JobAborted()])
def test_a_step_cut_short_by_a_shutdown_is_queued_again_at_once(error: BaseException) -> None:
    assert wait(error, 4) == pytest.approx(0, abs=0.5)


@pytest.mark.parametrize(
    "cause", [psycopg.errors.DeadlockDetected, psycopg.errors.SerializationFailure]
)
def test_a_transaction_broken_by_postgresql_goes_again_in_a_second(
    cause: type[psycopg.Error],
) -> None:
    error = sqlalchemy.exc.OperationalError("UPDATE bindings ...", {}, cause("conflict"))
    assert wait(error, 3) == pytest.approx(1, abs=0.5)
    # Any other database failure keeps the step's backoff.
    other = sqlalchemy.exc.OperationalError("UPDATE bindings ...", {}, psycopg.OperationalError())
    assert wait(other, 3) == pytest.approx(40, abs=0.5)
