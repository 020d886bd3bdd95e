"""Drift and quality-trend settings: one frozen record, loadable from a plain mapping (a flow parameter, YAML).

What pages a person is decided per night (docs/drift.md, "Alerts"): every feature's significance test and every
quality score's one-sided test form one family whose p-values are adjusted together (Benjamini-Hochberg at
`alpha`), and a feature alerts only if its adjusted p-value is below `alpha` *and* its change is large enough to
matter (`min_share_change`, `min_wasserstein`, `quality_min_change`), once the reference holds enough days and
rows. The Evidently-style per-test decisions (size switch at 1,000 reference values, KS / chi-square at
p < 0.05 below it, normalised Wasserstein / Jensen-Shannon at 0.1 above it) are still computed and published as
extra rows, so they stay comparable with Evidently's data-drift preset; they no longer page anyone.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from tracewatch.errors import ConfigError

METHODS: tuple[str, ...] = ("ks", "chisquare", "wasserstein", "jensenshannon")
"""Primary two-sample tests a feature can be pinned to with `DriftConfig.methods`."""

DEFAULT_METHODS: Mapping[str, str] = MappingProxyType({"input_topic": "chisquare"})
"""The topic cells are counted on a fixed-size daily text sample, so a p-value test stays meaningful at any
traffic; a 0.1 Jensen-Shannon distance would miss a topic doubling its share spread over several cells."""

REFERENCE_DAYS_ALLOWED: tuple[int, ...] = (7, 14, 28)
MAX_SUSTAINED_NIGHTS = 7
"""A longer pool would need a reference reaching further back than a week's rolling window gives."""


