"""The demo's injected drift (from day 10) is found on the features each effect touches, on no other
feature, and never before day 10; the falling feedback shows as a quality drop on day 10."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pytest

from tracewatch.drift import (
    CheckResult,
    DayProfile,
    DriftConfig,
    build_day_profile,
    merge_profiles,
    run_checks,
)
from tracewatch.drift.quality import feedback_scores, quality_trends
from tracewatch.traces.demo import DriftSpec, generate_day

START = dt.date(2026, 11, 1)
TRACES = 2000
DAYS = 14
ALL_EFFECTS = DriftSpec(from_day=10)
ONLY = DriftSpec(
    from_day=10,
    topic_mix=False,
    longer_outputs=False,
    latency_regression=False,
    falling_feedback=False,
    new_model_version=False,
)
# effect -> (features it must drift, features it may also drift because the generator couples them)
EFFECTS: dict[str, tuple[set[str], set[str]]] = {
    "latency_regression": ({"latency_ms"}, set()),
    "falling_feedback": ({"feedback.thumbs", "feedback.rating"}, set()),
    "new_model_version": ({"model"}, set()),
    # More sports questions: the input texts, their topic cells, text vectors and tags (sports is a tag) move.
    "topic_mix": (
        {"input_topic", "input_vector", "tags"},
        {"input_chars", "input_tokens", "question_type", "input_non_ascii_share"},
    ),
    # Longer answers: more output tokens, so more generation latency and cost.
    "longer_outputs": ({"output_chars", "output_tokens"}, {"latency_ms", "cost_usd"}),
}


def _profile(index: int, spec: DriftSpec) -> DayProfile:
    day = START + dt.timedelta(days=index - 1)
    return build_day_profile(generate_day(day, seed=7, traces=TRACES, day_index=index, drift=spec), day)


@pytest.fixture(scope="module")
def days() -> dict[int, DayProfile]:
    return {i: _profile(i, ALL_EFFECTS) for i in range(1, DAYS + 1)}


def _rolling(days: dict[int, DayProfile], index: int) -> DayProfile:
    return merge_profiles(days[j] for j in range(max(1, index - 7), index))


def test_rolling_reference_is_silent_before_day_10_and_fires_on_day_10(days: dict[int, DayProfile]) -> None:
    config = DriftConfig()
    for index in range(2, 10):
        report = run_checks(_rolling(days, index), days[index], config)
        assert report.drifted_features == (), (index, report.drifted_features)
    drifted = set(run_checks(_rolling(days, 10), days[10], config).drifted_features)
    must = set().union(*(m for m, _ in EFFECTS.values()))
    may = set().union(*(m | extra for m, extra in EFFECTS.values()))
    assert must <= drifted <= may


def test_a_pinned_baseline_keeps_firing_on_every_drifted_day(days: dict[int, DayProfile]) -> None:
    baseline = merge_profiles(days[i] for i in range(1, 8))
    must = set().union(*(m for m, _ in EFFECTS.values()))
    for index in (8, 9):
        assert run_checks(baseline, days[index], DriftConfig()).drifted_features == ()
    for index in range(10, DAYS + 1):
        assert must <= set(run_checks(baseline, days[index], DriftConfig()).drifted_features), index


def test_the_text_vector_mmd_is_silent_on_days_2_to_9_and_fires_on_day_10(
    days: dict[int, DayProfile],
) -> None:
    def mmd(index: int) -> CheckResult:
        results = run_checks(_rolling(days, index), days[index], DriftConfig()).results
        return next(r for r in results if r.feature == "input_vector")

    for index in range(2, 10):
        result = mmd(index)
        assert result.method == "mmd" and result.p_value is not None and result.p_value >= 0.05, (
            result.message
        )
    day_10 = mmd(10)
    assert day_10.drifted and day_10.p_value is not None and day_10.p_value < 1e-6, day_10.message
    assert (day_10.kind, day_10.reference_size, day_10.current_size) == ("vector", 7 * TRACES, TRACES)
    assert day_10.message.startswith("input_vector drifted: MMD p-value")


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_each_effect_alone_drifts_its_own_features_only(days: dict[int, DayProfile], effect: str) -> None:
    baseline = merge_profiles(days[i] for i in range(1, 8))
    drifted = set(
        run_checks(baseline, _profile(10, replace(ONLY, **{effect: True})), DriftConfig()).drifted_features
    )
    must, extra = EFFECTS[effect]
    assert must <= drifted <= must | extra, drifted


def test_falling_feedback_is_a_quality_drop_on_day_10_only(days: dict[int, DayProfile]) -> None:
    for index in range(4, 11):
        reference = [days[j] for j in range(max(1, index - 7), index)]
        scores = feedback_scores([*reference, days[index]])
        points = quality_trends(scores, days[index].day, [p.day for p in reference], DriftConfig())
        changed = {p.name for p in points if p.changed}
        assert changed == ({"thumbs", "rating"} if index == 10 else set()), index
