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
from typing import Any

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


def _value(kind: str | None, row: dict[str, Any]) -> AttributeValue:
    if kind is None:
        return None
    if kind in ("array", "kvlist"):
        return any_value(AnyValue.FromString(row["nested_value"]))
    return row[f"{kind}_value"]  # type: ignore[no-any-return]


def _attribute_dicts(cols: SpanColumns) -> dict[str, list[dict[str, AttributeValue]]]:
    counts = {
        "resource": cols.resources,
        "scope": cols.scopes,
        "span": cols.spans.num_rows,
        "event": cols.events.num_rows,
    }
    dicts: dict[str, list[dict[str, AttributeValue]]] = {o: [{} for _ in range(n)] for o, n in counts.items()}
    for row in cols.attributes.to_pylist():
        dicts[row["owner"]][row["owner_index"]][row["key"]] = _value(row["kind"], row)
    return dicts


def spans_from_columns(cols: SpanColumns) -> list[Span]:
    """The `Span`s of `cols`, as today's decoders give them (a repeated key keeps its place and its last value)."""
    attrs = _attribute_dicts(cols)
    events: list[list[SpanEvent]] = [[] for _ in range(cols.spans.num_rows)]
    for i, e in enumerate(cols.events.to_pylist()):
        events[e["span_index"]].append(SpanEvent(e["name"], e["time_unix_nano"], attrs["event"][i]))
    return [
        Span(
            trace_id=s["trace_id"],
            span_id=s["span_id"],
            parent_span_id=s["parent_span_id"],
            name=s["name"],
            start_time_unix_nano=s["start_time_unix_nano"],
            end_time_unix_nano=s["end_time_unix_nano"],
            status=STATUS_BY_CODE[s["status_code"]],
            status_message=s["status_message"],
            kind=s["kind"],
            attributes=attrs["span"][i],
            resource=attrs["resource"][s["resource_index"]],
            scope_name=s["scope_name"],
            events=events[i],
        )
        for i, s in enumerate(cols.spans.to_pylist())
    ]
