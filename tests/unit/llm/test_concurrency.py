"""The adaptive limiter, the token buckets and the per-provider registry, with fake clocks where time matters."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from tests.support.fake_clock import FakeClock
from tracewatch.errors import ConfigError
from tracewatch.llm import CallParams, LimitSettings, ProviderLimits
from tracewatch.llm._buckets import TokenBucket
from tracewatch.llm._concurrency import AdaptiveLimiter
from tracewatch.llm._limits import estimate_tokens, provider_key


async def hold_many(limiter: AdaptiveLimiter, calls: int, hold_s: float) -> int:
    """Run `calls` calls through the limiter; the most that were ever in flight at once."""
    in_flight = peak = 0

    async def one() -> None:
        nonlocal in_flight, peak
        started = await limiter.acquire()
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(hold_s)
        in_flight -= 1
        limiter.release(started, "error")  # neutral: the capacity stays where it is

    await asyncio.gather(*(one() for _ in range(calls)))
    return peak


# ---- the limit ---------------------------------------------------------------------------------------------


def test_never_more_calls_in_flight_than_the_capacity() -> None:
    limiter = AdaptiveLimiter(4)
    assert asyncio.run(hold_many(limiter, 50, 0.001)) == 4
    assert limiter.stats().in_flight == 0


def test_a_429_cuts_the_limit_and_successes_grow_it_back() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, initial_concurrency=8, decrease_factor=0.5, clock=clock)

    async def scenario() -> list[int]:
        seen = []
        started = await limiter.acquire()
        clock.now += 1
        limiter.release(started, "rate_limited")
        seen.append(limiter.capacity)
        for _ in range(6):  # every slot taken, so the limit is "in use" and the success adds one
            tickets = [await limiter.acquire() for _ in range(limiter.capacity)]
            limiter.release(tickets[0], "ok")
            for ticket in tickets[1:]:
                limiter.release(ticket, "error")
            seen.append(limiter.capacity)
        return seen

    assert asyncio.run(scenario()) == [4, 5, 6, 7, 8, 8, 8]
    assert limiter.stats().cuts == 1


def test_a_success_while_the_limit_is_barely_used_does_not_grow_it() -> None:
    limiter = AdaptiveLimiter(16, initial_concurrency=8)

    async def scenario() -> None:
        started = await limiter.acquire()  # 1 of 8 slots: the limit is not what holds us back
        limiter.release(started, "ok")

    asyncio.run(scenario())
    assert limiter.capacity == 8


def test_the_limit_stays_between_its_floor_and_its_ceiling() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, min_concurrency=2, decrease_factor=0.1, clock=clock)

    async def scenario() -> None:
        for _ in range(5):
            started = await limiter.acquire()
            clock.now += 1
            limiter.release(started, "rate_limited")
        assert limiter.capacity == 2
        for _ in range(20):
            tickets = [await limiter.acquire() for _ in range(limiter.capacity)]
            for ticket in tickets:
                limiter.release(ticket, "ok")
        assert limiter.capacity == 4

    asyncio.run(scenario())


def test_429s_from_calls_sent_before_the_last_cut_cut_only_once() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, decrease_factor=0.5, clock=clock)

    async def scenario() -> None:
        window = [await limiter.acquire() for _ in range(4)]  # four calls sent at t=100
        clock.now += 1
        for started in window:  # all four come back 429: one signal
            limiter.release(started, "rate_limited")
        assert (limiter.capacity, limiter.stats().cuts) == (8, 1)
        clock.now += 1
        later = await limiter.acquire()  # sent after the cut: its 429 is news
        clock.now += 1
        limiter.release(later, "rate_limited")
        assert (limiter.capacity, limiter.stats().cuts) == (4, 2)

    asyncio.run(scenario())


def test_other_errors_neither_cut_nor_grow() -> None:
    limiter = AdaptiveLimiter(8, initial_concurrency=4)

    async def scenario() -> None:
        tickets = [await limiter.acquire() for _ in range(4)]
        for ticket in tickets:
            limiter.release(ticket, "error")

    asyncio.run(scenario())
    assert limiter.capacity == 4 and limiter.stats().cuts == 0


def test_retry_after_pauses_new_calls_to_the_provider_until_then() -> None:
    limiter = AdaptiveLimiter(8)

    async def scenario() -> tuple[float, float]:
        first = await limiter.acquire()
        other = await limiter.acquire()  # in flight while the 429 arrives: it goes on
        limiter.release(first, "rate_limited", retry_after_s=0.3)
        assert limiter.stats().paused_for_s > 0.25
        limiter.release(other, "ok")
        t0 = time.monotonic()
        started = await limiter.acquire()
        waited = time.monotonic() - t0
        limiter.release(started, "ok")
        t1 = time.monotonic()
        limiter.release(await limiter.acquire(), "ok")
        return waited, time.monotonic() - t1

    waited, after = asyncio.run(scenario())
    assert 0.28 <= waited < 1.0
    assert after < 0.05  # the pause is over


def test_a_retry_after_shorter_than_a_typical_call_cuts_but_does_not_pause() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock)

    async def scenario() -> tuple[float, float]:
        for _ in range(5):  # calls take 0.2 s
            started = await limiter.acquire()
            clock.now += 0.2
            limiter.release(started, "ok")
        limiter.release(await limiter.acquire(), "rate_limited", retry_after_s=0.1)
        short = limiter.stats()
        clock.now += 0.01
        limiter.release(await limiter.acquire(), "rate_limited", retry_after_s=2.0)
        return short.paused_for_s, limiter.stats().paused_for_s

    short_pause, long_pause = asyncio.run(scenario())
    assert short_pause == 0.0  # over before the calls in flight come back: only that request waits
    assert long_pause == pytest.approx(2.0)
    assert limiter.stats().cuts == 2 and limiter.stats().pauses == 1


def test_a_pause_is_capped_by_max_pause() -> None:
    limiter = AdaptiveLimiter(4, max_pause_s=0.1)

    async def scenario() -> float:
        limiter.release(await limiter.acquire(), "rate_limited", retry_after_s=3600)
        t0 = time.monotonic()
        limiter.release(await limiter.acquire(), "ok")
        return time.monotonic() - t0

    assert 0.08 <= asyncio.run(scenario()) < 1.0


def test_a_cancelled_waiter_does_not_keep_a_slot() -> None:
    limiter = AdaptiveLimiter(1)

    async def scenario() -> None:
        held = await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        limiter.release(held, "ok")
        limiter.release(await asyncio.wait_for(limiter.acquire(), 1), "ok")

    asyncio.run(scenario())


def test_a_waiter_cancelled_after_its_wake_hands_the_slot_on() -> None:
    limiter = AdaptiveLimiter(1)

    async def scenario() -> None:
        held = await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release(held, "ok")  # wakes `first` ...
        first.cancel()  # ... which is cancelled before it runs
        started = await asyncio.wait_for(second, 1)
        limiter.release(started, "ok")
        assert limiter.stats().in_flight == 0

    asyncio.run(scenario())


def test_one_limiter_serves_event_loops_on_several_threads() -> None:
    limiter = AdaptiveLimiter(3)
    lock = threading.Lock()
    in_flight = peak = done = 0

    async def one() -> None:
        nonlocal in_flight, peak, done
        started = await limiter.acquire()
        with lock:
            in_flight += 1
            peak = max(peak, in_flight)
        await asyncio.sleep(0.002)
        with lock:
            in_flight -= 1
            done += 1
        limiter.release(started, "ok")

    def loop_thread() -> None:
        async def many() -> None:
            await asyncio.gather(*(one() for _ in range(40)))

        asyncio.run(many())

    threads = [threading.Thread(target=loop_thread) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert done == 120
    assert peak == 3


def test_limiter_settings_are_checked() -> None:
    with pytest.raises(ConfigError, match="min_concurrency"):
        AdaptiveLimiter(4, min_concurrency=5)
    with pytest.raises(ConfigError, match="decrease_factor"):
        AdaptiveLimiter(4, decrease_factor=1.0)


# ---- token buckets -----------------------------------------------------------------------------------------


def test_a_bucket_paces_calls_at_its_rate() -> None:
    clock = FakeClock()
    bucket = TokenBucket(120, clock=clock, sleep=clock.sleep)  # 2 per second, bursts of 2

    async def scenario() -> list[float]:
        stamps = []
        for _ in range(6):
            await bucket.take(1)
            stamps.append(clock.now - 100.0)
        return stamps

    assert asyncio.run(scenario()) == pytest.approx([0, 0, 0.5, 1.0, 1.5, 2.0])


def test_a_bucket_charged_after_the_fact_makes_the_next_call_wait() -> None:
    clock = FakeClock()
    bucket = TokenBucket(600, burst=10, clock=clock, sleep=clock.sleep)  # 10 units per second

    async def scenario() -> float:
        await bucket.take(5)  # estimated 5 ...
        bucket.charge(10)  # ... used 15: the bucket is 5 in debt
        await bucket.take(5)
        return clock.now - 100.0

    assert asyncio.run(scenario()) == pytest.approx(1.0)  # from -5 to 5 at 10 per second


def test_a_call_larger_than_the_bucket_waits_for_a_full_bucket_and_then_goes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(60, burst=2, clock=clock, sleep=clock.sleep)

    async def scenario() -> None:
        await bucket.take(2)
        await bucket.take(5)

    asyncio.run(scenario())
    assert clock.now - 100.0 == pytest.approx(2.0)
    assert bucket.available == pytest.approx(-3.0)


def test_bucket_rates_are_checked() -> None:
    with pytest.raises(ConfigError):
        TokenBucket(0)


# ---- the registry ------------------------------------------------------------------------------------------


def test_provider_keys() -> None:
    assert (
        provider_key(CallParams(model="gpt-4o", api_base="http://127.0.0.1:9/v1/")) == "http://127.0.0.1:9/v1"
    )
    assert provider_key(CallParams(model="anthropic/claude-3-5-haiku")) == "anthropic"
    assert provider_key(CallParams(model="gpt-4o-mini")) == "gpt-4o-mini"


def test_calls_to_one_provider_share_a_throttle_and_a_model_override_gets_its_own() -> None:
    limits = ProviderLimits(
        LimitSettings(max_concurrency=8),
        {
            "openai/gpt-4o": LimitSettings(max_concurrency=2, requests_per_minute=60),
            "anthropic": LimitSettings(3),
        },
    )
    mini = limits.for_call(CallParams(model="openai/gpt-4o-mini"))
    nano = limits.for_call(CallParams(model="openai/gpt-4.1-nano"))
    big = limits.for_call(CallParams(model="openai/gpt-4o"))
    claude = limits.for_call(CallParams(model="anthropic/claude-3-5-haiku"))
    assert mini is nano and mini.limiter.max_concurrency == 8 and mini.requests is None
    assert big is not mini and big.limiter.max_concurrency == 2 and big.requests is not None
    assert claude.limiter.max_concurrency == 3


def test_token_estimate_uses_the_output_cap_or_what_was_seen() -> None:
    messages = [{"role": "user", "content": "x" * 40}]
    assert estimate_tokens(messages, 100, 7.0) == 110
    assert estimate_tokens(messages, None, 7.0) == 17
