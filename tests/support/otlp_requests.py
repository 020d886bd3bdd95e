"""OTLP requests for the decoder tests, built with the real `opentelemetry-proto` classes, and their OTLP JSON.

OTLP JSON is protobuf's JSON mapping except that trace and span ids are hex
(https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding): `json_format.MessageToDict` writes them as
base64, so `otlp_json_document` converts them as the Collector's pdata marshaler writes them.
"""

from __future__ import annotations

import base64
import struct
from typing import Any

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import Status

TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")
ROOT_ID = bytes.fromhex("eee19b7ec3c1b174")
CHILD_ID = bytes.fromhex("eee19b7ec3c1b173")
START = 1_765_000_000_123_456_789
"""Above 2**53: a float would lose the last digits, so an int64 read through a double shows up."""

_ID_FIELDS = frozenset({"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"})


def any_value(value: Any) -> AnyValue:
    """A Python value as the `AnyValue` an SDK would send (bytes stay bytes, lists arrays, dicts kvlists)."""
    message = AnyValue()
    if value is None:
        return message
    if isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        message.int_value = value
    elif isinstance(value, float):
        message.double_value = value
    elif isinstance(value, str):
        message.string_value = value
    elif isinstance(value, bytes):
        message.bytes_value = value
    elif isinstance(value, list):
        message.array_value.values.extend(any_value(item) for item in value)
    else:
        message.kvlist_value.values.extend(key_values(value))
    return message


def key_values(attributes: dict[str, Any]) -> list[KeyValue]:
    """A dict as a repeated `KeyValue`."""
    return [KeyValue(key=key, value=any_value(value)) for key, value in attributes.items()]


EVERY_KIND: dict[str, Any] = {
    "gen_ai.request.model": "smol",
    "gen_ai.usage.input_tokens": 9_007_199_254_740_993,
    "gen_ai.request.temperature": 0.25,
    "stream": True,
    "tag.tags": ["a", 1, 2.5, False],
    "metadata": {"user": {"tier": "gold"}, "n": 3},
    "raw": b"\x00\xff\x10 bytes",
    "empty": None,
}
"""Every `AnyValue` kind, an int beyond 2**53 and an unset value."""


def span_message(
    span_id: bytes = CHILD_ID,
    *,
    trace_id: bytes = TRACE_ID,
    parent: bytes = ROOT_ID,
    attributes: dict[str, Any] | None = None,
) -> SpanMessage:
    """A client span with an error status and one event, children of `parent`."""
    span = SpanMessage(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name="chat smol",
        kind=SpanMessage.SPAN_KIND_CLIENT,
        start_time_unix_nano=START,
        end_time_unix_nano=START + 1_500_000_000,
        status=Status(code=Status.STATUS_CODE_ERROR, message="rate limited"),
    )
    span.attributes.extend(key_values(EVERY_KIND if attributes is None else attributes))
    event = span.events.add(name="gen_ai.choice", time_unix_nano=START + 1_000)
    event.attributes.extend(key_values({"index": 0}))
    return span


def trace_request(*spans: SpanMessage) -> ExportTraceServiceRequest:
    """One request: a resource with a service name and one instrumentation scope holding `spans`."""
    request = ExportTraceServiceRequest()
    block = request.resource_spans.add()
    block.resource.attributes.extend(key_values({"service.name": "chat-api"}))
    scope_block = block.scope_spans.add()
    scope_block.scope.name = "opentelemetry.instrumentation.openai_v2"
    scope_block.spans.extend(spans)
    return request


def log_record(
    *,
    event_name: str = "",
    attributes: dict[str, Any] | None = None,
    body: Any = None,
    trace_id: bytes = TRACE_ID,
    span_id: bytes = CHILD_ID,
) -> LogRecord:
    """A GenAI log event, by default joined to `CHILD_ID`."""
    record = LogRecord(trace_id=trace_id, span_id=span_id, time_unix_nano=START, event_name=event_name)
    record.attributes.extend(key_values(attributes or {}))
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return record


def logs_request(*records: LogRecord) -> ExportLogsServiceRequest:
    """One logs request holding `records`."""
    request = ExportLogsServiceRequest()
    request.resource_logs.add().scope_logs.add().log_records.extend(records)
    return request


def _hex_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            key: base64.b64decode(value).hex() if key in _ID_FIELDS else _hex_ids(value)
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_hex_ids(item) for item in node]
    return node


def otlp_json_document(request: Any, *, hex_ids: bool = True, **options: Any) -> Any:
    """`request` in OTLP JSON as a parsed document; `options` go to `MessageToDict` (enum names, snake_case)."""
    document = MessageToDict(request, **options)
    return _hex_ids(document) if hex_ids else document


def otlp_json(request: Any, **options: Any) -> bytes:
    """`request` as OTLP JSON bytes."""
    return orjson.dumps(otlp_json_document(request, **options))


def length_prefixed(*messages: bytes) -> bytes:
    """fileexporter's framing: each message preceded by its length as a 4-byte big-endian unsigned integer."""
    return b"".join(struct.pack(">I", len(message)) + message for message in messages)
