"""The page: one HTML file of sections, each chart a Vega-Lite spec drawn by the bundle beside it, with its
exact numbers in a table under it. No request leaves the page: the script, the data and the styles are local.

Charts are drawn as they come near the viewport (an IntersectionObserver), each placeholder holding about a
chart's room until then so that only the first screen's charts are drawn first. `body[data-rendered]` appears
once those are drawn and then counts every chart drawn so far; `body[data-charts]` is how many there are."""

from __future__ import annotations

import datetime as dt
import html
import json
from typing import Any

import polars as pl

from tracewatch.dashboard._charts import Chart, Section

MAX_TABLE_ROWS = 200
LOOKAHEAD_PX = 600
"""A chart is drawn when it comes this close to the viewport: drawing all of 90 days' charts before the first
one shows took 3.6 s; the first screen's charts alone are what the reader waits for."""

_STYLE = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header{background:#fff;border-bottom:1px solid #ddd;padding:12px 24px}
header h1{font-size:20px;margin:0 0 4px}header p{margin:2px 0;font-size:13px;color:#444}
nav a,.projects a{margin-right:14px;font-size:14px;color:#0072B2}
.projects a[aria-current]{font-weight:bold;color:#1b1b1b;text-decoration:none}
main{padding:8px 24px 40px;max-width:1400px}section{margin-top:18px}
section h2{font-size:18px;border-bottom:2px solid #0072B2;padding-bottom:4px}
.intro{font-size:13px;color:#333;max-width:900px}
.charts{display:flex;flex-wrap:wrap;gap:18px}
figure{background:#fff;border:1px solid #e3e3e3;border-radius:6px;margin:0;padding:10px;max-width:100%}
figure h3{font-size:14px;margin:0 0 6px}.empty{font-size:14px;color:#8a4b00;padding:16px 8px}
.note,.notes li{font-size:12px;color:#8a4b00}
details{font-size:12px;margin-top:6px}table{border-collapse:collapse;margin-top:4px}
td,th{border:1px solid #ddd;padding:2px 6px;text-align:right;white-space:nowrap}th{background:#f0f0f0}
td.t,th.t{text-align:left}.table-wrap{max-width:680px;max-height:260px;overflow:auto}
.chart{min-height:240px;min-width:560px}.chart.drawn{min-height:0;min-width:0}
"""

_SCRIPT = """
(function(){
  const specs = JSON.parse(document.getElementById('tracewatch-specs').textContent);
  const ids = Object.keys(specs);
  document.body.dataset.charts = String(ids.length);
  let drawn = 0;
  function draw(id) {
    const el = document.getElementById(id);
    return vegaEmbed('#' + CSS.escape(id), specs[id], {renderer: 'svg', actions: false})
      .then(result => { window.tracewatchViews[id] = result.view; })
      .catch(err => {
        console.error('chart ' + id + ' failed: ' + err);
        el.textContent = 'This chart could not be drawn: ' + err;
      })
      .finally(() => { el.classList.add('drawn'); drawn += 1; });
  }
  const observer = new IntersectionObserver(entries => {
    const batch = entries.filter(e => e.isIntersecting).map(e => {
      observer.unobserve(e.target);
      return draw(e.target.id);
    });
    if (batch.length) Promise.all(batch).then(() => { document.body.dataset.rendered = String(drawn); });
  }, {rootMargin: LOOKAHEAD + 'px 0px'});
  ids.forEach(id => observer.observe(document.getElementById(id)));
  if (!ids.length) document.body.dataset.rendered = '0';
})();
"""


def render_page(
    sections: list[Section],
    *,
    start: dt.date,
    end: dt.date,
    store_url: str,
    generated_at: dt.datetime,
    script_src: str,
    notes: list[str],
    selector: str = "",
) -> str:
    """The whole HTML document; `selector` is the project links under the title (empty: one project)."""
    specs = {c.id: c.spec for s in sections for c in s.charts if c.spec is not None}
    days = (end - start).days + 1
    nav = "".join(f'<a href="#{s.id}">{html.escape(s.title)}</a>' for s in sections)
    body = "".join(_section(s) for s in sections)
    notes_html = _notes(notes)
    payload = json.dumps(specs, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<title>tracewatch dashboard</title>"
        f"<style>{_STYLE}</style></head><body>"
        "<header><h1>tracewatch: the last "
        f"{days} day{'s' if days != 1 else ''}</h1>"
        f"<p>{start.isoformat()} to {end.isoformat()}, days in UTC. Built {generated_at:%Y-%m-%d %H:%M} UTC "
        f"from the report tables of {html.escape(store_url)}.</p>{selector}<nav>{nav}</nav></header>"
        f"<main>{notes_html}{body}</main>"
        f'<script type="application/json" id="tracewatch-specs">{payload}</script>'
        f'<script src="{html.escape(script_src)}"></script>'
        f"<script>window.tracewatchViews = {{}};const LOOKAHEAD = {LOOKAHEAD_PX};{_SCRIPT}</script>"
        "</body></html>"
    )


def _section(section: Section) -> str:
    charts = "".join(_figure(c) for c in section.charts)
    return (
        f'<section id="{section.id}"><h2>{html.escape(section.title)}</h2>'
        f'<p class="intro">{html.escape(section.intro)}</p>{_notes(section.notes)}'
        f'<div class="charts">{charts}</div></section>'
    )


def _figure(chart: Chart) -> str:
    if chart.empty is not None or chart.spec is None:
        why = chart.empty or "Nothing to draw."
        return (
            f'<figure data-chart="{chart.id}" data-empty="true"><h3>{html.escape(chart.title)}</h3>'
            f'<p class="empty">{html.escape(why)}</p></figure>'
        )
    note = f'<p class="note">{html.escape(chart.note)}</p>' if chart.note else ""
    table = chart.table if chart.table is not None else chart.data
    return (
        f'<figure data-chart="{chart.id}" data-marks="{chart.marks}"><div id="{chart.id}" class="chart"></div>'
        f"{note}<details><summary>Exact numbers ({table.height} rows)</summary>"
        f'<div class="table-wrap">{html_table(table)}</div></details></figure>'
    )


def html_table(frame: pl.DataFrame) -> str:
    """The exact numbers: every column, up to MAX_TABLE_ROWS rows (the count says when there are more)."""
    shown = frame.head(MAX_TABLE_ROWS)
    head = "".join(f'<th class="{_align(frame, c)}">{html.escape(c)}</th>' for c in shown.columns)
    rows = "".join(
        "<tr>" + "".join(f'<td class="{_align(frame, c)}">{_cell(v)}</td>' for c, v in row.items()) + "</tr>"
        for row in shown.iter_rows(named=True)
    )
    more = f"<p>First {MAX_TABLE_ROWS} of {frame.height} rows.</p>" if frame.height > MAX_TABLE_ROWS else ""
    return f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table>{more}"


def _align(frame: pl.DataFrame, column: str) -> str:
    return "" if frame.schema[column].is_numeric() else "t"


def _cell(value: Any) -> str:
    if value is None:
        return "unknown"
    if isinstance(value, float):
        return f"{value:,.6g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return html.escape(str(value))


def _notes(notes: list[str]) -> str:
    if not notes:
        return ""
    return '<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>"
