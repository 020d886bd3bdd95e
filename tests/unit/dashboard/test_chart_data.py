"""Each chart draws exactly the report rows it reads: its data is checked against numbers worked out by hand
from the rows published here, and its Vega-Lite spec carries that same data (what is drawn is what is in the
table under it)."""

from __future__ import annotations

import json
from typing import Any

import polars as pl
import pytest
from dashboard_reports import DAY, day, drift_test, metric_row, publish

from tracewatch.dashboard import ReportData, load_reports
from tracewatch.dashboard._charts import Chart, Section, records
from tracewatch.dashboard._datasets import datasets_section
from tracewatch.dashboard._drift import drift_section
from tracewatch.dashboard._experiments import experiments_section
from tracewatch.dashboard._health import health_section
from tracewatch.dashboard._overview import overview_section
from tracewatch.dashboard._quality import quality_section
from tracewatch.store import Store


def load(store: Store) -> ReportData:
    return load_reports(store, DAY, day(1))


def chart(section: Section, chart_id: str) -> Chart:
    found = {c.id: c for c in section.charts}
    assert chart_id in found, f"{chart_id} not in {sorted(found)}"
    return found[chart_id]


def drawn(found: Chart) -> list[dict[str, Any]]:
    """The rows a spec draws: its top-level data, or its first layer's (altair names inline data sets)."""
    assert found.spec is not None
    spec = json.loads(json.dumps(found.spec))
    data = spec.get("data") or spec["layer"][0]["data"]
    values: list[dict[str, Any]] = spec["datasets"][data["name"]] if "name" in data else data["values"]
    return values


def test_overview_sums_counts_and_weights_percentiles_and_feedback_by_traces(file_store: Store) -> None:
    publish(
        file_store,
        "trace_metrics_daily",
        DAY,
        [
            metric_row(
                "a",
                "qa",
                trace_count=10,
                error_count=1,
                latency_ms_p90=100.0,
                cost_usd_sum=0.5,
                input_tokens_sum=7,
                output_tokens_sum=3,
                feedback=[{"name": "thumbs", "mean": 1.0, "count": 2}],
            ),
            metric_row(
                "b",
                "qa",
                trace_count=30,
                error_count=3,
                latency_ms_p90=200.0,
                cost_usd_sum=0.25,
                input_tokens_sum=1,
                output_tokens_sum=1,
                feedback=[{"name": "thumbs", "mean": 0.0, "count": 6}],
            ),
            metric_row("c", "chat", trace_count=0, error_count=0, latency_ms_p90=None, quarantined_count=4),
        ],
    )
    publish(file_store, "drift", DAY, [drift_test("latency_ms", alert=True), drift_test("model")])
    section = overview_section(load(file_store))

    traces = chart(section, "overview-traces")
    assert traces.data.rows() == [(DAY, 40)]
    assert drawn(traces) == [{"date": DAY.isoformat(), "traces": 40}]
    assert traces.table is not None
    assert traces.table.row(0, named=True) == {
        "date": DAY,
        "traces": 40,
        "errors": 4,
        "quarantined": 4,
        "alerts": "drift: latency_ms",
    }
    assert chart(section, "overview-errors").data.rows() == [(DAY, 0.1)]
    latency = chart(section, "overview-latency").data
    assert latency.filter(pl.col("percentile") == "p90").get_column("ms").to_list() == [
        175.0
    ]  # (1000+6000)/40
    assert chart(section, "overview-cost").data.rows() == [(DAY, 0.75)]
    assert sorted(chart(section, "overview-tokens").data.select("kind", "tokens").rows()) == [
        ("input", 8),
        ("output", 4),
    ]
    assert chart(section, "overview-feedback").data.select("name", "mean", "count").rows() == [
        ("thumbs", 0.25, 8)
    ]
    by_model = chart(section, "overview-traces-by-model").data
    assert sorted(by_model.select("model", "traces").rows()) == [("a", 10), ("b", 30), ("c", 0)]


