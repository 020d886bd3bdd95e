"""The drift section's distributions: for the chosen day (the latest that alerted), each drifted feature's
reference and current shares, drawn from exactly the `drift_distributions` rows in the table under it."""

from __future__ import annotations

import json
from typing import Any

from dashboard_reports import DAY, day, drift_test, publish

from tracewatch.dashboard import load_reports
from tracewatch.dashboard._charts import Chart, Section
from tracewatch.dashboard._drift import drift_section
from tracewatch.store import Store


def _chart(section: Section) -> Chart:
    return next(c for c in section.charts if c.id == "drift-distributions")


def _drawn(found: Chart) -> list[dict[str, Any]]:
    assert found.spec is not None
    spec = json.loads(json.dumps(found.spec))
    values: list[dict[str, Any]] = spec["datasets"][spec["data"]["name"]]
    return values


def _bucket(feature: str, order: int, bucket: str, ref: float, cur: float) -> dict[str, Any]:
    return {
        "feature": feature,
        "kind": "numeric",
        "bucket": bucket,
        "bucket_order": order,
        "reference_share": ref,
        "current_share": cur,
        "reference_count": int(ref * 100),
        "current_count": int(cur * 100),
    }


def test_the_chosen_days_drifted_features_are_drawn_from_the_table_rows(file_store: Store) -> None:
    publish(file_store, "drift", DAY, [drift_test("latency_ms", alert=True)])
    publish(file_store, "drift", day(1), [drift_test("latency_ms", alert=True), drift_test("model")])
    publish(file_store, "drift_distributions", DAY, [_bucket("latency_ms", 0, "≤ 1", 0.5, 0.5)])
    publish(
        file_store,
        "drift_distributions",
        day(1),
        [
            _bucket("latency_ms", 1, "> 120", 0.5, 0.9),
            _bucket("latency_ms", 0, "≤ 120", 0.5, 0.1),
            _bucket("model", 0, "a", 1.0, 1.0),  # tested, not drifted: not shown
        ],
    )
    section = drift_section(load_reports(file_store, DAY, day(1)))
    found = _chart(section)

    assert found.title == f"Distributions of the drifted features on {day(1)}"
    assert found.table is not None
    assert found.table.select("feature", "bucket", "reference_share", "current_share").rows() == [
        ("latency_ms", "≤ 120", 0.5, 0.1),
        ("latency_ms", "> 120", 0.5, 0.9),
    ]
    assert _drawn(found) == found.table.to_dicts()  # the chart draws the table's rows, nothing else
    assert found.marks == 4  # a reference and a current bar per bucket
    assert found.note == "latency_ms: latency_ms: ALERT"  # the report's message
    assert set(found.table.get_column("message")) == {"latency_ms: ALERT"}


def test_no_alert_or_an_older_store_says_why_instead_of_an_empty_frame(file_store: Store) -> None:
    publish(file_store, "drift", DAY, [drift_test("latency_ms")])
    quiet = _chart(drift_section(load_reports(file_store, DAY, DAY)))
    assert quiet.spec is None and quiet.empty is not None and "No feature alerted" in quiet.empty

    publish(file_store, "drift", DAY, [drift_test("latency_ms", alert=True)])
    section = drift_section(load_reports(file_store, DAY, DAY))
    older = _chart(section)
    assert older.empty is not None and "No `drift_distributions` report" in older.empty
    assert any("warehouse/profiles" in note for note in section.notes)

    publish(file_store, "drift_distributions", DAY, [_bucket("model", 0, "a", 1.0, 1.0)])
    unmatched = _chart(drift_section(load_reports(file_store, DAY, DAY)))
    assert unmatched.empty is not None and "no rows for the features that alerted" in unmatched.empty
    assert unmatched.spec is None
