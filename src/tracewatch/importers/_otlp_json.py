"""OTLP JSON (`ExportTraceServiceRequest`, `ExportLogsServiceRequest`) to `Span`s and log events.

The OTLP JSON mapping differs from protobuf's generic JSON mapping, and that is why this is hand-written rather
than `json_format.Parse`: trace and span ids are hex (a generic parser reads them as base64 and silently corrupts
them), int64 values arrive as strings or numbers, enums as ints or names, keys in lowerCamelCase (snake_case is
accepted too, as protobuf JSON parsers do) and unknown fields are ignored.
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding

The code is straight-line on purpose: it runs once per span of a million-span import and must stay within a small
factor of `orjson.loads` itself, so it reads the parsed dicts in place and shares each resource's attribute dict
between that resource's spans (callers must not mutate it).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable
from typing import Any

import orjson

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
from tracewatch.importers._spans import AttributeValue, Span, SpanEvent, SpanStatus

_STRING, _BOOL, _INT, _DOUBLE, _ARRAY, _KVLIST, _BYTES = range(7)
_ANY_KINDS = {
    "stringValue": _STRING,
    "string_value": _STRING,
    "boolValue": _BOOL,
    "bool_value": _BOOL,
    "intValue": _INT,
    "int_value": _INT,
    "doubleValue": _DOUBLE,
    "double_value": _DOUBLE,
    "arrayValue": _ARRAY,
    "array_value": _ARRAY,
    "kvlistValue": _KVLIST,
    "kvlist_value": _KVLIST,
    "bytesValue": _BYTES,
    "bytes_value": _BYTES,
}
_SPAN_KINDS = {
    "SPAN_KIND_UNSPECIFIED": 0,
    "SPAN_KIND_INTERNAL": 1,
    "SPAN_KIND_SERVER": 2,
    "SPAN_KIND_CLIENT": 3,
    "SPAN_KIND_PRODUCER": 4,
    "SPAN_KIND_CONSUMER": 5,
}
_STATUS_CODES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}
_BASE64 = re.compile(r"[A-Za-z0-9+/_-]+={0,2}")
_SHAPE_ERRORS = (TypeError, AttributeError, KeyError, ValueError)
# The parsed document is untrusted, so the functions below take its parts as `Any`, not as the shape they expect:
# compiled with mypyc (docs/importing.md), a `dict` parameter would refuse a list on entry, with another error
# (and reason) than the plain module's.


def any_value(value: Any) -> AttributeValue:
    """An OTLP JSON `AnyValue` as Python; an empty one (`{}`) is None."""
    for kind, v in value.items():
        code = _ANY_KINDS.get(kind)
        if code is None:
            continue
        if code == _STRING:
            if type(v) is not str:
                raise RecordError(f"{kind} is {type(v).__name__}, expected a string")
            return v
        if code == _BOOL:
            if type(v) is not bool:
                raise RecordError(f"{kind} is {type(v).__name__}, expected true or false")
            return v
        if code == _INT:
            return int64(v, kind)
        if code == _DOUBLE:
            # proto3 JSON writes NaN and the infinities as the strings "NaN", "Infinity", "-Infinity".
            return float(v)
        if code == _ARRAY:
            return [any_value(item) for item in (v.get("values") or ())]
        if code == _KVLIST:
            return attributes(v.get("values") or ())
        return _base64_bytes(v, kind)
    return None


def attributes(kvs: Iterable[Any]) -> dict[str, AttributeValue]:
    """A `KeyValue` list as a dict (a repeated key keeps its last value, as in the Collector's maps)."""
    out: dict[str, AttributeValue] = {}
    for kv in kvs:
        # Most attributes are strings, and most others integers (token counts): those two without a call or a
        # raised KeyError; anything else, or a shape that raises, goes the long way for its value or its precise
        # reason.
        try:
            key = kv["key"]
            value = kv["value"]
            text = value.get("stringValue")
        except (KeyError, TypeError, AttributeError):
            pass
        else:
            if type(key) is str:
                if type(text) is str:
                    out[key] = text
                    continue
                if text is None and len(value) == 1:
                    number = value.get("intValue")
                    if type(number) is str or type(number) is int:
                        out[key] = int64(number, "intValue")
                        continue
        key, value = _key_value(kv)
        out[key] = any_value(value) if value else None
    return out


def _key_value(kv: Any) -> tuple[str, Any]:
    key = kv.get("key")
    if type(key) is not str:
        raise RecordError(f"an attribute key is {type(key).__name__}, expected a string")
    return key, kv.get("value")


def int64(value: object, what: str) -> int:
    """An OTLP JSON int64 (a decimal string or a JSON number) as int."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            raise RecordError(f"{what} {value[:40]!r} is not an integer") from None
    if type(value) is float and value.is_integer():
        return int(value)
    raise RecordError(f"{what} is {value!r}, expected an integer (a number or a decimal string)")


def _base64_bytes(value: object, what: str) -> bytes:
    # Bytes other than ids are base64 in OTLP JSON; protobuf parsers accept the URL-safe alphabet and missing
    # padding too.
    if type(value) is not str:
        raise RecordError(f"{what} is {type(value).__name__}, expected a base64 string")
    try:
        padded = value.replace("-", "+").replace("_", "/") + "=" * (-len(value) % 4)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError):
        raise RecordError(f"{what} is not valid base64") from None


def hex_id(owner: str, what: str, value: object, size: int) -> str:
    """A hex id of `size` bytes as lower-case hex; the reason names base64 when the id looks like it."""
    if type(value) is str and len(value) == 2 * size:
        try:
            raw = bytes.fromhex(value)
        except ValueError:
            raw = b""
        # The common case in one pass; anything else goes the long way for its precise reason.
        if len(raw) == size and raw != bytes(size):
            return raw.hex()
    return _bad_hex_id(owner, what, value, size)


def _bad_hex_id(owner: str, what: str, value: object, size: int) -> str:
    if not value:
        raise RecordError(f"{owner} has no {what}")
    if type(value) is not str:
        raise RecordError(f"{what} is {type(value).__name__}, expected a hex string")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        if len(value) == 4 * -(-size // 3) and _BASE64.fullmatch(value):
            raise RecordError(
                f"{what} {value!r} is not hex: OTLP JSON writes ids as hex, and this looks like base64 "
                "(as a generic protobuf JSON printer writes them)"
            ) from None
        raise RecordError(f"{what} {value[:80]!r} is not hex") from None
    return check_id_length(what, raw, size)


def _enum(names: dict[str, int], value: object, what: str) -> int:
    if type(value) is int:
        return value
    if type(value) is str and value in names:
        return names[value]
    raise RecordError(f"{what} {value!r} is not one of {', '.join(names)} or their numbers")


def _text(value: object, what: str) -> str:
    if type(value) is str:
        return value
    if value is None:
        return ""
    raise RecordError(f"{what} is {type(value).__name__}, expected a string")


def _time(value: object, what: str) -> int | None:
    # 0 is protobuf's "not set": unknown, never the epoch.
    return (int64(value, what) or None) if value else None


def _event(d: Any) -> SpanEvent:
    get = d.get
    attrs = get("attributes")
    return SpanEvent(
        name=_text(get("name"), "event name"),
        time_unix_nano=_time(get("timeUnixNano") or get("time_unix_nano"), "timeUnixNano"),
        attributes=attributes(attrs) if attrs else {},
    )


def _span(d: Any, resource: dict[str, AttributeValue], scope_name: str | None) -> Span:
    get = d.get
    parent = get("parentSpanId") or get("parent_span_id")
    kind = get("kind") or 0
    status: SpanStatus = "unset"
    message = None
    status_doc = get("status")
    if status_doc:
        status = status_of(_enum(_STATUS_CODES, status_doc.get("code") or 0, "status code"))
        message = status_doc.get("message") or None
    attrs = get("attributes")
    events = get("events")
    return Span(
        trace_id=hex_id("span", "trace id", get("traceId") or get("trace_id"), TRACE_ID_BYTES),
        span_id=hex_id("span", "span id", get("spanId") or get("span_id"), SPAN_ID_BYTES),
        parent_span_id=hex_id("span", "parent span id", parent, SPAN_ID_BYTES) if parent else None,
        name=_text(get("name"), "span name"),
        start_time_unix_nano=_time(
            get("startTimeUnixNano") or get("start_time_unix_nano"), "startTimeUnixNano"
        ),
        end_time_unix_nano=_time(get("endTimeUnixNano") or get("end_time_unix_nano"), "endTimeUnixNano"),
        status=status,
        status_message=message,
        kind=kind if type(kind) is int else _enum(_SPAN_KINDS, kind, "span kind"),
        attributes=attributes(attrs) if attrs else {},
        resource=resource,
        scope_name=scope_name,
        events=[_event(e) for e in events] if events else [],
    )


def _rejected(scope: RejectedScope, exc: Exception, where: str, d: object) -> Rejected:
    trace_id = span_id = None
    if isinstance(d, dict):
        found = d.get("traceId") or d.get("trace_id")
        trace_id = found if isinstance(found, str) else None
        found = d.get("spanId") or d.get("span_id")
        span_id = found if isinstance(found, str) else None
    return Rejected(scope, shape_reason(exc, "JSON"), where, trace_id, span_id, orjson.dumps(d))


def _blocks(doc: object, camel: str, snake: str) -> list[Any]:
    if type(doc) is not dict:
        raise RequestError(f"an OTLP request is a JSON object, got {type(doc).__name__}")
    blocks = doc.get(camel) or doc.get(snake) or []
    if type(blocks) is not list:
        raise RequestError(f"{camel} is {type(blocks).__name__}, expected a list")
    return blocks


def _resource(block: Any) -> dict[str, AttributeValue]:
    resource = block.get("resource")
    attrs = resource.get("attributes") if resource else None
    return attributes(attrs) if attrs else {}


def decode_trace_request(doc: object, out: DecodedTraces, label: str = "") -> None:
    """Add the spans of one parsed `ExportTraceServiceRequest` to `out`; `label` prefixes every `where`.

    A bad span is rejected alone; a malformed resource or scope block is rejected from that point on (its
    remaining spans cannot be counted); a document that is not a request raises `RequestError`.
    """
    blocks = _blocks(doc, "resourceSpans", "resource_spans")
    out.requests += 1
    seen, rejected_before = 0, len(out.rejected)
    spans, rejected = out.spans, out.rejected
    for ri, block in enumerate(blocks):
        try:
            resource = _resource(block)
            scope_blocks = (
                block.get("scopeSpans")
                or block.get("scope_spans")
                # Older OTLP (Collectors of 2021-22) named scopes "instrumentation libraries".
                or block.get("instrumentationLibrarySpans")
                or ()
            )
            for si, scope_block in enumerate(scope_blocks):
                scope = scope_block.get("scope") or scope_block.get("instrumentationLibrary")
                scope_name = (scope.get("name") or None) if scope else None
                for pi, d in enumerate(scope_block.get("spans") or ()):
                    seen += 1
                    try:
                        spans.append(_span(d, resource, scope_name))
                    except _SHAPE_ERRORS as exc:
                        where = f"{label}resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                        rejected.append(_rejected("span", exc, where, d))
        except _SHAPE_ERRORS as exc:
            rejected.append(Rejected("request", shape_reason(exc, "JSON"), f"{label}resourceSpans[{ri}]"))
    # A request whose blocks were rejected is not an empty one.
    if seen == 0 and len(out.rejected) == rejected_before:
        out.empty_requests += 1


def _log_event(d: Any) -> LogEvent:
    get = d.get
    trace_id = get("traceId") or get("trace_id")
    # Log records outside a span carry no ids, or all-zero ones from some bridges: both mean "none".
    if not trace_id or (type(trace_id) is str and not trace_id.strip("0")):
        raise RecordError("log record has no trace id, so it cannot be joined to a span")
    span_id = get("spanId") or get("span_id")
    attrs = get("attributes")
    attributes_ = attributes(attrs) if attrs else {}
    name = get("eventName") or get("event_name") or attributes_.get("event.name") or ""
    body = get("body")
    time = (
        get("timeUnixNano")
        or get("time_unix_nano")
        or get("observedTimeUnixNano")
        or get("observed_time_unix_nano")
    )
    event = SpanEvent(
        name=name if type(name) is str else str(name),
        time_unix_nano=_time(time, "timeUnixNano"),
        attributes=attributes_,
        body=any_value(body) if body else None,
    )
    has_span = span_id and (type(span_id) is not str or span_id.strip("0"))
    return LogEvent(
        hex_id("log record", "trace id", trace_id, TRACE_ID_BYTES),
        hex_id("log record", "span id", span_id, SPAN_ID_BYTES) if has_span else None,
        event,
    )


def decode_log_request(doc: object, out: DecodedLogs, label: str = "") -> None:
    """Add the records of one parsed `ExportLogsServiceRequest` to `out`, as `decode_trace_request` does spans."""
    blocks = _blocks(doc, "resourceLogs", "resource_logs")
    out.requests += 1
    seen, rejected_before = 0, len(out.rejected)
    records, rejected = out.records, out.rejected
    for ri, block in enumerate(blocks):
        try:
            for si, scope_block in enumerate(block.get("scopeLogs") or block.get("scope_logs") or ()):
                for pi, d in enumerate(scope_block.get("logRecords") or scope_block.get("log_records") or ()):
                    seen += 1
                    try:
                        records.append(_log_event(d))
                    except _SHAPE_ERRORS as exc:
                        where = f"{label}resourceLogs[{ri}].scopeLogs[{si}].logRecords[{pi}]"
                        rejected.append(_rejected("log_record", exc, where, d))
        except _SHAPE_ERRORS as exc:
            rejected.append(Rejected("request", shape_reason(exc, "JSON"), f"{label}resourceLogs[{ri}]"))
    # A request whose blocks were rejected is not an empty one.
    if seen == 0 and len(out.rejected) == rejected_before:
        out.empty_requests += 1
