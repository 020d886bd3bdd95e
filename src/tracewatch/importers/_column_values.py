"""Attribute values by key for the columnar dialect readers: what `AttributeReader` gives a span, as columns.

A columnar reader (issue 19; the contract is `_fact_frame`'s) reads a few known keys of every span. `key_columns`
puts them side by side, one row per span, and the expressions here say what `AttributeReader.text` /
`integer` would return for each and whether it would warn (then the reader marks the span not exact and today's
Python reads it). Values no expression can reproduce exactly (JSON text, messages, documents) are read by
today's own functions, one call per span that has them: `read_spans` hands each span's values, decoded exactly as
`spans_from_columns` decodes them, to a fresh `AttributeReader`, and reports whether that reader warned.
`message_lists` / `passage_lists` turn the results into `FACT_SCHEMA`'s nested columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from itertools import groupby
from operator import itemgetter
from typing import TypeVar

import polars as pl
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._fact_frame import MESSAGES, PASSAGES, SpanView
from tracewatch.importers._otlp_proto import any_value
from tracewatch.importers._spans import AttributeValue, ChatMessage, Passage

T = TypeVar("T")

NO_VALUE = "none"
"""The kind `key_columns` gives a key that is on the span without a value (an empty `AnyValue`: None in Python)."""

_PIVOTED = {"kind": "kind", "string_value": "text", "int_value": "int"}


def column(key: str, part: str) -> str:
    """The name of `key`'s `part` (`kind`, `text` or `int`) in `key_columns`' frame."""
    return f"{key}:{part}"


def key_columns(view: SpanView, keys: Sequence[str]) -> pl.DataFrame:
    """One row per `view.spans` row, in its order: `span_index` and, per key, `{key}:kind` (null when the span
    does not have the key, `NO_VALUE` when it has it without a value), `{key}:text` and `{key}:int` (the string
    and int values, null for other kinds)."""
    found = view.attributes.filter(pl.col("key").is_in(list(keys))).select(
        "span_index", "key", pl.col("kind").fill_null(NO_VALUE), "string_value", "int_value"
    )
    spans = view.spans.select("span_index")
    if found.height:
        wide = found.pivot(on="key", index="span_index", values=list(_PIVOTED))
        wide = wide.rename(
            {f"{value}_{key}": column(key, part) for key in keys for value, part in _PIVOTED.items()},
            strict=False,
        )
        spans = spans.join(wide, on="span_index", how="left", maintain_order="left")
    dtypes = {"kind": pl.String(), "text": pl.String(), "int": pl.Int64()}
    missing = [
        pl.lit(None, dtype).alias(column(key, part))
        for key in keys
        for part, dtype in dtypes.items()
        if column(key, part) not in spans.columns
    ]
    return spans.with_columns(missing) if missing else spans


def present(key: str) -> pl.Expr:
    """The span has `key` (with or without a value)."""
    return pl.col(column(key, "kind")).is_not_null()


def text(key: str) -> pl.Expr:
    """`AttributeReader.text(key)` where it does not warn: the string, else null (absent or without a value)."""
    return pl.when(pl.col(column(key, "kind")) == "string").then(pl.col(column(key, "text")))


def text_warns(key: str) -> pl.Expr:
    """`AttributeReader.text(key)` would warn: the value is there and neither a string nor empty."""
    kind = pl.col(column(key, "kind"))
    return kind.is_not_null() & ~kind.is_in(["string", NO_VALUE])


def integer(key: str) -> pl.Expr:
    """`AttributeReader.integer(key)` for an int value, else null."""
    return pl.when(pl.col(column(key, "kind")) == "int").then(pl.col(column(key, "int")))


def integer_odd(key: str) -> pl.Expr:
    """The value is there and not an int: today's reader warns, or converts a float or a numeric string; the
    columns leave all of those to it."""
    kind = pl.col(column(key, "kind"))
    return kind.is_not_null() & (kind != "int")


def first_text(*keys: str) -> tuple[pl.Expr, pl.Expr]:
    """`_genai.first_text(reader, *keys)`: the first non-empty string, and whether any present key warns."""
    value = pl.coalesce(*(pl.when(text(key) != "").then(text(key)) for key in keys))
    return value, pl.any_horizontal(*(text_warns(key) for key in keys))


def first_integer(*keys: str) -> tuple[pl.Expr, pl.Expr]:
    """`_genai.first_integer(reader, *keys)`: the first int, and whether any present key is not an int."""
    return pl.coalesce(*(integer(key) for key in keys)), pl.any_horizontal(
        *(integer_odd(key) for key in keys)
    )


def python_values(rows: pl.DataFrame) -> list[AttributeValue]:
    """Each attribute row's value as `spans_from_columns` decodes it (rows of `SpanView.attributes`)."""
    values: list[AttributeValue] = rows["string_value"].to_list()
    kinds = rows["kind"]
    for kind, name in (("bool", "bool_value"), ("int", "int_value"), ("double", "double_value")):
        where = (kinds == kind).arg_true()
        if where.len():
            for i, value in zip(where.to_list(), rows[name].gather(where).to_list(), strict=True):
                values[i] = value
    where = kinds.is_in(["bytes", "array", "kvlist"]).arg_true()
    if where.len():
        picked = rows.select(kinds, "bytes_value", "nested_value")[where]
        for i, (kind, raw, nested) in zip(where.to_list(), picked.iter_rows(), strict=True):
            values[i] = raw if kind == "bytes" else any_value(AnyValue.FromString(nested))
    return values


