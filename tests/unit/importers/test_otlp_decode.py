"""OTLP JSON and protobuf requests to `Span`s and log events, built with the real `opentelemetry-proto` classes.

The JSON rules are the OTLP specification's (https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding):
hex ids, int64 as strings or numbers, enums as ints or names, lowerCamelCase keys (snake_case accepted as protobuf
JSON parsers do), unknown fields ignored. Each JSON case is checked against the protobuf decoding of the same
request, so the two decoders cannot drift apart.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode

from tests.support.otlp_requests import (
    CHILD_ID,
    EVERY_KIND,
    ROOT_ID,
    START,
    TRACE_ID,
    log_record,
    logs_request,
    otlp_json,
    otlp_json_document,
    span_message,
    trace_request,
)
from tracewatch.importers._otlp_decoded import DecodedLogs, DecodedTraces
from tracewatch.importers._otlp_objects import OtlpObject, decode_log_object, decode_trace_object
from tracewatch.importers._spans import Span, SpanEvent

JSON_TRACES = OtlpObject("t/traces_1.json", "traces", "json", "none")
PROTO_TRACES = OtlpObject("t/traces_1.binpb", "traces", "proto", "none")
JSON_LOGS = OtlpObject("t/logs_1.json", "logs", "json", "none")
PROTO_LOGS = OtlpObject("t/logs_1.binpb", "logs", "proto", "none")

EXPECTED = Span(
    trace_id=TRACE_ID.hex(),
    span_id=CHILD_ID.hex(),
    parent_span_id=ROOT_ID.hex(),
    name="chat smol",
    start_time_unix_nano=START,
    end_time_unix_nano=START + 1_500_000_000,
    status="error",
    status_message="rate limited",
    kind=3,
    attributes=EVERY_KIND,
    resource={"service.name": "chat-api"},
    scope_name="opentelemetry.instrumentation.openai_v2",
    events=[SpanEvent(name="gen_ai.choice", time_unix_nano=START + 1_000, attributes={"index": 0})],
)


def json_traces(document: Any) -> DecodedTraces:
    return decode_trace_object(JSON_TRACES, orjson.dumps(document))


def proto_traces(*spans: Any) -> DecodedTraces:
    return decode_trace_object(PROTO_TRACES, trace_request(*spans).SerializeToString())


def reasons(decoded: DecodedTraces | DecodedLogs) -> list[str]:
    return [r.reason for r in decoded.rejected]


def test_every_field_and_anyvalue_kind_decodes_the_same_from_json_and_protobuf() -> None:
    """Ids become lower-case hex, int64 stays exact (beyond 2**53), bytes values are base64 in JSON, an unset
    AnyValue is None, arrays are lists and kvlists dicts."""
    request = trace_request(span_message())
    from_json = json_traces(otlp_json_document(request))
    from_proto = decode_trace_object(PROTO_TRACES, request.SerializeToString())
    assert from_json.spans == [EXPECTED]
    assert from_proto.spans == [EXPECTED]
    assert (from_json.requests, from_json.empty_requests, from_json.rejected) == (1, 0, [])
    assert (from_proto.requests, from_proto.empty_requests, from_proto.rejected) == (1, 0, [])


@pytest.mark.parametrize(
    "options",
    [
        pytest.param({}, id="enum-names"),
        pytest.param({"use_integers_for_enums": True}, id="enum-numbers"),
        pytest.param({"preserving_proto_field_name": True}, id="snake_case"),
    ],
)
def test_json_enums_as_names_or_numbers_and_snake_case_keys(options: dict[str, Any]) -> None:
    assert json_traces(otlp_json_document(trace_request(span_message()), **options)).spans == [EXPECTED]


def test_json_int64_as_numbers_and_unknown_fields_are_read() -> None:
    document = otlp_json_document(trace_request(span_message()))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["startTimeUnixNano"] = int(span["startTimeUnixNano"])
    span["endTimeUnixNano"] = int(span["endTimeUnixNano"])
    tokens = next(kv for kv in span["attributes"] if kv["key"] == "gen_ai.usage.input_tokens")
    tokens["value"]["intValue"] = int(tokens["value"]["intValue"])
    span["flags"] = 257
    span["futureField"] = {"nested": [1, 2]}
    span["status"]["futureStatusField"] = True
    document["resourceSpans"][0]["schemaUrl"] = "https://opentelemetry.io/schemas/1.26.0"
    document["futureTopLevel"] = "ignored"
    assert json_traces(document).spans == [EXPECTED]


def test_json_attribute_values_beside_unknown_fields_read_as_their_kind() -> None:
    """Unknown fields are ignored (the OTLP JSON rule), also next to the value's kind: a string or an int64
    beside one reads as without it, and an empty value is None."""
    document = otlp_json_document(trace_request(span_message()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["attributes"] = [
        {"key": "s", "value": {"stringValue": "text", "note": 1}},
        {"key": "i", "value": {"note": 1, "intValue": "42"}},
        {"key": "n", "value": {"intValue": 7}},
        {"key": "e", "value": {}},
    ]
    [span] = json_traces(document).spans
    assert span.attributes == {"s": "text", "i": 42, "n": 7, "e": None}


def test_upper_case_hex_ids_are_read_as_lower_case() -> None:
    document = otlp_json_document(trace_request(span_message()))
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    span["traceId"] = span["traceId"].upper()
    assert json_traces(document).spans[0].trace_id == TRACE_ID.hex()


def test_base64_ids_from_a_generic_protobuf_json_printer_are_rejected_as_base64() -> None:
    """`MessageToDict` writes ids as base64; reading them as anything would be a different trace."""
    decoded = json_traces(otlp_json_document(trace_request(span_message()), hex_ids=False))
    assert decoded.spans == []
    [rejected] = decoded.rejected
    assert rejected.scope == "span"
    assert "trace id 'W47/95gDgQPSabYzgT/GDA==' is not hex" in rejected.reason
    assert "looks like base64" in rejected.reason
    assert rejected.where == "resourceSpans[0].scopeSpans[0].spans[0]"
    assert orjson.loads(rejected.raw or b"")["name"] == "chat smol"


@pytest.mark.parametrize(
    "decode", [proto_traces, lambda *s: json_traces(otlp_json_document(trace_request(*s)))]
)
def test_a_bad_span_is_rejected_alone_with_its_reason(decode: Any) -> None:
    good = span_message(b"\x01" * 8)
    bad = [
        span_message(b"\x02" * 8, trace_id=b""),
        span_message(b"\x03" * 8, trace_id=b"\x04" * 10),
        span_message(b""),
        span_message(b"\x05" * 4),
        span_message(b"\x06" * 8, parent=b"\x07" * 5),
        span_message(b"\x08" * 8, trace_id=bytes(16)),
    ]
    decoded = decode(good, *bad)
    assert [s.span_id for s in decoded.spans] == ["01" * 8]
    assert reasons(decoded) == [
        "span has no trace id",
        "trace id has 10 bytes, expected 16",
        "span has no span id",
        "span id has 4 bytes, expected 8",
        "parent span id has 5 bytes, expected 8",
        "trace id is all zeros, which OTLP defines as invalid",
    ]
    assert [r.where for r in decoded.rejected] == [
        f"resourceSpans[0].scopeSpans[0].spans[{i}]" for i in range(1, 7)
    ]
    assert decoded.spans_seen == 7


def test_a_root_span_has_no_parent_and_unset_times_are_unknown() -> None:
    root = span_message(ROOT_ID, parent=b"")
    root.ClearField("start_time_unix_nano")
    for decoded in (proto_traces(root), json_traces(otlp_json_document(trace_request(root)))):
        assert decoded.spans[0].parent_span_id is None
        assert decoded.spans[0].start_time_unix_nano is None


def test_a_request_without_spans_is_counted_not_rejected() -> None:
    for data, obj in [
        (b"{}", JSON_TRACES),
        (otlp_json(trace_request()), JSON_TRACES),
        (b"", PROTO_TRACES),
        (trace_request().SerializeToString(), PROTO_TRACES),
    ]:
        decoded = decode_trace_object(obj, data)
        assert (decoded.spans, decoded.requests, decoded.empty_requests, decoded.rejected) == ([], 1, 1, [])


def test_duplicated_spans_are_both_decoded() -> None:
    """A Collector retry re-sends a batch; de-duplication by (trace id, span id) is assembly's job."""
    decoded = proto_traces(span_message(), span_message())
    assert decoded.spans == [EXPECTED, EXPECTED]


