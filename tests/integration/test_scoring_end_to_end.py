"""The scoring stage end to end on real parts: an experiment run over real HTTP against the local test model
server, scored by heuristics and an LLM judge served by the same server (through the real client, limits and
response cache), compared with its baseline, and published as report partitions on both stores; then the
production-trace scoring with judge-vs-feedback agreement."""

from __future__ import annotations

import asyncio
import datetime as dt

import polars as pl
import pytest

from devtools.model_server import ModelServer
from tests.support.dataset_items import item_frame, item_row
from tracewatch.datasets.append import append_version
from tracewatch.datasets.items import dedup_keys
from tracewatch.datasets.versions import read_version
from tracewatch.experiments import ExperimentConfig, ExperimentSpec, RunnerSettings, run_experiment
from tracewatch.llm import LimitSettings, LiteLLMClient, ProviderLimits, ResponseCache, Runtime
from tracewatch.reports.writer import partition_key
from tracewatch.scoring.experiment_scores import ExperimentScoring, score_experiment
from tracewatch.scoring.publish import publish_experiment_scoring, publish_trace_scoring
from tracewatch.scoring.suite import ScorerSuite, build_scorers
from tracewatch.scoring.trace_scores import TraceScoring, score_traces
from tracewatch.store import Store

pytestmark = pytest.mark.integration

DAY = dt.date(2026, 3, 2)
N = 8


def dataset(store: Store) -> None:
    rows = (
        item_row(
            str(i),
            text=f"question {i}: what is {i} plus {i}?",
            input_messages=[],
            expected_output=str(2 * i),
            expected_source="curated",
            retrieved_context=[{"document_id": "d", "text": f"{i} plus {i} is {2 * i}.", "score": 1.0}]
            if i % 2
            else [],
            route=["qa/math", "qa/other"][i % 2],
            tags=["math"],
            source_date=DAY,
            strategy="uniform",
            stratum="all",
        )
        for i in range(N)
    )
    frame = item_frame(*rows)
    append_version(store, "qa-golden", frame.with_columns(dedup_keys(frame)), kind="seed", run_id="seed")


def suite(server: ModelServer) -> ScorerSuite:
    judge = {"model": "openai/judge", "api_base": server.base_url, "timeout_s": 5}
    return build_scorers(
        [
            {"metric": "exact_match"},
            {"metric": "token_f1"},
            {"judge": "correctness", **judge},
            {"judge": "faithfulness", **judge},
        ]
    )


def runtime(client: LiteLLMClient, store: Store) -> Runtime:
    limits = ProviderLimits(LimitSettings(max_concurrency=8))
    return Runtime(client=client, cache=ResponseCache(store), limits=limits)


def experiment_and_scores(store: Store, server: ModelServer) -> ExperimentScoring:
    server.configure(
        answers={
            **{f"Please answer: question {i}:": str(2 * i) for i in range(N)},
            "CONTEXT:": "I would rather not say.",
            "ANSWER:\nquestion": '{"score": 1, "reason": "repeats the question"}',
            "REFERENCE:": '{"score": 5, "reason": "matches"}',
        }
    )
    configs = [
        ExperimentConfig(
            name="echo", model="openai/echo", api_base=server.base_url, prompt="{input}", baseline=True
        ),
        ExperimentConfig(
            name="answers", model="openai/echo", api_base=server.base_url, prompt="Please answer: {input}"
        ),
    ]
    items = read_version(store, "qa-golden", 1)

    async def main() -> ExperimentScoring:
        async with LiteLLMClient() as client:
            run = runtime(client, store)
            await run_experiment(
                store,
                ExperimentSpec("exp", "qa-golden", 1),
                configs,
                items,
                runtime=run,
                settings=RunnerSettings(progress=lambda snapshot: None),
            )
            return await score_experiment(store, "exp", suite(server), run, resamples=500)

    return asyncio.run(main())


