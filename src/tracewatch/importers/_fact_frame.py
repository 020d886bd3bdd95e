"""The columnar shape of span facts (`FACT_SCHEMA`): one row per span, one column per `SpanFacts` field, and the
per-object views (`SpanView`) the columnar dialect readers read them from.

The columnar import path maps a whole object's spans with expressions instead of a `read_span` per span. Its
contract with today's path is exactness: for every span it maps, the row equals `facts_to_frame` of what
`read_span` gives (every field but `attributes_used`, which only the Python readers track). A span a columnar
reader cannot map exactly (a value of an unexpected type, anything today's readers would warn about, a shape it
does not know) is marked `exact = False` by that reader and is read by `read_span` instead; its `SpanFacts` are
kept as they are (`python_index` points at them), so nothing odd is ever round-tripped through columns.

Nested fields are lists of structs in `SpanFacts`' field order (`ChatMessage`, `Passage`, `FeedbackValue`);
`metadata` is the span's metadata as compact JSON text in insertion order (null when empty).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import orjson
import polars as pl

from tracewatch.importers._span_columns import SpanColumns
from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts

_TEXT = pl.String()
MESSAGES = pl.List(pl.Struct({"role": _TEXT, "content": _TEXT}))
PASSAGES = pl.List(pl.Struct({"document_id": _TEXT, "text": _TEXT, "score": pl.Float64()}))
FEEDBACK = pl.List(pl.Struct({"name": _TEXT, "value": pl.Float64(), "source": _TEXT}))

FACT_SCHEMA = pl.Schema(
    {
        "trace_id": _TEXT,
        "span_id": _TEXT,
        "parent_span_id": _TEXT,
        "name": _TEXT,
        "start_time_unix_nano": pl.UInt64(),
        "end_time_unix_nano": pl.UInt64(),
        "role": _TEXT,
        "dialect": _TEXT,
        "status": _TEXT,
        "error_type": _TEXT,
        "error_message": _TEXT,
        "request_model": _TEXT,
        "response_model": _TEXT,
        "provider": _TEXT,
        "input_messages": MESSAGES,
        "output_messages": MESSAGES,
        "input_text": _TEXT,
        "output_text": _TEXT,
        "input_tokens": pl.Int64(),
        "output_tokens": pl.Int64(),
        "total_tokens": pl.Int64(),
        "cost_usd": pl.Float64(),
        "retrieved": PASSAGES,
        "route": _TEXT,
        "project": _TEXT,
        "user_id": _TEXT,
        "session_id": _TEXT,
        "tags": pl.List(_TEXT),
        "metadata": _TEXT,
        "feedback": FEEDBACK,
        "log_records": pl.Int32(),
    }
)
"""One row per span; the columns are `SpanFacts`' fields but `attributes_used`, in its order."""

FRAME_SCHEMA = pl.Schema({**FACT_SCHEMA, "python_index": pl.Int32()})
"""`FACT_SCHEMA` plus `python_index`: null for a row mapped in columns, else the position of the span's
`SpanFacts` in the list read by `read_span` (the row's other columns hold the same facts, for expressions)."""

_NESTED = {
    "input_messages": ChatMessage,
    "output_messages": ChatMessage,
    "retrieved": Passage,
    "feedback": FeedbackValue,
}
_FIELD_NAMES = tuple(FACT_SCHEMA.names())


def _plain(value: Any) -> Any:
    """A nested fact value as plain dicts (in field order), for a frame."""
    if value is None:
        return None
    return [{f.name: getattr(item, f.name) for f in fields(item)} for item in value]


def facts_to_frame(facts: Sequence[SpanFacts], *, python_index: bool = False) -> pl.DataFrame:
    """`facts` as rows of `FACT_SCHEMA` (with `python_index` 0..n-1 when asked: rows read by `read_span`).

    The equality contract columnar readers are tested against, and how spans read in Python join the columnar
    rows of their object. ValueError (polars') for values the schema cannot hold (a count beyond int64)."""
    columns: dict[str, list[Any]] = {name: [] for name in _FIELD_NAMES}
    for item in facts:
        for name in _FIELD_NAMES:
            value = getattr(item, name)
            if name in _NESTED:
                value = _plain(value)
            elif name == "metadata":
                value = orjson.dumps(value).decode() if value else None
            columns[name].append(value)
    frame = pl.DataFrame(columns, schema=FACT_SCHEMA, strict=False)
    if python_index:
        frame = frame.with_columns(pl.int_range(pl.len(), dtype=pl.Int32()).alias("python_index"))
    return frame


