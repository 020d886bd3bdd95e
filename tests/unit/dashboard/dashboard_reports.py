"""Report partitions written by hand through the real writer (`publish_partition`), so the dashboard is
tested on exactly the files a night publishes: each row names only the columns a test cares about, the rest
are null, as an unknown is in the real tables."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tracewatch.reports import REPORT_TABLES, publish_partition
from tracewatch.store import Store

DAY = dt.date(2026, 11, 10)


def day(offset: int) -> dt.date:
    return DAY + dt.timedelta(days=offset)


def publish(
    store: Store, table: str, when: dt.date, rows: list[dict[str, Any]], *, experiment: str | None = None
) -> None:
    """Publish `rows` (missing columns null; zero rows: an explicit empty partition) as `table` on `when`."""
    schema = REPORT_TABLES[table].schema
    frame = pl.DataFrame(
        [{c: row.get(c) for c in schema if c != "run_id"} for row in rows],
        schema={c: t for c, t in schema.items() if c != "run_id"},
    )
    publish_partition(store, REPORT_TABLES[table], when, frame, run_id="test", subpartition=experiment)


def metric_row(model: str, route: str, **values: Any) -> dict[str, Any]:
    """A trace_metrics_daily group with everything known (counts 0 unless given)."""
    row: dict[str, Any] = {
        "project": "app",
        "route": route,
        "model": model,
        "trace_count": 10,
        "error_count": 0,
        "input_tokens_sum": 0,
        "output_tokens_sum": 0,
        "cost_usd_sum": 0.0,
        "latency_ms_p50": 100.0,
        "latency_ms_p90": 200.0,
        "latency_ms_p99": 300.0,
        "feedback": [],
        "quarantined_count": 0,
    }
    row.update(values)
    return row


def drift_test(feature: str, *, alert: bool = False, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "feature": feature,
        "kind": "numeric",
        "role": "test",
        "method": "binned_cmh_chisquare",
        "statistic": 50.0,
        "threshold": 0.01,
        "p_value": 1e-4,
        "p_value_adjusted": 1e-4,
        "direction": "p_value below threshold is drift",
        "effect_size": 0.05,
        "effect_threshold": 0.1,
        "alert": alert,
        "message": f"{feature}: {'ALERT' if alert else 'steady'}",
    }
    row.update(values)
    return row
