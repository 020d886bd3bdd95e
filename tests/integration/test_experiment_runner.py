"""The experiment runner end to end: the real LiteLLMClient over real HTTP to the local test model server, the
real response cache, and real stores. Faults come from the server (429 + Retry-After, 5xx, 401, broken bodies,
hangs); the server's own per-request counts prove what was and was not called, including across a SIGKILL.

Run as a script (`python -m tests.integration.test_experiment_runner ...`) this module is the child process
of the kill-and-resume tests.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from devtools.model_server import (
    Faults,
    Latency,
    ModelServer,
    start_model_server,
    stop_model_server,
)
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.experiments import (
    ExperimentConfig,
    ExperimentResult,
    ExperimentSpec,
    RunnerSettings,
    item_parts,
    read_experiment_items,
    run_experiment,
)
from tracewatch.llm import (
    PACK_PREFIX,
    LimitSettings,
    LiteLLMClient,
    ProviderLimits,
    ResponseCache,
    RetryPolicy,
    Runtime,
)
from tracewatch.store import Store

REPO = Path(__file__).resolve().parents[2]
MODEL = "tracewatch-echo"
TEMPERATURE = 0.0
QUICK = RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05)


# ---- helpers shared with the child process -------------------------------------------------------------------


def items(n: int) -> pl.DataFrame:
    """`n` dataset items whose prompts are all different (so each is its own request on the server)."""
    rows = [
        {
            "item_id": f"itm_{i:04d}",
            "input_text": f"question {i}: what is {i} plus {i}?",
            "expected_output": str(2 * i),
            "source_trace_id": f"trace-{i}",
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema={c: ITEM_SCHEMA[c] for c in rows[0]})


def echo_config(server_url: str, name: str = "echo", **fields: Any) -> ExperimentConfig:
    fields.setdefault("timeout_s", 5.0)
    params = {"temperature": TEMPERATURE, **fields.pop("params", {})}
    return ExperimentConfig(
        name=name, model=f"openai/{MODEL}", api_base=server_url, prompt="{input}", params=params, **fields
    )


def run(
    store: Store,
    server_url: str,
    frame: pl.DataFrame,
    *,
    experiment_id: str = "exp",
    config: ExperimentConfig | None = None,
    budget_usd: float | None = None,
    cache: ResponseCache | None = None,
    retry: RetryPolicy = QUICK,
    concurrency: int = 16,
    flush_every: int = 50,
    limits: ProviderLimits | None = None,
) -> ExperimentResult:
    async def main() -> ExperimentResult:
        async with LiteLLMClient() as client:
            runtime = Runtime(
                client=client,
                cache=cache,
                limits=limits or ProviderLimits(LimitSettings(max_concurrency=concurrency)),
            )
            return await run_experiment(
                store,
                ExperimentSpec(experiment_id, "qa-golden", 1, budget_usd=budget_usd),
                [config or echo_config(server_url)],
                frame,
                runtime=runtime,
                settings=RunnerSettings(
                    retry=retry,
                    chunk_size=25,
                    flush_every=flush_every,
                    flush_interval_s=0.2,
                    progress=lambda snapshot: None,
                ),
            )

    return asyncio.run(main())


def calls_for(server: ModelServer, frame: pl.DataFrame) -> dict[str, int]:
    """How often the server saw each item's request, by item id."""
    stats = server.stats()
    return {
        row["item_id"]: stats.calls_for([{"role": "user", "content": row["input_text"]}], MODEL, TEMPERATURE)
        for row in frame.iter_rows(named=True)
    }


def statuses(store: Store, experiment_id: str = "exp") -> Counter[str]:
    return Counter(read_experiment_items(store, experiment_id).get_column("status"))


# ---- faults ----------------------------------------------------------------------------------------------------


