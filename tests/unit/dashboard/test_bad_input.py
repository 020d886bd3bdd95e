"""Bad input from the issue's list, each built into a page that says what is missing: no reports yet, an empty
partition, a table missing (an older store), a partition of an older schema, non-ASCII (and markup) names, 500
models, a single day."""

from __future__ import annotations

import json
import re
from typing import Any

import polars as pl
from dashboard_reports import DAY, day, drift_test, metric_row, publish

from tracewatch.dashboard import INDEX_KEY, build_dashboard
from tracewatch.dashboard._charts import MAX_PANELS, OTHER
from tracewatch.store import Store


def page(store: Store, **options: Any) -> tuple[str, dict[str, Any]]:
    """The built page and its chart specs; every chart figure has a spec and every empty one a sentence."""
    build_dashboard(store, **options)
    text = store.read_bytes(INDEX_KEY).decode()
    payload = re.search(r'<script type="application/json" id="tracewatch-specs">(.*?)</script>', text, re.S)
    assert payload is not None
    specs: dict[str, Any] = json.loads(payload.group(1))
    drawn = re.findall(r'<figure data-chart="([^"]+)" data-marks=', text)
    assert sorted(drawn) == sorted(specs), "a figure without its spec, or a spec without its figure"
    for empty in re.findall(r'data-empty="true"><h3>[^<]*</h3><p class="empty">([^<]*)</p>', text):
        assert len(empty) > 20, f"an empty chart must say why: {empty!r}"
    return text, specs


def test_a_store_with_no_reports_says_so_in_every_section(file_store: Store) -> None:
    text, specs = page(file_store)
    assert specs == {}
    assert "No report tables in file://" in text
    sections = re.findall(r"<section id=.*?</section>", text, re.S)
    assert len(sections) == 6 and all('data-empty="true"' in s for s in sections)  # each with its reason
    assert "No `trace_metrics_daily` report in this store yet" in text


def test_an_empty_partition_reads_as_no_rows_not_as_zero(file_store: Store) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [])
    publish(file_store, "ingest_daily", DAY, [])
    text, specs = page(file_store)
    assert "`trace_metrics_daily` has no rows in this window." in text
    assert "`ingest_daily` has no rows in this window." in text
    assert specs == {}


def test_a_missing_table_and_an_older_schema_are_named(file_store: Store) -> None:
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("m", "r")])
    old = f"reports/drift/date={DAY}/part-0.parquet"  # schema version 1: none of the alert columns
    file_store.write_parquet(
        old,
        pl.DataFrame(
            {
                "feature": ["latency_ms"],
                "role": ["test"],
                "statistic": [0.2],
                "threshold": [0.1],
                "direction": ["statistic at or above threshold is drift"],
            }
        ),
    )
    text, specs = page(file_store)
    assert "overview-traces" in specs
    assert "No `quality` report in this store yet" in text  # no experiment ever scored here
    assert f"{old} was written with an older schema (no " in text
    assert "drift-heatmap" in specs  # what the old partition has is still drawn


def test_non_ascii_and_markup_names_arrive_intact_and_inert(file_store: Store) -> None:
    odd_route = "</script><b>ruta/árbol"
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("モデル-α", odd_route)])
    publish(file_store, "drift", DAY, [drift_test("größe", alert=True)])
    text, specs = page(file_store)
    assert "</script><b>" not in text  # escaped in the table and in the specs' JSON
    assert "&lt;/script&gt;&lt;b&gt;ruta/árbol" in text and "モデル-α" in text and "größe" in text
    assert odd_route in json.dumps(specs, ensure_ascii=False)


def test_five_hundred_models_keep_ten_panels_and_group_the_rest(file_store: Store) -> None:
    rows = [metric_row(f"model-{i:03d}", "r", trace_count=1000 - i) for i in range(500)]
    publish(file_store, "trace_metrics_daily", DAY, rows)
    text, specs = page(file_store)
    facet = specs["overview-traces-by-model"]["facet"]
    panels = facet["sort"]
    assert panels == [*(f"model-{i:03d}" for i in range(MAX_PANELS)), OTHER]
    assert len(text.encode()) < 3_000_000
    other = sum(1000 - i for i in range(MAX_PANELS, 500))
    values = specs["overview-traces-by-model"]["datasets"]
    assert {"date": DAY.isoformat(), "model": OTHER, "traces": other} in next(iter(values.values()))


def test_a_single_day_is_a_window_of_one_day(file_store: Store) -> None:
    publish(file_store, "trace_metrics_daily", day(0), [metric_row("m", "r", trace_count=7)])
    text, specs = page(file_store)
    assert "the last 1 day</h1>" in text
    assert f"{DAY} to {DAY}, days in UTC" in text
    assert specs["overview-traces"]["datasets"] and 'data-marks="1"' in text
