"""The experiment runner with a scripted fake client on a local folder store: every outcome recorded, trials,
the cache, resume and retry-failed, the cost cap, progress, the experiment record, and the chunk API."""

from __future__ import annotations

import asyncio
import datetime as dt
import random
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import polars as pl
import pytest

from tests.support.dataset_items import item_frame, item_row
from tests.support.fake_model import COST_USD, FakeModel, Step
from tests.support.store_spy import StoreReads
from tests.support.tasks import TASKS
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.experiments import (
    ALLOW_TASKS_ENV,
    EXPERIMENT_ITEM_SCHEMA,
    STATUSES,
    ExperimentConfig,
    ExperimentResult,
    ExperimentSpec,
    ProgressSnapshot,
    RunnerSettings,
    finish_experiment,
    item_parts,
    prepare_run,
    read_experiment_items,
    read_record,
    run_experiment,
    run_planned_chunk,
)
from tracewatch.experiments._records import record_key, rows_to_frame
from tracewatch.llm import (
    CACHE_PREFIX,
    PACK_PREFIX,
    Completion,
    LimitSettings,
    ModelError,
    ProviderLimits,
    ResponseCache,
    RetryPolicy,
    Runtime,
)
from tracewatch.store import Store

FAST = RetryPolicy(max_attempts=3, base_delay_s=0.001, max_delay_s=0.005)
SETTINGS = RunnerSettings(retry=FAST, chunk_size=7, flush_every=4, progress=lambda snapshot: None)


def make_items(*prompts: str | None) -> pl.DataFrame:
    """Items whose inputs are `prompts` (the fake model's script keys on their first words), with no messages."""
    return item_frame(
        *(
            item_row(
                f"{i:03d}",
                input_text=prompt,
                input_messages=[],
                expected_output=f"expected {i}",
                source_trace_id=f"trace-{i}",
            )
            for i, prompt in enumerate(prompts)
        )
    )


def plain_items(n: int, word: str = "q") -> pl.DataFrame:
    return make_items(*(f"{word}{i} what is {i}?" for i in range(n)))


def config(name: str = "a", temperature: float = 0.0, **fields: Any) -> ExperimentConfig:
    fields.setdefault("model", "openai/fake-model")
    return ExperimentConfig(name=name, params={"temperature": temperature}, **fields)


def spec(experiment_id: str = "exp-1", trials: int = 1, budget_usd: float | None = None) -> ExperimentSpec:
    return ExperimentSpec(experiment_id, "qa-golden", 3, trials=trials, budget_usd=budget_usd)


def run(
    store: Store,
    items: pl.DataFrame,
    client: FakeModel,
    *,
    configs: Sequence[ExperimentConfig] | None = None,
    experiment: ExperimentSpec | None = None,
    settings: RunnerSettings = SETTINGS,
    **runtime: Any,
) -> ExperimentResult:
    progress = runtime.pop("progress", lambda snapshot: None)
    runtime.setdefault("rng", random.Random(0))
    return asyncio.run(
        run_experiment(
            store,
            experiment or spec(),
            configs or [config()],
            items,
            runtime=Runtime(client=client, **runtime),
            settings=replace(settings, progress=progress),
        )
    )


def cache_entries(store: Store) -> list[str]:
    """The single entries of the cache (not its packs)."""
    return [o.key for o in store.list_objects(CACHE_PREFIX) if not o.key.startswith(f"{PACK_PREFIX}/")]


def cache_packs(store: Store) -> list[str]:
    return [o.key for o in store.list_objects(PACK_PREFIX)]


def by_item(frame: pl.DataFrame) -> dict[str, dict[str, Any]]:
    return {row["item_id"]: row for row in frame.iter_rows(named=True)}


# ---- every item accounted for ------------------------------------------------------------------------------


