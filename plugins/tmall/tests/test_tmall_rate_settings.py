"""Rates granted beyond TOP's defaults are settings of the shop, per operation."""

from __future__ import annotations

import pytest
from channelsync_tmall import TmallChannel

from channelsync.errors import ConfigurationError

from .conftest import MakeChannel

WRITE = "taobao.skus.quantity.update"


async def test_a_granted_rate_replaces_the_default_for_that_operation_only(
    make_channel: MakeChannel,
) -> None:
    default = make_channel()
    granted = make_channel(rate_limits={WRITE: {"rate": 20, "burst": 20}})
    async with default, granted:
        assert default.http.rate_limiter.bucket(default.name, WRITE).rate == 5.0
        bucket = granted.http.rate_limiter.bucket(granted.name, WRITE)
        assert (bucket.rate, bucket.burst) == (20.0, 20)
        # Every other operation keeps the documented limit.
        read = "taobao.trades.sold.increment.get"
        assert granted.http.rate_limiter.bucket(granted.name, read).rate == (
            TmallChannel.limits.rate_limit(read).rate
        )


def test_an_operation_the_plugin_never_calls_is_refused_by_name(
    make_channel: MakeChannel,
) -> None:
    with pytest.raises(ConfigurationError) as raised:
        make_channel(rate_limits={"taobao.skus.quantity.updat": {"rate": 20}})
    message = str(raised.value)
    assert "'taobao.skus.quantity.updat'" in message
    assert WRITE in message  # the operations it does call are listed
    assert raised.value.field == "rate_limits"


@pytest.mark.parametrize("rate", [0, -1, float("inf")])
def test_a_rate_that_is_not_a_positive_finite_number_is_refused(
    make_channel: MakeChannel, rate: float
) -> None:
    with pytest.raises(ValueError, match="rate"):
        make_channel(rate_limits={WRITE: {"rate": rate}})
