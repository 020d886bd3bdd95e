"""The scoring stage's pure parts: building a suite from configs, applying it to rows (answered or not),
segment aggregates, the deterministic trace sample and judge-vs-feedback agreement."""

from __future__ import annotations

import asyncio

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.errors import ConfigError
from tracewatch.experiments import experiment_from_dict
from tracewatch.scoring.agreement import cohen_kappa, spearman
from tracewatch.scoring.apply import LONG_SCORES, SCORING_COLUMNS, score_rows
from tracewatch.scoring.segments import segmented_aggregates
from tracewatch.scoring.stage import experiment_suite, format_leaderboard, load_trace_scoring
from tracewatch.scoring.suite import build_scorers
from tracewatch.scoring.trace_scores import judge_agreement, sample_traces


def rows(outputs: list[str | None], expected: list[str | None], answered: list[bool]) -> pl.DataFrame:
    n = len(outputs)
    return pl.DataFrame(
        {
            "input": ["q"] * n,
            "output": outputs,
            "expected": expected,
            "context": [None] * n,
            "latency_ms": [100.0] * n,
            "cost_usd": [0.01] * n,
            "answered": answered,
            "not_answered_reason": [None if a else "the call ended error: HTTP 500" for a in answered],
        },
        schema=SCORING_COLUMNS,
    )


def test_a_suite_is_built_from_metric_and_judge_configs() -> None:
    suite = build_scorers(
        [
            {"metric": "token_f1"},
            {"metric": "regex", "name": "mentions_paris", "pattern": "Paris"},
            {"metric": "refusal"},
            {"judge": "relevance", "model": "openai/judge", "api_base": "http://127.0.0.1:1/v1"},
        ]
    )
    assert suite.names == ["token_f1", "mentions_paris", "refusal", "relevance"]
    assert suite.higher_is_better() == {
        "token_f1": True,
        "mentions_paris": True,
        "refusal": False,
        "relevance": True,
    }


@pytest.mark.parametrize(
    ("configs", "message"),
    [
        ([{"metric": "bleu"}, {"metric": "bleu"}], "scorer names ['bleu'] repeat"),
        ([{"metric": "bleu", "judge": "relevance"}], "scorers[0]: set exactly one of"),
        ([{"metric": "nope"}], "scorers[0]: unknown metric 'nope'"),
        ([{"judge": "relevance"}], "scorers[0]: judge 'relevance' needs a `model`"),
        ([{"metric": "regex"}], "scorers[0]: metric 'regex' needs argument(s) ['pattern']"),
        ("token_f1", "expected a list of scorer configs"),
        ([["token_f1"]], "scorers[0]: expected a mapping"),
    ],
)
def test_bad_scorer_configs_name_the_entry(configs: object, message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        build_scorers(configs)  # type: ignore[arg-type]
    assert message in str(raised.value)


def test_unanswered_rows_are_unscored_with_the_reason_for_every_scorer() -> None:
    suite = build_scorers([{"metric": "exact_match"}, {"metric": "token_f1"}])
    frame = rows(["Paris", None, "Lyon"], ["Paris", "Paris", "Paris"], [True, False, True])
    scores = asyncio.run(score_rows(frame, suite))
    assert scores.schema == pl.Schema(LONG_SCORES)
    assert scores.select("scorer", "row", "status", "value").rows() == [
        ("exact_match", 0, "scored", 1.0),
        ("exact_match", 1, "unscored", None),
        ("exact_match", 2, "scored", 0.0),
        ("token_f1", 0, "scored", 1.0),
        ("token_f1", 1, "unscored", None),
        ("token_f1", 2, "scored", 0.0),
    ]
    reason = scores.filter(pl.col("row") == 1)["explanation"].to_list()
    assert reason == ["no output to score: the call ended error: HTTP 500"] * 2
    assert scores["scorer_args"][0] == '{"args":{"missing":"error"},"name":"exact_match"}'


def test_judges_without_a_runtime_are_a_config_error() -> None:
    suite = build_scorers(
        [{"judge": "relevance", "model": "openai/judge", "api_base": "http://127.0.0.1:1/v1"}]
    )
    with pytest.raises(ConfigError, match="need a model runtime"):
        asyncio.run(score_rows(rows(["a"], ["a"], [True]), suite))


def test_rows_in_another_shape_are_refused() -> None:
    with pytest.raises(ConfigError, match=r"lack column\(s\) \['answered', 'not_answered_reason'\]"):
        asyncio.run(
            score_rows(rows(["a"], ["a"], [True]).drop("answered", "not_answered_reason"), build_scorers([]))
        )


def test_segments_aggregate_overall_and_per_label_with_exploded_tags() -> None:
    scores = pl.DataFrame(
        {
            "config": ["a", "a", "a"],
            "route": ["qa", "qa", "chat"],
            "tags": [["x", "y"], ["x"], []],
            "value": [1.0, 0.0, None],
            "status": ["scored", "scored", "error"],
        }
    )
    out = segmented_aggregates(scores, ["config"], ["route", "tags"], resamples=200)
    table = {
        (r["segment_kind"], r["segment"]): (r["mean"], r["n_scored"], r["n_error"]) for r in out.to_dicts()
    }
    assert table[("all", "all")] == (0.5, 2, 1)
    assert table[("route", "qa")] == (0.5, 2, 0)
    assert table[("route", "chat")] == (None, 0, 1)
    assert table[("tags", "x")] == (0.5, 2, 0)
    assert table[("tags", "y")] == (1.0, 1, 0)
    assert table[("tags", "(none)")] == (None, 0, 1)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), size=st.integers(0, 30), seed=st.integers(0, 5), extra=st.integers(0, 20))
