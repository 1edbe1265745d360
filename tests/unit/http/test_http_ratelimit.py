from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from channelsync.channels.capabilities import RateLimit
from channelsync.clock import FakeClock
from channelsync.http import RateLimiter, TokenBucket


def test_bucket_paces_n_requests_exactly(clock, rate):
    bucket = TokenBucket(rate(rate=2.0, burst=3), clock)
    granted: list[float] = []

    async def main():
        for _ in range(7):
            await bucket.acquire()
            granted.append(clock.monotonic())

    asyncio.run(main())
    # Three from the burst at once, then one every 1/rate seconds.
    assert granted == pytest.approx([0.0, 0.0, 0.0, 0.5, 1.0, 1.5, 2.0])
    assert sum(clock.sleeps) == pytest.approx((7 - 3) / 2.0)
    assert len(clock.sleeps) == 4


def test_bucket_refills_while_idle_up_to_burst(clock, rate):
    bucket = TokenBucket(rate(rate=1.0, burst=2), clock)

    async def main():
        await bucket.acquire()
        await bucket.acquire()
        clock.advance(100)  # idle: refills, but only to the burst
        for _ in range(3):
            await bucket.acquire()

    asyncio.run(main())
    assert clock.sleeps == pytest.approx([1.0])


def test_acquire_returns_time_waited(clock, rate):
    bucket = TokenBucket(rate(rate=4.0, burst=1), clock)

    async def main():
        return [await bucket.acquire() for _ in range(3)]

    assert asyncio.run(main()) == pytest.approx([0.0, 0.25, 0.25])


def test_client_requests_wait_exactly_the_bucket_time(make_client, clock, limits, rate):
    def handler(request):
        return httpx.Response(200)

    async def main():
        async with make_client(handler, limits=limits(**{"stock.set": rate(4.0, 2)})) as http:
            for _ in range(6):
                await http.request("POST", "/stock", operation="stock.set")
            # A different operation key has its own (default, generous) bucket.
            await http.request("GET", "/other", operation="other")

    asyncio.run(main())
    assert clock.monotonic() == pytest.approx((6 - 2) / 4.0)


def test_the_stated_rate_is_followed_down_and_up(clock, rate):
    bucket = TokenBucket(rate(rate=10.0, burst=1), clock)

    async def main():
        await bucket.acquire()
        bucket.follow(2.0)
        await bucket.acquire()
        assert clock.sleeps[-1] == pytest.approx(0.5)
        bucket.follow(50.0)  # a seller granted more than the default plan
        assert bucket.rate == 50.0
        await bucket.acquire()
        assert clock.sleeps[-1] == pytest.approx(0.02)

    asyncio.run(main())
    for nonsense in (0.0, -3.0, math.inf, math.nan):
        bucket.follow(nonsense)
        assert bucket.rate == 50.0
    assert bucket.declared_rate == 10.0


def test_rate_limit_header_tightens_the_client(make_client, clock, limits, rate):
    def handler(request):
        return httpx.Response(200, headers={"x-amzn-RateLimit-Limit": "0.5"})

    async def main():
        async with make_client(handler, limits=limits(rate(10.0, 1))) as http:
            for _ in range(4):
                await http.request("GET", "/orders", operation="getOrders")
            return http.rate_limiter.bucket("tmall", "getOrders").rate

    assert asyncio.run(main()) == 0.5
    # Untightened this would take 0.3 s; at 0.5/s each further call waits 2 s.
    assert clock.monotonic() == pytest.approx(6.0)


def test_custom_rate_hint_and_disabling_it(make_client, clock, limits, rate):
    def handler(request):
        return httpx.Response(200, headers={"x-amzn-RateLimit-Limit": "0.5", "x-rate": "5"})

    async def main(hint):
        async with make_client(
            handler, limits=limits(rate(10.0, 1)), rate_limit_from_response=hint
        ) as http:
            await http.request("GET", "/", operation="op")
            return http.rate_limiter.bucket("tmall", "op").rate

    assert asyncio.run(main(None)) == 10.0
    assert asyncio.run(main(lambda r: float(r.headers["x-rate"]))) == 5.0


def test_concurrent_acquires_respect_the_bucket_in_arrival_order(clock, rate):
    bucket = TokenBucket(rate(rate=5.0, burst=2), clock)
    granted: list[tuple[int, float]] = []

    async def one(index):
        await bucket.acquire()
        granted.append((index, clock.monotonic()))

    async def main():
        await asyncio.gather(*(one(i) for i in range(10)))

    asyncio.run(main())
    # First come, first served; each waiter sleeps once, for exactly its share.
    assert [index for index, _ in granted] == list(range(10))
    expected = [0.0, 0.0] + [0.2 * n for n in range(1, 9)]
    assert [at for _, at in granted] == pytest.approx(expected)
    assert clock.sleeps == pytest.approx([0.2] * 8)