def test_drift_cells_are_the_test_rows_with_their_distance_to_the_alert(file_store: Store) -> None:
    publish(
        file_store,
        "drift",
        DAY,
        [
            drift_test(
                "latency_ms", alert=True, p_value_adjusted=1e-6, effect_size=0.3, effect_threshold=0.1
            ),
            drift_test("model", p_value_adjusted=1e-6, effect_size=0.05, effect_threshold=0.1),
            drift_test("input_vector", role="extra", method="mmd"),
            {"feature": "(dataset)", "kind": "dataset", "role": "dataset", "statistic": 0.5},
        ],
    )
    section = drift_section(load(file_store))

    heat = chart(section, "drift-heatmap")
    strengths = heat.data.select("feature", "strength").rows()
    # latency_ms: min(log(1e-6) / log(0.01), 0.3 / 0.1) = 3; model: min(3, 0.05 / 0.1) = 0.5
    assert [f for f, _ in strengths] == ["latency_ms", "model"]
    assert [s for _, s in strengths] == pytest.approx([3.0, 0.5])
    assert heat.marks == 2
    assert [row["feature"] for row in drawn(heat)] == ["latency_ms", "model"]
    assert chart(section, "drift-alerts").data.get_column("feature").to_list() == ["latency_ms"]
    assert chart(section, "drift-share").data.rows() == [(DAY, 0.5)]
    assert any("warehouse/profiles" in note for note in section.notes)  # what the page cannot show, said


def test_a_features_night_and_sustained_tests_make_one_cell(file_store: Store) -> None:
    """The sustained test (`..._3night`) is a second test row of the feature on the night: one cell, showing
    the test that alerted, else the one that went further."""
    publish(
        file_store,
        "drift",
        DAY,
        [
            drift_test("latency_ms", p_value_adjusted=1e-3, effect_size=0.3),
            drift_test(
                "latency_ms", method="binned_cmh_chisquare_3night", p_value_adjusted=1e-5, effect_size=0.3
            ),
            drift_test("model", alert=True, p_value_adjusted=1e-3, effect_size=0.3),
            drift_test("model", method="cmh_chisquare_3night", p_value_adjusted=1e-9, effect_size=0.5),
        ],
    )
    section = drift_section(load(file_store))

    heat = chart(section, "drift-heatmap")
    assert heat.data.select("feature", "method").rows() == [
        ("latency_ms", "binned_cmh_chisquare_3night"),  # neither alerted: the one further toward it
        ("model", "binned_cmh_chisquare"),  # the one that alerted
    ]
    assert heat.marks == 2
    assert chart(section, "drift-day").data.get_column("feature").to_list() == ["latency_ms", "model"]


def test_quality_trends_draw_each_score_and_its_alarms(file_store: Store) -> None:
    rows = [
        {
            "name": "thumbs",
            "mean": 0.6,
            "count": 50,
            "reference_mean": 0.7,
            "changed": True,
            "cusum": 5.0,
            "cusum_threshold": 4.0,
        },
        {"name": "rating", "mean": 3.1, "count": 40},
    ]
    publish(file_store, "quality_trend", DAY, rows)
    section = quality_section(load(file_store))

    means = chart(section, "quality-trend")
    assert sorted(means.data.select("name", "mean", "changed").rows()) == [
        ("rating", 3.1, None),
        ("thumbs", 0.6, True),
    ]
    assert chart(section, "quality-cusum").data.select("name", "cusum").rows() == [("thumbs", 5.0)]
    assert chart(section, "quality-trace-scores").empty is not None  # no trace_quality table: said in words


