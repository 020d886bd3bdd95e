"""The columnar shape of decoded OTLP traces (`SpanColumns`), and the bridge from it back to today's `Span`s.

One object's spans as three Arrow tables instead of a `Span` per span, so a columnar import can map and assemble
them with expressions over whole batches:

- `spans`, one row per span in document order: `trace_id`, `span_id` (lower-case hex), `parent_span_id` (null
  when empty), `name`, `kind`, `start_time_unix_nano` / `end_time_unix_nano` (null for 0), `status_code` (0-2),
  `status_message` (null when empty), `resource_index` (the `owner_index` of its resource's attributes: the
  resource block's position in the request), `scope_index` (likewise for the scope block), `scope_name` (null when
  empty);
- `attributes`, one row per `KeyValue` of resources, scopes, spans and span events, grouped by `owner`
  (`resource`, `scope`, `span`, `event`, in that order), then by `owner_index` (the row of its owner: resource or
  scope block, `spans` row, `events` row), then in document order: `key`, `kind` (which `AnyValue` field is set,
  null when none) and one typed value column per kind (`string_value`, `bool_value`, `int_value`, `double_value`,
  `bytes_value`); arrays and key-value lists (rare) keep the `AnyValue`'s own protobuf bytes in `nested_value`,
  decoded on demand by `_otlp_proto.any_value`;
- `events`, one row per span event: `span_index` (its `spans` row), `name`, `time_unix_nano` (null for 0).

`spans_from_columns` rebuilds the `Span`s today's decoders produce, exactly: it is the equality contract the
columnar decoders are tested against, and the way to today's dialect readers until those read columns.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tracewatch.importers._otlp_decoded import STATUS_BY_CODE
from tracewatch.importers._otlp_proto import any_value
from tracewatch.importers._spans import AttributeValue, Span, SpanEvent

OWNERS = ("resource", "scope", "span", "event")
"""The `attributes.owner` values, in the order the rows come in (dictionary codes 0-3)."""

VALUE_KINDS = ("string", "bool", "int", "double", "array", "kvlist", "bytes")
"""The `attributes.kind` values: `AnyValue` fields 1-7 (dictionary codes 0-6)."""

SPANS_SCHEMA = pa.schema(
    [
        ("trace_id", pa.large_string()),
        ("span_id", pa.large_string()),
        ("parent_span_id", pa.large_string()),
        ("name", pa.large_string()),
        ("kind", pa.int32()),
        ("start_time_unix_nano", pa.uint64()),
        ("end_time_unix_nano", pa.uint64()),
        ("status_code", pa.int8()),
        ("status_message", pa.large_string()),
        ("resource_index", pa.int32()),
        ("scope_index", pa.int32()),
        ("scope_name", pa.large_string()),
    ]
)
ATTRIBUTES_SCHEMA = pa.schema(
    [
        ("owner", pa.dictionary(pa.int8(), pa.string())),
        ("owner_index", pa.int32()),
        ("key", pa.large_string()),
        ("kind", pa.dictionary(pa.int8(), pa.string())),
        ("string_value", pa.large_string()),
        ("bool_value", pa.bool_()),
        ("int_value", pa.int64()),
        ("double_value", pa.float64()),
        ("bytes_value", pa.large_binary()),
        ("nested_value", pa.large_binary()),
    ]
)
EVENTS_SCHEMA = pa.schema(
    [("span_index", pa.int32()), ("name", pa.large_string()), ("time_unix_nano", pa.uint64())]
)


@dataclass(frozen=True, slots=True)
class SpanColumns:
    """The spans, attributes and events of one request (see the module docstring); `resources` and `scopes`
    count the request's resource and scope blocks, which own attribute rows by position."""

    spans: pa.Table
    attributes: pa.Table
    events: pa.Table
    resources: int
    scopes: int


