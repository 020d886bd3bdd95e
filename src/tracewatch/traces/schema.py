"""The canonical trace schema: one row per production LLM request.

Column names follow the OpenTelemetry GenAI semantic conventions where one exists (dots become underscores
and the `gen_ai.` prefix is dropped, e.g. `gen_ai.usage.input_tokens` -> `input_tokens`). Every column is
documented for users in docs/trace-schema.md; keep the two in step.
"""

from __future__ import annotations

import polars as pl

SCHEMA_VERSION = 1

MESSAGE = pl.Struct({"role": pl.String, "content": pl.String})
CONTEXT_PASSAGE = pl.Struct({"document_id": pl.String, "text": pl.String, "score": pl.Float64})
FEEDBACK = pl.Struct({"name": pl.String, "value": pl.Float64, "source": pl.String})

TRACE_SCHEMA: dict[str, pl.DataType] = {
    "trace_id": pl.String(),
    "start_time": pl.Datetime("us", "UTC"),
    "project": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "provider_name": pl.String(),
    "input_text": pl.String(),
    "input_messages": pl.List(MESSAGE),
    "output_text": pl.String(),
    "input_tokens": pl.Int64(),
    "output_tokens": pl.Int64(),
    "cost_usd": pl.Float64(),
    "latency_ms": pl.Float64(),
    "status": pl.String(),
    "error_type": pl.String(),
    "error_message": pl.String(),
    "user_id": pl.String(),
    "session_id": pl.String(),
    "tags": pl.List(pl.String()),
    "metadata": pl.String(),
    "retrieved_context": pl.List(CONTEXT_PASSAGE),
    "feedback": pl.List(FEEDBACK),
}
"""Column -> type. `metadata` holds a JSON object as text so any key survives every Parquet reader."""

REQUIRED_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "start_time",
    "project",
    "route",
    "model",
    "input_text",
    "output_text",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "status",
)
"""A file without one of these cannot be validated row by row and is quarantined whole."""

OPTIONAL_COLUMNS: tuple[str, ...] = tuple(c for c in TRACE_SCHEMA if c not in REQUIRED_COLUMNS)
"""Absent optional columns are read as nulls."""

STATUS_VALUES: tuple[str, ...] = ("ok", "error")

GROUP_KEYS: tuple[str, ...] = ("project", "route", "model")
"""The dimensions every monitoring table is broken down by."""


def empty_traces() -> pl.DataFrame:
    """A zero-row frame with the canonical schema."""
    return pl.DataFrame(schema=TRACE_SCHEMA)
