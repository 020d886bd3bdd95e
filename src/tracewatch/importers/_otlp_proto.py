"""OTLP protobuf (`ExportTraceServiceRequest`, `ExportLogsServiceRequest` bytes) to `Span`s and log events.

Parsing is `opentelemetry-proto`'s generated classes (upb, C); the walk over the parsed messages is straight-line,
like the JSON decoder's, and reports alike: ids are bytes here and become lower-case hex, 0 times are unknown.
"""

from __future__ import annotations

from typing import Any

from google.protobuf import unknown_fields
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracewatch.importers._otlp_decoded import (
    SPAN_ID_BYTES,
    TRACE_ID_BYTES,
    DecodedLogs,
    DecodedTraces,
    LogEvent,
    RecordError,
    Rejected,
    RejectedScope,
    RequestError,
    check_id_length,
    shape_reason,
    status_of,
)
from tracewatch.importers._spans import AttributeValue, Span, SpanEvent

_SHAPE_ERRORS = (TypeError, AttributeError, ValueError)


_SCALARS = frozenset({"string_value", "bool_value", "int_value", "double_value", "bytes_value"})


def any_value(value: Any) -> AttributeValue:
    """An OTLP `AnyValue` message as Python; an unset one is None."""
    which = value.WhichOneof("value")
    if which in _SCALARS:
        return getattr(value, which)  # type: ignore[no-any-return]
    if which is None:
        return None
    if which == "array_value":
        return [any_value(item) for item in value.array_value.values]
    return attributes(value.kvlist_value.values)


def attributes(kvs: Any) -> dict[str, AttributeValue]:
    """A repeated `KeyValue` as a dict (a repeated key keeps its last value)."""
    out: dict[str, AttributeValue] = {}
    for kv in kvs:
        value = kv.value
        # Most GenAI attributes are non-empty strings: one field read instead of the generic dispatch (an empty
        # string_value reads the same as another kind's, so that goes the long way); the other scalars (token
        # counts) are dispatched here, without `any_value`'s call: every read of a upb message costs.
        text = value.string_value
        if text:
            out[kv.key] = text
            continue
        which = value.WhichOneof("value")
        out[kv.key] = getattr(value, which) if which in _SCALARS else any_value(value)
    return out


_NO_TRACE_ID = bytes(TRACE_ID_BYTES)
_NO_SPAN_ID = bytes(SPAN_ID_BYTES)


def _id(owner: str, what: str, raw: bytes, size: int) -> str:
    if not raw:
        raise RecordError(f"{owner} has no {what}")
    return check_id_length(what, raw, size)


def _span(m: Any, resource: dict[str, AttributeValue], scope_name: str | None) -> Span:
    # Ids of the right length and not all zeros (nearly all of them) in one test each; anything else goes
    # through `_id` / `check_id_length` for its precise reason.
    trace_id, span_id, parent = m.trace_id, m.span_id, m.parent_span_id
    status = m.status
    events = m.events
    return Span(
        trace_id=trace_id.hex()
        if len(trace_id) == TRACE_ID_BYTES and trace_id != _NO_TRACE_ID
        else _id("span", "trace id", trace_id, TRACE_ID_BYTES),
        span_id=span_id.hex()
        if len(span_id) == SPAN_ID_BYTES and span_id != _NO_SPAN_ID
        else _id("span", "span id", span_id, SPAN_ID_BYTES),
        parent_span_id=(
            parent.hex()
            if len(parent) == SPAN_ID_BYTES and parent != _NO_SPAN_ID
            else check_id_length("parent span id", parent, SPAN_ID_BYTES)
        )
        if parent
        else None,
        name=m.name,
        start_time_unix_nano=m.start_time_unix_nano or None,
        end_time_unix_nano=m.end_time_unix_nano or None,
        status=status_of(status.code),
        status_message=status.message or None,
        kind=m.kind,
        attributes=attributes(m.attributes),
        resource=resource,
        scope_name=scope_name,
        events=[
            SpanEvent(
                name=e.name, time_unix_nano=e.time_unix_nano or None, attributes=attributes(e.attributes)
            )
            for e in events
        ]
        if events
        else [],
    )