def test_a_5_mb_attribute_value_is_kept_whole() -> None:
    big = "x" * 5_000_000
    for decoded in (
        proto_traces(span_message(attributes={"input.value": big})),
        json_traces(otlp_json_document(trace_request(span_message(attributes={"input.value": big})))),
    ):
        assert decoded.spans[0].attributes["input.value"] == big


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b'{"resourceSpans": [', "not valid OTLP JSON: "),
        (b"[1, 2]", "an OTLP request is a JSON object, got list"),
        (b'{"resourceSpans": {"spans": []}}', "resourceSpans is dict, expected a list"),
    ],
)
def test_an_undecodable_json_object_is_rejected_whole(data: bytes, reason: str) -> None:
    decoded = decode_trace_object(JSON_TRACES, data)
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.where, decoded.requests) == ("object", "", 0)
    assert rejected.reason.startswith(reason)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"startTimeUnixNano": "soon"}, "startTimeUnixNano 'soon' is not an integer"),
        (
            {"kind": "SPAN_KIND_SIDEWAYS"},
            "span kind 'SPAN_KIND_SIDEWAYS' is not one of SPAN_KIND_UNSPECIFIED",
        ),
        ({"status": {"code": 7}}, "status code 7 is not one of 0 (unset), 1 (ok), 2 (error)"),
        (
            {"attributes": [{"key": "a", "value": {"stringValue": 5}}]},
            "stringValue is int, expected a string",
        ),
        ({"attributes": [{"key": "a", "value": {"bytesValue": "***"}}]}, "bytesValue is not valid base64"),
        ({"attributes": [{"key": "a", "value": {"intValue": "12x"}}]}, "intValue '12x' is not an integer"),
        (
            {"attributes": [{"key": "a", "value": {"intValue": 1.5}}]},
            "intValue is 1.5, expected an integer (a number or a decimal string)",
        ),
        (
            {"attributes": [{"key": "a", "value": ["x"]}]},
            "does not follow the OTLP JSON shape (AttributeError: ",
        ),
        (
            {"attributes": [{"value": {"stringValue": "a"}}]},
            "an attribute key is NoneType, expected a string",
        ),
        ({"events": 5}, "does not follow the OTLP JSON shape (TypeError: "),
        ({"name": ["chat"]}, "span name is list, expected a string"),
    ],
)
def test_a_json_span_breaking_the_mapping_is_rejected_with_what_is_wrong(
    change: dict[str, Any], reason: str
) -> None:
    document = otlp_json_document(trace_request(span_message()))
    document["resourceSpans"][0]["scopeSpans"][0]["spans"][0].update(change)
    decoded = json_traces(document)
    assert decoded.spans == []
    [rejected] = decoded.rejected
    assert rejected.reason.startswith(reason)
    assert (rejected.trace_id, rejected.span_id) == (TRACE_ID.hex(), CHILD_ID.hex())


