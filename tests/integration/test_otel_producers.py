"""The producer side of the OTLP importer: real instrumentations' spans, written in the Collector's layouts.

Formats checked against their sources:
- awss3exporter keys, marshalers and compression suffixes: opentelemetry-collector-contrib
  exporter/awss3exporter/internal/upload/partition.go (+ partition_test.go) and marshaler.go;
  https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/awss3exporter
- fileexporter framing: exporter/fileexporter/file_writer.go (JSON lines; 4-byte big-endian length prefix);
  https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/fileexporter
- OTLP JSON: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding (hex ids, integer enums,
  lowerCamelCase keys; 64-bit integers as decimal strings per the proto3 JSON mapping).
"""

from __future__ import annotations

import base64
import datetime as dt
import gzip
import json
import random
import re
import struct
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import zstandard
from google.protobuf import json_format
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from devtools.instrumented_calls import (
    EXAMPLE_ANSWERS,
    EXAMPLE_CALLS,
    INSTRUMENTATIONS,
    Capture,
    ChatCall,
    capture_calls,
)
from devtools.model_server import Faults, ModelServer
from devtools.otlp_layout import (
    AwsS3Layout,
    collector_unique_key,
    write_awss3_objects,
    write_fileexporter_file,
)
from tracewatch.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"
UPLOADED_AT = dt.datetime(2026, 12, 6, 21, 5, 42, tzinfo=dt.UTC)

LLM_SPAN_KEYS: dict[str, tuple[str, str, str, str]] = {
    # (attribute that marks the LLM span, response model, input tokens, output tokens), per instrumentation
    "genai": (
        "gen_ai.operation.name",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    ),
    "genai_latest": (
        "gen_ai.operation.name",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    ),
    "openinference": (
        "openinference.span.kind",
        "llm.model_name",
        "llm.token_count.prompt",
        "llm.token_count.completion",
    ),
    "openllmetry": (
        "gen_ai.operation.name",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    ),
}


@pytest.fixture(scope="module")
def captures(model_server: ModelServer) -> dict[str, Capture]:
    """One capture of the example calls per instrumentation (each runs in its own process: seconds apiece)."""
    model_server.reset(config=True)
    model_server.configure(answers=EXAMPLE_ANSWERS)
    return {name: capture_calls(name, EXAMPLE_CALLS, model_server) for name in INSTRUMENTATIONS}


def attributes(items: Any) -> dict[str, Any]:
    """OTLP KeyValues as plain Python values (arrays as lists, kvlists as dicts)."""
    return {item.key: plain(item.value) for item in items}


