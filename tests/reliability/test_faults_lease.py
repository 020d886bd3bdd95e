"""The lease on both stores (a local folder and the real local S3 server, SeaweedFS): a conditional create lets
exactly one of many racing writers through, a held lease stops or delays a second holder with a message naming
the first, and a lease whose holder died (expired, or its process gone) is taken over.

S3 conditional writes: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-writes.html
(`If-None-Match: *` on PutObject; 412 Precondition Failed when the key exists).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from typing import TypeVar

import pytest

from tracewatch.lease import (
    Lease,
    LeaseHeldError,
    LeaseSettings,
    acquire,
    current_lease,
    held,
    is_free,
    release,
    try_acquire,
)
from tracewatch.store import Store

T = TypeVar("T")


def race(n: int, attempt: Callable[[], T]) -> list[T]:
    """Run `attempt()` in `n` threads released together; their results in thread order."""
    barrier = threading.Barrier(n)
    results: dict[int, T] = {}

    def run(i: int) -> None:
        barrier.wait()
        results[i] = attempt()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return [results[i] for i in range(n)]


def test_create_exclusive_lets_exactly_one_racing_writer_through(store: Store) -> None:
    written = race(
        8, lambda: store.create_exclusive("claims/one.json", threading.current_thread().name.encode())
    )
    assert sum(1 for w in written if w) == 1
    assert store.read_bytes("claims/one.json").startswith(b"Thread")
    assert store.create_exclusive("claims/one.json", b"again") is False
    assert [o.key for o in store.list_objects("claims")] == ["claims/one.json"]  # no temp file left


def test_only_one_of_racing_runs_takes_a_free_lease(store: Store) -> None:
    outcomes = race(6, lambda: try_acquire(store, "nightly-2026-11-01", "racer", ttl_s=60))
    winners = [mine for mine, _ in outcomes if mine is not None]
    assert len(winners) == 1
    holders = {theirs.token for _, theirs in outcomes if theirs is not None}
    assert holders == {winners[0].token}  # every loser names the winner


def test_a_second_run_stops_naming_the_holder(store: Store) -> None:
    holding = held(store, "nightly-2026-11-01", "flow run 'first' (abc)", settings=LeaseSettings(ttl_s=60))
    stopped = pytest.raises(
        LeaseHeldError, match=r"nightly-2026-11-01 is already running: held by flow run 'first'"
    )
    with holding, stopped:
        acquire(store, "nightly-2026-11-01", "second", ttl_s=60)
    # released: the next run takes it at once
    taken = acquire(store, "nightly-2026-11-01", "third", ttl_s=60)
    assert taken.holder == "third" and taken.generation == 2


def test_a_second_run_waits_for_the_holder_within_its_bound(store: Store) -> None:
    first = acquire(store, "night", "first", ttl_s=60)
    sleeps: list[float] = []

    def release_during_wait(seconds: float) -> None:
        sleeps.append(seconds)
        release(store, first)

    second = acquire(store, "night", "second", ttl_s=60, wait_s=30, poll_s=1, sleep=release_during_wait)
    assert second.holder == "second" and sleeps == [1]
    with pytest.raises(LeaseHeldError, match=r"after waiting 0 s|already running"):
        acquire(store, "night", "third", ttl_s=60, wait_s=0.2, poll_s=0.1)


def test_an_expired_or_dead_holder_is_taken_over(store: Store) -> None:
    first = acquire(store, "night", "first", ttl_s=0.2)
    time.sleep(0.3)
    taken = acquire(store, "night", "second", ttl_s=60)
    assert taken.generation == first.generation + 1
    now = dt.datetime.now(dt.UTC)
    dead = replace(taken, pid=2**22 + 7)  # above the default pid_max: no such process
    assert is_free(dead, now) and not is_free(taken, now)
    assert not is_free(replace(dead, host="another-host"), now)  # can't tell on another host: wait for expiry


def test_the_holder_renews_its_lease_while_it_runs(store: Store) -> None:
    with held(store, "night", "long run", settings=LeaseSettings(ttl_s=0.6)) as lease:
        time.sleep(1.5)  # over twice the time to live: only renewals keep it
        with pytest.raises(LeaseHeldError):
            acquire(store, "night", "second", ttl_s=60)
        stored = current_lease(store, "night")
        assert stored is not None and stored.token == lease.token and stored.expires_at > lease.expires_at
    after = current_lease(store, "night")
    assert after is not None and after.released


def test_a_lease_name_that_is_no_key_is_refused(store: Store) -> None:
    with pytest.raises(Exception, match=r"lease name '\.\./x' is not allowed"):
        acquire(store, "../x", "me", ttl_s=1)


def test_lease_objects_round_trip() -> None:
    now = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    lease = Lease("n", 3, "me", "t", "h", 1, now, now + dt.timedelta(seconds=5))
    assert Lease.from_json(lease.to_json()) == lease