def test_a_malformed_resource_block_is_rejected_and_the_others_decode() -> None:
    document = otlp_json_document(trace_request(span_message()))
    document["resourceSpans"].insert(0, {"scopeSpans": 3})
    decoded = json_traces(document)
    assert decoded.spans == [EXPECTED]
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.where) == ("request", "resourceSpans[0]")


def test_random_bytes_named_binpb_are_rejected_as_not_protobuf() -> None:
    import random

    for seed in range(20):
        decoded = decode_trace_object(PROTO_TRACES, random.Random(seed).randbytes(512))
        assert decoded.spans == []
        [rejected] = decoded.rejected
        assert rejected.scope == "object"
        assert rejected.reason.startswith("not valid OTLP protobuf (ExportTraceServiceRequest)")


def test_bytes_that_parse_only_as_unknown_fields_are_not_a_request() -> None:
    field_15_varint = b"\x78\x01"
    [rejected] = decode_trace_object(PROTO_TRACES, field_15_varint).rejected
    assert "only fields an OTLP request does not define" in rejected.reason


GENAI_BODY = {"message": {"role": "assistant", "content": "Paris."}, "index": 0, "finish_reason": "stop"}


@pytest.mark.parametrize("encode", ["json", "proto"])
def test_genai_log_events_keep_name_attributes_and_body(encode: str) -> None:
    """The event name comes from the record's EventName, or else (older SDKs) its `event.name` attribute; ids that
    are absent or all zeros mean the record is outside a span (no trace id: it cannot be joined)."""
    request = logs_request(
        log_record(event_name="gen_ai.choice", attributes={"gen_ai.system": "openai"}, body=GENAI_BODY),
        log_record(attributes={"event.name": "gen_ai.user.message"}, body={"content": "Capital of France?"}),
        log_record(body="a plain application log line"),
        log_record(event_name="gen_ai.choice", trace_id=b""),
        log_record(event_name="gen_ai.choice", trace_id=bytes(16)),
        log_record(event_name="gen_ai.choice", span_id=bytes(8)),
    )
    if encode == "json":
        decoded = decode_log_object(JSON_LOGS, otlp_json(request))
    else:
        decoded = decode_log_object(PROTO_LOGS, request.SerializeToString())
    trace, span = TRACE_ID.hex(), CHILD_ID.hex()
    assert [tuple(r) for r in decoded.records] == [
        (trace, span, SpanEvent("gen_ai.choice", START, {"gen_ai.system": "openai"}, GENAI_BODY)),
        (
            trace,
            span,
            SpanEvent(
                "gen_ai.user.message",
                START,
                {"event.name": "gen_ai.user.message"},
                {"content": "Capital of France?"},
            ),
        ),
        (trace, span, SpanEvent("", START, {}, "a plain application log line")),
        (trace, None, SpanEvent("gen_ai.choice", START, {}, None)),
    ]
    assert reasons(decoded) == ["log record has no trace id, so it cannot be joined to a span"] * 2
    assert (decoded.requests, decoded.records_seen) == (1, 6)