def test_every_item_ends_ok_error_or_skipped_and_the_counts_add_up(file_store: Store) -> None:
    script: dict[str, list[Step]] = {
        "bad": [ModelError("HTTP 400: unknown parameter", transient=False, status=400)],
        "flaky": [ModelError("HTTP 503: overloaded", transient=True, status=503), "ok"],
        "down": [ModelError("HTTP 503: overloaded", transient=True, status=503)],
        "limited": [ModelError("rate limited", transient=True, status=429, retry_after_s=0.01), "ok"],
        "blank": ["empty"],
        "slow": ["hang", "ok"],
        "stuck": ["hang"],
    }
    items = make_items(
        "fine one",
        "bad two",
        "flaky three",
        "down four",
        "limited five",
        "blank six",
        "slow seven",
        "stuck eight",
        None,
        "fine ten",
    )
    configs = [config("a", timeout_s=0.2), config("b", 0.7, timeout_s=0.2)]
    result = run(file_store, items, FakeModel(script), configs=configs, experiment=spec(trials=2))

    rows = read_experiment_items(file_store, "exp-1")
    assert rows.height == 10 * 2 * 2
    assert rows.select("config_fingerprint", "item_id", "trial").n_unique() == rows.height
    assert rows.schema == pl.Schema(EXPERIMENT_ITEM_SCHEMA)
    assert set(rows.get_column("status")) <= set(STATUSES)
    first = by_item(rows.filter((pl.col("config_name") == "a") & (pl.col("trial") == 0)))
    expected = {
        "itm_000": ("ok", 1, None),
        "itm_001": ("error", 1, "HTTP 400: HTTP 400: unknown parameter (terminal)"),
        "itm_002": ("ok", 2, None),
        "itm_003": ("error", 3, "HTTP 503: HTTP 503: overloaded (transient)"),
        "itm_004": ("ok", 2, None),
        "itm_005": ("error", 1, "empty output (finish_reason=None) (terminal)"),
        "itm_006": ("ok", 2, None),
        "itm_007": ("error", 3, "timed out after 0.2 s (transient)"),
        "itm_008": ("error", 0, "item itm_008 has no value for template field {input}"),
        "itm_009": ("ok", 1, None),
    }
    assert {k: (r["status"], r["attempts"], r["error"]) for k, r in first.items()} == expected
    ok = first["itm_000"]
    assert ok["output"] == "answer to fine one (t=0.0)" and ok["input"] == "fine one"
    assert (ok["expected"], ok["source_trace_id"], ok["dataset"], ok["dataset_version"]) == (
        "expected 0",
        "trace-0",
        "qa-golden",
        3,
    )
    assert (ok["input_tokens"], ok["output_tokens"], ok["cost_usd"], ok["cached"]) == (2, 3, COST_USD, False)
    assert ok["started_at"] <= ok["finished_at"] and ok["run_id"] == result.run_id

    counts = result.record.counts
    assert counts == {"ok": 20, "error": 20, "skipped_budget": 0, "missing": 0}
    assert sum(counts.values()) == result.record.expected_rows == 40
    assert result.progress.done == result.progress.total == 40
    assert all(sum(c.values()) == 20 for c in result.record.counts_by_config.values())


def test_a_bug_stops_the_run_and_keeps_the_rows_already_finished(file_store: Store) -> None:
    items = make_items(*(f"q{i} fine" for i in range(12)), "boom now", *(f"r{i} fine" for i in range(12)))
    client = FakeModel({"boom": [KeyError("a bug in the client")]})
    with pytest.raises(KeyError, match="a bug in the client"):
        run(
            file_store,
            items,
            client,
            settings=RunnerSettings(retry=FAST, chunk_size=100, workers_per_chunk=1),
        )
    kept = read_experiment_items(file_store, "exp-1")
    assert kept.height == 12 and set(kept.get_column("status")) == {"ok"}


# ---- trials and the cache ----------------------------------------------------------------------------------


def test_each_trial_is_its_own_row_and_its_own_cache_entry(file_store: Store) -> None:
    client = FakeModel()
    random_sampling = config(temperature=0.7)
    run(
        file_store,
        plain_items(5),
        client,
        configs=[random_sampling],
        experiment=spec(trials=3),
        cache=ResponseCache(file_store),
    )
    rows = read_experiment_items(file_store, "exp-1")
    assert rows.height == 15
    assert sorted(Counter(rows.get_column("trial")).items()) == [(0, 5), (1, 5), (2, 5)]
    assert client.total == 15 and len(cache_entries(file_store)) == 15


def test_a_warm_cache_answers_without_a_single_call(file_store: Store) -> None:
    first = FakeModel()
    run(
        file_store, plain_items(20), first, experiment=spec("cold", trials=2), cache=ResponseCache(file_store)
    )
    second = FakeModel()
    fresh = ResponseCache(file_store)  # nothing in memory: every answer is read back from the file_store
    result = run(file_store, plain_items(20), second, experiment=spec("warm", trials=2), cache=fresh)
    assert second.total == 0
    warm = read_experiment_items(file_store, "warm")
    assert warm.height == 40 and warm.get_column("cached").all()
    assert set(warm.get_column("attempts")) == {0}
    cold = read_experiment_items(file_store, "cold")
    assert warm.get_column("output").to_list() == cold.get_column("output").to_list()
    assert result.record.counts["ok"] == 40 and result.progress.cached == 40


