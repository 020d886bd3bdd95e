"""Online-style scoring of production traces: a deterministic sample of a day's traces through the configured
scorers, aggregated overall and per route and model, so quality trends exist on nights without experiments.

Where a sampled trace carries human feedback, each LLM judge's score on that same output is compared with it
(`judge_agreement`): Cohen's kappa when both sides are binary, Spearman's rho otherwise, always with n.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.hashing import key64, stable_hash64
from tracewatch.ingest import scan_accepted
from tracewatch.llm import Runtime
from tracewatch.reports import DAILY_SCORE_COLUMNS, JUDGE_AGREEMENT, TRACE_QUALITY, partition_key
from tracewatch.scoring.agreement import Agreement, cohen_kappa, spearman
from tracewatch.scoring.apply import SCORING_COLUMNS, context_text, score_rows
from tracewatch.scoring.segments import segmented_aggregates
from tracewatch.scoring.suite import LOWER_IS_BETTER, ScorerSuite
from tracewatch.store import Store

log = logging.getLogger(__name__)

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "route",
    "model",
    "input_text",
    "output_text",
    "retrieved_context",
    "latency_ms",
    "cost_usd",
    "status",
    "error_message",
    "feedback",
)
"""What trace scoring reads of each trace."""
SEGMENTS: tuple[str, ...] = ("route", "model")


@dataclass(frozen=True)
class TraceScoring:
    """One day's production scoring: the aggregates, the judges' agreement with feedback, what was sampled."""

    day: dt.date
    traces: int
    sampled: int
    scores: pl.DataFrame
    quality: pl.DataFrame
    agreement: pl.DataFrame

    @property
    def message(self) -> str:
        if self.sampled == 0:
            return f"{self.day}: no traces to score"
        scorers = self.scores["scorer"].n_unique()
        return f"{self.day}: scored {self.sampled} of {self.traces} traces with {scorers} scorers"


def sample_traces(traces: pl.DataFrame, size: int, seed: int) -> pl.DataFrame:
    """The `size` traces with the smallest stable hash of (seed, trace id): the same traces on every rerun, and
    a trace's chance does not depend on which other traces arrived."""
    if size < 0:
        raise ConfigError(f"trace scoring sample size {size} must be >= 0")
    if traces.height <= size:
        return traces.sort("trace_id")
    draws = stable_hash64(traces["trace_id"], key=key64(seed, "trace-scoring"))
    chosen = np.argsort(draws, kind="stable")[:size]
    return traces[np.sort(chosen)]


def _scoring_frame(traces: pl.DataFrame) -> pl.DataFrame:
    return traces.with_columns(
        input=pl.col("input_text"),
        output=pl.col("output_text"),
        expected=pl.lit(None, pl.String),
        context=context_text(pl.col("retrieved_context")),
        answered=(pl.col("status") == "ok") & pl.col("output_text").is_not_null(),
        not_answered_reason=pl.concat_str(
            pl.lit("the trace ended "), pl.col("status"), pl.lit(": "), pl.col("error_message").fill_null("")
        ),
    )


async def score_traces(
    store: Store,
    day: dt.date,
    suite: ScorerSuite,
    runtime: Runtime | None = None,
    *,
    sample_size: int = 200,
    seed: int = 0,
    traces: pl.DataFrame | None = None,
    resamples: int = 2000,
) -> TraceScoring:
    """Score a deterministic sample of `day`'s accepted traces (read from the store unless given)."""
    if traces is None:
        traces = scan_accepted(store, day, TRACE_COLUMNS)
    sample = _scoring_frame(sample_traces(traces.select(TRACE_COLUMNS), sample_size, seed))
    long = await score_rows(sample.select(list(SCORING_COLUMNS)), suite, runtime)
    keyed = sample.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    scores = keyed.select("row", "trace_id", *SEGMENTS, "feedback").join(long, on="row").drop("row")
    spread = (
        scores.filter(pl.col("status") == "scored")
        .group_by("scorer")
        .agg(pl.col("value").std(ddof=0).alias("std"), segment_kind=pl.lit("all"))
    )
    quality = (
        segmented_aggregates(
            scores.drop("feedback"), ["scorer", "scorer_args"], SEGMENTS, resamples=resamples, seed=seed
        )
        .join(spread, on=["scorer", "segment_kind"], how="left")
        .with_columns(
            higher_is_better=_directions(pl.col("scorer"), suite.higher_is_better()),
            traces=pl.lit(traces.height, pl.Int64),
            sampled=pl.lit(sample.height, pl.Int64),
        )
    )
    judges = {judge.name for judge in suite.judges}
    agreement = judge_agreement(scores.filter(pl.col("scorer").is_in(sorted(judges))))
    result = TraceScoring(day, traces.height, sample.height, scores, quality, agreement)
    log.info(result.message)
    return result


