"""The rows an experiment writes, one per (item, config, trial): built from the item, the call's result and
the fields every row of a chunk shares (`base`). See `_records.EXPERIMENT_ITEM_SCHEMA`."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from tracewatch.experiments._records import EXPERIMENT_ITEM_SCHEMA
from tracewatch.llm import CallResult, Completion
from tracewatch.runs import utc_now

_ITEM_FIELDS = (
    ("item_id", "item_id"),
    ("input", "input_text"),
    ("expected", "expected_output"),
    ("source_trace_id", "source_trace_id"),
)
"""Row column <- item field."""

_COMPLETION_FIELDS = (
    ("output", "text"),
    ("input_tokens", "input_tokens"),
    ("output_tokens", "output_tokens"),
    ("cost_usd", "cost_usd"),
    ("latency_ms", "latency_ms"),
)
"""Row column <- Completion attribute (None without a completion)."""


def item_row(
    base: Mapping[str, Any], item: Mapping[str, Any], trial: int, result: CallResult, started: dt.datetime
) -> dict[str, Any]:
    """One experiment item row (see `_records.EXPERIMENT_ITEM_SCHEMA`), as a plain dict: no polars per item."""
    completion = result.completion
    row = {**base, "trial": trial, "cached": result.cached, "status": result.status, "error": result.error}
    row.update((column, item.get(name)) for column, name in _ITEM_FIELDS)
    row.update((column, getattr(completion, name, None)) for column, name in _COMPLETION_FIELDS)
    row.update(attempts=result.attempts, started_at=started, finished_at=utc_now())
    return row


def cached_rows(
    base: Mapping[str, Any], units: Sequence[tuple[Mapping[str, Any], int]], answered: Sequence[Completion]
) -> pl.DataFrame:
    """The rows of units all answered from the cache (the answer of `units[i]` is `answered[i]`), built column
    by column: a warm rerun would otherwise spend most of its time building and converting one dict per row.
    Every row has the same start and finish time, since no call was waited for."""
    now = utc_now()
    columns: dict[str, list[Any]] = {"trial": [trial for _, trial in units]}
    for column, name in _ITEM_FIELDS:
        columns[column] = [item.get(name) for item, _ in units]
    for column, name in _COMPLETION_FIELDS:
        columns[column] = [getattr(completion, name) for completion in answered]
    fixed = {
        **base,
        "cached": True,
        "status": "ok",
        "error": None,
        "attempts": 0,
        "started_at": now,
        "finished_at": now,
    }
    schema, n = EXPERIMENT_ITEM_SCHEMA, len(units)
    # Not strict, as the per-item path (`rows_to_frame`): an entry written by another client may say 12.0 tokens.
    built = {
        name: pl.Series(name, values, dtype=schema[name], strict=False) for name, values in columns.items()
    }
    # Eager series only: a lazy step (pl.lit, with_columns, select) waits on polars' thread pool every time.
    built.update(
        (name, pl.Series(name, [value], dtype=schema[name]).new_from_index(0, n))
        for name, value in fixed.items()
    )
    return pl.DataFrame([built[name] for name in schema])