def test_a_warm_chunk_reads_one_pack_and_writes_the_rows_calls_would(file_store: Store) -> None:
    items = plain_items(20)  # chunks of 7: three chunks
    run(file_store, items, FakeModel(), experiment=spec("cold"), cache=ResponseCache(file_store))
    assert len(cache_packs(file_store)) == 3
    reads = StoreReads(file_store)
    second = FakeModel()
    result = run(file_store, items, second, experiment=spec("warm"), cache=ResponseCache(file_store))

    assert second.total == 0 and sorted(reads.objects) == cache_packs(file_store)
    cold, warm = read_experiment_items(file_store, "cold"), read_experiment_items(file_store, "warm")
    assert warm.schema == cold.schema == pl.Schema(EXPERIMENT_ITEM_SCHEMA)
    answer = [c for c in EXPERIMENT_ITEM_SCHEMA if c not in ("run_id", "experiment_id", "cached", "attempts")]
    assert (
        warm.select(answer)
        .drop("started_at", "finished_at")
        .equals(cold.select(answer).drop("started_at", "finished_at"))
    )
    assert warm.get_column("cached").all() and not cold.get_column("cached").any()
    assert set(warm.get_column("attempts")) == {0} and set(warm.get_column("run_id")) == {result.run_id}
    assert (warm.get_column("started_at") <= warm.get_column("finished_at")).all()
    assert result.record.counts == {"ok": 20, "error": 0, "skipped_budget": 0, "missing": 0}
    assert (result.progress.done, result.progress.cached) == (20, 20)
    assert [c.cached for c in result.chunks] == [7, 7, 6] and [c.counts["ok"] for c in result.chunks] == [
        7,
        7,
        6,
    ]


def test_a_chunk_partly_in_the_cache_calls_only_the_rest_and_completes_its_pack(file_store: Store) -> None:
    run(file_store, plain_items(10), FakeModel(), experiment=spec("first"), cache=ResponseCache(file_store))
    more = FakeModel()  # 14 items: the first chunk is all cached, the second has 3 of its 7
    result = run(file_store, plain_items(14), more, experiment=spec("more"), cache=ResponseCache(file_store))
    assert sorted(more.calls) == [f"q{i} what is {i}?" for i in range(10, 14)]
    assert [c.cached for c in result.chunks] == [7, 3]
    rows = read_experiment_items(file_store, "more")
    assert rows.height == 14 and set(rows.get_column("status")) == {"ok"}

    reads = StoreReads(file_store)
    again = FakeModel()
    run(file_store, plain_items(14), again, experiment=spec("again"), cache=ResponseCache(file_store))
    assert (
        again.total == 0
        and len(reads.objects) == 2
        and all(key.startswith(f"{PACK_PREFIX}/") for key in reads.objects)
    )


def test_a_changed_config_misses_the_cache(file_store: Store) -> None:
    run(file_store, plain_items(8), FakeModel(), experiment=spec("before"), cache=ResponseCache(file_store))
    changed = FakeModel()
    hotter = config(temperature=0.3)
    run(
        file_store,
        plain_items(8),
        changed,
        configs=[hotter],
        experiment=spec("after"),
        cache=ResponseCache(file_store),
    )
    assert changed.total == 8
    assert not read_experiment_items(file_store, "after").get_column("cached").any()