AGREEMENT_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, dtype in JUDGE_AGREEMENT.schema.items() if name != "run_id"
}
"""`judge_agreement`'s columns before the writer adds the run id."""


def judge_agreement(scores: pl.DataFrame) -> pl.DataFrame:
    """Per (judge, feedback name): agreement on the traces that have both a scored judgement and that feedback.

    `scores` are long judge scores with each trace's `feedback` list. Feedback given twice on one trace is
    averaged. Both sides binary (thumbs up/down against a pass/fail judge): Cohen's kappa; else Spearman."""
    rows: list[dict[str, object]] = []
    if scores.is_empty():
        return pl.DataFrame(schema=AGREEMENT_SCHEMA)
    pairs = (
        scores.filter(pl.col("status") == "scored")
        .explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback", separator=".")
        .filter(pl.col("feedback.value").is_finite())  # a null, NaN or inf rating is no rating
        .group_by("scorer", "scorer_args", "trace_id", "feedback.name")
        .agg(pl.col("value").first(), pl.col("feedback.value").mean())
        .sort("scorer", "feedback.name", "trace_id")
    )
    for (judge, args, name), group in pairs.group_by(
        "scorer", "scorer_args", "feedback.name", maintain_order=True
    ):
        found = _agreement(group["value"].to_numpy(), group["feedback.value"].to_numpy())
        message = found.reason or f"{found.method} {found.statistic:.2f} over {found.n} traces"
        rows.append(
            {
                "judge": judge,
                "judge_args": args,
                "feedback": name,
                "method": found.method,
                "statistic": found.statistic,
                "n": found.n,
                "message": message,
            }
        )
    return pl.DataFrame(rows, schema=AGREEMENT_SCHEMA)


def _agreement(judge: np.ndarray, human: np.ndarray) -> Agreement:
    binary = set(np.unique(judge)) <= {0.0, 1.0} and set(np.unique(human)) <= {0.0, 1.0}
    if binary:
        return cohen_kappa(judge.tolist(), human.tolist())
    return spearman(judge, human)


def _directions(scorer: pl.Expr, higher_is_better: Mapping[str, bool]) -> pl.Expr:
    """Each scorer's direction; a name the suite does not know (a partition written before directions were
    stored) takes its metric's default."""
    return scorer.replace_strict(
        dict(higher_is_better), default=~scorer.is_in(sorted(LOWER_IS_BETTER)), return_dtype=pl.Boolean
    )


def score_history(store: Store, start: dt.date, end: dt.date) -> pl.DataFrame:
    """Daily summaries of the production scores from `start` to `end` (the `trace_quality` partitions that
    exist, overall rows only) as `date, name, source, mean, count, std, higher_is_better`: what the quality
    trends read beside the feedback, each score with the direction its scorer gives it."""
    rows = []
    day = start
    while day <= end:
        key = partition_key(TRACE_QUALITY.name, day)
        if store.exists(key):
            overall = store.read_parquet(key).filter(pl.col("segment_kind") == "all", pl.col("n_scored") > 0)
            rows.append(
                overall.select(
                    date=pl.lit(day, pl.Date),
                    name=pl.col("scorer"),
                    source=pl.lit("trace_scoring"),
                    mean=pl.col("mean"),
                    count=pl.col("n_scored"),
                    std=pl.col("std"),
                    higher_is_better=(
                        pl.col("higher_is_better")
                        if "higher_is_better" in overall.columns
                        else _directions(pl.col("scorer"), {})
                    ),
                )
            )
        day += dt.timedelta(days=1)
    return pl.concat(rows) if rows else pl.DataFrame(schema=DAILY_SCORE_COLUMNS)
