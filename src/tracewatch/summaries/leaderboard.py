"""An experiment's leaderboard: one row per config with its counts, cost and latency, for artifacts and the CLI."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import polars as pl

from tracewatch.experiments import ExperimentRecord, cost_aggregates, read_experiment_items
from tracewatch.store import Store


def leaderboard_table(
    config_rows: Sequence[Mapping[str, object]], items: pl.DataFrame
) -> list[dict[str, object]]:
    """One row per config of an experiment, in the experiment's order: the counts per status (`config_rows`,
    from the experiment record), what its items cost (null, shown as unknown, when answers were given and none
    has a price; `unpriced_items` counts the answers without one) and their mean latency over the answered
    items (the latency of the original call for answers from the cache). `items` are the experiment's item
    rows."""
    per_config = {
        row["config_name"]: row
        for row in items.group_by("config_name")
        .agg(
            *cost_aggregates(),
            pl.col("latency_ms").filter(pl.col("status") == "ok").mean().alias("mean_latency_ms"),
        )
        .iter_rows(named=True)
    }
    table: list[dict[str, object]] = []
    for row in config_rows:
        stats = per_config.get(row["config"], {})
        latency, cost = stats.get("mean_latency_ms"), stats.get("cost_usd", 0.0)
        table.append(
            {
                "config": row["config"],
                "baseline": row.get("baseline", False),
                "ok": row.get("ok", 0),
                "error": row.get("error", 0),
                "skipped_budget": row.get("skipped_budget", 0),
                "missing": row.get("missing", 0),
                "cost_usd": round(float(cost), 6) if cost is not None else None,
                "unpriced_items": int(stats.get("unpriced_items") or 0),
                "mean_latency_ms": round(float(latency), 1) if latency is not None else None,
            }
        )
    return table


def experiment_leaderboard(store: Store, record: ExperimentRecord) -> list[dict[str, object]]:
    """`leaderboard_table` of an experiment, from its record and its stored items."""
    return leaderboard_table(record.config_rows(), read_experiment_items(store, record.experiment_id))
