"""Batch splitting: which whole-batch failures stop the remaining batches."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from channelsync.channels._batching import run_batches
from channelsync.errors import (
    AuthenticationError,
    ChannelError,
    InvalidRequestError,
    NotFoundError,
    TransientError,
)
from channelsync.models import StockUpdate, UpdateResult


def _updates(*skus: str) -> list[StockUpdate]:
    return [StockUpdate(item_id="1", sku_id=sku, quantity=1) for sku in skus]


def _sender(failing: dict[str, ChannelError], sent: list[str]):  # type: ignore[no-untyped-def]
    async def send(batch: Sequence[StockUpdate]) -> list[UpdateResult]:
        sku = batch[0].sku_id
        assert sku is not None
        sent.append(sku)
        if sku in failing:
            raise failing[sku]
        return [UpdateResult.success(update) for update in batch]

    return send


@pytest.mark.parametrize(
    "error",
    [
        NotFoundError("no such SKU", code="isv.sku-not-exist"),
        InvalidRequestError("bad quantity"),
        TransientError("gateway busy"),
    ],
)
async def test_a_failure_of_one_sku_does_not_stop_the_others(error: ChannelError) -> None:
    sent: list[str] = []
    results = await run_batches(_updates("a", "b", "c"), 1, _sender({"b": error}, sent))
    assert sent == ["a", "b", "c"]
    assert [r.ok for r in results] == [True, False, True]
    assert results[1].error is not None
    assert results[1].error.retryable is error.retryable


async def test_refused_credentials_stop_the_remaining_batches() -> None:
    sent: list[str] = []
    refused = AuthenticationError("session expired", code="27")
    results = await run_batches(_updates("a", "b", "c"), 1, _sender({"a": refused}, sent))
    assert sent == ["a"]
    assert [r.ok for r in results] == [False, False, False]
    assert all(r.error is not None and r.error.code == "27" for r in results)
