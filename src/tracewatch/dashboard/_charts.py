"""What every section's charts share: the chart record, the palette, the UTC day axis, legend caps.

Chart specs are Vega-Lite built with altair; the sections hold only what is particular to them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import altair as alt
import polars as pl

# Okabe & Ito (2008), "Color Universal Design": told apart with every common colour-vision deficiency.
OKABE_ITO = ["#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"]
OTHER_COLOUR = "#999999"
ALERT_COLOUR = "#D55E00"
MAX_COLOURS = 7
"""Series told apart by colour; the rest are one grey "other" (Okabe-Ito has eight colours, one is grey's)."""
MAX_PANELS = 10
"""Small multiples shown per chart: the busiest ten, the rest summed as "other"."""
OTHER = "other"
DAY_TITLE = "Day (UTC)"
WIDTH = 560
HEIGHT = 180


@dataclass(frozen=True)
class Chart:
    """One chart: its Vega-Lite spec built from `data`, and `table`, the exact numbers shown under it.

    With `empty` set, there is nothing to draw and the page says that sentence instead of a frame."""

    id: str
    title: str
    data: pl.DataFrame
    spec: dict[str, Any] | None = None
    table: pl.DataFrame | None = None
    empty: str | None = None
    note: str | None = None
    marks: int = 0
    """Marks a reader should find drawn (points, bars, cells): what the browser test counts."""


@dataclass(frozen=True)
class Section:
    """One part of the page: a heading, a sentence of what it is for, its charts and anything missing."""

    id: str
    title: str
    intro: str
    charts: list[Chart] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def empty_chart(chart_id: str, title: str, why: str) -> Chart:
    return Chart(id=chart_id, title=title, data=pl.DataFrame(), empty=why)


def records(frame: pl.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: dates as ISO days (Vega reads `YYYY-MM-DD` as UTC midnight)."""
    return [{k: _json_value(v) for k, v in row.items()} for row in frame.iter_rows(named=True)]


def _json_value(value: Any) -> Any:
    """Days as ISO text; floats to 6 significant digits (what a tooltip shows at most; the exact value is in
    the table under the chart), which keeps 90 days of cells light."""
    if isinstance(value, dt.date | dt.datetime):
        return value.isoformat()
    if isinstance(value, float):
        return float(f"{value:.6g}")
    return value


def rows(frame: pl.DataFrame) -> dict[str, str]:
    """A chart's data by name: its rows join the spec in `finish`, after the schema check, so that checking
    and copying the spec costs the same for 1 day as for 90 (altair validates and copies inline rows)."""
    digest = hashlib.sha1(json.dumps(records(frame), sort_keys=True, default=str).encode()).hexdigest()
    return {"name": f"rows-{digest[:16]}"}


def base(frame: pl.DataFrame, title: str, subtitle: str | None = None) -> alt.Chart:
    text: Any = alt.TitleParams(title, subtitle=subtitle) if subtitle else title
    return alt.Chart(rows(frame), title=text)


def day_x(start: dt.date, end: dt.date, *, bars: bool = False) -> alt.X:
    """The day axis of every trend: UTC days, the whole window even where days are missing (bars span their
    day, so the last one needs the day after it on the axis)."""
    last = end + dt.timedelta(days=1) if bars else end
    return alt.X(
        "utcyearmonthdate(date):T",
        title=DAY_TITLE,
        scale=alt.Scale(domain=[_datetime(start), _datetime(last)]),
        axis=alt.Axis(format="%b %d", labelAngle=0, tickCount={"interval": "day", "step": _step(start, end)}),
    )


def day_tooltip() -> alt.Tooltip:
    return alt.Tooltip("utcyearmonthdate(date):T", title="day (UTC)", format="%Y-%m-%d")


def colour(field_name: str, title: str, names: Sequence[str]) -> alt.Color:
    """A categorical colour from the Okabe-Ito palette, "other" always grey."""
    domain = list(names)
    palette = [
        OTHER_COLOUR if name == OTHER else OKABE_ITO[i % len(OKABE_ITO)] for i, name in enumerate(domain)
    ]
    return alt.Color(f"{field_name}:N", title=title, scale=alt.Scale(domain=domain, range=palette))


def capped(frame: pl.DataFrame, column: str, weight: str, keep: int) -> tuple[pl.DataFrame, list[str]]:
    """`column` with only its `keep` heaviest values (by total `weight`), the rest renamed "other"; the names
    kept, heaviest first, "other" last when used. Nothing is dropped: "other" carries the rest's rows."""
    totals = (
        frame.group_by(column)
        .agg(pl.col(weight).sum().alias("_w"))
        .sort(["_w", column], descending=[True, False], nulls_last=True)
    )
    names = [str(n) if n is not None else "(none)" for n in totals.get_column(column).to_list()]
    kept = names if len(names) <= keep + 1 else names[:keep]  # one left over is shown, not an "other" of one
    label = pl.col(column).fill_null("(none)").cast(pl.String)
    out = frame.with_columns(pl.when(label.is_in(kept)).then(label).otherwise(pl.lit(OTHER)).alias(column))
    return out, kept + ([OTHER] if len(kept) < len(names) else [])


def finish(chart: alt.TopLevelMixin, *frames: pl.DataFrame) -> dict[str, Any]:
    """The Vega-Lite JSON of a chart, validated against the schema altair ships, with the rows of `frames`
    (each given to the chart as `rows(frame)`) as its named data sets."""
    spec: dict[str, Any] = chart.to_dict()
    spec.pop("$schema", None)  # the page loads no schema; the bundle knows its version
    datasets = {rows(frame)["name"]: records(frame) for frame in frames}
    missing = _data_names(spec) - set(datasets)
    if missing:
        raise ValueError(
            f"chart {spec.get('title')!r} names data {sorted(missing)} that finish() was not given"
        )
    spec["datasets"] = datasets
    return spec


def _data_names(spec: Any) -> set[str]:
    if isinstance(spec, dict):
        found = (
            {spec["data"]["name"]} if isinstance(spec.get("data"), dict) and "name" in spec["data"] else set()
        )
        return found.union(*(_data_names(v) for k, v in spec.items() if k != "data"))
    if isinstance(spec, list):
        return set().union(*(_data_names(v) for v in spec))
    return set()


def alert_layer(alerts: pl.DataFrame, x: alt.X) -> alt.Chart | None:
    """Vertical rules on the days something alerted (drift or quality), with what alerted on hover."""
    if alerts.height == 0:
        return None
    rules: alt.Chart = (
        base(alerts, "")
        .mark_rule(color=ALERT_COLOUR, strokeDash=[4, 3], strokeWidth=2)
        .encode(
            x=x,
            tooltip=[day_tooltip(), alt.Tooltip("alerts:N", title="alerted")],
        )
    )
    return rules


def with_alerts(chart: alt.Chart, alerts: pl.DataFrame, x: alt.X) -> alt.TopLevelMixin:
    layer = alert_layer(alerts, x)
    return chart if layer is None else alt.layer(chart, layer)


def _datetime(day: dt.date) -> alt.DateTime:
    return alt.DateTime(year=day.year, month=day.month, date=day.day, utc=True)


def _step(start: dt.date, end: dt.date) -> int:
    days = (end - start).days + 1
    return 1 if days <= 16 else 7 if days <= 120 else 30


def trend(
    frame: pl.DataFrame,
    *,
    window: tuple[dt.date, dt.date],
    y: str,
    y_title: str,
    title: str,
    subtitle: str | None = None,
    series: str | None = None,
    series_title: str = "",
    names: Sequence[str] = (),
    bars: bool = False,
    y_format: str = ",.4~g",
    alerts: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """A value per UTC day: bars, or a line with a point per day (per `series` in colour), hover values."""
    start, end = window
    tips = [day_tooltip(), alt.Tooltip(f"{y}:Q", title=y_title, format=y_format)]
    x = day_x(start, end, bars=bars)
    encoding: dict[str, Any] = {"x": x, "y": alt.Y(f"{y}:Q", title=y_title, scale=_headroom(frame, y, bars))}
    if series:
        encoding["color"] = colour(series, series_title, names)
        tips.insert(1, alt.Tooltip(f"{series}:N", title=series_title))
    chart = base(frame, title, subtitle)
    drawn = chart.mark_bar(color=OKABE_ITO[0]) if bars else chart.mark_line(point=True, color=OKABE_ITO[0])
    drawn = drawn.encode(**encoding, tooltip=tips).properties(width=WIDTH, height=HEIGHT)
    alerts = alerts if alerts is not None else pl.DataFrame()
    return finish(with_alerts(drawn, alerts, x), frame, alerts)


def _headroom(frame: pl.DataFrame, y: str, bars: bool) -> Any:
    """Bars end below the frame's top, so a full bar does not read as a bar cut off at the top."""
    top = frame[y].max() if bars and y in frame.columns and frame.height else None
    if not isinstance(top, int | float) or top <= 0:
        return alt.Undefined
    return alt.Scale(domain=[0, top * 1.08], nice=True)


def small_multiples(
    frame: pl.DataFrame,
    *,
    window: tuple[dt.date, dt.date],
    panel: str,
    panels: Sequence[str],
    y: str,
    y_title: str,
    title: str,
    subtitle: str | None = None,
) -> dict[str, Any]:
    """One small line chart per value of `panel` (at most MAX_PANELS and "other"), on a shared y scale."""
    start, end = window
    heading: Any = alt.TitleParams(title, subtitle=subtitle) if subtitle else title
    chart = (
        alt.Chart(rows(frame))
        .mark_line(point=True, color=OKABE_ITO[0])
        .encode(
            x=day_x(start, end),
            y=alt.Y(f"{y}:Q", title=y_title),
            tooltip=[
                day_tooltip(),
                alt.Tooltip(f"{panel}:N"),
                alt.Tooltip(f"{y}:Q", title=y_title, format=",.4~g"),
            ],
        )
        .properties(width=170, height=90)
        .facet(facet=alt.Facet(f"{panel}:N", sort=list(panels), title=None), columns=5, title=heading)
    )
    return finish(chart, frame)