def plain(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind == "array_value":
        return [plain(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return None if kind is None else getattr(value, kind)


def spans_of(request: ExportTraceServiceRequest) -> Iterator[tuple[str, Span]]:
    for resource_spans in request.resource_spans:
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                yield scope_spans.scope.name, span


def parse_otlp_json(data: bytes, message: type[Any]) -> Any:
    """The inverse of the OTLP JSON deviations (hex ids back to base64), then the protobuf JSON parser."""

    def unhex(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId")
                else unhex(v)
                for k, v in value.items()
            }
        return [unhex(v) for v in value] if isinstance(value, list) else value

    return json_format.ParseDict(unhex(json.loads(data)), message(), ignore_unknown_fields=True)


# ---- what the instrumentations produce --------------------------------------------------------------------


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
def test_each_call_is_one_trace_with_a_root_and_an_llm_span_carrying_what_the_server_answered(
    captures: dict[str, Capture], instrumentation: str
) -> None:
    capture = captures[instrumentation]
    marker, model_key, input_key, output_key = LLM_SPAN_KEYS[instrumentation]
    spans = [span for _, span in spans_of(capture.traces)]
    assert len(spans) == 2 * len(EXAMPLE_CALLS)
    for call, record in zip(EXAMPLE_CALLS, capture.calls, strict=True):
        assert record.error_type is None
        assert record.answer == next(
            a for key, a in EXAMPLE_ANSWERS.items() if key in call.messages[-1]["content"]
        )
        assert record.input_tokens and record.output_tokens
        in_trace = [s for s in spans if s.trace_id.hex() == record.trace_id]
        (root,) = [s for s in in_trace if not s.parent_span_id]
        (llm,) = [s for s in in_trace if s.parent_span_id]
        assert root.span_id.hex() == record.root_span_id and llm.parent_span_id == root.span_id
        assert root.kind == Span.SPAN_KIND_SERVER
        assert attributes(root.attributes)["http.route"] == call.route
        llm_attributes = attributes(llm.attributes)
        assert marker in llm_attributes
        assert llm_attributes[model_key] == record.response_model == call.model
        assert (llm_attributes[input_key], llm_attributes[output_key]) == (
            record.input_tokens,
            record.output_tokens,
        )


def test_official_instrumentation_logs_content_as_events_joined_to_the_llm_span(
    captures: dict[str, Capture],
) -> None:
    capture = captures["genai"]
    assert capture.logs is not None
    llm_ids = {span.span_id for _, span in spans_of(capture.traces) if span.parent_span_id}
    records = [r for rl in capture.logs.resource_logs for sl in rl.scope_logs for r in sl.log_records]
    assert {r.span_id for r in records} == llm_ids
    assert Counter(r.event_name for r in records) == {
        "gen_ai.system.message": 1,
        "gen_ai.user.message": 2,
        "gen_ai.choice": 2,
    }
    choices = [plain(r.body) for r in records if r.event_name == "gen_ai.choice"]
    assert [c["message"]["content"] for c in choices] == [record.answer for record in capture.calls]


@pytest.mark.parametrize("instrumentation", ["genai_latest", "openllmetry"])
def test_current_genai_names_carry_messages_as_json_strings(
    captures: dict[str, Capture], instrumentation: str
) -> None:
    capture = captures[instrumentation]
    llm = [attributes(s.attributes) for _, s in spans_of(capture.traces) if s.parent_span_id]
    for call, record, found in zip(EXAMPLE_CALLS, capture.calls, llm, strict=True):
        assert found["gen_ai.provider.name"] == "openai"
        sent = json.loads(found["gen_ai.input.messages"])
        assert [(m["role"], m["parts"][0]["content"]) for m in sent] == [
            (m["role"], m["content"]) for m in call.messages
        ]
        (answer,) = json.loads(found["gen_ai.output.messages"])
        assert answer["parts"][0]["content"] == record.answer


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
def test_a_failed_call_becomes_an_error_trace(model_server: ModelServer, instrumentation: str) -> None:
    model_server.reset(config=True)
    model_server.configure(faults=Faults(fail_first=1, fail_first_with="500"))
    capture = capture_calls(
        instrumentation, [ChatCall(messages=({"role": "user", "content": "fail"},))], model_server
    )
    model_server.reset(config=True)
    (record,) = capture.calls
    assert record.error_type == "InternalServerError" and record.answer is None
    assert all(span.status.code == span.status.STATUS_CODE_ERROR for _, span in spans_of(capture.traces))


# ---- the awss3exporter layout ----------------------------------------------------------------------------------


def test_keys_are_built_like_the_collectors_partition_key_builder() -> None:
    # partition_test.go: PartitionPrefix "/telemetry", FilePrefix "signal-output-", a fixed unique key, gzip.
    layout = AwsS3Layout(prefix="/telemetry", file_prefix="signal-output-", compression="gzip")
    at = dt.datetime(2024, 1, 24, 6, 40, 20, tzinfo=dt.UTC)
    assert layout.key("traces", at, "fixed") == (
        "telemetry/year=2024/month=01/day=24/hour=06/minute=40/signal-output-traces_fixed.json.gz"
    )
    proto = AwsS3Layout(marshaler="otlp_proto", compression="zstd", timezone="Europe/Berlin")
    assert proto.key("logs", dt.datetime(2024, 1, 24, 23, 59, tzinfo=dt.UTC), "7") == (
        "year=2024/month=01/day=25/hour=00/minute=59/logs_7.binpb.zst"
    )
    with pytest.raises(ValueError, match="no time zone"):
        layout.key("traces", dt.datetime(2024, 1, 24), "fixed")
    with pytest.raises(ValueError, match="compression 'lz4'"):
        AwsS3Layout(compression="lz4")  # type: ignore[arg-type]


def test_default_unique_keys_are_the_collectors_nine_digit_integers() -> None:
    first, second = collector_unique_key(random.Random(7)), collector_unique_key(random.Random(7))
    drawn = [first() for _ in range(1000)]
    assert all(re.fullmatch(r"[1-9]\d{8}", key) for key in drawn)
    assert drawn == [second() for _ in range(1000)]  # a seeded source gives the same keys on every run
    assert len(set(drawn)) > 990


def test_a_repeated_unique_key_is_refused_rather_than_overwriting(
    file_store: Store, captures: dict[str, Capture]
) -> None:
    traces = captures["openinference"].traces
    with pytest.raises(ValueError, match="same key"):
        write_awss3_objects(file_store, [traces, traces], uploaded_at=UPLOADED_AT, unique_key=lambda: "1")


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
def test_otlp_json_gzip_objects_on_s3_decode_back_with_hex_ids(
    s3_store: Store, captures: dict[str, Capture], instrumentation: str
) -> None:
    capture = captures[instrumentation]
    layout = AwsS3Layout(prefix="otel", file_prefix="collector-1-", marshaler="otlp_json", compression="gzip")
    keys = write_awss3_objects(s3_store, capture.requests(), uploaded_at=UPLOADED_AT, layout=layout)
    assert [o.key for o in s3_store.list_objects("otel")] == sorted(keys)
    folder = "otel/year=2026/month=12/day=06/hour=21/minute=05/collector-1-"
    assert re.fullmatch(re.escape(folder) + r"traces_\d{9}\.json\.gz", keys[0])
    document = json.loads(gzip.decompress(s3_store.read_bytes(keys[0])))
    found = {
        (span["traceId"], span["spanId"], span.get("parentSpanId"))
        for resource in document["resourceSpans"]
        for scope in resource["scopeSpans"]
        for span in scope["spans"]
    }
    assert found == {(s.trace_id, s.span_id, s.parent_span_id) for s in capture.spans}
    first = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert isinstance(first["kind"], int) and isinstance(first["startTimeUnixNano"], str)
    assert (
        parse_otlp_json(gzip.decompress(s3_store.read_bytes(keys[0])), ExportTraceServiceRequest)
        == capture.traces
    )
    if capture.logs is not None:
        assert re.fullmatch(re.escape(folder) + r"logs_\d{9}\.json\.gz", keys[1])
        logs_json = gzip.decompress(s3_store.read_bytes(keys[1]))
        assert parse_otlp_json(logs_json, ExportLogsServiceRequest) == capture.logs
        records = json.loads(logs_json)["resourceLogs"][0]["scopeLogs"][0]["logRecords"]
        assert {r["spanId"] for r in records} <= {s.span_id for s in capture.spans}


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
def test_otlp_proto_zstd_objects_on_s3_decode_back(
    s3_store: Store, captures: dict[str, Capture], instrumentation: str
) -> None:
    capture = captures[instrumentation]
    layout = AwsS3Layout(marshaler="otlp_proto", compression="zstd")
    keys = write_awss3_objects(s3_store, capture.requests(), uploaded_at=UPLOADED_AT, layout=layout)
    assert [o.key for o in s3_store.list_objects("year=2026")] == sorted(keys)
    assert all(
        re.fullmatch(r"year=2026/month=12/day=06/hour=21/minute=05/(traces|logs)_\d{9}\.binpb\.zst", k)
        for k in keys
    )
    decoded = [zstandard.ZstdDecompressor().decompress(s3_store.read_bytes(key)) for key in keys]
    assert ExportTraceServiceRequest.FromString(decoded[0]) == capture.traces
    if capture.logs is not None:
        assert ExportLogsServiceRequest.FromString(decoded[1]) == capture.logs


# ---- the fileexporter --------------------------------------------------------------------------------------------


def frames(data: bytes) -> list[bytes]:
    """Split the fileexporter's length-prefixed stream (4-byte big-endian length, then the message)."""
    out, at = [], 0
    while at < len(data):
        (size,) = struct.unpack(">I", data[at : at + 4])
        out.append(data[at + 4 : at + 4 + size])
        at += 4 + size
    assert at == len(data)
    return out


def test_fileexporter_json_lines_and_length_prefixed_proto(
    s3_store: Store, captures: dict[str, Capture]
) -> None:
    requests = [captures[name].traces for name in INSTRUMENTATIONS]
    lines_key = write_fileexporter_file(s3_store, "file/traces.jsonl", requests)
    lines = s3_store.read_bytes(lines_key).splitlines()
    assert [parse_otlp_json(line, ExportTraceServiceRequest) for line in lines] == requests
    proto_key = write_fileexporter_file(s3_store, "file/traces.binpb", requests, "proto")
    assert [
        ExportTraceServiceRequest.FromString(f) for f in frames(s3_store.read_bytes(proto_key))
    ] == requests
    zstd_key = write_fileexporter_file(s3_store, "file/traces.json.zst", requests, "json", "zstd")
    messages = [zstandard.ZstdDecompressor().decompress(f) for f in frames(s3_store.read_bytes(zstd_key))]
    assert [parse_otlp_json(m, ExportTraceServiceRequest) for m in messages] == requests


# ---- the committed fixtures ------------------------------------------------------------------------------------


def shape(request: Any) -> Counter[tuple[Any, ...]]:
    """What a dialect depends on, without ids, times or values: scope, name, kind and attribute names."""
    if isinstance(request, ExportTraceServiceRequest):
        return Counter(
            (scope, span.name, span.kind, tuple(sorted(a.key for a in span.attributes)))
            for scope, span in spans_of(request)
        )
    return Counter(
        (scope_logs.scope.name, record.event_name, tuple(sorted(a.key for a in record.attributes)))
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
        for record in scope_logs.log_records
    )


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
def test_committed_fixtures_are_what_the_pinned_instrumentations_emit(
    captures: dict[str, Capture], instrumentation: str
) -> None:
    capture = captures[instrumentation]
    traces = parse_otlp_json(
        (FIXTURES / f"{instrumentation}.traces.json").read_bytes(), ExportTraceServiceRequest
    )
    assert shape(traces) == shape(capture.traces)
    logs_path = FIXTURES / f"{instrumentation}.logs.json"
    assert logs_path.exists() == (capture.logs is not None)
    if capture.logs is not None:
        assert shape(parse_otlp_json(logs_path.read_bytes(), ExportLogsServiceRequest)) == shape(capture.logs)
