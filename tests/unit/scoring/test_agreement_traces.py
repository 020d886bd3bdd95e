"""Judge agreement has pairs to measure: the judges also score traces that carry human feedback (beyond the
uniform sample, for `judge_agreement` only), and feedback with no readable judgement is a row that says why."""

from __future__ import annotations

import asyncio
import datetime as dt

import polars as pl

from tests.support.fake_model import FakeModel
from tracewatch.llm import Runtime
from tracewatch.scoring.suite import build_scorers
from tracewatch.scoring.trace_scores import (
    TRACE_COLUMNS,
    TraceScoring,
    feedback_traces,
    judge_agreement,
    score_traces,
)
from tracewatch.store import Store

DAY = dt.date(2026, 11, 3)


def traces(n: int, *, with_feedback: set[int]) -> pl.DataFrame:
    """`n` answered traces; those in `with_feedback` carry a thumbs and a rating."""
    return pl.DataFrame(
        {
            "trace_id": [f"t{i:03d}" for i in range(n)],
            "route": ["qa"] * n,
            "model": ["m"] * n,
            "input_text": [f"question {i}?" for i in range(n)],
            "output_text": [f"answer {i}" for i in range(n)],
            "retrieved_context": [[] for _ in range(n)],
            "latency_ms": [100.0] * n,
            "cost_usd": [0.001] * n,
            "status": ["ok"] * n,
            "error_message": [None] * n,
            "feedback": [
                [
                    {"name": "thumbs", "value": float(i % 2), "source": "user"},
                    {"name": "rating", "value": float(1 + i % 5), "source": "user"},
                ]
                if i in with_feedback
                else []
                for i in range(n)
            ],
        },
        schema_overrides={
            "retrieved_context": pl.List(pl.Struct({"id": pl.String, "text": pl.String})),
            "error_message": pl.String,
        },
    ).select(TRACE_COLUMNS)


def test_feedback_traces_are_other_traces_with_finite_feedback_in_hash_order() -> None:
    frame = traces(40, with_feedback={3, 7, 11, 19, 23, 31})
    sample = frame.filter(pl.col("trace_id").is_in(["t003", "t010"]))
    picked = feedback_traces(frame, sample, 3, seed=0)
    assert picked.height == 3
    assert set(picked["trace_id"]) <= {"t007", "t011", "t019", "t023", "t031"}
    again = feedback_traces(frame.reverse(), sample, 3, seed=0)
    assert sorted(picked["trace_id"]) == sorted(again["trace_id"])  # a function of the ids, not their order
    assert feedback_traces(frame, sample, 0, seed=0).is_empty()
    nan_only = frame.with_columns(
        feedback=pl.lit([{"name": "thumbs", "value": float("nan"), "source": "user"}])
    )
    assert feedback_traces(nan_only, sample, 3, seed=0).is_empty()  # a NaN rating is no rating


def test_feedback_with_no_readable_judgement_is_a_row_with_n_0_and_the_reason() -> None:
    scores = pl.DataFrame(
        {
            "scorer": ["relevance"] * 2,
            "scorer_args": ["{}"] * 2,
            "trace_id": ["a", "b"],
            "value": [None, None],
            "status": ["error", "error"],
            "feedback": [[{"name": "thumbs", "value": 1.0, "source": "user"}]] * 2,
        },
        schema_overrides={"value": pl.Float64},
    )
    (row,) = judge_agreement(scores).to_dicts()
    assert (row["judge"], row["feedback"], row["n"], row["statistic"]) == ("relevance", "thumbs", 0, None)
    assert row["message"] == "no readable judgement on any of the 2 trace(s) with this feedback"


def test_judges_also_score_feedback_traces_for_agreement_only(file_store: Store) -> None:
    frame = traces(60, with_feedback=set(range(0, 60, 4)))  # 15 traces with feedback
    suite = build_scorers(
        [{"metric": "length", "max": 100}, {"judge": "relevance", "model": "openai/judge", "api_base": "x"}]
    )
    client = FakeModel(reply=lambda text, _call: '{"score": 5}' if "answer 4" in text else '{"score": 2}')

    async def run(agreement_size: int) -> TraceScoring:
        return await score_traces(
            file_store,
            DAY,
            suite,
            Runtime(client=client),
            sample_size=4,
            traces=frame,
            resamples=20,
            agreement_size=agreement_size,
        )

    plain, wider = asyncio.run(run(0)), asyncio.run(run(6))
    # The sample and its quality are the same either way; only judge_agreement sees the extra traces.
    assert wider.sampled == plain.sampled == 4 and wider.agreement_traces == 6
    assert wider.scores.equals(plain.scores)
    assert wider.quality.drop("ci_low", "ci_high").equals(plain.quality.drop("ci_low", "ci_high"))
    in_sample = plain.scores.filter(pl.col("feedback").list.len() > 0)["trace_id"].n_unique()
    agreement = {row["feedback"]: row for row in wider.agreement.to_dicts()}
    assert agreement["rating"]["n"] == in_sample + 6 and agreement["rating"]["statistic"] is not None
    assert "relevance vs rating feedback: spearman" in wider.message and "(n=" in wider.message
