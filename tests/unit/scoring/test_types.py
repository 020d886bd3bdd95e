"""Score invariants (a failure is never a number) and the stable scorer spec."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracewatch.scoring import FrameScorer, Score, Scorer, ScorerSpec
from tracewatch.scoring.metrics import METRICS, build_scorer


@given(st.floats(allow_nan=False, allow_infinity=False) | st.integers(-(10**6), 10**6))
def test_scored_accepts_any_finite_number_as_float(value: float) -> None:
    score = Score.scored(value, "why")
    assert score.status == "scored"
    assert isinstance(score.value, float)
    assert score.value == value


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, None, True, "0.5"])
def test_scored_refuses_what_is_not_a_finite_number(value: object) -> None:
    with pytest.raises(ValueError, match="finite number"):
        Score(value, "scored", "x")  # type: ignore[arg-type]


@pytest.mark.parametrize("status", ["unscored", "error"])
def test_failures_carry_no_value_and_need_a_reason(status: str) -> None:
    with pytest.raises(ValueError, match="no value"):
        Score(0.0, status, "reason")  # type: ignore[arg-type]
    for reason in ("", "   "):
        with pytest.raises(ValueError, match="needs a reason"):
            Score(None, status, reason)  # type: ignore[arg-type]


def test_constructors_set_status_and_keep_the_reason() -> None:
    assert Score.unscored("no expected output") == Score(None, "unscored", "no expected output")
    assert Score.error("boom").status == "error"
    assert Score.error("boom").value is None


def test_unknown_status_is_refused() -> None:
    with pytest.raises(ValueError, match="status"):
        Score(1.0, "ok", "")  # type: ignore[arg-type]


def test_score_is_frozen_including_its_metadata() -> None:
    source = {"tokens": 3}
    score = Score.scored(1.0, "x", source)
    source["tokens"] = 4
    assert score.metadata["tokens"] == 3
    with pytest.raises(TypeError):
        score.metadata["tokens"] = 5  # type: ignore[index]
    with pytest.raises(AttributeError):
        score.value = 2.0  # type: ignore[misc]


def test_spec_json_is_stable_whatever_the_argument_order() -> None:
    a = ScorerSpec("regex", {"pattern": "x", "fullmatch": True})
    b = ScorerSpec("regex", {"fullmatch": True, "pattern": "x"})
    assert a == b
    assert a.to_json() == b.to_json() == '{"args":{"fullmatch":true,"pattern":"x"},"name":"regex"}'


def test_spec_copies_its_arguments_and_refuses_non_json() -> None:
    schema = {"type": "object"}
    spec = ScorerSpec("json_schema", {"schema": schema})
    schema["type"] = "array"
    assert spec.args["schema"] == {"type": "object"}
    with pytest.raises(ValueError, match="not plain JSON"):
        ScorerSpec("x", {"when": object()})
    with pytest.raises(ValueError, match="not plain JSON"):
        ScorerSpec("x", {"limit": math.nan})


REQUIRED_ARGS: dict[str, dict[str, object]] = {
    "regex": {"pattern": "a+"},
    "json_schema": {"schema": {"type": "object"}},
    "length": {"max": 10},
    "latency": {"max_ms": 100},
    "cost": {"max_usd": 0.01},
}


@pytest.mark.parametrize("name", sorted(METRICS))
def test_every_metric_is_both_scorer_kinds_and_its_spec_rebuilds_it(name: str) -> None:
    config = {"metric": name, **REQUIRED_ARGS.get(name, {})}
    metric = build_scorer(config)
    assert isinstance(metric, Scorer)
    assert isinstance(metric, FrameScorer)
    assert metric.name == name
    rebuilt = build_scorer(metric.spec.config())
    assert rebuilt.spec == metric.spec
