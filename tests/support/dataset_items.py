"""Dataset items for the tests of dataset versions and signatures: one row builder, so every test's items have
the columns of `ITEM_SCHEMA` and differ from the defaults only where a test says so."""

from __future__ import annotations

import datetime as dt
from typing import Any

import polars as pl

from tracewatch.datasets.schema import ITEM_SCHEMA

ITEM_DAY = dt.date(2026, 11, 1)
"""The day every item's source trace is from."""


def item_row(key: str, *, text: str | None = None, **overrides: Any) -> dict[str, Any]:
    """The item `itm_<key>` (content hash, source trace and default question from `key`) as a row; `text` sets
    the input and its one user message, `overrides` any column. The dedup key is left to the library."""
    text = f"question {key}?" if text is None else text
    row = {
        "item_id": f"itm_{key}",
        "content_hash": f"hash-{key}",
        "input_text": text,
        "input_messages": [{"role": "user", "content": text}],
        "expected_output": None,
        "expected_source": None,
        "retrieved_context": [],
        "project": "qa",
        "route": "qa/single-fact",
        "model": "gpt-4o-mini",
        "tags": [],
        "feedback": [],
        "metadata": "{}",
        "source_trace_id": f"t-{key}",
        "source_date": ITEM_DAY,
        "strategy": "random",
        "stratum": "route=qa/single-fact",
        "redactions": 0,
        "source": "production",
        "provenance": None,
    }
    return {**row, **overrides}


def item_frame(*rows: dict[str, Any]) -> pl.DataFrame:
    """Rows as an item frame in `ITEM_SCHEMA` (a column no row has, such as the dedup key, is null)."""
    return pl.DataFrame(list(rows), schema=ITEM_SCHEMA)
