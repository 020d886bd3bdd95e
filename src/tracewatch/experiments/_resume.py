"""Reading experiment items back: the read-side rule that makes reruns safe, and what a rerun may skip.

The rule: **the latest row per key (config fingerprint, item id, trial) wins**, latest by `finished_at`, ties
broken by the later part (part names sort by write time). Parts are never rewritten, so a rerun that retries an
error simply adds a newer row; every reader goes through `latest_rows`, and no reader ever sees a duplicate.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Literal

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.experiments._records import (
    EXPERIMENT_ITEM_SCHEMA,
    KEY_COLUMNS,
    empty_experiment_items,
    items_prefix,
)
from tracewatch.experiments._spend import unpriced
from tracewatch.store import Store

RunMode = Literal["resume", "retry_failed"]
"""`resume`: run every key without an `ok` row (new, failed or skipped for budget);
`retry_failed`: run only keys whose latest row is an `error`."""

RUN_MODES: tuple[str, ...] = ("resume", "retry_failed")

ItemKey = tuple[str, str, int]
"""(config fingerprint, item id, trial)."""

_PART = "_part"


def item_parts(store: Store, experiment_id: str, fingerprint: str | None = None) -> list[str]:
    """The item part keys of an experiment (or of one config of it)."""
    return [o.key for o in store.list_objects(items_prefix(experiment_id, fingerprint), suffix=".parquet")]


def latest_rows(rows: pl.LazyFrame) -> pl.LazyFrame:
    """Apply the read-side rule to rows that carry their part key in `_part`."""
    return rows.sort(["finished_at", _PART]).unique(list(KEY_COLUMNS), keep="last")


def read_experiment_items(store: Store, experiment_id: str, fingerprint: str | None = None) -> pl.DataFrame:
    """Every item of an experiment, one row per key (the latest), sorted by key: what scoring reads."""
    scan = _scan(store, experiment_id, fingerprint)
    if scan is None:
        return empty_experiment_items()
    latest = latest_rows(scan).drop(_PART).sort(list(KEY_COLUMNS))
    return latest.collect().cast(EXPERIMENT_ITEM_SCHEMA)  # type: ignore[arg-type]


@dataclass(frozen=True)
class ResumeState:
    """What earlier runs of an experiment left: the latest status per key and the money they spent."""

    statuses: Mapping[ItemKey, str] = field(default_factory=dict)
    spent_usd: float = 0.0

    def should_run(self, key: ItemKey, mode: RunMode) -> bool:
        status = self.statuses.get(key)
        if mode == "resume":
            return status != "ok"
        if mode == "retry_failed":
            return status == "error"
        raise ConfigError(f"run mode {mode!r} is not one of {RUN_MODES}")


def load_resume_state(
    store: Store,
    experiment_id: str,
    fingerprint: str | None = None,
    item_ids: Collection[str] | None = None,
) -> ResumeState:
    """The latest status of every key written so far (optionally of one config and some items only), and the
    cost of every uncached call ever made for the experiment (superseded rows were paid for too)."""
    rows = _status_rows(store, experiment_id, fingerprint, item_ids)
    if rows is None:
        return ResumeState()
    latest = latest_rows(rows.lazy()).collect()
    keys = zip(
        latest.get_column("config_fingerprint").to_list(),
        latest.get_column("item_id").to_list(),
        latest.get_column("trial").to_list(),
        strict=True,
    )
    statuses = dict(zip(keys, latest.get_column("status").to_list(), strict=True))
    return ResumeState(statuses=statuses, spent_usd=_spent(rows))


@dataclass(frozen=True)
class StatusCounts:
    """How many keys of each config have each latest status, how many of its answers have no price, and what
    every uncached call cost."""

    by_config: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    spent_usd: float = 0.0
    unpriced_by_config: Mapping[str, int] = field(default_factory=dict)

    def count(self, fingerprint: str, status: str) -> int:
        return self.by_config.get(fingerprint, {}).get(status, 0)


def count_statuses(store: Store, experiment_id: str) -> StatusCounts:
    """`load_resume_state` summed up per config and status, counted by polars: closing a run needs the
    counts, not a Python dict of every key."""
    rows = _status_rows(store, experiment_id, None, None)
    if rows is None:
        return StatusCounts()
    latest = latest_rows(rows.lazy())
    counts = latest.group_by("config_fingerprint", "status").len().collect()
    by_config: dict[str, dict[str, int]] = {}
    for fingerprint, status, n in counts.iter_rows():
        by_config.setdefault(fingerprint, {})[status] = n
    missing_price = latest.filter(unpriced()).group_by("config_fingerprint").len().collect()
    return StatusCounts(
        by_config=by_config, spent_usd=_spent(rows), unpriced_by_config=dict(missing_price.iter_rows())
    )


def _status_rows(
    store: Store, experiment_id: str, fingerprint: str | None, item_ids: Collection[str] | None
) -> pl.DataFrame | None:
    """Every row's key, status, cost and order columns (None when nothing was written yet)."""
    scan = _scan(store, experiment_id, fingerprint)
    if scan is None:
        return None
    if item_ids is not None:
        scan = scan.filter(pl.col("item_id").is_in(list(item_ids)))
    return scan.select(*KEY_COLUMNS, "status", "cost_usd", "cached", "finished_at", _PART).collect()


def _spent(rows: pl.DataFrame) -> float:
    spent = rows.filter(~pl.col("cached")).get_column("cost_usd").sum()
    return float(spent or 0.0)


def _scan(store: Store, experiment_id: str, fingerprint: str | None) -> pl.LazyFrame | None:
    parts = item_parts(store, experiment_id, fingerprint)
    if not parts:
        return None
    return pl.scan_parquet(
        [store.uri(k) for k in parts],
        storage_options=store.storage_options() or None,
        include_file_paths=_PART,
    )
