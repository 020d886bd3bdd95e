"""Read one trace file into the canonical schema, saying exactly what could not be read and why.

A file is either read (possibly with per-row problems, e.g. a value of the wrong type or invalid UTF-8) or
rejected whole (unreadable bytes, a required column missing). Nothing is dropped silently: every problem
comes back as a reason that the ingest step quarantines.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass, field

import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from tracewatch.store import Store
from tracewatch.traces.schema import REQUIRED_COLUMNS, TRACE_SCHEMA

log = logging.getLogger(__name__)

ROW_NR = "_row_nr"
"""Position of a row in its source file: the key quarantine records use to point back at the input."""


@dataclass
class TraceFile:
    """The readable part of one file: canonical columns plus `_row_nr`, and per-row read problems."""

    key: str
    frame: pl.DataFrame
    row_problems: dict[int, list[str]] = field(default_factory=dict)

    @property
    def rows(self) -> int:
        return self.frame.height


@dataclass(frozen=True)
class RejectedFile:
    """A file that could not be used at all, with the reason and its row count when that is known."""

    key: str
    reason: str
    rows: int | None


def read_trace_file(
    store: Store, key: str, columns: tuple[str, ...] | None = None
) -> TraceFile | RejectedFile:
    """Read `key` as canonical traces (all columns, or just `columns`), or say why it cannot be used.

    With `columns`, any other column whose stored type is not the canonical one is read too, so a value that
    does not convert is a row problem whichever columns the caller asked for. Columns not read are not
    checked for invalid UTF-8; the step that reads them (e.g. dataset sampling) reads them through here.
    """
    wanted = columns or tuple(TRACE_SCHEMA)
    problems: dict[int, list[str]] = {}
    try:
        frame, file_columns = _read_frame(store, key, columns, problems)
    except Exception as exc:  # readers raise several types for corrupt input; all mean "unreadable"
        return RejectedFile(key, f"unreadable Parquet file: {_short(exc)}", rows=None)
    missing = [c for c in REQUIRED_COLUMNS if c not in file_columns]
    if missing:
        return RejectedFile(
            key,
            f"missing required column(s) {', '.join(missing)}; a trace file needs {', '.join(REQUIRED_COLUMNS)}",
            rows=frame.height,
        )
    mistyped = tuple(c for c in frame.columns if c in TRACE_SCHEMA and c not in wanted)
    frame = _conform(frame, (*wanted, *mistyped), problems).select(wanted)
    frame = frame.with_row_index(ROW_NR).with_columns(pl.col(ROW_NR).cast(pl.Int64))
    return TraceFile(key=key, frame=frame, row_problems=problems)


def _read_frame(
    store: Store, key: str, columns: tuple[str, ...] | None, problems: dict[int, list[str]]
) -> tuple[pl.DataFrame, list[str]]:
    """The file as a frame (all columns, or `columns` plus mistyped ones) and the names of all its columns."""
    if columns is not None:
        fast = _read_columns_natively(store, key, columns)
        if fast is not None:
            return fast
    if columns is None:
        # A whole file: one GET, parsed locally, the same code path for file:// and s3://.
        data = store.read_bytes(key)
        try:
            frame = pl.read_parquet(io.BytesIO(data))  # the fast path; it refuses invalid UTF-8 outright
            return frame, frame.columns
        except pl.exceptions.PolarsError:
            table = pq.read_table(io.BytesIO(data))  # slower, but tells which values are broken
        names = table.column_names
    else:
        # The slow but thorough way for the files polars refuses: ranged reads of just the column chunks.
        with store.fs.open(store.path(key), "rb") as handle:
            parquet = pq.ParquetFile(handle)
            names = parquet.schema_arrow.names
            stored = pl.from_arrow(parquet.schema_arrow.empty_table())
            assert isinstance(stored, pl.DataFrame)
            table = parquet.read(columns=_columns_to_read(columns, dict(stored.schema)))
    table = _drop_invalid_utf8(table, table.column_names, problems)
    converted = pl.from_arrow(table)
    assert isinstance(converted, pl.DataFrame)
    return converted, names


def _read_columns_natively(
    store: Store, key: str, columns: tuple[str, ...]
) -> tuple[pl.DataFrame, list[str]] | None:
    """Polars' own multi-threaded reader for a column subset, or None when the file needs the slow path."""
    source = pl.scan_parquet(store.uri(key), storage_options=store.storage_options() or None)
    try:
        schema = source.collect_schema()
        frame = source.select(_columns_to_read(columns, dict(schema))).collect()
    except (pl.exceptions.PolarsError, OSError):
        return None  # corrupt bytes or invalid UTF-8: the pyarrow path says which
    return frame, list(schema)