def test_experiments_use_each_experiments_latest_scoring(file_store: Store) -> None:
    old = {"config_name": "base", "baseline": True, "scorer": "f1", "segment_kind": "all", "mean": 0.1}
    publish(file_store, "quality", DAY, [old], experiment="exp")
    publish(
        file_store,
        "quality",
        day(1),
        [
            {**old, "mean": 0.4, "ci_low": 0.3, "ci_high": 0.5},
            {**old, "config_name": "new", "baseline": False, "mean": 0.6},
            {**old, "segment_kind": "route", "segment": "qa", "mean": 0.2},
        ],
        experiment="exp",
    )
    publish(
        file_store,
        "comparisons",
        day(1),
        [
            {
                "scorer": "f1",
                "config_name": "new",
                "baseline_config": "base",
                "mean_difference": 0.2,
                "p_adjusted": 0.01,
                "verdict": "better",
            }
        ],
        experiment="exp",
    )
    publish(
        file_store,
        "experiment_items",
        day(1),
        [
            {"config_name": "base", "cost_usd": 0.5, "latency_ms": 100.0, "status": "ok"},
            {"config_name": "base", "cost_usd": 0.25, "latency_ms": 300.0, "status": "error"},
        ],
        experiment="exp",
    )
    section = experiments_section(load(file_store))

    board = chart(section, "experiment-0-leaderboard").data
    assert board.select("config_name", "mean", "ci_low").rows() == [("base", 0.4, 0.3), ("new", 0.6, None)]
    versus = chart(section, "experiment-0-comparisons").data
    assert versus.select("config_name", "mean_difference", "verdict").rows() == [("new", 0.2, "better")]
    assert chart(section, "experiment-0-segments").data.select("segment", "mean").rows() == [("qa", 0.2)]
    costs = chart(section, "experiment-0-cost").data.row(0, named=True)
    assert costs == {
        "config_name": "base",
        "items": 2,
        "not_ok": 1,
        "cost_usd": 0.75,
        "latency_ms_mean": 200.0,
        "latency_ms_p90": 280.0,
    }
    assert chart(section, "experiment-0-checks").empty == "No output checks published."


def test_datasets_count_items_per_strategy_duplicates_and_redactions(file_store: Store) -> None:
    publish(
        file_store,
        "dataset_versions",
        DAY,
        [
            {
                "dataset": "prod",
                "version": 3,
                "item_count": 30,
                "added_count": 10,
                "duplicates_exact": 2,
                "duplicates_near": 1,
                "redactions": 4,
            }
        ],
    )
    publish(file_store, "dataset_items", DAY, [{"strategy": s} for s in ("uniform", "uniform", "failures")])
    section = datasets_section(load(file_store))

    assert chart(section, "datasets-versions").data.select("dataset", "item_count").rows() == [("prod", 30)]
    assert chart(section, "datasets-strategies").data.select("strategy", "items").rows() == [
        ("failures", 1),
        ("uniform", 2),
    ]
    assert chart(section, "datasets-duplicates").data.select("kind", "dropped").rows() == [
        ("exact", 2),
        ("near", 1),
    ]
    assert chart(section, "datasets-redactions").data.rows() == [(DAY, 4)]


def test_data_health_accounts_every_row_and_names_the_quarantine_kinds(file_store: Store) -> None:
    publish(
        file_store,
        "ingest_daily",
        DAY,
        [
            {
                "files": 3,
                "files_rejected": 1,
                "files_unreadable": 1,
                "rows_read": 100,
                "rows_accepted": 90,
                "rows_quarantined": 10,
            }
        ],
    )
    publish(file_store, "trace_metrics_daily", DAY, [metric_row("a", "qa", quarantined_count=6)])
    section = health_section(load(file_store))

    rows = chart(section, "health-rows").data
    assert sorted(rows.select("rows", "count").rows()) == [
        ("accepted", 90),
        ("quarantined", 10),
        ("read", 100),
    ]
    kinds = chart(section, "health-reasons").data
    assert kinds.rows() == [
        ("ingest: row from model a", 6),
        ("ingest: file rejected whole", 1),
        ("ingest: file unreadable", 1),
    ]
    files = chart(section, "health-files").data
    assert sorted(files.select("what", "count").rows()) == [("files rejected", 1), ("files unreadable", 1)]


@pytest.mark.parametrize("values", [{"date": DAY, "n": 1.5, "name": "é"}])
def test_records_write_days_as_utc_iso_days(values: dict[str, Any]) -> None:
    assert records(pl.DataFrame([values])) == [{"date": "2026-11-10", "n": 1.5, "name": "é"}]
