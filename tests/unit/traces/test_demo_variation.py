"""The generator's opt-in extensions for the alerting benchmark: day-to-day variation of the traffic mix and single
drift kinds at graded magnitudes. By default every frame is exactly what it was before they existed."""

from __future__ import annotations

import hashlib
from typing import Any

import polars as pl
import pytest

from tests.support.demo_days import demo_date, demo_day
from tracewatch.errors import ConfigError
from tracewatch.traces import (
    DRIFT_KINDS,
    DRIFT_MAGNITUDES,
    MAGNITUDE_LEVELS,
    TRACE_SCHEMA,
    DayVariation,
    DriftSpec,
    _profile,
    generate_day,
)
from tracewatch.traces._synth_text import FOREIGN_QUESTIONS

BIG = 20_000
NON_LATIN = r"[\u0400-\u04FF\u3040-\u30FF\u3400-\u9FFF]"


def make(index: int, traces: int = BIG, *, seed: int = 5, **kwargs: Any) -> pl.DataFrame:
    return demo_day(index, traces=traces, seed=seed, **kwargs)


def digest(frame: pl.DataFrame) -> str:
    return hashlib.sha256(frame.write_ndjson().encode()).hexdigest()


# ---- defaults are today's frames ---------------------------------------------------------------------------

# sha256 of `write_ndjson()` of frames generated at commit fe1f3d2, before variation and graded drift existed.
PINNED: dict[str, tuple[dict[str, Any], str]] = {
    "undrifted": (
        {"day_index": 3, "traces": 2000, "seed": 7, "drift": DriftSpec(from_day=10)},
        "66bb293b39764e324679fff88560b4cf42fa79bf10655f2b6acd7ed21d886272",
    ),
    "demo_drift": (
        {"day_index": 12, "traces": 2000, "seed": 7, "drift": DriftSpec(from_day=10)},
        "27ccc2bd825dfd565fd4b853b2ea051b5150ac36023921334bf8069c58b7200c",
    ),
    "no_drift_small": (
        {"day_index": 1, "traces": 300, "seed": 42, "drift": None},
        "cc702027b55656df1b7c79a55db7c1fdc8b3478f8e972bce532b7ff89413d5e6",
    ),
    "no_pii": (
        {"day_index": 5, "traces": 500, "seed": 3, "drift": None, "plant_pii": False},
        "8b2b23056336f16489d9926d9d3bcd4defa83f5d78a17000bc47adf65f8f048a",
    ),
    "single_switch": (
        {
            "day_index": 2,
            "traces": 1000,
            "seed": 11,
            "drift": DriftSpec(
                from_day=1,
                topic_mix=False,
                longer_outputs=True,
                latency_regression=False,
                falling_feedback=False,
                new_model_version=True,
            ),
        },
        "88d13276db1e5ac422eb532f9baeceff42507f5a1142ed7b231969d36680b5a4",
    ),
}


@pytest.mark.parametrize("case", sorted(PINNED))
def test_defaults_give_exactly_the_frames_of_before(case: str) -> None:
    kwargs, expected = PINNED[case]
    frame = generate_day(demo_date(kwargs["day_index"]), **kwargs)
    assert digest(frame) == expected
    assert generate_day(demo_date(kwargs["day_index"]), **kwargs, variation=None).equals(frame)


def test_graded_fields_at_their_off_values_change_nothing() -> None:
    demo = DriftSpec(from_day=1)
    spelled_out = DriftSpec(
        from_day=1,
        topic_shift=0.0,
        output_growth=0.0,
        latency_growth=0.0,
        model_shift=0.0,
        feedback_drop=0.0,
        language_shift=0.0,
        refusal_factor=1.0,
    )
    assert make(4, 2_000, drift=demo).equals(make(4, 2_000, drift=spelled_out))


# ---- day-to-day variation ----------------------------------------------------------------------------------


def shares(frame: pl.DataFrame, column: str) -> dict[str, float]:
    counts = frame[column].value_counts()
    return {str(k): n / frame.height for k, n in counts.iter_rows()}