def _rejected(scope: RejectedScope, exc: Exception, where: str, m: Any) -> Rejected:
    trace_id = m.trace_id.hex() or None
    span_id = m.span_id.hex() or None
    return Rejected(scope, shape_reason(exc, "protobuf"), where, trace_id, span_id, m.SerializeToString())


def _parse(message: Any, data: bytes, what: str) -> None:
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise RequestError(f"not valid OTLP protobuf ({what}): {exc}") from None
    # Bytes that happen to parse but carry only fields OTLP does not define are not a request, only noise.
    if data and not message.ListFields() and len(unknown_fields.UnknownFieldSet(message)):
        raise RequestError(f"not valid OTLP protobuf ({what}): only fields an OTLP request does not define")


def decode_trace_request(data: bytes, out: DecodedTraces, label: str = "") -> None:
    """Add the spans of one serialized `ExportTraceServiceRequest` to `out`; `label` prefixes every `where`.

    A bad span is rejected alone; bytes that are not a request raise `RequestError`.
    """
    request = ExportTraceServiceRequest()
    _parse(request, data, "ExportTraceServiceRequest")
    out.requests += 1
    seen, rejected_before = 0, len(out.rejected)
    spans, rejected = out.spans, out.rejected
    for ri, block in enumerate(request.resource_spans):
        if not block.scope_spans and len(unknown_fields.UnknownFieldSet(block)):
            # Older OTLP carried spans in `instrumentation_library_spans` (field 1000), which today's classes no
            # longer define: reading on would count those spans as none.
            reason = (
                "resource block holds no scopeSpans but fields this OTLP version does not define "
                "(e.g. the older instrumentationLibrarySpans)"
            )
            rejected.append(Rejected("request", reason, f"{label}resourceSpans[{ri}]"))
            continue
        resource = attributes(block.resource.attributes)
        for si, scope_block in enumerate(block.scope_spans):
            scope_name = scope_block.scope.name or None
            for pi, m in enumerate(scope_block.spans):
                seen += 1
                try:
                    spans.append(_span(m, resource, scope_name))
                except _SHAPE_ERRORS as exc:
                    where = f"{label}resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                    rejected.append(_rejected("span", exc, where, m))
    # A request whose blocks were rejected is not an empty one.
    if seen == 0 and len(out.rejected) == rejected_before:
        out.empty_requests += 1


def _log_event(m: Any) -> LogEvent:
    trace_id, span_id = m.trace_id, m.span_id
    # Log records outside a span carry no ids, or all-zero ones from some bridges: both mean "none".
    if trace_id == _NO_TRACE_ID or not trace_id:
        raise RecordError("log record has no trace id, so it cannot be joined to a span")
    attrs = attributes(m.attributes)
    name = m.event_name or attrs.get("event.name") or ""
    event = SpanEvent(
        name=name if type(name) is str else str(name),
        time_unix_nano=m.time_unix_nano or m.observed_time_unix_nano or None,
        attributes=attrs,
        body=any_value(m.body) if m.HasField("body") else None,
    )
    return LogEvent(
        check_id_length("trace id", trace_id, TRACE_ID_BYTES),
        check_id_length("span id", span_id, SPAN_ID_BYTES) if span_id and span_id != _NO_SPAN_ID else None,
        event,
    )


def decode_log_request(data: bytes, out: DecodedLogs, label: str = "") -> None:
    """Add the records of one serialized `ExportLogsServiceRequest` to `out`, as `decode_trace_request` does."""
    request = ExportLogsServiceRequest()
    _parse(request, data, "ExportLogsServiceRequest")
    out.requests += 1
    seen, rejected_before = 0, len(out.rejected)
    records, rejected = out.records, out.rejected
    for ri, block in enumerate(request.resource_logs):
        for si, scope_block in enumerate(block.scope_logs):
            for pi, m in enumerate(scope_block.log_records):
                seen += 1
                try:
                    records.append(_log_event(m))
                except _SHAPE_ERRORS as exc:
                    where = f"{label}resourceLogs[{ri}].scopeLogs[{si}].logRecords[{pi}]"
                    rejected.append(_rejected("log_record", exc, where, m))
    # A request whose blocks were rejected is not an empty one.
    if seen == 0 and len(out.rejected) == rejected_before:
        out.empty_requests += 1