def test_a_task_config_runs_its_callable_and_is_not_cached(
    file_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(ALLOW_TASKS_ENV, "1")  # task configs are off unless allowed (docs/security.md)
    task = ExperimentConfig(name="shout", task=f"{TASKS}:shout")
    run(file_store, plain_items(3), FakeModel(), configs=[task], cache=ResponseCache(file_store))
    rows = read_experiment_items(file_store, "exp-1")
    assert rows.get_column("output").to_list() == ["Q0 WHAT IS 0?", "Q1 WHAT IS 1?", "Q2 WHAT IS 2?"]
    assert rows.get_column("status").to_list() == ["ok"] * 3 and cache_entries(file_store) == []


# ---- resume and retry-failed -------------------------------------------------------------------------------


def test_a_rerun_after_a_crash_calls_only_what_has_no_ok_row(file_store: Store) -> None:
    items = plain_items(30)
    crashing = FakeModel({"q20": [RuntimeError("process died")]})
    settings = RunnerSettings(retry=FAST, chunk_size=100, flush_every=5, workers_per_chunk=1)
    with pytest.raises(RuntimeError):
        run(file_store, items, crashing, settings=settings)
    done = set(read_experiment_items(file_store, "exp-1").get_column("item_id"))
    assert len(done) == 20

    healthy = FakeModel()
    result = run(file_store, items, healthy, settings=settings)
    called = {prompt.split()[0] for prompt in healthy.calls}
    assert called == {f"q{i}" for i in range(20, 30)}
    assert max(healthy.calls.values()) == 1
    rows = read_experiment_items(file_store, "exp-1")
    assert rows.height == 30 and set(rows.get_column("status")) == {"ok"}
    assert result.record.counts == {"ok": 30, "error": 0, "skipped_budget": 0, "missing": 0}
    assert len(result.record.run_ids) == 2


def test_retry_failed_reruns_only_the_errors_and_the_latest_row_wins(file_store: Store) -> None:
    items = make_items("good one", "bad two", "good three", "bad four")
    bad = ModelError("HTTP 400: nope", transient=False, status=400)
    run(file_store, items, FakeModel({"bad": [bad]}))
    assert read_experiment_items(file_store, "exp-1").get_column("status").to_list() == [
        "ok",
        "error",
        "ok",
        "error",
    ]

    healthy = FakeModel()
    asyncio.run(
        run_experiment(
            file_store,
            spec(),
            [config()],
            items,
            mode="retry_failed",
            settings=SETTINGS,
            runtime=Runtime(client=healthy),
        )
    )
    assert sorted(healthy.calls) == ["bad four", "bad two"]
    latest = read_experiment_items(file_store, "exp-1")
    assert latest.get_column("status").to_list() == ["ok"] * 4
    stored = file_store.scan_parquet(item_parts(file_store, "exp-1")).collect()
    assert stored.height == 6  # both rows of a retried item are kept; readers see only the newer


def test_retry_failed_leaves_skipped_items_to_a_plain_resume(file_store: Store) -> None:
    items = plain_items(6)
    run(file_store, items, FakeModel(), experiment=spec(budget_usd=0.0))
    assert set(read_experiment_items(file_store, "exp-1").get_column("status")) == {"skipped_budget"}
    untouched = FakeModel()
    asyncio.run(
        run_experiment(
            file_store,
            spec(budget_usd=1.0),
            [config()],
            items,
            mode="retry_failed",
            settings=SETTINGS,
            runtime=Runtime(client=untouched),
        )
    )
    assert untouched.total == 0
    resumed = run(file_store, items, FakeModel(), experiment=spec(budget_usd=1.0))
    assert resumed.record.counts["ok"] == 6


# ---- the cost cap ------------------------------------------------------------------------------------------


def test_the_cost_cap_stops_new_calls_and_skips_the_rest_with_a_reason(file_store: Store) -> None:
    client = FakeModel()
    limits = ProviderLimits(LimitSettings(max_concurrency=4))
    result = run(file_store, plain_items(40), client, experiment=spec(budget_usd=0.055), limits=limits)
    rows = read_experiment_items(file_store, "exp-1")
    statuses = Counter(rows.get_column("status"))
    # one probe call, then four in flight at a projected 0.01 each: 0.05 <= 0.055, a sixth would pass it
    assert statuses == {"ok": 5, "skipped_budget": 35}
    assert client.total == 5
    skipped = rows.filter(pl.col("status") == "skipped_budget")
    assert skipped.get_column("error").str.contains("the cost cap of 0.0550 USD is reached").all()
    assert skipped.get_column("output").is_null().all() and set(skipped.get_column("attempts")) == {0}
    assert rows.get_column("cost_usd").sum() <= 0.055
    assert result.record.spent_usd == pytest.approx(0.05)
    assert sum(result.record.counts.values()) == 40


def test_what_earlier_runs_spent_counts_against_the_cap(file_store: Store) -> None:
    run(file_store, plain_items(3), FakeModel(), experiment=spec(budget_usd=1.0))
    more = FakeModel()
    run(file_store, plain_items(10), more, experiment=spec(budget_usd=0.035))
    # 0.03 already spent: the probe (0.04) is allowed, the next one is not
    assert more.total == 1
    assert Counter(read_experiment_items(file_store, "exp-1").get_column("status")) == {
        "ok": 4,
        "skipped_budget": 6,
    }


def test_cache_hits_are_free_when_the_budget_is_closed(file_store: Store) -> None:
    cache = ResponseCache(file_store)
    run(file_store, plain_items(3), FakeModel(), experiment=spec("warmup"), cache=cache)
    client = FakeModel()
    run(file_store, plain_items(8), client, experiment=spec(budget_usd=0.0), cache=cache)
    statuses = by_item(read_experiment_items(file_store, "exp-1"))
    assert [statuses[f"itm_{i:03d}"]["status"] for i in range(8)] == ["ok"] * 3 + ["skipped_budget"] * 5
    assert client.total == 0


# ---- limits, progress, flushing ----------------------------------------------------------------------------


def test_chunks_running_together_share_the_provider_limit(file_store: Store) -> None:
    client = FakeModel()
    settings = RunnerSettings(retry=FAST, chunk_size=10, parallel_chunks=4)
    run(file_store, plain_items(60), client, settings=settings, limits=ProviderLimits(LimitSettings(3)))
    assert client.total == 60 and client.peak == 3


def test_configs_on_different_providers_run_side_by_side(file_store: Store) -> None:
    configs = [config("a", api_base="http://one.test/v1"), config("b", 0.5, api_base="http://two.test/v1")]
    client = FakeModel()
    settings = RunnerSettings(retry=FAST, chunk_size=5, parallel_chunks=2)
    run(
        file_store,
        plain_items(20),
        client,
        configs=configs,
        settings=settings,
        limits=ProviderLimits(LimitSettings(2)),
    )
    assert client.total == 40 and client.endpoints_together == 2


def test_rate_limits_are_retried_after_the_servers_pause(file_store: Store) -> None:
    limited = ModelError("rate limited", transient=True, status=429, retry_after_s=0.05)
    client = FakeModel({"q0": [limited, "ok"], "q1": [limited, "ok"]})
    limits = ProviderLimits(LimitSettings(8, decrease_factor=0.5))
    run(file_store, plain_items(10), client, limits=limits)
    rows = by_item(read_experiment_items(file_store, "exp-1"))
    assert rows["itm_000"]["status"] == "ok" and rows["itm_000"]["attempts"] == 2
    (throttle,) = limits.throttles().values()
    stats = throttle.limiter.stats()
    assert stats.cuts >= 1 and stats.pauses >= 1


def test_progress_reports_reach_the_callback(file_store: Store) -> None:
    seen: list[ProgressSnapshot] = []
    run(
        file_store,
        make_items("q fine", "bad x", "q2 fine"),
        FakeModel({"bad": [ModelError("no", transient=False)]}),
        progress=seen.append,
    )
    final = seen[-1]
    assert final.finished and (final.done, final.total, final.ok, final.error) == (3, 3, 2, 1)


def test_rows_are_flushed_in_batches_not_one_write_per_item(file_store: Store) -> None:
    settings = RunnerSettings(retry=FAST, chunk_size=100, flush_every=10, flush_interval_s=3600)
    result = run(file_store, plain_items(35), FakeModel(), settings=settings)
    parts = item_parts(file_store, "exp-1")
    # every 10 rows, unless the previous write is still going: then the next part takes the rows that waited
    assert 2 <= len(parts) <= 4 and result.chunks[0].rows_written == 35
    assert file_store.scan_parquet(parts).collect().height == 35
    fingerprint = config().fingerprint()
    assert all(p.startswith(f"warehouse/experiments/exp-1/items/config={fingerprint}/part-") for p in parts)


# ---- the record and the chunk API --------------------------------------------------------------------------


def test_the_record_holds_every_config_in_full_and_every_run(file_store: Store) -> None:
    configs = [config("a", baseline=True, system_prompt="Be brief."), config("b", 0.7, prompt="Q: {input}")]
    first = run(file_store, plain_items(4), FakeModel(), configs=configs, experiment=spec(budget_usd=5.0))
    second = run(file_store, plain_items(4), FakeModel(), configs=configs, experiment=spec(budget_usd=5.0))
    record = read_record(file_store, "exp-1")
    assert record is not None and file_store.exists(record_key("exp-1"))
    assert [c.config for c in record.configs] == [c.describe() for c in configs]
    assert record.configs[1].config["prompt"] == "Q: {input}" and record.configs[0].config["baseline"] is True
    assert (record.dataset, record.dataset_version, record.trials, record.budget_usd) == (
        "qa-golden",
        3,
        1,
        5.0,
    )
    assert record.run_ids == (first.run_id, second.run_id)
    assert record.created_at <= record.updated_at and record.finished_at is not None
    assert record.counts == {"ok": 8, "error": 0, "skipped_budget": 0, "missing": 0}
    assert record.spent_usd == pytest.approx(8 * COST_USD)


def test_a_rerun_may_not_change_the_dataset_version(file_store: Store) -> None:
    run(file_store, plain_items(2), FakeModel())
    with pytest.raises(ConfigError, match="cannot change"):
        run(file_store, plain_items(2), FakeModel(), experiment=ExperimentSpec("exp-1", "qa-golden", 4))


def test_chunks_run_one_by_one_give_what_run_experiment_gives(file_store: Store) -> None:
    configs = [config("a"), config("b", 0.5)]
    experiment = spec("by-chunk", trials=2)
    prepared = prepare_run(file_store, experiment, configs, plain_items(10), run_id="run-1", chunk_size=4)
    assert [(p.config_index, p.start, p.stop) for p in prepared.plans] == [
        (0, 0, 4),
        (0, 4, 8),
        (0, 8, 10),
        (1, 0, 4),
        (1, 4, 8),
        (1, 8, 10),
    ]
    runtime = Runtime(client=FakeModel())
    for plan in prepared.plans:
        chunk = asyncio.run(run_planned_chunk(prepared, plan, runtime=runtime, settings=SETTINGS))
        assert chunk.chunk == plan.label
        assert sum(chunk.counts.values()) == (plan.stop - plan.start) * 2
    record = finish_experiment(file_store, "by-chunk")
    assert record.counts == {"ok": 40, "error": 0, "skipped_budget": 0, "missing": 0}
    rerun = prepare_run(file_store, experiment, configs, plain_items(10), run_id="run-2", chunk_size=4)
    again = asyncio.run(run_planned_chunk(rerun, rerun.plans[0], runtime=runtime))
    assert again.already_done == 8 and again.rows_written == 0


def test_missing_keys_are_counted_until_a_run_writes_them(file_store: Store) -> None:
    prepared = prepare_run(
        file_store, spec("partial"), [config()], plain_items(5), run_id="run-1", chunk_size=2
    )
    runtime = Runtime(client=FakeModel())
    asyncio.run(run_planned_chunk(prepared, prepared.plans[0], runtime=runtime))
    assert finish_experiment(file_store, "partial").counts == {
        "ok": 2,
        "error": 0,
        "skipped_budget": 0,
        "missing": 3,
    }


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda: make_items("a", "b").with_columns(pl.lit("same").alias("item_id")), DataContractError),
        (lambda: plain_items(2).drop("input_text"), DataContractError),
    ],
)
def test_items_that_cannot_be_run_are_refused(
    file_store: Store, make: Callable[[], pl.DataFrame], error: type[Exception]
) -> None:
    with pytest.raises(error):
        run(file_store, make(), FakeModel())


