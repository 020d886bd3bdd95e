"""The sustained test: a small shift that lasts, found over a few nights where one thin night cannot show it.

At 300 traces a day a 15-point drop of the thumbs-up share rests on about 90 feedback values a night: one
night's test cannot tell it from noise at the night's family level. Pooled over three nights it rests on
three times as many, and a shift that lasts is then found within a few nights.

The test, per feature: **the pool** (the night and the previous nights, up to `sustained_nights` in all, that
are in the night's reference, i.e. profiled and not alerted) merged into one profile, against **the reference
without those days** (the most recent `reference_days` usable days before the pool, reaching into `earlier`
days when the caller gives them), with the same test, effect and day-to-day allowance as the night's own test
(`checks.run_checks`). Testing the pool against days that exclude it keeps the two sides independent: the
alternatives weighed were combining the nights' own p-values (Stouffer, Fisher) or a CUSUM on them, but
consecutive nights share most of their reference days, so their p-values are dependent and the combined law
is unknown. The day-to-day allowance carries over: when the reference days swing by a dispersion phi beyond
sampling, a pool of k days swings by the same phi relative to its (k times larger) sampling noise.

The rows are `role = 'test'` rows whose method ends in `_<N>night` (`cmh_chisquare_3night`; N the nights
pooled) and whose message says "sustained shift over N nights"; they join the night's Benjamini-Hochberg family
(`decision.decide_night`) like every other test, so the nightly false-alarm level still holds for the whole
night. No row is made when fewer than two nights can be pooled (the previous nights alerted or are missing), when
the reference without the pool is thinner than the warm-up needs, or with a pinned baseline whose days are not
the nights just before (then there is no reference "without the pool" to speak of).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from tracewatch.drift.checks import CheckResult, DriftReport, run_checks
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.profile import DayProfile, merge_profiles
from tracewatch.drift.results import SUSTAINED_SUFFIX as SUFFIX


def split_pool(
    reference_days: Sequence[DayProfile],
    current: DayProfile,
    config: DriftConfig,
    earlier: Sequence[DayProfile] = (),
) -> tuple[list[DayProfile], list[DayProfile]] | None:
    """(the pool: the previous nights then `current`; the reference days outside it, oldest first), or None
    when there is nothing to pool or the reference without the pool is too thin to judge."""
    span = config.sustained_nights
    pool = [p for p in reference_days if 0 < (current.day - p.day).days < span]
    if span < 2 or not pool:
        return None
    pooled = {p.day for p in pool}
    rest = sorted(
        {
            p.day: p for p in (*earlier, *reference_days) if p.day not in pooled and p.day < current.day
        }.values(),
        key=lambda p: p.day,
    )[-config.reference_days :]
    if len(rest) < config.min_reference_days or sum(p.rows for p in rest) < config.min_reference_rows:
        return None
    return [*sorted(pool, key=lambda p: p.day), current], rest


def sustained_results(
    reference_days: Sequence[DayProfile],
    current: DayProfile,
    config: DriftConfig,
    earlier: Sequence[DayProfile] = (),
) -> tuple[CheckResult, ...]:
    """The sustained `test` rows of the night (none when `split_pool` finds nothing to pool), undecided."""
    split = split_pool(reference_days, current, config, earlier)
    if split is None:
        return ()
    pool, rest = split
    merged = merge_profiles(pool)
    if merged.rows == 0:
        return ()
    report = run_checks(merge_profiles(rest), merged, config, rest)
    return tuple(_as_sustained(r, pool, len(rest)) for r in report.results if r.role == "test")


def with_sustained(report: DriftReport, sustained: Sequence[CheckResult]) -> DriftReport:
    """The night's report with the sustained rows placed before its dataset row."""
    if not sustained:
        return report
    body = [r for r in report.results if r.role != "dataset"]
    dataset = [r for r in report.results if r.role == "dataset"]
    return dataclasses.replace(report, results=(*body, *sustained, *dataset))


def _as_sustained(result: CheckResult, pool: Sequence[DayProfile], reference_days: int) -> CheckResult:
    nights = len(pool)
    words = (
        f"sustained shift over {nights} nights ({pool[0].day}..{pool[-1].day} pooled, against "
        f"{reference_days} earlier day(s) outside them)"
    )
    # The night's row reads "<feature>: <method> <p> ..."; the sustained one names what it pooled first.
    detail = result.message.removeprefix(f"{result.feature}: ")
    return dataclasses.replace(
        result,
        method=f"{result.method}_{nights}{SUFFIX}",
        message=f"{result.feature}: {words}: {detail}",
    )