def test_variation_moves_route_and_model_shares_between_days_of_one_seed() -> None:
    def spread(frames: list[pl.DataFrame], column: str, value: str) -> float:
        values = [shares(f, column).get(value, 0.0) for f in frames]
        return max(values) - min(values)

    steady = [make(i) for i in range(1, 7)]
    varied = [make(i, variation=DayVariation()) for i in range(1, 7)]
    for column, value in (("route", "qa/multi-hop"), ("model", "gpt-4o-mini")):
        # 20,000 traces: sampling alone moves a 50% share by about 0.35 points (1 sd).
        assert spread(steady, column, value) < 0.02, column
        assert spread(varied, column, value) > 0.03, column
        # "a few points of share", not a different application
        assert all(0.3 < shares(f, column)[value] < 0.7 for f in varied), column
    # The volume varies around the asked-for count too.
    heights = [f.height for f in varied]
    assert max(heights) - min(heights) > 0.1 * BIG
    assert all(0.6 * BIG < h < 1.6 * BIG for h in heights)


def test_variation_is_deterministic_per_seed_and_day_and_leaves_the_rest_of_the_day_alone() -> None:
    variation = DayVariation()
    assert make(2, 2_000, variation=variation).equals(make(2, 2_000, variation=variation))
    assert not make(2, 2_000, seed=6, variation=variation).equals(make(2, 2_000, variation=variation))
    # Without the volume term the mix only reweights the draws: same ids and times, another mix.
    mix_only = DayVariation(volume_sigma=0.0)
    base, varied = make(2, 2_000), make(2, 2_000, variation=mix_only)
    assert varied.height == base.height
    assert varied.select("trace_id", "start_time", "user_id").equals(
        base.select("trace_id", "start_time", "user_id")
    )
    assert not varied["route"].equals(base["route"])
    # No variation at all is exactly the stationary day.
    none = DayVariation(route_sigma=0.0, model_sigma=0.0, volume_sigma=0.0)
    assert make(2, 2_000, variation=none).equals(base)


def test_variation_keeps_the_demo_drift_working() -> None:
    drift = DriftSpec(from_day=3)
    before = make(2, variation=DayVariation(), drift=drift)
    after = make(3, variation=DayVariation(), drift=drift)
    assert shares(after, "model").get("gpt-4o-mini-2026-10", 0) > 0.25
    assert "gpt-4o-mini-2026-10" not in shares(before, "model")


# ---- single drift kinds ------------------------------------------------------------------------------------


def thumbs_up(frame: pl.DataFrame) -> float:
    votes = frame.select(pl.col("feedback").list.explode().struct.unnest()).filter(name="thumbs")
    return float(votes["value"].mean())


def label_share(frame: pl.DataFrame, label: str) -> float:
    labels = (
        frame["metadata"].str.json_decode(pl.Struct({"correctness": pl.String})).struct.field("correctness")
    )
    return float((labels == label).mean())


def non_latin_share(frame: pl.DataFrame) -> float:
    return float(frame["input_text"].str.contains(NON_LATIN).mean())


def sports_share(frame: pl.DataFrame) -> float:
    return float((frame["tags"].list.get(1) == "sports").mean())


def ok_mean(frame: pl.DataFrame, column: str) -> float:
    return float(frame.filter(status="ok")[column].cast(pl.Float64).mean())


@pytest.fixture(scope="module")
def base() -> pl.DataFrame:
    return make(3, plant_pii=False)


def drifted(kind: str, level: str) -> pl.DataFrame:
    return make(3, plant_pii=False, drift=DriftSpec.single(kind, level, from_day=3))


ALLOWED_CHANGES = {
    "topic_mix": {"input_text", "input_messages", "retrieved_context", "tags", "metadata", "output_text"}
    | {"input_tokens", "output_tokens", "cost_usd", "latency_ms"},
    "output_length": {"output_text", "output_tokens", "cost_usd", "latency_ms"},
    "latency": {"latency_ms"},
    "model_mix": {"model", "provider_name", "metadata", "input_tokens", "output_tokens", "output_text"}
    | {"cost_usd", "latency_ms", "status", "error_type", "error_message", "feedback"},
    "feedback_drop": {"feedback"},
    "language": {"input_text", "input_messages", "input_tokens", "cost_usd"},
    "refusals": {"output_text", "output_tokens", "cost_usd", "latency_ms", "metadata", "feedback"},
}