def test_a_429_pauses_the_provider_for_retry_after_and_then_succeeds(
    file_store: Store, server: ModelServer
) -> None:
    server.configure(faults=Faults(fail_first=1, fail_first_with="429", retry_after_s=0.5))
    frame = items(12)
    limits = ProviderLimits(LimitSettings(max_concurrency=8, decrease_factor=0.5))
    result = run(file_store, server.base_url, frame, limits=limits)

    rows = read_experiment_items(file_store, "exp")
    assert set(rows.get_column("status")) == {"ok"} and set(rows.get_column("attempts")) == {2}
    assert set(calls_for(server, frame).values()) == {2}
    assert server.stats().by_status == {429: 12, 200: 12}
    waited = (rows.get_column("finished_at") - rows.get_column("started_at")).dt.total_milliseconds()
    assert waited.min() >= 450  # every item waited out the server's Retry-After before its retry
    (throttle,) = limits.throttles().values()
    stats = throttle.limiter.stats()
    assert stats.pauses >= 1 and stats.limit < 8 + 12  # cut at least once (then grown back by successes)
    assert result.record.counts == {"ok": 12, "error": 0, "skipped_budget": 0, "missing": 0}


@pytest.mark.parametrize("status", ["500", "502", "503"])
def test_server_errors_are_retried(file_store: Store, server: ModelServer, status: str) -> None:
    server.configure(faults=Faults(fail_first=2, fail_first_with=status))  # type: ignore[arg-type]
    frame = items(10)
    run(file_store, server.base_url, frame)
    rows = read_experiment_items(file_store, "exp")
    assert set(rows.get_column("status")) == {"ok"} and set(rows.get_column("attempts")) == {3}
    assert set(calls_for(server, frame).values()) == {3}


def test_a_terminal_4xx_is_recorded_as_an_error_and_not_retried(file_store: Store) -> None:
    locked = start_model_server(api_key="sk-test-" + "k" * 24)
    try:
        frame = items(5)
        result = run(file_store, locked.base_url, frame)  # the client sends a placeholder key: 401
        rows = read_experiment_items(file_store, "exp")
        assert set(rows.get_column("status")) == {"error"} and set(rows.get_column("attempts")) == {1}
        assert rows.get_column("error").str.starts_with("HTTP 401: authentication failed").all()
        assert not rows.get_column("error").str.contains("sk-test").any()
        assert locked.stats().requests == 5
        assert result.record.counts == {"ok": 0, "error": 5, "skipped_budget": 0, "missing": 0}
    finally:
        stop_model_server(locked)


def test_a_run_whose_every_call_is_refused_stops_after_five_and_says_why(file_store: Store) -> None:
    """Issue 20, item 9: a wrong key (HTTP 401 on every call) stops the config after five calls instead of one
    call per item; every item is accounted for, and the run's result carries the reason to fail with."""
    locked = start_model_server(api_key="sk-test-" + "k" * 24)
    try:
        frame = items(60)
        result = run(file_store, locked.base_url, frame, concurrency=2)  # the client sends a placeholder key
        asked = locked.stats().requests
        assert 5 <= asked <= 6  # the fifth refusal, and at most one call in flight beside it
        assert locked.stats().by_status == {401: asked}
        rows = read_experiment_items(file_store, "exp")
        assert rows.height == 60 and set(rows.get_column("status")) == {"error"}
        reason = (
            "stopped after 5 consecutive authentication errors (HTTP 401): authentication failed: "
            "Incorrect API key provided."
        )
        assert rows.get_column("error").str.starts_with(f"not attempted: {reason}").sum() == 60 - asked
        assert result.stopped_reason == f"config echo: {reason}"
        assert result.record.counts == {"ok": 0, "error": 60, "skipped_budget": 0, "missing": 0}
    finally:
        stop_model_server(locked)