IDENTITY_COLUMNS = (
    "trace_id",
    "span_id",
    "parent_span_id",
    "name",
    "start_time_unix_nano",
    "end_time_unix_nano",
)
"""What every span states whatever reads it (and all a Python-read row holds but its log records)."""
_IDENTITY = (*IDENTITY_COLUMNS, "log_records")


def python_frame(facts: Sequence[SpanFacts], offset: int = 0) -> pl.DataFrame:
    """Rows (`FRAME_SCHEMA`) for facts read in Python: `python_index` `offset`.., the span's identity, times
    and log records; the other columns null, since whatever reads them goes to the facts themselves (a trace
    with such a row is assembled from its `SpanFacts`). Values a column cannot hold (a time before 1970 from a
    vendor export) are null there too, for the same reason."""
    columns = {name: [getattr(item, name) for item in facts] for name in _IDENTITY}
    frame = pl.DataFrame(columns, schema={name: FACT_SCHEMA[name] for name in _IDENTITY}, strict=False)
    return frame.select(
        *(pl.col(n) if n in columns else pl.lit(None, dtype).alias(n) for n, dtype in FACT_SCHEMA.items()),
        pl.int_range(offset, offset + len(facts), dtype=pl.Int32()).alias("python_index"),
    )


def read_rows(facts: Sequence[SpanFacts], offset: int = 0) -> tuple[pl.DataFrame, list[SpanFacts]]:
    """Rows (`FRAME_SCHEMA`, in `facts`' order) for facts read in Python, and the facts they still point at.

    A fact that survives the trip through a frame exactly (`facts_from_frame` gives it back, but for
    `attributes_used`) becomes a full row, as if mapped in columns, so its trace can still be assembled in
    columns; the others (a count beyond int64, metadata values JSON does not give back as they were) get a
    `python_frame` row pointing at `offset` + their place in the returned list."""
    if not facts:
        return python_frame(facts, offset), []
    try:
        full = facts_to_frame(facts)
        back = facts_from_frame(full)
    except (ValueError, TypeError, OverflowError, orjson.JSONDecodeError, pl.exceptions.PolarsError):
        return python_frame(facts, offset), list(facts)
    same = []
    for fact, copy in zip(facts, back, strict=True):
        copy.attributes_used = fact.attributes_used
        same.append(copy == fact)
    if all(same):
        return full.with_columns(pl.lit(None, pl.Int32()).alias("python_index")), []
    kept = [fact for fact, ok in zip(facts, same, strict=True) if not ok]
    python = python_frame(kept, offset)
    where = pl.Series("_at", [i for i, ok in enumerate(same) if not ok], dtype=pl.Int64())
    exact = (
        full.with_row_index("_at")
        .filter(pl.Series(same))
        .with_columns(pl.col("_at").cast(pl.Int64()), pl.lit(None, pl.Int32()).alias("python_index"))
    )
    rows = pl.concat([exact, python.with_columns(where)], how="diagonal").sort("_at").drop("_at")
    return rows.select(FRAME_SCHEMA.names()), kept


def facts_from_frame(frame: pl.DataFrame, read: Sequence[SpanFacts] = ()) -> list[SpanFacts]:
    """The `SpanFacts` of each row: `read[python_index]` for rows read in Python, else rebuilt from the columns.

    Rebuilt facts equal `read_span`'s for the same span (the columnar readers' contract) but for
    `attributes_used`, which stays empty."""
    indexes = frame["python_index"].to_list() if "python_index" in frame.columns else [None] * frame.height
    out: list[SpanFacts] = []
    for index, row in zip(indexes, frame.select(_FIELD_NAMES).iter_rows(named=True), strict=True):
        if index is not None:
            out.append(read[index])
            continue
        for name, kind in _NESTED.items():
            if row[name] is not None:
                row[name] = [kind(**item) for item in row[name]]
        row["metadata"] = orjson.loads(row["metadata"]) if row["metadata"] is not None else {}
        out.append(SpanFacts(**row))
    return out


