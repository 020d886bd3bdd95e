"""Online-style scoring of production traces: a deterministic sample of a day's traces through the configured
scorers, aggregated overall and per route and model, so quality trends exist on nights without experiments.

Where a judged trace carries human feedback, each LLM judge's score on that same output is compared with it
(`judge_agreement`): Cohen's kappa when both sides are binary, Spearman's rho otherwise, always with n. A
uniform sample rarely holds enough traces with feedback (judges are costly, so samples are small), so the
judges also score up to `agreement_size` traces that carry feedback, picked by the same stable hash: those
count in `judge_agreement` only, never in `trace_quality`, whose sample stays uniform.
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
from tracewatch.llm import Runtime
from tracewatch.part_map import PartMap, in_process
from tracewatch.reports import DAILY_SCORE_COLUMNS, JUDGE_AGREEMENT, TRACE_QUALITY, partition_key
from tracewatch.scoring.agreement import Agreement, cohen_kappa, spearman
from tracewatch.scoring.apply import SCORING_COLUMNS, context_text, score_rows
from tracewatch.scoring.segments import segmented_aggregates
from tracewatch.scoring.suite import LOWER_IS_BETTER, ScorerSuite
from tracewatch.scoring.trace_sample import (
    TRACE_COLUMNS,  # noqa: F401 (re-exported: what scoring reads)
    DaySample,
    day_sample,
    has_feedback,
    sample_frame,
)
from tracewatch.store import Store

log = logging.getLogger(__name__)

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
    agreement_traces: int = 0
    """Traces with feedback the judges scored beyond the sample, for `agreement` only."""

    @property
    def message(self) -> str:
        if self.sampled == 0:
            return f"{self.day}: no traces to score"
        scorers = self.scores["scorer"].n_unique()
        extra = f"; judges also scored {self.agreement_traces} with feedback" if self.agreement_traces else ""
        line = f"{self.day}: scored {self.sampled} of {self.traces} traces with {scorers} scorers{extra}"
        return line + "".join(f"; {agreement}" for agreement in self.agreement_lines())

    def agreement_lines(self) -> list[str]:
        """Each judge's agreement with each kind of human feedback, with its n: `relevance vs thumbs:
        spearman 0.41 (n=12)`, or `unknown (n=1: needs at least 3 scored items, got 1)`."""
        lines = []
        for row in self.agreement.iter_rows(named=True):
            measured = row["statistic"] is not None
            value = (
                f"{row['method']} {row['statistic']:.2f} (n={row['n']})"
                if measured
                else (f"unknown (n={row['n']}: {row['message']})")
            )
            lines.append(f"{row['judge']} vs {row['feedback']} feedback: {value}")
        return lines


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


def feedback_traces(traces: pl.DataFrame, sample: pl.DataFrame, size: int, seed: int) -> pl.DataFrame:
    """Up to `size` traces with human feedback that are not in `sample`, by the sample's stable hash: what the
    judges also score so that their agreement with people has pairs to be measured on."""
    if size < 0:
        raise ConfigError(f"trace scoring agreement size {size} must be >= 0")
    rest = traces.filter(has_feedback(), ~pl.col("trace_id").is_in(sample["trace_id"].implode()))
    return sample_traces(rest, size, seed)


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
    agreement_size: int = 0,
    part_map: PartMap = in_process,
    picked: DaySample | None = None,
) -> TraceScoring:
    """Score a deterministic sample of `day`'s accepted traces (read from the store file by file through
    `part_map`, unless the traces or the picks are given: a flow maps `day_sample` over its workers from its
    own body); the judges also score up to `agreement_size` other traces with feedback, for `judge_agreement`
    only. The picks are `sample_traces` and `feedback_traces` of the whole day."""
    if picked is None:
        picked = (
            day_sample(
                store, day, size=sample_size, agreement_size=agreement_size, seed=seed, part_map=part_map
            )
            if traces is None
            else sample_frame(traces, sample_size, agreement_size, seed)
        )
    sample = _scoring_frame(picked.sample)
    scores = await _long_scores(sample, suite, runtime)
    judges_only = ScorerSuite(judges=suite.judges)
    extra = _scoring_frame(picked.extra)
    extra_scores = await _long_scores(extra, judges_only, runtime) if judges_only and extra.height else None
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
            traces=pl.lit(picked.traces, pl.Int64),
            sampled=pl.lit(sample.height, pl.Int64),
        )
    )
    judged = scores.filter(pl.col("scorer").is_in(sorted(j.name for j in suite.judges)))
    agreement = judge_agreement(judged if extra_scores is None else pl.concat([judged, extra_scores]))
    extra_count = 0 if extra_scores is None else extra.height
    result = TraceScoring(day, picked.traces, sample.height, scores, quality, agreement, extra_count)
    log.info(result.message)
    return result


async def _long_scores(frame: pl.DataFrame, suite: ScorerSuite, runtime: Runtime | None) -> pl.DataFrame:
    """`suite`'s long scores of `frame`'s traces, each with its trace id, segments and feedback."""
    long = await score_rows(frame.select(list(SCORING_COLUMNS)), suite, runtime)
    keyed = frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    return keyed.select("row", "trace_id", *SEGMENTS, "feedback").join(long, on="row").drop("row")


AGREEMENT_SCHEMA: dict[str, pl.DataType] = {
    name: dtype for name, dtype in JUDGE_AGREEMENT.schema.items() if name != "run_id"
}
"""`judge_agreement`'s columns before the writer adds the run id."""


def judge_agreement(scores: pl.DataFrame) -> pl.DataFrame:
    """Per (judge, feedback name): agreement on the traces that have both a scored judgement and that feedback.

    `scores` are long judge scores with each trace's `feedback` list. Feedback given twice on one trace is
    averaged. Both sides binary (thumbs up/down against a pass/fail judge): Cohen's kappa; else Spearman. A
    feedback name the judged traces carry but no judgement of them could be read gets a row with n = 0, an
    unknown statistic and the reason, so a night without a measure says why."""
    if scores.is_empty():
        return pl.DataFrame(schema=AGREEMENT_SCHEMA)
    labelled = (
        scores.explode("feedback")
        .drop_nulls("feedback")
        .unnest("feedback", separator=".")
        .filter(pl.col("feedback.value").is_finite())  # a null, NaN or inf rating is no rating
        .group_by("scorer", "scorer_args", "trace_id", "feedback.name")
        .agg((pl.col("status") == "scored").first().alias("scored"), "value", pl.col("feedback.value").mean())
        .with_columns(pl.col("value").list.first())
        .sort("scorer", "feedback.name", "trace_id")
    )
    rows: list[dict[str, object]] = []
    for (judge, args, name), group in labelled.group_by(
        "scorer", "scorer_args", "feedback.name", maintain_order=True
    ):
        pairs = group.filter(pl.col("scored"))
        if pairs.is_empty():
            # Feedback was there but no judgement could be read: a row that says so, not a missing row.
            found = Agreement(
                None,
                0,
                "none",
                f"no readable judgement on any of the {group.height} trace(s) with this feedback",
            )
        else:
            found = _agreement(pairs["value"].to_numpy(), pairs["feedback.value"].to_numpy())
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