def test_the_trace_sample_is_deterministic_and_stable_under_new_arrivals(
    n: int, size: int, seed: int, extra: int
) -> None:
    traces = pl.DataFrame({"trace_id": [f"t{i}" for i in range(n)]}, schema={"trace_id": pl.String})
    first = sample_traces(traces, size, seed)["trace_id"].to_list()
    assert sorted(first) == sorted(sample_traces(traces.reverse(), size, seed)["trace_id"].to_list())
    assert len(first) == min(n, size) and len(set(first)) == len(first)
    arrivals = pl.DataFrame({"trace_id": [f"new{i}" for i in range(extra)]}, schema={"trace_id": pl.String})
    more = pl.concat([traces, arrivals])
    kept = set(sample_traces(more, size, seed)["trace_id"].to_list())
    # A trace picked from the bigger day is picked from the smaller one too (its hash beat more rivals).
    assert {t for t in kept if t.startswith("t")} <= set(first)


def test_judge_agreement_uses_kappa_for_binary_and_spearman_otherwise() -> None:
    judge = [1.0, 0.0, 1.0, 1.0, 0.0, 0.75]
    thumbs = [1.0, 0.0, 0.0, 1.0, 0.0, 1.0]
    rating = [5.0, 1.0, 3.0, 4.0, 2.0, 4.0]
    scores = pl.DataFrame(
        {
            "scorer": ["correctness"] * 5 + ["relevance"],
            "scorer_args": ["{}"] * 6,
            "trace_id": [f"t{i}" for i in range(6)],
            "value": judge,
            "status": ["scored"] * 6,
            "feedback": [
                [
                    {"name": "thumbs", "value": t, "source": "user"},
                    {"name": "rating", "value": r, "source": "user"},
                ]
                for t, r in zip(thumbs, rating, strict=True)
            ],
        }
    )
    out = {(r["judge"], r["feedback"]): r for r in judge_agreement(scores).to_dicts()}
    kappa = cohen_kappa(judge[:5], thumbs[:5])
    assert out[("correctness", "thumbs")]["statistic"] == pytest.approx(kappa.statistic)
    assert out[("correctness", "thumbs")]["n"] == 5
    rho = spearman(judge[:5], rating[:5])
    assert out[("correctness", "rating")]["method"] == rho.method
    assert out[("correctness", "rating")]["statistic"] == pytest.approx(rho.statistic)
    assert out[("relevance", "thumbs")]["statistic"] is None  # one trace: undefined, and says why
    assert out[("relevance", "thumbs")]["message"]


