"""What the demo generator injects: its drift (`DriftSpec`, from a given day), one kind of drift at a graded
magnitude (`DriftSpec.single`, for the alerting benchmark), and the day-to-day variation of undrifted traffic
(`DayVariation`)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracewatch.errors import ConfigError
from tracewatch.traces._synth_types import Effects, Mix

DRIFT_KINDS: dict[str, str] = {
    "topic_mix": "topic_shift",
    "output_length": "output_growth",
    "latency": "latency_growth",
    "model_mix": "model_shift",
    "feedback_drop": "feedback_drop",
    "language": "language_shift",
    "refusals": "refusal_factor",
}
"""Single drift kind -> the `DriftSpec` field holding its magnitude."""

DRIFT_MAGNITUDES: dict[str, dict[str, float]] = {
    "topic_mix": {"small": 0.05, "medium": 0.10, "large": 0.20},
    "output_length": {"small": 0.10, "medium": 0.25, "large": 0.50},
    "latency": {"small": 0.10, "medium": 0.25, "large": 0.50},
    "model_mix": {"small": 0.05, "medium": 0.15, "large": 0.30},
    "feedback_drop": {"small": 0.15, "medium": 0.30, "large": 0.45},
    "language": {"small": 0.05, "medium": 0.10, "large": 0.20},
    "refusals": {"small": 2.0, "medium": 3.0, "large": 5.0},
}
"""Each kind's small / medium / large magnitude, in its field's unit (see `DriftSpec`): 5, 10 or 20 points of
traffic moved to sports questions; answers 10, 25 or 50% longer; latency 10, 25 or 50% higher; 5, 15 or 30
points of traffic moved from gpt-4o-mini to claude-3-5-haiku; thumbs-up share down 15, 30 or 45 points (from
about 66%); 5, 10 or 20% of the inputs in Russian, Chinese or Japanese; refusals x2, x3 or x5 (from about 6%)."""

MAGNITUDE_LEVELS: tuple[str, ...] = ("small", "medium", "large")


@dataclass(frozen=True, kw_only=True)
class DriftSpec(Effects):
    """Which drifts the demo injects, from day `from_day` (1-based) on; the days before are stationary,
    so a drift detector must stay silent on them and fire from `from_day`.

    The fields are the generator's `Effects`, active from `from_day`: the switches are the demo's drift (all
    on by default here), the graded fields inject one kind of drift each at a magnitude (0, or 1 for
    `refusal_factor`, is off); `single` builds a spec with only one of them on.
    """

    from_day: int
    topic_mix: bool = True
    longer_outputs: bool = True
    latency_regression: bool = True
    falling_feedback: bool = True
    new_model_version: bool = True

    def __post_init__(self) -> None:
        if self.from_day < 1:
            raise ConfigError(f"DriftSpec.from_day={self.from_day} must be a 1-based day index (>= 1)")
        for name in ("topic_shift", "model_shift", "feedback_drop", "language_shift"):
            if not 0 <= getattr(self, name) <= 1:
                raise ConfigError(f"DriftSpec.{name}={getattr(self, name)} must be a share between 0 and 1")
        for name in ("output_growth", "latency_growth"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DriftSpec.{name}={getattr(self, name)} must be >= 0")
        if self.refusal_factor < 1:
            raise ConfigError(f"DriftSpec.refusal_factor={self.refusal_factor} must be >= 1")

    @classmethod
    def single(cls, kind: str, magnitude: str | float = "small", *, from_day: int) -> DriftSpec:
        """Only the drift `kind` (one of `DRIFT_KINDS`), at a level of `DRIFT_MAGNITUDES` or a number in its
        field's unit; the demo's switches are off."""
        if kind not in DRIFT_KINDS:
            raise ConfigError(f"drift kind {kind!r} is not one of {sorted(DRIFT_KINDS)}")
        if isinstance(magnitude, str):
            if magnitude not in DRIFT_MAGNITUDES[kind]:
                raise ConfigError(f"drift magnitude {magnitude!r} is not one of {MAGNITUDE_LEVELS}")
            magnitude = DRIFT_MAGNITUDES[kind][magnitude]
        off = cls(
            from_day=from_day,
            topic_mix=False,
            longer_outputs=False,
            latency_regression=False,
            falling_feedback=False,
            new_model_version=False,
        )
        graded: dict[str, Any] = {DRIFT_KINDS[kind]: float(magnitude)}
        return dataclasses.replace(off, **graded)

    def active_on(self, day_index: int) -> bool:
        """Whether day `day_index` (1-based) is drifted."""
        return day_index >= self.from_day


@dataclass(frozen=True, kw_only=True)
class DayVariation:
    """Day-to-day variation of undrifted traffic: what a week of a real application looks like without drift.

    Production days are not draws from one stationary process: weekdays and weekends, a team's demo, a batch
    job, an outage of one provider's region move the mix of routes and models by a few points of share from
    day to day, and the volume by tens of percent. Each day (per seed and date, from a random stream of its
    own, separate from the per-trace draws) multiplies every route's and every model's share by a log-normal
    factor exp(N(0, sigma^2)) before they are renormalised, and the day's trace count by exp(N(0,
    volume_sigma^2)). With the defaults (0.15) the multi-hop route's share (50%) moves by about 4.7 points
    (one standard deviation over days) and gpt-4o-mini's (50%) by about 4.6, the smallest route's (15%) by
    about 2.4, and the volume by about 15%: the size of weekday/weekend swings, several times the sampling
    noise of a 2,000-trace day (1.1 points for a 50% share). Within a route, the topics and questions keep
    their weights, and latency, errors and feedback keep their per-model behaviour.
    """

    route_sigma: float = 0.15
    model_sigma: float = 0.15
    volume_sigma: float = 0.15

    def __post_init__(self) -> None:
        for name in ("route_sigma", "model_sigma", "volume_sigma"):
            if getattr(self, name) < 0:
                raise ConfigError(f"DayVariation.{name}={getattr(self, name)} must be >= 0")

    def mix(self, seed: int, day: dt.date) -> tuple[Mix, float]:
        """The day's route and model share multipliers, and its volume multiplier."""
        rng = np.random.default_rng([seed, day.toordinal(), _VARIATION_STREAM])
        route, model = rng.normal(0.0, 1.0, 3), rng.normal(0.0, 1.0, 3)
        volume = float(np.exp(self.volume_sigma * rng.normal()))
        return (
            Mix(
                route=tuple(float(f) for f in np.exp(self.route_sigma * route)),
                model=tuple(float(f) for f in np.exp(self.model_sigma * model)),
            ),
            volume,
        )


_VARIATION_STREAM = 0x7A41


DEFAULT_DRIFT = DriftSpec(from_day=10)