def test_a_refused_config_makes_only_the_calls_it_takes_to_stop_at_full_concurrency(
    file_store: Store,
) -> None:
    """Before a config's first answer, only `stop_after_terminal_errors` calls are in flight: with 64 slots
    and 60 items, a wrong key costs five refused calls, not 60 started at once."""
    locked = start_model_server(api_key="sk-test-" + "k" * 24)
    try:
        result = run(file_store, locked.base_url, items(60), concurrency=64)
        assert locked.stats().requests == 5
        assert result.stopped_reason is not None
        assert result.record.counts == {"ok": 0, "error": 60, "skipped_budget": 0, "missing": 0}
    finally:
        stop_model_server(locked)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("malformed", "malformed response"),
        ("truncated", "connection error"),
        ("empty_choices", "empty response"),
        ("empty_content", "empty response"),
    ],
)
def test_broken_bodies_end_as_item_errors_with_the_reason(
    file_store: Store, server: ModelServer, fault: str, reason: str
) -> None:
    server.configure(faults=Faults(rates={fault: 1.0}))
    frame = items(6)
    run(file_store, server.base_url, frame, retry=RetryPolicy(max_attempts=2, base_delay_s=0.01))
    rows = read_experiment_items(file_store, "exp")
    assert set(rows.get_column("status")) == {"error"}
    assert rows.get_column("error").str.contains(reason).all(), rows.get_column("error").to_list()
    assert rows.get_column("output").is_null().all()
    assert set(calls_for(server, frame).values()) == {2}  # transient: tried twice, then recorded


def test_a_hanging_call_times_out_and_is_retried(file_store: Store, server: ModelServer) -> None:
    server.configure(faults=Faults(fail_first=1, fail_first_with="timeout", hang_s=30))
    frame = items(6)
    run(file_store, server.base_url, frame, config=echo_config(server.base_url, timeout_s=0.5))
    rows = read_experiment_items(file_store, "exp")
    assert set(rows.get_column("status")) == {"ok"} and set(rows.get_column("attempts")) == {2}


def test_a_call_that_always_hangs_ends_as_a_timeout_error(file_store: Store, server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"timeout": 1.0}, hang_s=30))
    started = time.monotonic()
    run(
        file_store,
        server.base_url,
        items(4),
        config=echo_config(server.base_url, timeout_s=0.3),
        retry=RetryPolicy(max_attempts=2, base_delay_s=0.01),
    )
    rows = read_experiment_items(file_store, "exp")
    assert set(rows.get_column("status")) == {"error"}
    assert rows.get_column("error").str.contains("timed out").all()
    assert time.monotonic() - started < 10


# ---- cost cap and cache ----------------------------------------------------------------------------------------


def test_the_cost_cap_skips_the_rest_without_calling(file_store: Store, server: ModelServer) -> None:
    # the echo reply has as many words as the prompt (8): 8 input + 8 output tokens at 1 USD per 1k = 0.016
    priced = echo_config(server.base_url, cost_per_1k_input=1.0, cost_per_1k_output=1.0)
    frame = items(60)
    result = run(file_store, server.base_url, frame, config=priced, budget_usd=0.2, concurrency=4)
    rows = read_experiment_items(file_store, "exp")
    counts = statuses(file_store)
    assert counts["ok"] > 0 and counts["skipped_budget"] > 0 and counts["ok"] + counts["skipped_budget"] == 60
    assert server.stats().requests == counts["ok"]
    assert rows.get_column("cost_usd").sum() <= 0.2
    skipped = rows.filter(pl.col("status") == "skipped_budget")
    assert skipped.get_column("error").str.contains("the cost cap of 0.2000 USD is reached").all()
    assert sum(result.record.counts.values()) == 60


def test_a_warm_cache_makes_no_http_call_on_either_store(store: Store, server: ModelServer) -> None:
    frame = items(40)
    run(store, server.base_url, frame, experiment_id="cold", cache=ResponseCache(store))
    assert server.stats().requests == 40
    server.reset()
    assert store.list_objects(PACK_PREFIX)  # the chunk's answers, together in one object
    run(store, server.base_url, frame, experiment_id="warm", cache=ResponseCache(store))
    assert server.stats().requests == 0
    warm = read_experiment_items(store, "warm")
    assert warm.get_column("cached").all() and set(warm.get_column("status")) == {"ok"}
    cold = read_experiment_items(store, "cold")
    assert warm.get_column("output").to_list() == cold.get_column("output").to_list()


