"""Splitting many updates into the batches a marketplace accepts, with per-item results."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

from channelsync.errors import AuthenticationError, AuthorizationError, ChannelError, DataError
from channelsync.models import ItemError, UpdateResult


class _Keyed(Protocol):
    """The identifying fields every update model has."""

    @property
    def item_id(self) -> str: ...
    @property
    def sku_id(self) -> str | None: ...
    @property
    def merchant_code(self) -> str | None: ...


UpdateT = TypeVar("UpdateT", bound=_Keyed)


async def run_batches(
    updates: Sequence[UpdateT],
    batch_size: int,
    send: Callable[[Sequence[UpdateT]], Awaitable[list[UpdateResult]]],
) -> list[UpdateResult]:
    """Send ``updates`` in batches of ``batch_size``; return one result per update, in order.

    A batch that fails as a whole (the call itself failed) marks its updates failed
    with the error's code and retryability. When the shop's credentials or rights
    were refused, the remaining batches are not sent, since they would fail the same
    way; any other failure belongs to its batch (on a one-SKU-per-call marketplace,
    to that SKU) and the rest are still sent.
    """
    results: list[UpdateResult] = []
    stop: ChannelError | None = None
    for start in range(0, len(updates), batch_size):
        batch = updates[start : start + batch_size]
        if stop is None:
            try:
                answered = await send(batch)
                if len(answered) != len(batch):
                    raise DataError(
                        f"the channel answered {len(answered)} results for a batch of {len(batch)}"
                    )
            except ChannelError as error:
                answered = [_failed(update, error) for update in batch]
                if isinstance(error, AuthenticationError | AuthorizationError):
                    stop = error
        else:
            answered = [_failed(update, stop) for update in batch]
        results.extend(answered)
    return results


def _failed(update: _Keyed, error: ChannelError) -> UpdateResult:
    return UpdateResult(
        item_id=update.item_id,
        sku_id=update.sku_id,
        merchant_code=update.merchant_code,
        error=ItemError(
            code=error.code,
            message=str(error),
            retryable=error.retryable,
            authentication=isinstance(error, AuthenticationError),
        ),
    )