def test_objects_of_the_other_signal_are_refused_by_name() -> None:
    with pytest.raises(ValueError, match="a logs object; use decode_log_object"):
        decode_trace_object(JSON_LOGS, b"{}")
    with pytest.raises(ValueError, match="a traces object; use decode_trace_object"):
        decode_log_object(JSON_TRACES, b"{}")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        out.append((n & 0x7F) | (0x80 if n > 0x7F else 0))
        n >>= 7
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def test_older_otlp_instrumentation_library_spans() -> None:
    """OTLP before `scopeSpans` carried spans in `instrumentationLibrarySpans` (protobuf field 1000): JSON reads
    them; today's protobuf classes no longer define the field, so such a block is rejected, not read as empty."""
    document = otlp_json_document(trace_request(span_message()))
    block = document["resourceSpans"][0]
    block["instrumentationLibrarySpans"] = block.pop("scopeSpans")
    block["instrumentationLibrarySpans"][0]["instrumentationLibrary"] = block["instrumentationLibrarySpans"][
        0
    ].pop("scope")
    assert json_traces(document).spans == [EXPECTED]

    scope_block = trace_request(span_message()).resource_spans[0].scope_spans[0].SerializeToString()
    old_request = _field(1, _field(1000, scope_block))
    decoded = decode_trace_object(PROTO_TRACES, old_request)
    assert (decoded.spans, decoded.requests, decoded.empty_requests) == ([], 1, 0)
    [rejected] = decoded.rejected
    assert (rejected.scope, rejected.where) == ("request", "resourceSpans[0]")
    assert "older instrumentationLibrarySpans" in rejected.reason


def test_spans_from_the_opentelemetry_sdk_through_its_own_otlp_encoder() -> None:
    """What an SDK exporter really sends: the SDK's spans, encoded by `opentelemetry-exporter-otlp-proto-common`."""
    provider = TracerProvider()
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test.instrumentation")
    with (
        tracer.start_as_current_span("POST /chat", kind=SpanKind.SERVER) as root,
        tracer.start_as_current_span("chat smol", kind=SpanKind.CLIENT) as child,
    ):
        child.set_attributes({"gen_ai.request.model": "smol", "gen_ai.usage.input_tokens": 12})
        child.add_event("gen_ai.choice", {"index": 0})
        child.set_status(StatusCode.ERROR, "timeout")
    request = encode_spans(exporter.get_finished_spans())
    trace_id = f"{root.get_span_context().trace_id:032x}"
    for decoded in (
        decode_trace_object(PROTO_TRACES, request.SerializeToString()),
        decode_trace_object(JSON_TRACES, otlp_json(request)),
    ):
        child_span, root_span = decoded.spans
        assert {s.trace_id for s in decoded.spans} == {trace_id}
        assert root_span.span_id == f"{root.get_span_context().span_id:016x}"
        assert (root_span.parent_span_id, root_span.kind) == (None, 2)
        assert child_span.parent_span_id == root_span.span_id
        assert child_span.attributes == {"gen_ai.request.model": "smol", "gen_ai.usage.input_tokens": 12}
        assert (child_span.status, child_span.status_message) == ("error", "timeout")
        assert [(e.name, e.attributes) for e in child_span.events] == [("gen_ai.choice", {"index": 0})]
        assert child_span.scope_name == "test.instrumentation"
        assert root_span.resource["telemetry.sdk.language"] == "python"
        assert child_span.start_time_unix_nano == child.start_time  # type: ignore[attr-defined]