def test_a_rerun_calls_nothing_that_is_done_on_either_store(store: Store, server: ModelServer) -> None:
    frame = items(30)
    server.configure(faults=Faults(rates={"503": 0.3}, keyed=True, seed=3))
    first = run(store, server.base_url, frame, retry=RetryPolicy(max_attempts=1))
    failed = first.record.counts["error"]
    assert 0 < failed < 30
    server.configure(faults=Faults())
    server.reset()
    second = run(store, server.base_url, frame)
    assert server.stats().requests == failed
    assert second.record.counts == {"ok": 30, "error": 0, "skipped_budget": 0, "missing": 0}
    assert read_experiment_items(store, "exp").height == 30


# ---- kill and resume -------------------------------------------------------------------------------------------


def spawn_child(store: Store, server: ModelServer, n: int, *, cache: bool) -> subprocess.Popen[bytes]:
    args = [sys.executable, "-m", "tests.integration.test_experiment_runner", "--store", store.url]
    args += ["--server", server.base_url, "--items", str(n)] + (["--cache"] if cache else [])
    return subprocess.Popen(args, cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def kill_after_rows(store: Store, child: subprocess.Popen[bytes], rows: int, timeout_s: float = 60) -> int:
    """SIGKILL the child once at least `rows` rows are flushed; the number flushed when it died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert child.poll() is None, f"the child ended before it was killed: {child.stderr.read()!r}"  # type: ignore[union-attr]
        parts = item_parts(store, "exp")
        if parts and store.scan_parquet(parts).select(pl.len()).collect().item() >= rows:
            break
        time.sleep(0.02)
    os.kill(child.pid, signal.SIGKILL)
    assert child.wait(10) == -signal.SIGKILL
    return read_experiment_items(store, "exp").height


@pytest.mark.parametrize("cache", [False, True], ids=["no-cache", "cache"])
def test_a_killed_run_resumes_without_asking_a_finished_item_again(
    file_store: Store, server: ModelServer, cache: bool
) -> None:
    n = 300
    server.configure(latency=Latency.fixed(40))
    child = spawn_child(file_store, server, n, cache=cache)
    flushed = kill_after_rows(file_store, child, rows=60)
    assert 60 <= flushed < n  # killed mid-run
    done_before = set(read_experiment_items(file_store, "exp").get_column("item_id"))
    asked_before = {k: v for k, v in calls_for(server, items(n)).items() if v}

    result = run(file_store, server.base_url, items(n), cache=ResponseCache(file_store) if cache else None)

    calls = calls_for(server, items(n))
    assert all(calls[item] == 1 for item in done_before)  # finished before the kill: never asked again
    assert set(calls.values()) <= {1, 2} and all(calls.values())
    asked_twice = {item for item, count in calls.items() if count == 2}
    assert asked_twice <= set(asked_before) - done_before  # only work lost in the kill was redone
    rows = read_experiment_items(file_store, "exp")
    assert rows.height == n and rows.get_column("item_id").n_unique() == n
    assert set(rows.get_column("status")) == {"ok"}
    assert result.record.counts == {"ok": n, "error": 0, "skipped_budget": 0, "missing": 0}
    assert len(result.record.run_ids) == 2


def child_main(argv: list[str] | None = None) -> None:
    """The child of the kill tests: one run with small flushes, killed by the parent part way."""
    parser = argparse.ArgumentParser()
    parser.add_argument("--store", required=True)
    parser.add_argument("--server", required=True)
    parser.add_argument("--items", type=int, required=True)
    parser.add_argument("--cache", action="store_true")
    args = parser.parse_args(argv)
    store = Store(args.store)
    cache = ResponseCache(store) if args.cache else None
    run(store, args.server, items(args.items), cache=cache, concurrency=8, flush_every=10)


if __name__ == "__main__":
    child_main()
