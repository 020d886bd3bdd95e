"""Apply a scorer suite to a frame of answered rows (experiment items or production traces) and get one long
score row per (row, scorer): the shape every aggregate, comparison and report reads.

Rows come in the scoring shape, `SCORING_COLUMNS` (input, output, expected, context, latency_ms, cost_usd,
plus an `answered` flag): callers map their own columns onto it in one place. A row that was never answered
(the call failed or was skipped for budget) is `unscored` for every scorer, with the reason; it is never scored
as an empty output.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.llm import Runtime
from tracewatch.scoring.judges import LLMJudge
from tracewatch.scoring.suite import ScorerSuite
from tracewatch.scoring.types import SCORE_SCHEMA, Score

SCORING_COLUMNS: dict[str, pl.DataType] = {
    "input": pl.String(),
    "output": pl.String(),
    "expected": pl.String(),
    "context": pl.String(),
    "latency_ms": pl.Float64(),
    "cost_usd": pl.Float64(),
    "answered": pl.Boolean(),
    "not_answered_reason": pl.String(),
}
"""What scorers read. `context` is the retrieved passages joined into one text (the faithfulness judge's
evidence); `not_answered_reason` says why an unanswered row has no output."""

LONG_SCORES: dict[str, pl.DataType] = {
    "row": pl.Int64(),
    "scorer": pl.String(),
    "scorer_args": pl.String(),
    **SCORE_SCHEMA,
    "metadata": pl.String(),
}
"""One row per (input row, scorer); `scorer_args` is the scorer's JSON spec, `metadata` a JSON object (judge
model, temperature, seed, cached, cost; the raw reply of an unreadable judgement)."""


def context_text(passages: pl.Expr) -> pl.Expr:
    """Retrieved passages (a list of structs with `text`) as one numbered text, null when there are none."""
    joined = passages.list.eval(pl.element().struct.field("text")).list.join("\n\n")
    return pl.when(passages.list.len() > 0).then(joined)


def _check_shape(frame: pl.DataFrame) -> None:
    missing = [c for c in SCORING_COLUMNS if c not in frame.columns]
    if missing:
        raise ConfigError(
            f"rows to score lack column(s) {missing}; the scoring shape is {list(SCORING_COLUMNS)}"
        )


def _unanswered(frame: pl.DataFrame) -> pl.DataFrame:
    return frame.filter(~pl.col("answered")).select(
        value=pl.lit(None, pl.Float64),
        status=pl.lit("unscored"),
        explanation=pl.lit("no output to score: ") + pl.col("not_answered_reason").fill_null("not answered"),
    )


def _long(
    rows: pl.Series, scorer: str, args: str, scores: pl.DataFrame, metadata: pl.Series | None
) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "row": rows,
            "scorer": pl.Series([scorer] * len(rows), dtype=pl.String),
            "scorer_args": pl.Series([args] * len(rows), dtype=pl.String),
            "value": scores["value"],
            "status": scores["status"],
            "explanation": scores["explanation"],
            "metadata": metadata if metadata is not None else pl.Series([None] * len(rows), dtype=pl.String),
        },
        schema=LONG_SCORES,
    )


def _scores_frame(scores: Sequence[Score]) -> tuple[pl.DataFrame, pl.Series]:
    frame = pl.DataFrame(
        {
            "value": [s.value for s in scores],
            "status": [s.status for s in scores],
            "explanation": [s.explanation for s in scores],
        },
        schema=SCORE_SCHEMA,
    )
    metadata = pl.Series(
        [json.dumps(dict(s.metadata), sort_keys=True, default=str) for s in scores], dtype=pl.String
    )
    return frame, metadata


async def score_rows(frame: pl.DataFrame, suite: ScorerSuite, runtime: Runtime | None = None) -> pl.DataFrame:
    """Every scorer of `suite` on every row of `frame` (in the scoring shape), as `LONG_SCORES` rows.

    Judges need a `runtime` (model client, cache, limits, budget); heuristics run vectorised on the answered
    rows. Sorted by scorer (suite order) then row."""
    _check_shape(frame)
    if suite.judges and runtime is None:
        raise ConfigError(f"judges {[j.name for j in suite.judges]} need a model runtime; none was given")
    indexed = frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    answered = indexed.filter(pl.col("answered"))
    unanswered = indexed.filter(~pl.col("answered"))
    skipped = _unanswered(indexed)
    parts: list[pl.DataFrame] = []
    # A field no answered row has (say, no item has an expected output) is a field the items lack: the metric
    # then raises a ConfigError naming it, or marks the rows unscored if configured `missing: unscored`.
    present = answered.select(
        c for c in answered.columns if answered.height == 0 or answered[c].null_count() < answered.height
    )
    for named in suite.metrics:
        args = named.metric.spec.to_json()
        parts.append(_long(answered["row"], named.name, args, named.metric.score_frame(present), None))
        parts.append(_long(unanswered["row"], named.name, args, skipped, None))
    for judge in suite.judges:
        assert runtime is not None
        parts.extend(await _judge_parts(judge, answered, unanswered["row"], skipped, runtime))
    if not parts:
        return pl.DataFrame(schema=LONG_SCORES)
    order = {name: position for position, name in enumerate(suite.names)}
    return (
        pl.concat(parts)
        .with_columns(_order=pl.col("scorer").replace_strict(order, return_dtype=pl.Int64))
        .sort("_order", "row")
        .drop("_order")
    )


async def _judge_parts(
    judge: LLMJudge, answered: pl.DataFrame, unanswered: pl.Series, skipped: pl.DataFrame, runtime: Runtime
) -> list[pl.DataFrame]:
    items = answered.select("input", "output", "expected", "context").to_dicts()
    scores, metadata = _scores_frame(await judge.score_items(items, runtime))
    args = judge.spec.to_json()
    return [
        _long(answered["row"], judge.name, args, scores, metadata),
        _long(unanswered, judge.name, args, skipped, None),
    ]
