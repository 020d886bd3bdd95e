"""Quality trends: a score's daily mean against the reference days' means, with a rolling z-score alarm.

Scores are anything with a daily mean and count: user feedback (from the profiles) or judge scores (passed
in). A drop is a change when the day's mean lies more than `quality_z` standard deviations below the mean of
the reference days' means; the deviation combines the day-to-day spread of those means with the current
day's own sampling error, so a thin day or a calm reference does not cry wolf.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from dataclasses import dataclass

import polars as pl

from tracewatch.drift.config import DriftConfig
from tracewatch.drift.features import FEEDBACK_PREFIX
from tracewatch.drift.profile import DayProfile

QUALITY_DIRECTION = "lower is worse"
SCORE_COLUMNS: dict[str, pl.DataType] = {
    "date": pl.Date(),
    "name": pl.String(),
    "source": pl.String(),
    "mean": pl.Float64(),
    "count": pl.Int64(),
    "std": pl.Float64(),
}
"""Daily score summaries: one row per (date, name); `std` is the population std of the day's values."""


@dataclass(frozen=True)
class QualityPoint:
    """One score on the night's day, compared with its reference days."""

    day: dt.date
    name: str
    source: str
    mean: float
    count: int
    reference_mean: float | None
    reference_sd: float | None
    reference_days: int
    z_score: float | None
    threshold: float
    changed: bool
    direction: str
    message: str


def feedback_scores(profiles: Iterable[DayProfile]) -> pl.DataFrame:
    """The daily mean, count and std of every feedback name, read off the profiles' value tables."""
    rows = []
    for profile in profiles:
        for feature, table in profile.numeric.items():
            if feature.startswith(FEEDBACK_PREFIX) and table.size:
                name = feature.removeprefix(FEEDBACK_PREFIX)
                rows.append((profile.day, name, "feedback", table.mean(), table.size, table.std()))
    return pl.DataFrame(rows, schema=SCORE_COLUMNS, orient="row")


def quality_trends(
    scores: pl.DataFrame, day: dt.date, reference: Iterable[dt.date], config: DriftConfig
) -> list[QualityPoint]:
    """A point per score present on `day`, judged against its means on the `reference` days."""
    reference_days = set(reference)
    points = []
    for (name, source), group in sorted(scores.group_by("name", "source"), key=lambda g: (g[0][0], g[0][1])):
        today = group.filter(pl.col("date") == day)
        if today.height == 0:
            continue
        mean, count, std = today.row(0)[3:6]
        history = group.filter(pl.col("date").is_in(sorted(reference_days))).get_column("mean").to_list()
        points.append(_point(day, str(name), str(source), float(mean), int(count), std, history, config))
    return points


def _point(
    day: dt.date,
    name: str,
    source: str,
    mean: float,
    count: int,
    std: float | None,
    history: list[float],
    config: DriftConfig,
) -> QualityPoint:
    ref_mean: float | None = None
    ref_sd: float | None = None
    z: float | None = None
    if len(history) < config.quality_min_reference_days:
        message = (
            f"{name}: mean {mean:.3g} over {count}; {len(history)} reference day(s), "
            f"{config.quality_min_reference_days} needed to judge a change."
        )
    else:
        ref_mean = sum(history) / len(history)
        ref_sd = math.sqrt(sum((h - ref_mean) ** 2 for h in history) / (len(history) - 1))
        sampling = (std or 0.0) / math.sqrt(count) if count else 0.0
        spread = math.hypot(ref_sd, sampling)
        gap = mean - ref_mean
        z = gap / spread if spread > 0 else (math.copysign(math.inf, gap) if gap else 0.0)
        verdict = "dropped" if z <= -config.quality_z else "rose" if z >= config.quality_z else "steady"
        message = (
            f"{name} {verdict}: mean {mean:.3g} vs {ref_mean:.3g} over {len(history)} reference day(s) "
            f"(z = {z:.2f}, alarm at -{config.quality_z:g})."
        )
    return QualityPoint(
        day=day,
        name=name,
        source=source,
        mean=mean,
        count=count,
        reference_mean=ref_mean,
        reference_sd=ref_sd,
        reference_days=len(history),
        z_score=z,
        threshold=config.quality_z,
        changed=z is not None and z <= -config.quality_z,
        direction=QUALITY_DIRECTION,
        message=message,
    )