def test_concurrent_client_requests_respect_the_bucket(make_client, clock, limits, rate):
    sent: list[float] = []

    def handler(request):
        sent.append(clock.monotonic())
        return httpx.Response(200)

    async def main():
        async with make_client(handler, limits=limits(rate(2.0, 3))) as http:
            await asyncio.gather(*(http.request("GET", "/", operation="op") for _ in range(9)))

    asyncio.run(main())
    assert sorted(sent) == pytest.approx([0, 0, 0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0])
    # Never more than the burst within any 1/rate window.
    for i in range(len(sent) - 3):
        assert sorted(sent)[i + 3] - sorted(sent)[i] >= 0.5 - 1e-9


def test_penalise_blocks_until_the_wait_has_passed(clock, rate):
    bucket = TokenBucket(rate(rate=1.0, burst=5), clock)

    async def main():
        await bucket.acquire()
        bucket.penalise(10.0)
        assert bucket.tokens == 0.0
        await bucket.acquire()
        assert clock.monotonic() == pytest.approx(10.0)
        await bucket.acquire()  # then the normal pace, not a fresh burst

    asyncio.run(main())
    assert clock.sleeps == pytest.approx([10.0, 1.0])


def test_shorter_penalty_does_not_shorten_a_longer_one(clock, rate):
    bucket = TokenBucket(rate(rate=1.0, burst=1), clock)
    bucket.penalise(30.0)
    bucket.penalise(5.0)
    asyncio.run(bucket.acquire())
    assert clock.monotonic() == pytest.approx(30.0)


def test_drain_empties_the_burst(clock, rate):
    bucket = TokenBucket(rate(rate=4.0, burst=4), clock)
    bucket.drain()
    asyncio.run(bucket.acquire())
    assert clock.sleeps == pytest.approx([0.25])


def test_throttle_response_penalises_the_bucket_for_other_callers(make_client, clock, limits, rate):
    sent: list[tuple[str, float]] = []
    first = True

    def handler(request):
        nonlocal first
        sent.append((request.url.path, clock.monotonic()))
        if first:
            first = False
            return httpx.Response(429, headers={"Retry-After": "20"})
        return httpx.Response(200)

    async def main():
        async with make_client(handler, limits=limits(rate(100.0, 10))) as http:
            await http.request("GET", "/a", operation="op")
            await http.request("GET", "/b", operation="op")

    asyncio.run(main())
    assert sent == [("/a", 0.0), ("/a", 20.0), ("/b", pytest.approx(20.01))]


def test_rate_limiter_keeps_one_bucket_per_channel_and_operation(clock, limits, rate):
    limiter = RateLimiter(clock)
    limiter.configure("tmall", limits(rate(5.0, 5), **{"taobao.item.get": rate(1.0, 1)}))
    limiter.configure("jd", limits(rate(2.0, 2)))

    item = limiter.bucket("tmall", "taobao.item.get")
    assert limiter.bucket("tmall", "taobao.item.get") is item
    assert (item.rate, item.burst) == (1.0, 1)
    other = limiter.bucket("tmall", "taobao.trades.sold.get")
    assert (other.rate, other.burst) == (5.0, 5)
    assert limiter.bucket("jd", "taobao.item.get").rate == 2.0
    with pytest.raises(KeyError, match="pdd"):
        limiter.bucket("pdd", "x")

    async def main():
        await limiter.acquire("tmall", "taobao.item.get")
        await limiter.acquire("tmall", "taobao.item.get")

    asyncio.run(main())
    assert clock.sleeps == pytest.approx([1.0])


def test_shared_limiter_paces_two_clients_of_one_channel(make_client, clock, limits, rate):
    limiter = RateLimiter(clock)

    def handler(request):
        return httpx.Response(200)

    async def main():
        a = make_client(handler, limits=limits(rate(1.0, 1)), rate_limiter=limiter)
        b = make_client(handler, limits=limits(rate(1.0, 1)), rate_limiter=limiter)
        async with a, b:
            await a.request("GET", "/", operation="op")
            await b.request("GET", "/", operation="op")

    asyncio.run(main())
    assert clock.monotonic() == pytest.approx(1.0)


@pytest.mark.parametrize(("r", "burst"), [(0.0, 1), (-1.0, 1), (math.inf, 1), (1.0, 0)])
def test_bucket_rejects_bad_limits(clock, rate, r, burst):
    with pytest.raises(ValueError, match="must be"):
        TokenBucket(rate(r, burst), clock)


