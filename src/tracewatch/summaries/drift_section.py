"""The night summary's drift section: what changed tonight, by how much, since when; then the run's earlier
nights, one line each.

A run can assess many nights (late files, a first run over two weeks of traces); their messages joined into one
paragraph hide tonight's news, so tonight comes first as a table and each earlier night gets a line.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence

from tracewatch.drift import Alert, DriftNight, QualityAlert

_NUMERIC_SHIFT = re.compile(
    r"mean (?P<current>\S+) vs (?P<reference>\S+) in the reference \((?P<way>[^)]*)\)"
)
_SHARE_SHIFT = re.compile(r"largest change: (?P<value>.+) (?P<reference>\S+%) -> (?P<current>\S+%)")
_REWEIGHTED = re.compile(r" \(reference re-weighted to [^)]*\)")

AlertKey = tuple[str, str]
"""(kind, feature): a drift alert and a quality alert may name the same column."""


def alert_key(alert: Alert) -> AlertKey:
    """The key an alert's streak is tracked by."""
    return (alert.kind, alert.feature)


def drift_section_markdown(
    day: dt.date, nights: Sequence[DriftNight], *, since: Mapping[AlertKey, dt.date] | None = None
) -> str:
    """The section body (headings at ###, to sit under the summary's `## Drift and quality`).

    `nights` are the drift nights this run assessed, `day` among them. `since` gives the first night of each
    alert's unbroken streak when the caller read it from earlier nights' reports (`alert_streaks`); alerts it
    lacks count from the nights given.
    """
    by_day = {night.day: night for night in nights}
    tonight = by_day.get(day)
    streaks = {**streak_starts(day, nights), **(since or {})}
    lines = [f"### {_tonight_heading(day, tonight)}", ""]
    if tonight is not None:
        lines += _tonight_body(tonight, streaks)
    earlier = [by_day[d] for d in sorted(by_day) if d != day]
    if earlier:
        lines += ["", f"### Earlier nights of this run ({len(earlier)})", ""]
        lines += [f"- {night.day.isoformat()}: {night_line(night)}" for night in earlier]
    return "\n".join(lines) + "\n"


def streak_starts(day: dt.date, nights: Sequence[DriftNight]) -> dict[AlertKey, dt.date]:
    """For each alert of `day`, the first of the consecutive nights (among `nights`) on which it alerted."""
    alerted = {night.day: {alert_key(a) for a in night.alerts} for night in nights}
    starts = {}
    for key in alerted.get(day, set()):
        start = day
        while key in alerted.get(start - dt.timedelta(days=1), set()):
            start -= dt.timedelta(days=1)
        starts[key] = start
    return starts


def night_line(night: DriftNight) -> str:
    """One night in a few words: its alerts, or why there were none."""
    if night.alerts:
        names = ", ".join(_feature_name(a) for a in night.alerts)
        return f"{len(night.alerts)} alert(s): {names}"
    if night.current_rows == 0:
        return "no accepted trace, nothing compared"
    if night.report is None:
        return "nothing to compare with yet (no reference day)"
    if night.warming_up:
        return f"no alert possible yet: {night.warming_up.removeprefix('warming up: ')}"
    return f"no alert ({len(night.report.tests)} feature(s) tested)"


def _tonight_heading(day: dt.date, tonight: DriftNight | None) -> str:
    if tonight is None:
        return f"Tonight ({day.isoformat()}): drift was not assessed"
    count = len(tonight.alerts)
    return f"Tonight ({day.isoformat()}): {count} alert{'s' if count != 1 else ''}"


def _tonight_body(tonight: DriftNight, streaks: Mapping[AlertKey, dt.date]) -> list[str]:
    reference = _reference(tonight)
    tested = f"{len(tonight.report.tests)} feature(s) tested" if tonight.report else "nothing tested"
    if not tonight.alerts:
        return [f"{night_line(tonight).capitalize()}; reference {reference}."]
    lines = [f"{tested}; since = the first night of the alert's current run of nights.", ""]
    lines += ["| feature | change | effect size | reference | since |", "|---|---|---|---|---|"]
    for alert in tonight.alerts:
        start = streaks.get(alert_key(alert), tonight.day)
        cells = (_feature_name(alert), _change(alert), _effect(alert), reference, start.isoformat())
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return lines


def _feature_name(alert: Alert) -> str:
    return alert.feature if alert.kind == "drift" else f"{alert.feature} (quality score)"


def _change(alert: Alert) -> str:
    """What moved, reference first: a numeric feature's mean, a categorical feature's largest share change (both
    taken from the drift test's message, whose shift clause `drift.family` writes), a quality score's mean."""
    if isinstance(alert, QualityAlert):
        return f"mean {alert.reference_mean:.3g} -> {alert.mean:.3g} ({alert.direction})"
    for part in alert.message.split("; "):
        clause = _REWEIGHTED.sub("", part.split(". ")[0].rstrip("."))
        if numeric := _NUMERIC_SHIFT.fullmatch(clause):
            return f"mean {numeric['reference']} -> {numeric['current']} ({numeric['way']})"
        if share := _SHARE_SHIFT.fullmatch(clause):
            return f"share of {share['value']}: {share['reference']} -> {share['current']}"
    return alert.message  # a row of another shape (the dataset's share of alerts): its own words


def _effect(alert: Alert) -> str:
    if isinstance(alert, QualityAlert):
        if alert.detector.startswith("z_score"):
            return f"z = {alert.statistic:.2f}"
        return f"CUSUM {alert.statistic:.2f} (alarm above {alert.threshold:.3g})"
    if alert.effect_size is None:
        return "-"
    return f"{alert.effect_size:.3g} ({alert.effect_measure})"


def _reference(night: DriftNight) -> str:
    window = night.reference
    days = len(window.found)
    return f"{window.start.isoformat()}..{window.end.isoformat()} ({days} day{'s' if days != 1 else ''})"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")
