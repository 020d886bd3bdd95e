"""Quality trends: a score's daily mean against the reference days' means, in the score's own bad direction.

Scores are anything with a daily mean and count: user feedback (from the profiles) or production-trace scores
(passed in), each with the direction its scorer gives it (`higher_is_better`: a refusal rate or a latency
breach is worse when it rises, a thumbs-up rate when it falls). Two detectors look for a change for the worse:

- **one-sided test** (one bad day): `z` is the day's mean minus the mean of the reference days' means, over
  the spread that difference has with no change (`prediction_spread`: the days' swing beyond sampling plus the
  day's own sampling error and the reference's, so a thin day or a calm reference does not cry wolf); its
  p-value, in the bad direction only, comes from Student's t with (reference days - 1) degrees of freedom, since
  the swing is estimated from those few days. The p-value joins the night's family (`decision.decide_night`),
  together with the effect an alert needs (`quality_min_change`).
- **CUSUM** (a sustained small change): a one-sided tabular CUSUM `S = max(0, S_prev - z_bad - k)`, `z_bad` the
  day's standardised change signed so that worse is negative, with the reference frozen while `S > 0`
  (carried in `CusumState`) so a rolling window does not absorb the change it is accumulating; a change when
  `S > h`, after which the sum restarts at 0.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import polars as pl

from tracewatch.drift.config import DriftConfig
from tracewatch.drift.features import FEEDBACK_PREFIX
from tracewatch.drift.profile import DayProfile
from tracewatch.drift.pvalues import t_sf
from tracewatch.reports import DAILY_SCORE_COLUMNS


def direction_text(higher_is_better: bool) -> str:
    """The `direction` column of a quality point: which way is worse."""
    return "lower is worse" if higher_is_better else "higher is worse"


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
    """(mean - reference mean) / deviation, signed as the values are (not by direction)."""
    threshold: float
    """The night's level `alpha` the adjusted p-value is held to."""
    changed: bool
    """A detector found a change for the worse (before the night's correction and the warm-up)."""
    direction: str
    message: str
    cusum: float | None = None
    """The lower CUSUM after the day (None with too few reference days and no run in progress)."""
    cusum_threshold: float | None = None
    cusum_reference_mean: float | None = None
    """The reference mean the CUSUM standardised the day with (frozen while the sum is above 0)."""
    cusum_reference_sd: float | None = None
    """tau, the reference's day-to-day standard deviation beyond sampling error (frozen with the mean)."""
    detector: str | None = None
    """Which detector found the change: `z_score`, `cusum` or `z_score+cusum`; None without a change."""
    higher_is_better: bool = True
    p_value: float | None = None
    """One-sided, in the bad direction (None when not judged: too few reference days)."""
    p_value_adjusted: float | None = None
    """Adjusted with the night's other tests (set by `decision.decide_night`)."""
    effect_size: float | None = None
    """The change for the worse as a share of the reference mean (of 1 when that mean is 0); negative if better."""
    effect_threshold: float | None = None
    alert: bool = False
    """What paged: set by `decision.decide_night`."""


@dataclass(frozen=True)
class CusumState:
    """A score's CUSUM after one night, carried into the next: the sum and the reference it was built on."""

    statistic: float
    reference_mean: float
    reference_sd: float


def cusum_states(frame: pl.DataFrame) -> dict[tuple[str, str], CusumState]:
    """The CUSUM states in a published `quality_trend` partition (empty for one written before CUSUM)."""
    needed = {"name", "source", "cusum", "cusum_reference_mean", "cusum_reference_sd"}
    if not needed <= set(frame.columns):
        return {}
    rows = frame.select(sorted(needed)).drop_nulls()
    return {
        (str(name), str(source)): CusumState(float(s), float(m), float(sd))
        for s, m, sd, name, source in rows.select(
            "cusum", "cusum_reference_mean", "cusum_reference_sd", "name", "source"
        ).iter_rows()
    }