@pytest.mark.parametrize("level", MAGNITUDE_LEVELS)
@pytest.mark.parametrize("kind", sorted(DRIFT_KINDS))
def test_each_drift_kind_changes_what_it_claims_by_its_magnitude(
    base: pl.DataFrame, kind: str, level: str
) -> None:
    size = DRIFT_MAGNITUDES[kind][level]
    frame = drifted(kind, level)
    changed = {c for c in TRACE_SCHEMA if not frame[c].equals(base[c])}
    assert changed, kind
    assert changed <= ALLOWED_CHANGES[kind], changed - ALLOWED_CHANGES[kind]
    # Sampling noise of a share at 20,000 traces is about 0.3 points (1 sd); the tolerances are ~4 sd.
    if kind == "topic_mix":
        assert sports_share(frame) - sports_share(base) == pytest.approx(size, abs=0.012)
        assert frame["route"].equals(base["route"])
    elif kind == "output_length":
        ratio = frame["output_text"].str.len_chars().sum() / base["output_text"].str.len_chars().sum()
        assert ratio == pytest.approx(1 + size, abs=0.005)
    elif kind == "latency":
        ratio = frame["latency_ms"] / base["latency_ms"]
        assert ratio.min() == pytest.approx(1 + size, abs=0.001)
        assert ratio.max() == pytest.approx(1 + size, abs=0.001)
    elif kind == "model_mix":
        moved = shares(base, "model")["gpt-4o-mini"] - shares(frame, "model")["gpt-4o-mini"]
        gained = shares(frame, "model")["claude-3-5-haiku"] - shares(base, "model")["claude-3-5-haiku"]
        assert moved == pytest.approx(size, abs=0.012)
        assert gained == pytest.approx(moved)
    elif kind == "feedback_drop":
        assert thumbs_up(base) - thumbs_up(frame) == pytest.approx(size, abs=0.02)
    elif kind == "language":
        assert non_latin_share(base) == 0
        assert non_latin_share(frame) == pytest.approx(size, abs=0.012)
        last = frame["input_messages"].list.last().struct.field("content")
        assert (last == frame["input_text"]).all()
        assert frame["input_messages"].list.len().equals(base["input_messages"].list.len())
        assert set(frame.filter(pl.col("input_text").str.contains(NON_LATIN))["input_text"]) <= {
            q for q, _ in FOREIGN_QUESTIONS
        }
    else:
        assert label_share(frame, "refusal") / label_share(base, "refusal") == pytest.approx(size, rel=0.1)
        refused = frame.filter(pl.col("output_text").is_in(list(_profile.REFUSALS)))
        assert refused.height / frame.height == pytest.approx(size * label_share(base, "refusal"), rel=0.1)


def test_the_small_magnitudes_are_the_issues() -> None:
    small = {kind: levels["small"] for kind, levels in DRIFT_MAGNITUDES.items()}
    assert small["topic_mix"] == small["language"] == 0.05
    assert small["refusals"] == 2.0
    assert small["feedback_drop"] == 0.15
    assert small["output_length"] == small["latency"] == 0.10
    for kind, levels in DRIFT_MAGNITUDES.items():
        assert levels["small"] < levels["medium"] < levels["large"], kind


def test_a_single_kind_switches_the_demo_drift_off_and_starts_on_from_day() -> None:
    spec = DriftSpec.single("latency", "medium", from_day=8)
    assert spec.latency_growth == 0.25
    assert not any((spec.topic_mix, spec.longer_outputs, spec.latency_regression, spec.new_model_version))
    assert not spec.falling_feedback
    assert make(7, 500, drift=spec).equals(make(7, 500))
    assert not make(8, 500, drift=spec).equals(make(8, 500))
    assert DriftSpec.single("refusals", 2.5, from_day=1).refusal_factor == 2.5


def test_a_drift_kind_on_a_varied_day_keeps_the_days_mix() -> None:
    variation = DayVariation()
    varied = make(4, variation=variation, plant_pii=False)
    shifted = make(4, variation=variation, plant_pii=False, drift=DriftSpec.single("language", from_day=4))
    assert shifted.height == varied.height
    assert shifted["route"].equals(varied["route"])
    assert shifted["model"].equals(varied["model"])
    assert non_latin_share(shifted) == pytest.approx(0.05, abs=0.012)


@pytest.mark.parametrize(
    ("kind", "magnitude"),
    [("nope", "small"), ("latency", "huge"), ("latency", -0.1), ("topic_mix", 1.5), ("refusals", 0.5)],
)
def test_bad_drift_kinds_and_magnitudes_are_config_errors(kind: str, magnitude: str | float) -> None:
    with pytest.raises(ConfigError):
        DriftSpec.single(kind, magnitude, from_day=1)


def test_bad_variation_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="route_sigma"):
        DayVariation(route_sigma=-0.1)
