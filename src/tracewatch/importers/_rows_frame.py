"""Assembled trace rows (dicts of `TRACE_SCHEMA` columns) as one frame, built column by column.

`pl.DataFrame(rows, schema=TRACE_SCHEMA)` reads every dict in turn, and its nested columns (lists of message,
passage and feedback structs) cost most: 0.25-0.29 CPU s per 20,000 bench rows, so 2.5-3 s an import of
1,000,000 spans. Here each plain column is one list of values, and each list-of-structs column one flat list per
struct field plus the list offsets, given to Arrow whole: the same frame (values, nulls, types, Parquet bytes)
in 0.15-0.16 CPU s per 20,000 rows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
import pyarrow as pa

from tracewatch.traces import TRACE_SCHEMA

_NESTED = frozenset(
    name
    for name, dtype in TRACE_SCHEMA.items()
    if isinstance(dtype, pl.List) and isinstance(dtype.inner, pl.Struct)
)
"""The list-of-structs columns (messages, passages, feedback): what made the row-by-row constructor slow."""
_ARROW_TYPES: dict[str, pa.DataType] = {
    field.name: field.type for field in pl.DataFrame(schema=TRACE_SCHEMA).to_arrow().schema
}


def trace_rows_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """The rows as a frame with exactly `TRACE_SCHEMA`: `pl.DataFrame(rows, schema=TRACE_SCHEMA)`, faster.

    A nested value that is not a list of dicts (or None) sends the whole batch to that constructor, so odd
    values come out exactly as they did (assembly makes none)."""
    columns = {name: [row.get(name) for row in rows] for name in TRACE_SCHEMA}
    if not all(_lists_of_dicts(columns[name]) for name in _NESTED):
        return pl.DataFrame(rows, schema=TRACE_SCHEMA)
    return pl.DataFrame(
        [
            _struct_lists(name, values, dtype)  # type: ignore[arg-type]
            if name in _NESTED
            else pl.Series(name, values, dtype=dtype)
            for (name, values), dtype in zip(columns.items(), TRACE_SCHEMA.values(), strict=True)
        ]
    )


def _lists_of_dicts(values: list[Any]) -> bool:
    return all(
        group is None or (type(group) is list and all(type(item) is dict for item in group))
        for group in values
    )


def _struct_lists(name: str, values: list[list[dict[str, Any]] | None], dtype: pl.List) -> pl.Series:
    """A list-of-structs column from lists of dicts (None: a null list): flat field lists and offsets."""
    fields = {f.name: f.dtype for f in dtype.inner.fields}  # type: ignore[union-attr]
    struct_type = _ARROW_TYPES[name].value_type
    offsets = [0]
    end = 0
    for group in values:
        if group:
            end += len(group)
        offsets.append(end)
    items = [item for group in values if group for item in group]
    # Arrays made by polars, not `pa.array`, whose first call imports pandas (0.8 CPU s).
    children = [
        pl.Series([item.get(f.name) for item in items], dtype=fields[f.name]).to_arrow() for f in struct_type
    ]
    structs = pa.StructArray.from_arrays(children, fields=list(struct_type))
    nulls = pl.Series([group is None for group in values], dtype=pl.Boolean).to_arrow()
    lists = pa.LargeListArray.from_arrays(pl.Series(offsets, dtype=pl.Int64).to_arrow(), structs, mask=nulls)
    return pl.Series(name, lists, dtype=dtype)