def feedback_scores(profiles: Iterable[DayProfile]) -> pl.DataFrame:
    """The daily mean, count and std of every feedback name, read off the profiles' value tables (feedback is
    higher-is-better: a rating or a thumbs-up)."""
    rows = []
    for profile in profiles:
        for feature, table in profile.numeric.items():
            if feature.startswith(FEEDBACK_PREFIX) and table.size:
                name = feature.removeprefix(FEEDBACK_PREFIX)
                rows.append((profile.day, name, "feedback", table.mean(), table.size, table.std(), True))
    return pl.DataFrame(rows, schema=DAILY_SCORE_COLUMNS, orient="row")


def quality_trends(
    scores: pl.DataFrame,
    day: dt.date,
    reference: Iterable[dt.date],
    config: DriftConfig,
    previous: Mapping[tuple[str, str], CusumState] | None = None,
) -> list[QualityPoint]:
    """A point per score present on `day`, judged against its means on the `reference` days.

    `previous` holds each (name, source)'s CUSUM state after the night before (none: the sums start at 0).
    """
    reference_days = set(reference)
    points = []
    for (name, source), group in sorted(scores.group_by("name", "source"), key=lambda g: (g[0][0], g[0][1])):
        today = group.filter(pl.col("date") == day)
        if today.height == 0:
            continue
        mean, count, std, higher = today.row(0)[3:7]
        history = group.filter(pl.col("date").is_in(sorted(reference_days))).select("mean", "count", "std")
        state = (previous or {}).get((str(name), str(source)))
        score = DailyScore(str(name), str(source), float(mean), int(count), std, higher is not False)
        points.append(score_point(day, score, history.rows(), state, config))
    return points


@dataclass(frozen=True)
class DailyScore:
    """One score's summary on the night's day."""

    name: str
    source: str
    mean: float
    count: int
    std: float | None
    higher_is_better: bool = True


def score_point(
    day: dt.date,
    score: DailyScore,
    history: list[tuple[float, int | None, float | None]],
    state: CusumState | None,
    config: DriftConfig,
) -> QualityPoint:
    """One score on `day`: `history` holds the reference days' (mean, count, std), `state` its CUSUM after the
    night before (None: the sum starts at 0)."""
    mean, count, sign = score.mean, score.count, 1.0 if score.higher_is_better else -1.0
    ref_mean: float | None = None
    ref_sd: float | None = None
    z: float | None = None
    p_value: float | None = None
    effect: float | None = None
    sampling = (score.std or 0.0) / math.sqrt(count) if count else 0.0
    means = [h[0] for h in history]
    tests = []
    if len(history) < config.quality_min_reference_days:
        body = (
            f"mean {mean:.3g} over {count}; {len(history)} reference day(s), "
            f"{config.quality_min_reference_days} needed to judge a change"
        )
    else:
        ref_mean = sum(means) / len(means)
        ref_sd = math.sqrt(sum((m - ref_mean) ** 2 for m in means) / (len(means) - 1))
        z = _standardised(mean - ref_mean, prediction_spread(ref_sd, sampling, history))
        p_value = t_sf(-sign * z, len(means) - 1)
        effect = sign * (ref_mean - mean) / (abs(ref_mean) or 1.0)
        body = f"mean {mean:.3g} vs {ref_mean:.3g} over {len(history)} reference day(s)"
        tests.append(f"z = {z:.2f}, one-sided p = {p_value:.3g}")
    anchor = _cusum_anchor(state, ref_mean, means, history, config)
    cusum: float | None = None
    if anchor is not None:
        start = state.statistic if state is not None and 0 < state.statistic <= config.cusum_h else 0.0
        zc = _standardised(mean - anchor[0], math.hypot(anchor[1], sampling) or (ref_sd or 0.0))
        cusum = max(0.0, start - sign * zc - config.cusum_k)
        tests.append(f"CUSUM {cusum:.2f}, alarm above {config.cusum_h:g}")
    worse = effect is not None and effect >= config.quality_min_change
    fired = [
        detector
        for detector, hit in (
            ("z_score", p_value is not None and p_value < config.alpha and worse),
            ("cusum", cusum is not None and cusum > config.cusum_h),
        )
        if hit
    ]
    verdict = _verdict(score.higher_is_better, z, bool(fired), bool(tests))
    found = f" by {' and '.join(fired)}" if fired else ""
    detail = f" ({'; '.join(tests)})" if tests else ""
    return QualityPoint(
        day=day,
        name=score.name,
        source=score.source,
        mean=mean,
        count=count,
        reference_mean=ref_mean,
        reference_sd=ref_sd,
        reference_days=len(history),
        z_score=z,
        threshold=config.alpha,
        changed=bool(fired),
        direction=direction_text(score.higher_is_better),
        message=f"{score.name} {verdict}{found}: {body}{detail}.",
        cusum=cusum,
        cusum_threshold=config.cusum_h,
        cusum_reference_mean=None if anchor is None else anchor[0],
        cusum_reference_sd=None if anchor is None else anchor[1],
        detector="+".join(fired) or None,
        higher_is_better=score.higher_is_better,
        p_value=p_value,
        effect_size=effect,
        effect_threshold=config.quality_min_change,
    )