@dataclass(frozen=True)
class DriftConfig:
    """Windows, thresholds and method overrides of the nightly drift check.

    The reference is the `reference_days` days before the night's day, unless `baseline` pins a fixed date
    range (e.g. a known-good launch week). Days missing from the window are tolerated and reported.
    """

    reference_days: int = 7
    baseline: tuple[dt.date, dt.date] | None = None
    small_sample_max: int = 1000
    """Reference sizes up to this use KS / chi-square; larger ones Wasserstein / Jensen-Shannon (Evidently)."""
    categorical_max_values: int = 5
    """A numeric feature with at most this many distinct values is tested as a categorical one (Evidently)."""
    alpha: float = 0.01
    """The night's false-alarm level: the share of no-drift nights allowed to raise any alert. One night in a
    hundred, not one in twenty: at 5% a quiet deployment would page someone every three weeks (docs/drift.md)."""
    dispersion_alpha: float = 0.05
    """The reference days' swing is allowed for once a homogeneity test among them is below this
    (`significance.share_test`)."""
    min_share_change: float = 0.02
    """A categorical feature alerts only if some category's share moved at least this much (2 points)."""
    min_wasserstein: float = 0.1
    """A numeric feature alerts only if its normalised Wasserstein distance reaches this (a tenth of a
    reference standard deviation, on average, per value)."""
    quality_min_change: float = 0.05
    """A quality score alerts only if its daily mean moved, in its bad direction, by at least this share of the
    reference mean (or of 1 when that mean is 0)."""
    effect_swing_factor: float = 2.0
    """An alert's effect must also reach this many times the largest change any reference day showed against
    the other reference days: what the application's normal day-to-day swing looks like (0 turns it off)."""
    mix_adjusted: bool = True
    """Test every feature but `route` and `model` within route x model segments (`stratified`), with its
    effect and the reference days' swing measured against the reference re-weighted to the day's segment mix
    (`effects`). Production's route and model mix swings from day to day, and every feature that differs by
    route or model (lengths, tokens, cost, tags, topics) swings with it: pooled, a 2,000-trace day raised false
    alarms on them while a real change within the routes drowned in the mix swing. The mix is still tested,
    once, on `route` and `model`. A feature without segment tables on every day (profiles written before them)
    falls back to the pooled test; False pools every test (the old behaviour)."""
    sustained_nights: int = 3
    """The sustained test (`sustained`): each feature is also tested on the night pooled with the previous
    nights that did not alert, up to this many nights in all, against reference days outside that pool, inside the
    night's family. A small shift that lasts is found within a few nights where one thin night cannot show it
    (docs/drift.md). 1 turns it off."""
    min_reference_days: int = 3
    """Warm-up: no alert while the reference holds fewer profiled days than this."""
    min_reference_rows: int = 500
    """Warm-up: no alert while the reference holds fewer traces than this."""
    exclude_alerted_days: bool = True
    """A rolling reference leaves out days that alerted, so a sustained drift keeps alerting instead of
    becoming the reference within a week (until a person re-baselines). False: every day counts (the old way)."""
    reference_lookback_days: int = 28
    """How far back a rolling reference may reach for enough days that did not alert."""
    ks_alpha: float = 0.05
    chisquare_alpha: float = 0.05
    wasserstein_threshold: float = 0.1
    jensenshannon_threshold: float = 0.1
    psi_threshold: float = 0.2
    psi_bins: int = 10
    drift_share: float = 0.5
    """The dataset counts as drifted when at least this share of tested features drifted (Evidently)."""
    methods: Mapping[str, str] = field(default_factory=lambda: dict(DEFAULT_METHODS))
    """feature -> one of `METHODS`, overriding the size-aware choice for that feature."""
    quality_min_reference_days: int = 3
    mmd_alpha: float = 0.05
    """The text vectors drifted when the linear-kernel MMD test's p-value is below this."""
    cusum_k: float = 0.5
    """CUSUM allowance, in standard deviations of a daily mean: a day must sit this far below the reference
    mean to add to the sum (half the smallest drop worth catching fast; 0.5 tunes it to a 1-sigma drop)."""
    cusum_h: float = 4.0
    """CUSUM decision interval: a change when the accumulated standardised shortfall exceeds this."""
    cusum_alerts: bool = False
    """Whether a CUSUM change pages. Off by default: its reference is estimated from the window's few days, so
    on steady scores it fires on 2-3% of nights per score with a 7-day window (under 1% with 28 days), outside
    the night's family; it is always computed and published in `quality_trend`."""

    def __post_init__(self) -> None:
        if self.reference_days not in REFERENCE_DAYS_ALLOWED:
            raise ConfigError(f"reference_days={self.reference_days} must be one of {REFERENCE_DAYS_ALLOWED}")
        if self.baseline is not None and self.baseline[0] > self.baseline[1]:
            raise ConfigError(f"baseline {self.baseline[0]}..{self.baseline[1]} ends before it starts")
        for name in ("alpha", "dispersion_alpha", "ks_alpha", "chisquare_alpha", "drift_share", "mmd_alpha"):
            value = getattr(self, name)
            if not 0 < value < 1:
                raise ConfigError(f"{name}={value} must be between 0 and 1 (exclusive)")
        for name in (
            "wasserstein_threshold",
            "jensenshannon_threshold",
            "psi_threshold",
            "cusum_h",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be > 0")
        for name in (
            "cusum_k",
            "min_share_change",
            "min_wasserstein",
            "quality_min_change",
            "effect_swing_factor",
        ):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        if not 1 <= self.sustained_nights <= MAX_SUSTAINED_NIGHTS:
            raise ConfigError(
                f"sustained_nights={self.sustained_nights} must be between 1 (off) and {MAX_SUSTAINED_NIGHTS}"
            )
        if self.min_reference_days < 1 or self.min_reference_rows < 0:
            raise ConfigError("min_reference_days must be >= 1 and min_reference_rows >= 0")
        if self.reference_lookback_days < self.reference_days:
            raise ConfigError(
                f"reference_lookback_days={self.reference_lookback_days} must be >= "
                f"reference_days={self.reference_days}"
            )
        if self.psi_bins < 2 or self.small_sample_max < 1 or self.quality_min_reference_days < 2:
            raise ConfigError("psi_bins must be >= 2, small_sample_max >= 1, quality_min_reference_days >= 2")
        for feature, method in self.methods.items():
            if method not in METHODS:
                raise ConfigError(
                    f"methods[{feature!r}]={method!r} is not a drift method; allowed: {METHODS}"
                )

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> DriftConfig:
        """Build from a mapping; an unknown key is a `ConfigError` naming the allowed ones.

        `methods` given here are laid over `DEFAULT_METHODS` (map a feature to another method to change it).
        """
        allowed = [f.name for f in fields(cls)]
        unknown = sorted(set(values) - set(allowed))
        if unknown:
            raise ConfigError(f"unknown drift setting(s) {unknown}; allowed: {allowed}")
        given = dict(values)
        if given.get("baseline") is not None:
            start, end = given["baseline"]
            given["baseline"] = (_date(start), _date(end))
        if "methods" in given:
            given["methods"] = {**DEFAULT_METHODS, **dict(given["methods"])}
        return cls(**given)


def _date(value: dt.date | str) -> dt.date:
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(value)
    except (TypeError, ValueError) as error:
        raise ConfigError(f"baseline date {value!r} is not an ISO date (YYYY-MM-DD)") from error
