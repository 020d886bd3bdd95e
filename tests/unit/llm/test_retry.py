"""The retry policy: full-jitter backoff replayed exactly with a seeded RNG and a fake clock whose sleep records."""

from __future__ import annotations

import asyncio
import random

import pytest

from tests.support.fake_clock import FakeClock
from tracewatch.errors import ConfigError
from tracewatch.llm import ModelError, RetryPolicy
from tracewatch.llm._retry import with_retries


def flaky(*errors: ModelError, value: str = "answer"):  # type: ignore[no-untyped-def]
    """An attempt function raising `errors` in turn, then returning `value`; records attempt numbers."""
    seen: list[int] = []

    async def attempt(number: int) -> str:
        seen.append(number)
        if number <= len(errors):
            raise errors[number - 1]
        return value

    return attempt, seen


def transient(status: int = 503, retry_after_s: float | None = None) -> ModelError:
    return ModelError(f"HTTP {status}", transient=True, status=status, retry_after_s=retry_after_s)


def test_delays_are_full_jitter_under_an_exponential_cap() -> None:
    policy = RetryPolicy(max_attempts=10, base_delay_s=0.5, max_delay_s=3.0)
    twin = random.Random(7)
    delays = [policy.delay_s(n, random.Random(7)) for n in range(1, 7)]
    # the same seed gives the same draw: uniform(0, cap) with caps 0.5, 1, 2, 3, 3, 3
    assert delays == [random.Random(7).uniform(0, cap) for cap in (0.5, 1.0, 2.0, 3.0, 3.0, 3.0)]
    many = [policy.delay_s(3, twin) for _ in range(2000)]
    assert 0 <= min(many) < 0.1 and 1.9 < max(many) <= 2.0  # spread over the whole interval


def test_a_retry_after_replaces_the_exponential_schedule() -> None:
    policy = RetryPolicy(base_delay_s=0.1, max_delay_s=5.0)
    for attempt in (1, 4, 9):  # the server's wait plus a small jitter, however many attempts came before
        assert policy.delay_s(attempt, random.Random(1), retry_after_s=2.5) == 2.5 + random.Random(1).uniform(
            0, 0.1
        )
    assert policy.delay_s(1, random.Random(1), retry_after_s=60) == 5.0 + random.Random(1).uniform(0, 0.1)
    assert policy.delay_s(1, random.Random(1), retry_after_s=None) <= 0.1


def test_transient_errors_are_retried_with_the_seeded_delays() -> None:
    policy = RetryPolicy(max_attempts=5, base_delay_s=1.0, max_delay_s=8.0)
    clock = FakeClock()
    attempt, seen = flaky(transient(), transient(429, retry_after_s=3.0))
    done = asyncio.run(with_retries(attempt, policy, rng=random.Random(42), sleep=clock.sleep))
    assert (done.value, done.error, done.attempts) == ("answer", None, 3)
    assert seen == [1, 2, 3]
    twin = random.Random(42)
    assert clock.slept == [twin.uniform(0, 1.0), 3.0 + twin.uniform(0, 1.0)]


def test_a_terminal_error_is_not_retried() -> None:
    clock = FakeClock()
    bad = ModelError("HTTP 400: bad request", transient=False, status=400)
    attempt, seen = flaky(bad)
    done = asyncio.run(with_retries(attempt, RetryPolicy(), rng=random.Random(0), sleep=clock.sleep))
    assert (done.value, done.error, done.attempts) == (None, bad, 1)
    assert seen == [1] and clock.slept == []


def test_attempts_run_out() -> None:
    clock = FakeClock()
    attempt, seen = flaky(*[transient() for _ in range(10)])
    done = asyncio.run(
        with_retries(attempt, RetryPolicy(max_attempts=4), rng=random.Random(0), sleep=clock.sleep)
    )
    assert done.value is None and done.error is not None and done.error.status == 503
    assert done.attempts == 4 and seen == [1, 2, 3, 4] and len(clock.slept) == 3


def test_one_attempt_means_no_retry() -> None:
    attempt, seen = flaky(transient())
    done = asyncio.run(
        with_retries(attempt, RetryPolicy(max_attempts=1), rng=random.Random(0), sleep=FakeClock().sleep)
    )
    assert done.attempts == 1 and done.error is not None and seen == [1]


def test_other_exceptions_propagate() -> None:
    async def attempt(number: int) -> str:
        raise KeyError("a bug, not a model failure")

    with pytest.raises(KeyError):
        asyncio.run(with_retries(attempt, RetryPolicy(), rng=random.Random(0), sleep=FakeClock().sleep))


@pytest.mark.parametrize(
    "kwargs", [{"max_attempts": 0}, {"base_delay_s": -1}, {"base_delay_s": 5, "max_delay_s": 1}]
)
def test_bad_policies_are_refused(kwargs: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match="RetryPolicy"):
        RetryPolicy(**kwargs)  # type: ignore[arg-type]