def test_an_experiment_is_scored_compared_and_published(store: Store, server: ModelServer) -> None:
    dataset(store)
    scoring = experiment_and_scores(store, server)

    assert scoring.items.height == 2 * N
    scores = scoring.scores
    assert scores.height == 2 * N * 4  # every item x every scorer, nothing dropped
    exact = (
        scores.filter(pl.col("scorer") == "exact_match").group_by("config_name").agg(pl.col("value").mean())
    )
    assert dict(exact.iter_rows()) == {"echo": 0.0, "answers": 1.0}
    correctness = scores.filter(pl.col("scorer") == "correctness")
    assert dict(correctness.group_by("config_name").agg(pl.col("value").mean()).iter_rows()) == {
        "echo": 0.0,
        "answers": 1.0,
    }
    # The faithfulness judge needs context (odd items only) and its replies are unreadable: errors with the text.
    faithful = scores.filter(pl.col("scorer") == "faithfulness")
    assert faithful.group_by("status").len().sort("status").rows() == [("error", N), ("unscored", N)]
    assert "I would rather not say." in faithful.filter(pl.col("status") == "error")["metadata"][0]

    overall = scoring.quality.filter(pl.col("segment_kind") == "all", pl.col("scorer") == "exact_match")
    assert overall.sort("config_name").select("config_name", "baseline", "mean", "n_scored").rows() == [
        ("answers", False, 1.0, N),
        ("echo", True, 0.0, N),
    ]
    assert set(scoring.quality["segment_kind"]) == {"all", "route", "tags", "input_length", "source"}
    verdicts = dict(scoring.comparisons.select("scorer", "verdict").iter_rows())
    assert verdicts["exact_match"] == verdicts["correctness"] == "better"
    assert verdicts["faithfulness"] == "no data"  # neither side scored an item: no verdict

    published = publish_experiment_scoring(store, scoring, DAY, run_id="run-1")
    assert [p.table for p in published] == ["experiment_items", "quality", "comparisons", "output_checks"]
    checks = scoring.output_checks.filter(pl.col("expectation") == "output_length")
    assert checks.select("config_name", "checked", "failed", "pass_rate").sort("config_name").rows() == [
        ("answers", N, 0, 1.0),
        ("echo", N, 0, 1.0),
    ]
    published_comparisons = store.read_parquet(partition_key("comparisons", DAY, ("experiment_id", "exp")))
    no_data = published_comparisons.filter(pl.col("scorer") == "faithfulness")
    assert no_data["verdict"].to_list() == ["no data"]
    assert "nothing to compare" in no_data["verdict_reason"][0]  # the report says why there is no verdict
    items = store.read_parquet(partition_key("experiment_items", DAY, ("experiment_id", "exp")))
    first = items.filter(pl.col("config_name") == "answers", pl.col("item_id") == "itm_3")
    assert {e["scorer"]: e["value"] for e in first["scores"][0]} == {
        "exact_match": 1.0,
        "token_f1": 1.0,
        "correctness": 1.0,
        "faithfulness": None,
    }


def test_a_rescore_makes_no_new_judge_calls(file_store: Store, server: ModelServer) -> None:
    dataset(file_store)
    experiment_and_scores(file_store, server)
    calls = server.stats().requests

    async def rescore() -> ExperimentScoring:
        async with LiteLLMClient() as client:
            return await score_experiment(
                file_store, "exp", suite(server), runtime(client, file_store), resamples=100
            )

    again = asyncio.run(rescore())
    assert server.stats().requests == calls
    judged = again.scores.filter(pl.col("scorer") == "correctness")
    assert judged["metadata"].str.contains('"cached": true').all()


def test_production_traces_are_scored_and_the_judge_is_calibrated(
    file_store: Store, server: ModelServer, make_traces
) -> None:
    traces = make_traces(DAY.isoformat(), 10)  # thumbs up on odd traces; traces 4 and 9 ended in errors
    server.configure(
        answers={f"ANSWER:\nanswer {i}\n": f'{{"score": {5 if i % 2 else 1}}}' for i in range(10)}
    )
    scorers = build_scorers(
        [{"metric": "refusal"}, {"judge": "relevance", "model": "openai/judge", "api_base": server.base_url}]
    )

    async def main() -> TraceScoring:
        async with LiteLLMClient() as client:
            return await score_traces(
                file_store,
                DAY,
                scorers,
                runtime(client, file_store),
                traces=traces,
                sample_size=50,
                resamples=100,
            )

    scoring = asyncio.run(main())
    assert (scoring.traces, scoring.sampled) == (10, 10)
    overall = scoring.quality.filter(pl.col("segment_kind") == "all").sort("scorer")
    assert overall.select("scorer", "n_scored", "n_unscored").rows() == [
        ("refusal", 8, 2),
        ("relevance", 8, 2),
    ]
    (agreement,) = scoring.agreement.to_dicts()
    assert (agreement["judge"], agreement["feedback"], agreement["n"]) == ("relevance", "thumbs", 8)
    assert agreement["statistic"] == pytest.approx(1.0)
    published = publish_trace_scoring(file_store, scoring, run_id="run-1")
    assert [(p.table, p.row_count > 0) for p in published] == [
        ("trace_quality", True),
        ("judge_agreement", True),
    ]
