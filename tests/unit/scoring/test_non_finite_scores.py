"""A NaN or infinite number never becomes a score, a mean or an agreement statistic."""

from __future__ import annotations

import math

import polars as pl
import pytest

from tracewatch.errors import DataContractError
from tracewatch.scoring.aggregation import aggregate
from tracewatch.scoring.metrics.thresholds import CostThreshold, LatencyThreshold
from tracewatch.scoring.trace_scores import judge_agreement
from tracewatch.scoring.types import Score

NAN, INF = float("nan"), float("inf")


def test_a_non_finite_measure_is_unscored_not_a_failed_threshold() -> None:
    assert LatencyThreshold(1000)({"latency_ms": NAN}) == Score.unscored(
        "latency_ms is NaN, not a finite number"
    )
    frame = pl.DataFrame({"cost_usd": [0.5, INF, -INF, None, 2.0]})
    scored = CostThreshold(1).score_frame(frame)
    assert scored["status"].to_list() == ["scored", "unscored", "unscored", "unscored", "scored"]
    assert scored["value"].to_list() == [1.0, None, None, None, 0.0]
    assert scored["explanation"][1] == "cost_usd is inf, not a finite number"


@pytest.mark.parametrize("bad", [NAN, INF, -INF])
def test_aggregate_refuses_a_scored_value_that_is_not_finite(bad: float) -> None:
    frame = pl.DataFrame({"config": ["a", "a"], "value": [1.0, bad], "status": ["scored", "scored"]})
    with pytest.raises(DataContractError, match="non-finite"):
        aggregate(frame, ["config"])


def test_judge_agreement_leaves_out_feedback_that_is_not_finite() -> None:
    ratings = [5.0, 1.0, NAN, 4.0, INF, 2.0, None]
    judge = [1.0, 0.0, 0.5, 0.75, 0.25, 0.5, 1.0]
    scores = pl.DataFrame(
        {
            "scorer": ["correctness"] * len(judge),
            "scorer_args": ["{}"] * len(judge),
            "trace_id": [f"t{i}" for i in range(len(judge))],
            "value": judge,
            "status": ["scored"] * len(judge),
            "feedback": [[{"name": "rating", "value": r, "source": "user"}] for r in ratings],
        }
    )
    (row,) = judge_agreement(scores).to_dicts()
    assert row["n"] == 4
    assert row["statistic"] is not None and math.isfinite(row["statistic"])