def prediction_spread(
    ref_sd: float, sampling: float, history: list[tuple[float, int | None, float | None]]
) -> float:
    """The standard deviation of (today's mean - the mean of the reference days' means) with no change.

    It is tau^2 (1 + 1/D) + today's sampling variance + the reference days' mean sampling variance / D, tau^2 the
    swing between days beyond sampling. The spread of the reference means, `ref_sd^2`, estimates tau^2 + their
    mean sampling variance, so `ref_sd^2 (1 + 1/D) + sampling^2 - mean sampling variance` is unbiased for it
    (floored at the sampling part alone) and, being that one estimate scaled, is tested against Student's t with
    D - 1 degrees of freedom. Counting the reference days' sampling noise once, not twice, makes a steady
    score's test about 1.3x as sharp as `hypot(ref_sd, sampling)` while holding its level when days swing."""
    days = len(history)
    noise = [s * s / c for _, c, s in history if c and s is not None and math.isfinite(s)]
    mean_noise = sum(noise) / len(noise) if len(noise) == days else 0.0
    variance = max(ref_sd**2 * (1 + 1 / days) + sampling**2 - mean_noise, sampling**2 + mean_noise / days)
    return math.sqrt(variance)


def _verdict(higher_is_better: bool, z: float | None, fired: bool, judged: bool) -> str:
    """ "rose (worse)", "dropped (better)", "steady" or "not judged", in the score's own direction."""
    if not judged:
        return "not judged"
    if z is None or not (fired or abs(z) >= 2):
        return "steady"
    way = "rose" if z > 0 else "dropped"
    if (z > 0) == higher_is_better:
        return f"{way} (better)"
    return f"{way} (worse)" if fired else f"{way} (worse, not beyond the night's noise)"


def _standardised(gap: float, spread: float) -> float:
    return gap / spread if spread > 0 else (math.copysign(math.inf, gap) if gap else 0.0)


def _cusum_anchor(
    state: CusumState | None,
    ref_mean: float | None,
    means: list[float],
    history: list[tuple[float, int | None, float | None]],
    config: DriftConfig,
) -> tuple[float, float] | None:
    """(mean, tau) the CUSUM standardises with: frozen while a run is in progress, else the reference's."""
    if state is not None and 0 < state.statistic <= config.cusum_h:
        return state.reference_mean, state.reference_sd
    if ref_mean is None:
        return None
    between = sum((m - ref_mean) ** 2 for m in means) / (len(means) - 1)
    noise = [(s or 0.0) ** 2 / c for _, c, s in history if c]
    tau_sq = max(between - (sum(noise) / len(noise) if noise else 0.0), 0.0)
    return ref_mean, math.sqrt(tau_sq)