def subset_columns(cols: SpanColumns, rows: np.ndarray) -> SpanColumns:
    """The spans `rows` of `cols` (ascending `spans` row numbers) with their attributes and events, indexes
    renumbered; resources and scopes stay whole. How the spans a columnar reader leaves to Python get there
    without rebuilding every span of the object."""
    rows = np.asarray(rows, dtype=np.int64)
    span_map = np.full(cols.spans.num_rows, -1, dtype=np.int32)
    span_map[rows] = np.arange(rows.size, dtype=np.int32)
    events = cols.events
    event_spans = events.column("span_index").to_numpy(zero_copy_only=False).astype(np.int64)
    kept_events = np.flatnonzero(span_map[event_spans] >= 0) if events.num_rows else np.empty(0, np.int64)
    event_map = np.full(events.num_rows, -1, dtype=np.int32)
    event_map[kept_events] = np.arange(kept_events.size, dtype=np.int32)
    a = cols.attributes
    owner = a.column("owner").combine_chunks()
    codes = owner.indices.to_numpy(zero_copy_only=False) if len(owner) else np.empty(0, np.int8)
    index = a.column("owner_index").to_numpy(zero_copy_only=False).astype(np.int64)
    new_index = index.astype(np.int32)
    span_rows, event_rows = codes == OWNERS.index("span"), codes == OWNERS.index("event")
    new_index[span_rows] = span_map[index[span_rows]]
    new_index[event_rows] = event_map[index[event_rows]]
    keep = ~(span_rows | event_rows) | (new_index >= 0)
    attributes = a.filter(pa.array(keep)).set_column(
        a.schema.get_field_index("owner_index"), "owner_index", pa.array(new_index[keep], pa.int32())
    )
    kept = events.take(pa.array(kept_events))
    kept = kept.set_column(0, "span_index", pa.array(span_map[event_spans[kept_events]], pa.int32()))
    return SpanColumns(cols.spans.take(pa.array(rows)), attributes, kept, cols.resources, cols.scopes)


def _values(attributes: pa.Table) -> list[AttributeValue]:
    """Each attribute row's value as Python, column by column: the strings, then the other kinds put in place."""
    kind = attributes.column("kind").combine_chunks()
    codes = kind.indices.to_numpy(zero_copy_only=False) if len(kind) else np.empty(0)
    values: list[AttributeValue] = attributes.column("string_value").to_pylist()
    for code, name in enumerate(VALUE_KINDS[1:], start=1):
        rows = np.flatnonzero(codes == code)
        if not rows.size:
            continue
        column = "nested_value" if name in ("array", "kvlist") else f"{name}_value"
        found = attributes.column(column).take(pa.array(rows)).to_pylist()
        if column == "nested_value":
            found = [any_value(AnyValue.FromString(raw)) for raw in found]
        for row, value in zip(rows.tolist(), found, strict=True):
            values[row] = value
    return values


def _attribute_dicts(cols: SpanColumns) -> dict[str, list[dict[str, AttributeValue]]]:
    counts = {
        "resource": cols.resources,
        "scope": cols.scopes,
        "span": cols.spans.num_rows,
        "event": cols.events.num_rows,
    }
    dicts: dict[str, list[dict[str, AttributeValue]]] = {o: [{} for _ in range(n)] for o, n in counts.items()}
    a = cols.attributes
    owners, indexes, keys = (a.column(c).to_pylist() for c in ("owner", "owner_index", "key"))
    for owner, index, key, value in zip(owners, indexes, keys, _values(a), strict=True):
        dicts[owner][index][key] = value
    return dicts


def spans_from_columns(cols: SpanColumns) -> list[Span]:
    """The `Span`s of `cols`, as today's decoders give them (a repeated key keeps its place and its last value)."""
    attrs = _attribute_dicts(cols)
    events: list[list[SpanEvent]] = [[] for _ in range(cols.spans.num_rows)]
    e = {name: cols.events.column(name).to_pylist() for name in cols.events.column_names}
    for span, name, time, attributes in zip(
        e["span_index"], e["name"], e["time_unix_nano"], attrs["event"], strict=True
    ):
        events[span].append(SpanEvent(name, time, attributes))
    s = {name: cols.spans.column(name).to_pylist() for name in cols.spans.column_names}
    resources = attrs["resource"]
    fields = (
        s["trace_id"],
        s["span_id"],
        s["parent_span_id"],
        s["name"],
        s["start_time_unix_nano"],
        s["end_time_unix_nano"],
        [STATUS_BY_CODE[code] for code in s["status_code"]],
        s["status_message"],
        s["kind"],
        attrs["span"],
        [resources[index] for index in s["resource_index"]],
        s["scope_name"],
        events,
    )  # in `Span`'s field order
    return [Span(*row) for row in zip(*fields, strict=True)]