def test_the_shipped_trace_scoring_config_loads() -> None:
    spec = load_trace_scoring("traces")
    assert spec.sample_size == 200
    assert spec.suite.names == ["refusal", "length", "latency", "cost"]
    assert not spec.suite.judges


def test_the_demo_trace_scoring_needs_the_demo_model_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEWATCH_DEMO_MODEL_URL", raising=False)
    with pytest.raises(ConfigError, match="TRACEWATCH_DEMO_MODEL_URL"):
        load_trace_scoring("demo")
    monkeypatch.setenv("TRACEWATCH_DEMO_MODEL_URL", "http://127.0.0.1:9/v1")
    spec = load_trace_scoring("demo")
    assert [j.name for j in spec.suite.judges] == ["relevance"]
    assert spec.limits is not None and spec.limits["openai/smollm2"].max_concurrency == 2


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"sample": 3}, "unknown key(s) ['sample']"),
        ({"sample_size": -1}, "sample_size must be an integer >= 0"),
        ({"scorers": [{"metric": "nope"}]}, "trace scoring: scorers[0]: unknown metric 'nope'"),
        ({"limits": {"openai/x": {"max_concurrency": 0}}}, "limits.openai/x"),
    ],
)
def test_bad_trace_scoring_configs_say_what_is_wrong(config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load_trace_scoring(config)
    assert message in str(raised.value)


def test_an_experiment_without_scorers_gets_the_default_heuristics() -> None:
    experiment = experiment_from_dict(
        {"name": "e", "configs": [{"name": "c", "model": "openai/x", "api_base": "http://127.0.0.1:9/v1"}]},
        check_providers=False,
    )
    assert experiment_suite(experiment).names == ["token_f1", "rouge_l", "refusal"]


def test_the_leaderboard_markdown_shows_ci_and_verdicts() -> None:
    rows = [
        {"scorer": "f1", "config_name": "a", "baseline": True, "mean": 0.5, "ci_low": 0.4, "ci_high": 0.6}
        | {"n_scored": 10, "n_error": 0},
        {"scorer": "f1", "config_name": "b", "baseline": False, "mean": None, "ci_low": None, "ci_high": None}
        | {"n_scored": 0, "n_error": 10, "verdict": "no detectable difference"},
    ]
    text = format_leaderboard(rows)
    assert "| f1 | a | 0.500 [0.400, 0.600] | 10 | 0 | baseline |" in text
    assert "| f1 | b | - | 0 | 10 | no detectable difference |" in text


def test_a_metric_needing_a_field_no_item_has_is_a_config_error_unless_told_otherwise() -> None:
    frame = rows(["Paris", "Lyon"], [None, None], [True, True])
    with pytest.raises(ConfigError, match=r"metric 'token_f1' needs field\(s\) \['expected'\]"):
        asyncio.run(score_rows(frame, build_scorers([{"metric": "token_f1"}])))
    lenient = asyncio.run(score_rows(frame, build_scorers([{"metric": "token_f1", "missing": "unscored"}])))
    assert lenient["status"].to_list() == ["unscored", "unscored"]
    # One item without an expected output is that item's matter, not the config's.
    mixed = asyncio.run(
        score_rows(
            rows(["Paris", "Lyon"], ["Paris", None], [True, True]), build_scorers([{"metric": "token_f1"}])
        )
    )
    assert mixed["status"].to_list() == ["scored", "unscored"]
