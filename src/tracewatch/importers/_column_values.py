"""Attribute values by key for the columnar dialect readers: what `AttributeReader` gives a span, as columns.

A columnar reader (issue 19; the contract is `_fact_frame`'s) reads a few known keys of every span. `key_columns`
puts them side by side, one row per span (each key's values gathered into place by index: a pivot cost more
than the rest of a reader), and the expressions here say what `AttributeReader.text` /
`integer` would return for each and whether it would warn (then the reader marks the span not exact and today's
Python reads it). Values no expression can reproduce exactly (JSON text, messages, documents) are read by
today's own functions, one call per span that has them: `read_spans` hands each span's values, decoded exactly as
`spans_from_columns` decodes them, to a fresh `AttributeReader`, and reports whether that reader warned.
`message_lists` / `passage_lists` turn the results into `FACT_SCHEMA`'s nested columns.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import accumulate
from typing import TypeVar

import numpy as np
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


def column(key: str, part: str) -> str:
    """The name of `key`'s `part` (`kind`, `text` or `int`) in `key_columns`' wide frame."""
    return f"{key}:{part}"


@dataclass(frozen=True, slots=True)
class KeyColumns:
    """What `key_columns` found: `wide`, one row per span of the view (in its order): `span_index` and, per key,
    `{key}:kind` (null when the span does not have the key, `NO_VALUE` when it has it without a value),
    `{key}:text` and `{key}:int` (the string and int values, null for other kinds); `rows`, the
    `SpanView.attributes` rows of the `rows_of` keys plus `row` (their span's row in `wide`); `prefixed`, the
    rows whose key starts with one of the `prefixes`, likewise."""

    wide: pl.DataFrame
    rows: pl.DataFrame
    prefixed: pl.DataFrame


_PREFIXED = -2


def key_columns(
    view: SpanView,
    keys: Sequence[str],
    rows_of: Sequence[str] = (),
    prefixes: Sequence[str] = (),
    counts: Sequence[str] = (),
) -> KeyColumns:
    """The values of `keys` side by side per span (`{key}:int` only for the `counts` keys, `{key}:text` only
    for the others), and the rows of `rows_of` and of `prefixes`, in a few passes over the attributes: each
    key's values are gathered into place by index (a pivot costs more than all the rest of a reader)."""
    every = list(dict.fromkeys((*keys, *rows_of)))
    key = pl.col("key")
    wanted = key.is_in(every)
    if prefixes:
        wanted = wanted | pl.any_horizontal(*(key.str.starts_with(p) for p in prefixes))
    found = view.attributes.filter(wanted)
    known = found["key"].is_in(every)
    codes = np.full(found.height, _PREFIXED, dtype=np.int64)
    if known.any():
        codes[known.to_numpy()] = found["key"].filter(known).cast(pl.Enum(every)).to_physical().to_numpy()
    order = view.spans["span_index"].to_numpy()
    where = np.full(int(order.max()) + 1 if order.size else 1, -1, dtype=np.int64)
    where[order] = np.arange(order.size)
    found_spans = found["span_index"].to_numpy()
    rows = where[np.minimum(found_spans, where.size - 1)]
    rows[found_spans >= where.size] = -1
    inside = rows >= 0
    if not inside.all():  # attributes of spans outside the view
        found, rows, codes = found.filter(pl.Series(inside)), rows[inside], codes[inside]
    found = found.with_columns(pl.Series("row", rows, dtype=pl.Int64()))
    sources = {
        "kind": found["kind"].fill_null(NO_VALUE).to_arrow(),
        "text": found["string_value"].to_arrow(),
        "int": found["int_value"].to_arrow(),
    }
    gathered: dict[str, pa.Array] = {}
    for number, name in enumerate(keys):
        index = np.full(order.size, -1, dtype=np.int64)
        chosen = np.flatnonzero(codes == number)
        index[rows[chosen]] = chosen
        at = pa.array(index, mask=index < 0)
        value = "int" if name in counts else "text"
        gathered[column(name, "kind")] = sources["kind"].take(at)
        gathered[column(name, value)] = sources[value].take(at)
    wide = view.spans.select("span_index")
    if keys:
        values = pl.from_arrow(pa.table(gathered))
        assert isinstance(values, pl.DataFrame)
        wide = pl.concat([wide, values], how="horizontal")
    of_rows = np.isin(codes, [i for i, k in enumerate(every) if k in set(rows_of)])
    prefixed = codes == _PREFIXED
    return KeyColumns(
        wide,
        found if of_rows.all() else found.filter(pl.Series(of_rows)),
        found.filter(pl.Series(prefixed)) if prefixed.any() else found.clear(),
    )


def place(rows: Sequence[int], height: int, **columns: pl.Series) -> pl.DataFrame:
    """`columns` (one value per entry of `rows`) as a frame of `height` rows, each value at its row, null in
    the others."""
    index = np.full(height, -1, dtype=np.int64)
    index[np.asarray(rows, dtype=np.int64)] = np.arange(len(rows))
    take = pl.lit(pl.Series(index))
    at = pl.when(take >= 0).then(take)
    frame = pl.DataFrame([series.alias(name) for name, series in columns.items()])
    return frame.select(pl.all().gather(at))


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
    kinds = rows["kind"].to_list()
    others = [i for i, kind in enumerate(kinds) if kind != "string"]  # most JSON-bearing values are strings
    if others:
        picked = rows[others].select("bool_value", "int_value", "double_value", "bytes_value", "nested_value")
        for i, (flag, number, real, raw, nested) in zip(others, picked.iter_rows(), strict=True):
            kind = kinds[i]
            if kind == "bool":
                values[i] = flag
            elif kind == "int":
                values[i] = number
            elif kind == "double":
                values[i] = real
            elif kind == "bytes":
                values[i] = raw
            elif kind in ("array", "kvlist"):
                values[i] = any_value(AnyValue.FromString(nested))
    return values


def read_spans(
    rows: pl.DataFrame,
    read: Callable[[int, AttributeReader], T],
    by: str = "span_index",
    *,
    ordered: bool = True,
) -> tuple[list[int], list[T], list[bool]]:
    """`read(span, reader)` for each span of `rows` (`SpanView.attributes` rows; a span is its `by` value),
    the reader holding that span's rows as a dict (in attribute order when `ordered`; else in the rows'
    order, for readers that only look keys up): the spans, the results, and whether the reader stayed silent."""
    if ordered:
        rows = rows.sort(by, "position")
    grouped: dict[int, dict[str, AttributeValue]] = {}
    for span, key, value in zip(rows[by].to_list(), rows["key"].to_list(), python_values(rows), strict=True):
        found = grouped.get(span)
        if found is None:
            grouped[span] = {key: value}
        else:
            found[key] = value
    results: list[T] = []
    silent: list[bool] = []
    for span, attributes in grouped.items():
        reader = AttributeReader(attributes)
        results.append(read(span, reader))
        silent.append(not reader.warnings)
    return list(grouped), results, silent


def _lists(values: Sequence[Sequence[object] | None], items: pa.Array) -> pl.Series:
    """`items` cut into one list per entry of `values` (its length; null for None)."""
    offsets = [0, *accumulate(0 if v is None else len(v) for v in values)]
    nulls = pa.array([v is None for v in values], pa.bool_())
    lists = pa.LargeListArray.from_arrays(pa.array(offsets, pa.int64()), items, mask=nulls)
    series = pl.from_arrow(lists)
    assert isinstance(series, pl.Series)
    return series


def message_lists(values: Sequence[list[ChatMessage] | None]) -> pl.Series:
    """Messages as `FACT_SCHEMA`'s message column (None stays null)."""
    every = [m for messages in values if messages for m in messages]
    items = pa.StructArray.from_arrays(
        [
            pa.array([m.role for m in every], pa.large_string()),
            pa.array([m.content for m in every], pa.large_string()),
        ],
        names=["role", "content"],
    )
    return _lists(values, items).cast(MESSAGES)


def passage_lists(values: Sequence[list[Passage] | None]) -> pl.Series:
    """Passages as `FACT_SCHEMA`'s `retrieved` column (None stays null)."""
    every = [p for passages in values if passages for p in passages]
    items = pa.StructArray.from_arrays(
        [
            pa.array([p.document_id for p in every], pa.large_string()),
            pa.array([p.text for p in every], pa.large_string()),
            pa.array([p.score for p in every], pa.float64()),
        ],
        names=["document_id", "text", "score"],
    )
    return _lists(values, items).cast(PASSAGES)


def json_string(value: pl.Expr) -> pl.Expr:
    """A string as orjson writes it (quoted, the same escapes: checked over every code point)."""
    return pl.struct(value.alias("s")).struct.json_encode().str.strip_prefix('{"s":').str.strip_suffix("}")