def test_configs_must_differ(file_store: Store) -> None:
    with pytest.raises(ConfigError, match="distinct fingerprints"):
        run(file_store, plain_items(2), FakeModel(), configs=[config("a"), config("b")])
    with pytest.raises(ConfigError, match="distinct names"):
        run(file_store, plain_items(2), FakeModel(), configs=[config("a"), config("a", 0.5)])


def test_a_chunk_found_whole_in_the_cache_gives_the_rows_the_per_item_path_gives() -> None:
    from tracewatch.experiments._rows import cached_rows, item_row
    from tracewatch.llm import CallResult

    base = {
        "run_id": "r",
        "experiment_id": "e",
        "config_name": "c",
        "config_fingerprint": "f",
        "dataset": "d",
        "dataset_version": 3,
    }
    items = [
        {"item_id": "a", "input_text": "q1", "expected_output": "x", "source_trace_id": "t1"},
        {"item_id": "b", "input_text": "q2", "expected_output": None, "source_trace_id": None},
    ]
    # The second entry was written by another client with float token counts: both paths must accept it.
    answers = [
        Completion("one", 5, 7, 0.001, 12.5, "m", cached=True),
        Completion("two", 12.0, 3.0, None, 8.0, "m", cached=True),  # type: ignore[arg-type]
    ]
    units = [(item, 0) for item in items]
    fast = cached_rows(base, units, answers)
    now = dt.datetime.now(dt.UTC)
    results = [CallResult("ok", completion, None, 0, cached=True) for completion in answers]
    slow = rows_to_frame(
        [item_row(base, item, 0, result, now) for item, result in zip(items, results, strict=True)]
    )
    times = ["started_at", "finished_at"]
    assert fast.drop(times).equals(slow.drop(times))
    assert fast.get_column("input_tokens").to_list() == [5, 12]
