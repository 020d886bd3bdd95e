"""The demo's injected drift (from day 10) alerts on the features each effect touches, on no other feature, and
never before day 10; the falling feedback alerts as a quality drop on day 10; a rolling reference that leaves
out alerted days keeps alerting on the sustained drift."""

from __future__ import annotations

from dataclasses import replace

import pytest

from tests.support.demo_days import demo_date, demo_day
from tracewatch.drift import (
    CheckResult,
    DayProfile,
    DriftConfig,
    NightAssessment,
    assess_night,
    build_day_profile,
)
from tracewatch.traces import DriftSpec

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
    "new_model_version": ({"model"}, {"error_type", "status"}),
    # More sports questions: the input texts and tags (sports is a tag) move. The hashed topic cells move too
    # (chi-square p about 0.002 at 2,000 traces), but not always beyond the night's noise at alpha 0.01.
    "topic_mix": (
        {"tags"},
        {"input_topic", "input_chars", "input_tokens", "question_type", "input_non_ascii_share"},
    ),
    # Longer answers: more output tokens, so more generation latency and cost.
    "longer_outputs": ({"output_chars", "output_tokens"}, {"latency_ms", "cost_usd"}),
}


def _profile(index: int, spec: DriftSpec) -> DayProfile:
    return build_day_profile(demo_day(index, traces=TRACES, seed=7, drift=spec), demo_date(index))


@pytest.fixture(scope="module")
def days() -> dict[int, DayProfile]:
    return {i: _profile(i, ALL_EFFECTS) for i in range(1, DAYS + 1)}


def _night(days: dict[int, DayProfile], index: int, reference: list[int]) -> NightAssessment:
    return assess_night([days[j] for j in reference], days[index], DriftConfig())


def _alerted(night: NightAssessment) -> set[str]:
    return {r.feature for r in night.results if r.role == "test" and r.alert}


def test_rolling_reference_is_silent_before_day_10_and_alerts_on_day_10_and_after(
    days: dict[int, DayProfile],
) -> None:
    alerted: set[int] = set()
    must = set().union(*(m for m, _ in EFFECTS.values()))
    may = set().union(*(m | extra for m, extra in EFFECTS.values()))
    for index in range(2, DAYS + 1):
        usable = [j for j in range(index - 1, 0, -1) if j not in alerted][:7]
        night = _night(days, index, sorted(usable))
        assert (night.warming_up is not None) == (index < 4), index  # 3 reference days needed
        if index < 10:
            assert night.alerts == (), (index, [a.message for a in night.alerts])
            continue
        alerted.add(index)
        # Days 10-14 are compared with days 2-9 only: the drift is never absorbed into the reference.
        assert max(usable) == 9
        assert must <= _alerted(night) <= may, index
        assert {"thumbs", "rating"} <= {p.name for p in night.quality if p.alert}, index


def test_the_text_vectors_mmd_is_reported_as_an_extra(days: dict[int, DayProfile]) -> None:
    def mmd(index: int) -> CheckResult:
        night = _night(days, index, list(range(max(1, index - 7), index)))
        return next(r for r in night.results if r.feature == "input_vector")

    for index in range(2, 10):
        assert mmd(index).p_value is not None and mmd(index).p_value >= 0.05  # type: ignore[operator]
    day_10 = mmd(10)
    assert day_10.role == "extra" and not day_10.alert
    assert day_10.drifted and day_10.p_value is not None and day_10.p_value < 1e-6, day_10.message
    assert (day_10.kind, day_10.reference_size, day_10.current_size) == ("vector", 7 * TRACES, TRACES)


@pytest.mark.parametrize("effect", sorted(EFFECTS))
def test_each_effect_alone_alerts_on_its_own_features_only(days: dict[int, DayProfile], effect: str) -> None:
    night = assess_night(
        [days[i] for i in range(1, 8)], _profile(10, replace(ONLY, **{effect: True})), DriftConfig()
    )
    must, extra = EFFECTS[effect]
    assert must <= _alerted(night) <= must | extra, _alerted(night)
    quality = {p.name for p in night.quality if p.alert}
    assert quality == ({"thumbs", "rating"} if effect == "falling_feedback" else set()), quality
