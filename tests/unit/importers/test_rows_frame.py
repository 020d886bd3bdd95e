"""Trace rows built into a frame column by column are the frame polars builds from the row dicts."""

from __future__ import annotations

import datetime as dt
import io
from typing import Any

import polars as pl
import pytest

from tracewatch.importers._rows_frame import trace_rows_frame
from tracewatch.traces import TRACE_SCHEMA


def _row(n: int, **changes: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "trace_id": f"{n:032x}",
        "start_time": dt.datetime(2026, 11, 2, 0, 0, n % 60, 123_456, tzinfo=dt.UTC),
        "project": "shop",
        "route": "/ask",
        "model": "gpt-4o-mini",
        "provider_name": "openai",
        "input_text": f"question {n}",
        "input_messages": [{"role": "system", "content": "be brief"}, {"role": "user", "content": f"q {n}"}],
        "output_text": f"answer {n}",
        "input_tokens": n,
        "output_tokens": 2 * n,
        "cost_usd": n / 1e6,
        "latency_ms": 12.5,
        "status": "ok",
        "error_type": None,
        "error_message": None,
        "user_id": "u1",
        "session_id": None,
        "tags": None,
        "metadata": '{"span_count":5}',
        "retrieved_context": [{"document_id": "doc-1", "text": "passage", "score": 0.9}],
        "feedback": None,
    }
    row.update(changes)
    return row


ROWS = [
    _row(1),
    _row(
        2,
        input_messages=None,
        retrieved_context=[],
        feedback=[{"name": "thumbs", "value": 1.0, "source": None}],
    ),
    _row(3, input_messages=[], retrieved_context=None, tags=["a", "b"], cost_usd=None, input_tokens=None),
    _row(4, retrieved_context=[{"document_id": None, "text": None, "score": None}], status="error"),
    _row(5, input_messages=[{"role": "user"}]),  # a struct field the dict lacks is null, as polars reads it
    {k: v for k, v in _row(6).items() if k != "route"},  # a column the row lacks is null
]


@pytest.mark.parametrize("rows", [ROWS, [], ROWS[1:2] * 3], ids=["mixed", "none", "null-lists-only"])
def test_the_frame_is_polars_frame_of_the_row_dicts(rows: list[dict[str, Any]]) -> None:
    ours, theirs = trace_rows_frame(rows), pl.DataFrame(rows, schema=TRACE_SCHEMA)
    assert ours.schema == theirs.schema == pl.Schema(TRACE_SCHEMA)
    assert ours.equals(theirs, null_equal=True)
    assert ours.rows() == theirs.rows()
    written = []
    for frame in (ours, theirs):
        buffer = io.BytesIO()
        frame.write_parquet(buffer)
        written.append(buffer.getvalue())
    assert written[0] == written[1], "the canonical files are written byte for byte as before"


@pytest.mark.parametrize("odd", ["not a list", [None, {"role": "user", "content": "q"}]])
def test_a_nested_value_that_is_not_a_list_of_dicts_goes_through_polars_own_conversion(odd: Any) -> None:
    rows = [_row(1), _row(2, input_messages=odd)]
    ours, theirs = trace_rows_frame(rows), pl.DataFrame(rows, schema=TRACE_SCHEMA)
    assert ours.equals(theirs, null_equal=True)