def test_accepts_real_channel_limits(clock):
    capabilities = pytest.importorskip("channelsync.channels.capabilities", exc_type=ImportError)
    limits = capabilities.ChannelLimits(
        rate_limits={"getOrders": capabilities.RateLimit.per_minute(30, burst=2)},
        default_rate_limit=capabilities.RateLimit(rate=5.0, burst=5),
    )
    limiter = RateLimiter(clock)
    limiter.configure("amazon", limits)
    assert limiter.bucket("amazon", "getOrders").rate == pytest.approx(0.5)
    assert limiter.bucket("amazon", "other").burst == 5


async def test_a_wait_below_the_clocks_resolution_never_spins() -> None:
    # Far from zero a float clock cannot move by a picosecond: a bucket short of a
    # token by less than that once waited forever for time that never came.
    clock = FakeClock()
    clock.advance(17643.656772486775)
    bucket = TokenBucket(RateLimit(rate=900.0, burst=10), clock)
    bucket.drain()
    async with asyncio.timeout(10):
        for _ in range(20_000):
            await bucket.acquire()
    # Still paced: 20,000 tokens at 900 a second, less the 0 left after the drain.
    assert clock.monotonic() - 17643.656772486775 == pytest.approx(20_000 / 900, rel=1e-3)


def test_a_restored_level_refills_for_the_time_since_and_never_adds_tokens(
    clock, limits, rate
) -> None:
    limiter = RateLimiter(clock)
    limiter.configure("amazon", limits(rate(1.0, 1), createFeed=rate(0.5, 5)))
    limiter.restore("amazon", {"createFeed": (1.0, 2.0)})  # saved 2 s ago at 1 token
    assert limiter.levels("amazon") == {"createFeed": pytest.approx(2.0)}
    # A saved level higher than what the bucket holds leaves it alone.
    bucket = limiter.bucket("amazon", "createFeed")
    limiter.restore("amazon", {"createFeed": (5.0, 0.0)})
    assert bucket.tokens == pytest.approx(2.0)
    # Nonsense is ignored rather than trusted.
    limiter.restore("amazon", {"createFeed": (float("nan"), 0.0)})
    assert bucket.tokens == pytest.approx(2.0)


def test_a_full_buckets_refill_starts_when_its_first_request_lands(clock, rate) -> None:
    bucket = TokenBucket(rate(rate=5.0, burst=5), clock)

    async def main() -> list[float]:
        sent = []
        for _ in range(7):
            await bucket.acquire()
            sent.append(clock.monotonic())
            if len(sent) == 1:
                clock.advance(0.5)  # the first request's handshake and flight
            bucket.landed()
        return sent

    sent = asyncio.run(main())
    # The marketplace counts from the first arrival (0.5 s): four more at once, then
    # one every 1/rate seconds from there; counted from the take (0 s) the bucket would
    # have let two more through at once and the marketplace would have throttled one.
    assert sent == pytest.approx([0.0, 0.5, 0.5, 0.5, 0.5, 0.7, 0.9])


def test_a_request_taken_near_full_that_lands_late_holds_the_bucket_back(clock, rate) -> None:
    bucket = TokenBucket(rate(rate=5.0, burst=5), clock)

    async def main() -> list[float]:
        await bucket.acquire()  # full: 4 left
        bucket.landed()
        clock.advance(0.1)  # 4.5: not full, so this is not the first of a burst
        await bucket.acquire()
        clock.advance(0.5)  # a busy loop and a slow network: it arrives at 0.6
        bucket.landed()
        sent = []
        for _ in range(6):
            await bucket.acquire()
            sent.append(clock.monotonic())
            bucket.landed()
        return sent

    sent = asyncio.run(main())
    # The marketplace was full until the second request arrived at 0.6 and held four
    # after it: four more at once, then one every 1/rate. Counted from the take (0.1)
    # the bucket would be full again and let five through at once, one too many.
    assert sent == pytest.approx([0.6, 0.6, 0.6, 0.6, 0.8, 1.0])


def test_a_withdrawn_token_is_not_taken_for_a_request_on_its_way(clock, rate) -> None:
    bucket = TokenBucket(rate(rate=5.0, burst=5), clock)

    async def main() -> float:
        await bucket.acquire()
        bucket.withdraw()  # never sent (a URL that cannot be built)
        await bucket.acquire()
        bucket.landed()
        clock.advance(0.2)
        await bucket.acquire()
        clock.advance(0.2)
        bucket.landed()  # this request's, with none given out after it: at most 4
        return bucket.tokens

    # Had the withdrawn token stayed, each landing would be taken for the request before
    # it, with one given out since: at most 3.
    assert asyncio.run(main()) == pytest.approx(4.0)