def read_spans(
    rows: pl.DataFrame, read: Callable[[int, AttributeReader], T]
) -> tuple[list[int], list[T], list[bool]]:
    """`read(span_index, reader)` for each span of `rows` (`SpanView.attributes` rows), the reader holding that
    span's rows as a dict in attribute order: the spans, the results, and whether the reader stayed silent."""
    rows = rows.sort("span_index", "position")
    spans: list[int] = []
    results: list[T] = []
    silent: list[bool] = []
    triples = zip(rows["span_index"].to_list(), rows["key"].to_list(), python_values(rows), strict=True)
    for span, group in groupby(triples, key=itemgetter(0)):
        reader = AttributeReader({key: value for _, key, value in group})
        results.append(read(span, reader))
        spans.append(span)
        silent.append(not reader.warnings)
    return spans, results, silent


def _nested(
    values: Sequence[Sequence[object] | None], fields: dict[str, pa.DataType], dtype: pl.DataType
) -> pl.Series:
    offsets = [0]
    nulls = []
    columns: dict[str, list[object]] = {name: [] for name in fields}
    for items in values:
        nulls.append(items is None)
        for item in items or ():
            for name, found in columns.items():
                found.append(getattr(item, name))
        offsets.append(len(columns[next(iter(fields))]))
    structs = pa.StructArray.from_arrays(
        [pa.array(columns[name], kind) for name, kind in fields.items()], names=list(fields)
    )
    lists = pa.LargeListArray.from_arrays(
        pa.array(offsets, pa.int64()), structs, mask=pa.array(nulls, pa.bool_())
    )
    series = pl.from_arrow(lists)
    assert isinstance(series, pl.Series)
    return series.cast(dtype)


def message_lists(values: Sequence[list[ChatMessage] | None]) -> pl.Series:
    """Messages as `FACT_SCHEMA`'s message column (None stays null)."""
    return _nested(values, {"role": pa.large_string(), "content": pa.large_string()}, MESSAGES)


def passage_lists(values: Sequence[list[Passage] | None]) -> pl.Series:
    """Passages as `FACT_SCHEMA`'s `retrieved` column (None stays null)."""
    fields = {"document_id": pa.large_string(), "text": pa.large_string(), "score": pa.float64()}
    return _nested(values, fields, PASSAGES)


def json_string(value: pl.Expr) -> pl.Expr:
    """A string as orjson writes it (quoted, the same escapes: checked over every code point)."""
    return pl.struct(value.alias("s")).struct.json_encode().str.strip_prefix('{"s":').str.strip_suffix("}")