def _columns_to_read(columns: tuple[str, ...], stored: dict[str, object]) -> list[str]:
    """`columns` that the file has, plus every canonical column it stores with another type."""
    mistyped = [c for c, t in TRACE_SCHEMA.items() if c in stored and c not in columns and stored[c] != t]
    return [c for c in (*columns, *mistyped) if c in stored]


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:300]


def _drop_invalid_utf8(table: pa.Table, columns: list[str], problems: dict[int, list[str]]) -> pa.Table:
    """Null out string values that are not valid UTF-8 (writers sometimes produce them) and record the rows."""
    for name in columns:
        column = table.column(name)
        if not pa.types.is_string(column.type) and not pa.types.is_large_string(column.type):
            continue
        try:
            column.validate(full=True)
            continue
        except pa.ArrowInvalid:
            pass
        as_bytes = column.cast(pa.large_binary()).to_pylist()
        cleaned: list[str | None] = []
        for row_nr, value in enumerate(as_bytes):
            if value is None:
                cleaned.append(None)
                continue
            try:
                cleaned.append(value.decode("utf-8"))
            except UnicodeDecodeError:
                problems.setdefault(row_nr, []).append(f"{name} is not valid UTF-8 text")
                cleaned.append(None)
        table = table.set_column(
            table.schema.get_field_index(name), name, pa.array(cleaned, pa.large_string())
        )
    return table


def _conform(frame: pl.DataFrame, wanted: tuple[str, ...], problems: dict[int, list[str]]) -> pl.DataFrame:
    """Cast every column to its canonical type; values that do not convert become row problems."""
    out = []
    for name in wanted:
        target = TRACE_SCHEMA[name]
        if name not in frame.columns:
            out.append(pl.lit(None, dtype=target).alias(name))
            continue
        source = frame.get_column(name)
        if source.dtype == target:
            out.append(pl.col(name))
            continue
        converted = _convert(source, target)
        lost = source.is_not_null() & converted.is_null()
        if isinstance(target, (pl.Int64 | pl.Int32)) and source.dtype.is_float():
            lost = lost | (source.is_not_null() & (source != source.round()))
            converted = converted.set(lost, None)  # type: ignore[arg-type]
        for row_nr in lost.arg_true().to_list():
            value = repr(source[row_nr])[:80]
            problems.setdefault(row_nr, []).append(
                f"{name}={value} is not a valid {target} ({source.dtype} given)"
            )
        out.append(pl.lit(converted).alias(name))
    return frame.select(out)


def _convert(source: pl.Series, target: pl.DataType) -> pl.Series:
    if isinstance(target, pl.Datetime):
        if source.dtype == pl.String:
            return source.str.to_datetime(time_zone="UTC", strict=False).dt.cast_time_unit("us")
        if isinstance(source.dtype, pl.Datetime):
            # A naive timestamp is taken as UTC, the convention of every trace SDK we know of.
            converted = source.dt.replace_time_zone("UTC") if source.dtype.time_zone is None else source
            return converted.dt.convert_time_zone("UTC").dt.cast_time_unit("us")
    try:
        return source.cast(target, strict=False)
    except pl.exceptions.PolarsError:
        return pl.Series(source.name, [None] * source.len(), dtype=target)