# ---- what a columnar reader reads --------------------------------------------------------------------------

_VALUE_COLUMNS = (
    "kind",
    "string_value",
    "bool_value",
    "int_value",
    "double_value",
    "bytes_value",
    "nested_value",
)


@dataclass(frozen=True, slots=True)
class SpanView:
    """Some spans of one object, as frames a columnar reader selects from.

    - `spans`: one row per span: `span_index` (its row in `SpanColumns.spans`, the key of every other frame)
      and the `SpanColumns.spans` columns;
    - `attributes`: the spans' own attributes, long: `span_index`, `key`, `position` (the key's place among
      the span's attributes, as a decoded dict keeps it: first occurrence), `repeated` (the key occurs more
      than once on the span: a dict keeps the last value, which `attributes` holds; readers usually leave such
      spans to Python), then `kind` and the typed value columns of `SpanColumns.attributes`;
    - `events`: the spans' events: `event_index` (row in `SpanColumns.events`), `span_index`, `name`,
      `time_unix_nano`; `event_attributes`: their attributes, long like `attributes` but keyed by
      `event_index`;
    - `resources`: the resource attributes, long like `attributes` but keyed by `resource_index`.
    """

    spans: pl.DataFrame
    attributes: pl.DataFrame
    events: pl.DataFrame
    event_attributes: pl.DataFrame
    resources: pl.DataFrame

    def only(self, rows: pl.Series) -> SpanView:
        """The view of the spans whose `span_index` is in `rows` (in this view's order)."""
        wanted = rows.implode()
        events = self.events.filter(pl.col("span_index").is_in(wanted))
        return SpanView(
            spans=self.spans.filter(pl.col("span_index").is_in(wanted)),
            attributes=self.attributes.filter(pl.col("span_index").is_in(wanted)),
            events=events,
            event_attributes=self.event_attributes.filter(
                pl.col("event_index").is_in(events["event_index"].implode())
            ),
            resources=self.resources,
        )


def _owned(attributes: pl.DataFrame, owner: str, index_name: str, rows: pl.Series | None) -> pl.DataFrame:
    """The attributes of one owner kind, last value per key at the key's first position (as a dict keeps it)."""
    own = attributes.filter(pl.col("owner") == owner).drop("owner").rename({"owner_index": index_name})
    if rows is not None:
        own = own.filter(pl.col(index_name).is_in(rows.implode()))
    own = own.with_columns(pl.int_range(pl.len(), dtype=pl.Int32()).over(index_name).alias("position"))
    return (
        own.group_by(index_name, "key", maintain_order=True)
        .agg(
            pl.col("position").first(),
            (pl.len() > 1).alias("repeated"),
            *(pl.col(c).last() for c in _VALUE_COLUMNS),
        )
        .with_columns(pl.col("position").rank("ordinal").over(index_name).cast(pl.Int32()) - 1)
    )


def span_view(cols: SpanColumns, rows: np.ndarray | Sequence[int] | None = None) -> SpanView:
    """The view of `cols`' spans (only the `spans` rows `rows`, in that order, when given)."""
    spans = pl.from_arrow(cols.spans)
    assert isinstance(spans, pl.DataFrame)
    spans = spans.with_row_index("span_index").with_columns(pl.col("span_index").cast(pl.Int32()))
    wanted = None
    if rows is not None:
        wanted = pl.Series("span_index", np.asarray(rows), dtype=pl.Int32())
        spans = spans.join(wanted.to_frame(), on="span_index", how="inner", maintain_order="right")
    attributes = pl.from_arrow(cols.attributes)
    assert isinstance(attributes, pl.DataFrame)
    attributes = attributes.with_columns(pl.col("owner").cast(pl.String()), pl.col("kind").cast(pl.String()))
    events = pl.from_arrow(cols.events)
    assert isinstance(events, pl.DataFrame)
    events = events.with_row_index("event_index").with_columns(pl.col("event_index").cast(pl.Int32()))
    if wanted is not None:
        events = events.filter(pl.col("span_index").is_in(wanted.implode()))
    return SpanView(
        spans=spans,
        attributes=_owned(attributes, "span", "span_index", wanted),
        events=events,
        event_attributes=_owned(attributes, "event", "event_index", events["event_index"]),
        resources=_owned(attributes, "resource", "resource_index", None),
    )
