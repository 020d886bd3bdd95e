"""Checks on published metric tables shared by the monitoring unit tests and the ingest integration tests."""

from __future__ import annotations

import polars as pl


def non_finite_cells(table: pl.DataFrame) -> dict[str, int]:
    """Float column (feedback means included) -> how many NaN or infinite values it holds; {} when none."""
    columns = {c: table.get_column(c) for c in table.columns if table.schema[c].is_float()}
    columns["feedback.mean"] = table.get_column("feedback").explode().struct.field("mean")
    counts = {c: int((~s.is_finite()).sum()) for c, s in columns.items()}
    return {c: n for c, n in counts.items() if n}
