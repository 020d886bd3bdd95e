"""The import benchmark's data: a million spans in the real instrumentations' shapes, as Collector objects.

Each trace is one request of 5 spans: an HTTP server root, a retrieval, a model call, a tool call and a second
model call, written in one of four dialects taken from the captured spans in tests/fixtures/otlp (current GenAI,
old GenAI with its content as log records, OpenInference, OpenLLMetry); the retrieval and tool spans use each
dialect's names for them. Every trace gets new ids, times, question, answer, user, session and token counts. Objects
hold 1,000-5,000 spans of all four services, as a Collector gateway's batch does, uploaded a minute apart; 1% of
the roots (which end last) miss their batch and come in the next object, so the grace window has work to do.

The requests are built as protobuf (`opentelemetry-proto`) from a seeded generator, so the JSON and protobuf sets
hold the same spans. The JSON encoding walks the messages directly (`MessageToDict` would take ten minutes for a
million spans); `write_span_set` checks it against `devtools.otlp_layout.otlp_json` on the first object.
"""

from __future__ import annotations

import datetime as dt
import functools
import gzip
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from devtools.instrumented_calls import EXAMPLE_ANSWERS, EXAMPLE_CALLS
from devtools.otlp_layout import AwsS3Layout, collector_unique_key, otlp_json
from tracewatch.store import Store

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "otlp"
FIRST_UPLOAD = dt.datetime(2026, 11, 2, 0, 10, tzinfo=dt.UTC)
SPANS_PER_TRACE = 5
SPLIT_SHARE = 0.01
SEED = 19
QUESTION = next(m["content"] for m in EXAMPLE_CALLS[0].messages if m["role"] == "user")
ANSWER = EXAMPLE_ANSWERS["capital of France"]
_TOKENS = {
    "input": ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"),
    "output": ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion"),
    "total": ("gen_ai.usage.total_tokens", "llm.usage.total_tokens", "llm.token_count.total"),
}
_DOCS = orjson.dumps(
    [{"id": "doc-1", "content": ANSWER, "score": 0.91}, {"id": "doc-2", "content": QUESTION}]
)
_GENAI_EXTRA = (
    {"gen_ai.operation.name": "retrieval", "gen_ai.retrieval.query.text": QUESTION,
     "gen_ai.retrieval.documents": _DOCS},
    {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup", "gen_ai.tool.call.result": ANSWER,
     "gen_ai.tool.call.arguments": orjson.dumps({"query": QUESTION}).decode()},
)  # fmt: skip
_EXTRA_SPANS: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    # (retrieval, tool) attributes per dialect, in the names its instrumentations use for them
    "genai_latest": _GENAI_EXTRA,
    "genai": _GENAI_EXTRA,
    "openinference": (
        {"openinference.span.kind": "RETRIEVER", "input.value": QUESTION,
         "retrieval.documents.0.document.id": "doc-1", "retrieval.documents.0.document.content": ANSWER,
         "retrieval.documents.0.document.score": 0.91, "retrieval.documents.1.document.id": "doc-2",
         "retrieval.documents.1.document.content": QUESTION},
        {"openinference.span.kind": "TOOL", "tool.name": "lookup", "input.value": QUESTION, "output.value": ANSWER},
    ),
    "openllmetry": (
        {"traceloop.span.kind": "task", "traceloop.entity.name": "retrieve", "traceloop.entity.output": _DOCS,
         "traceloop.entity.input": orjson.dumps({"args": [QUESTION], "kwargs": {}}).decode()},
        {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup", "traceloop.entity.output": ANSWER,
         "traceloop.entity.input": orjson.dumps({"args": [QUESTION], "kwargs": {}}).decode()},
    ),
}  # fmt: skip
_WORDS = (
    "capital",
    "river",
    "mountain",
    "population",
    "border",
    "currency",
    "language",
    "anthem",
    "flag",
    "coast",
    "climate",
    "history",
    "railway",
    "festival",
    "cuisine",
    "university",
    "harbour",
    "museum",
)
_PLACES = ("France", "Spain", "Italy", "Norway", "Poland", "Greece", "Portugal", "Austria", "Ireland", "Finland",
           "Croatia", "Estonia")  # fmt: skip


@dataclass(frozen=True)
class _Dialect:
    """One instrumentation's trace: its resource and scopes, and the five span templates (plus log records)."""

    name: str
    request: ExportTraceServiceRequest  # resource and scopes, no spans
    spans: tuple[Span, ...]  # root, retrieval, model call, tool, model call; index 1-4 under scope 0
    logs: ExportLogsServiceRequest | None  # the old GenAI content records of one model call


@dataclass
class SpanSet:
    """What `write_span_set` wrote under `prefix`, for the runs to check their counts against."""

    prefix: str
    traces: int = 0
    spans: int = 0
    log_records: int = 0
    objects: int = 0
    split_traces: int = 0
    min_spans_per_object: int = 0
    max_spans_per_object: int = 0
    now: dt.datetime = FIRST_UPLOAD
    dialects: dict[str, int] = field(default_factory=dict)

    @property
    def message(self) -> str:
        return (
            f"{self.spans:,} spans of {self.traces:,} traces and {self.log_records:,} log records in "
            f"{self.objects} objects under {self.prefix}"
        )

    def summary(self) -> dict[str, Any]:
        return {**asdict(self), "now": self.now.isoformat()}


def write_span_set(store: Store, prefix: str, *, spans: int, marshaler: str) -> SpanSet:
    """Write `spans` spans (a multiple of 5) as gzipped awss3exporter objects under `prefix`; what was written.
    The same `spans` always gives the same spans, whatever the marshaler."""
    if spans < SPANS_PER_TRACE or spans % SPANS_PER_TRACE:
        raise ValueError(f"spans must be a positive multiple of {SPANS_PER_TRACE}, got {spans}")
    layout = AwsS3Layout(prefix=prefix, marshaler=marshaler, compression="gzip")  # type: ignore[arg-type]
    unique = collector_unique_key(random.Random(SEED))
    encode = _fast_json if marshaler == "otlp_json" else lambda r: _gzip(r.SerializeToString())
    out = SpanSet(prefix=prefix, min_spans_per_object=spans)
    for number, (uploaded, traces, logs) in enumerate(_requests(spans // SPANS_PER_TRACE, out)):
        if number == 0 and marshaler == "otlp_json":
            _check_json(traces, logs)
        for request in (logs, traces):
            if request is not None:
                store.write_bytes(layout.key(_signal(request), uploaded, unique()), encode(request))
                out.objects += 1
        out.now = uploaded + dt.timedelta(hours=1)
    return out


def _requests(
    traces: int, out: SpanSet
) -> Iterator[tuple[dt.datetime, ExportTraceServiceRequest, ExportLogsServiceRequest | None]]:
    """Each object's requests (the traces and, when old GenAI is in it, the logs), counting them into `out`."""
    rng = random.Random(SEED)
    dialects = [_dialect(name) for name in _EXTRA_SPANS]
    carried: list[tuple[_Dialect, Span]] = []
    done, minute = 0, 0
    while done < traces:
        uploaded = FIRST_UPLOAD + dt.timedelta(minutes=minute)
        builder = _Builder(rng, int(uploaded.timestamp()) * 10**9)
        for dialect, root in carried:
            builder.spans(dialect, 1).add().CopyFrom(root)
        count = min(rng.randint(200, 1000), traces - done)
        last = done + count == traces
        carried = []
        for _ in range(count):
            dialect = rng.choice(dialects)
            out.dialects[dialect.name] = out.dialects.get(dialect.name, 0) + 1
            late_root = builder.add_trace(dialect, split=not last and rng.random() < SPLIT_SHARE)
            if late_root is not None:
                carried.append((dialect, late_root))
        done += count
        minute += 1
        n = sum(len(s.spans) for r in builder.traces.resource_spans for s in r.scope_spans)
        out.traces, out.spans, out.split_traces = done, out.spans + n, out.split_traces + len(carried)
        out.min_spans_per_object = min(out.min_spans_per_object, n)
        out.max_spans_per_object = max(out.max_spans_per_object, n)
        logs = builder.logs if builder.logs.resource_logs else None
        out.log_records += (
            sum(len(s.log_records) for r in logs.resource_logs for s in r.scope_logs) if logs else 0
        )
        yield uploaded, builder.traces, logs


class _Builder:
    """One object's requests, filled trace by trace from the dialects' templates."""

    def __init__(self, rng: random.Random, upload_ns: int) -> None:
        self.rng, self.upload_ns = rng, upload_ns
        self.traces, self.logs = ExportTraceServiceRequest(), ExportLogsServiceRequest()
        self._scopes: dict[str, Any] = {}
        self._log_scopes: dict[str, Any] = {}

    def spans(self, dialect: _Dialect, scope: int) -> Any:
        """The span list of the dialect's scope (0: instrumentation, 1: application) in this object."""
        if dialect.name not in self._scopes:
            block = self.traces.resource_spans.add()
            block.CopyFrom(dialect.request.resource_spans[0])
            self._scopes[dialect.name] = block.scope_spans
        return self._scopes[dialect.name][scope].spans

    def add_trace(self, dialect: _Dialect, *, split: bool) -> Span | None:
        """Add one new trace; with `split`, its root is returned instead, for the next object."""
        rng = self.rng
        trace_id = rng.randbytes(16)
        ids = [rng.randbytes(8) for _ in range(SPANS_PER_TRACE)]
        end = self.upload_ns - rng.randrange(10**9, 30 * 10**9)
        start = end - rng.randrange(3 * 10**8, 5 * 10**9)
        question = f"What is the {rng.choice(_WORDS)} of {rng.choice(_PLACES)}, case {rng.randrange(10**6)}?"
        answer = f"The {rng.choice(_WORDS)} of {rng.choice(_PLACES)} is number {rng.randrange(10**6)}."
        people = {"user.id": f"user-{rng.randrange(5000)}", "session.id": f"session-{rng.randrange(50000)}"}
        late_root: Span | None = None
        for i, (template, (begin, finish)) in enumerate(zip(dialect.spans, _SLICES, strict=True)):
            overrides: dict[str, str | int] = dict(people)
            if i in (2, 4):
                tokens = {"input": rng.randrange(50, 2000), "output": rng.randrange(5, 400)}
                tokens["total"] = tokens["input"] + tokens["output"]
                overrides |= {key: tokens[part] for part, keys in _TOKENS.items() for key in keys}
            span = Span() if i == 0 and split else self.spans(dialect, 0 if i in (2, 4) else 1).add()
            span.CopyFrom(template)
            span.trace_id, span.span_id = trace_id, ids[i]
            if i:
                span.parent_span_id = ids[0]
            span.start_time_unix_nano = start + (end - start) * begin // 100
            span.end_time_unix_nano = start + (end - start) * finish // 100
            for kv in span.attributes:
                value = overrides.get(kv.key)
                if value is None:
                    _vary(kv.value, question, answer)
                elif type(value) is int:
                    kv.value.int_value = value
                else:
                    kv.value.string_value = value  # type: ignore[assignment]
            if i == 0 and split:
                late_root = span
            if dialect.logs is not None and i in (2, 4):
                self._add_logs(dialect, trace_id, ids[i], span.end_time_unix_nano, question, answer)
        return late_root

    def _add_logs(self, dialect: _Dialect, trace_id: bytes, span_id: bytes, at: int, q: str, a: str) -> None:
        assert dialect.logs is not None
        if dialect.name not in self._log_scopes:
            block = self.logs.resource_logs.add()
            block.resource.CopyFrom(dialect.logs.resource_logs[0].resource)
            scope = block.scope_logs.add()
            scope.scope.CopyFrom(dialect.logs.resource_logs[0].scope_logs[0].scope)
            self._log_scopes[dialect.name] = scope.log_records
        for template in dialect.logs.resource_logs[0].scope_logs[0].log_records:
            record = self._log_scopes[dialect.name].add()
            record.CopyFrom(template)
            record.trace_id, record.span_id, record.observed_time_unix_nano = trace_id, span_id, at
            _vary(record.body, q, a)


_SLICES = ((0, 100), (5, 15), (15, 55), (55, 65), (65, 95))
"""Each span's start and end, in percent of the root's duration."""


def _vary(value: AnyValue, question: str, answer: str) -> None:
    """Put this trace's question and answer where the template's stand, inside JSON text and nested values."""
    text = value.string_value
    if text:
        if QUESTION in text or ANSWER in text:
            value.string_value = text.replace(QUESTION, question).replace(ANSWER, answer)
    elif value.HasField("kvlist_value"):
        for kv in value.kvlist_value.values:
            _vary(kv.value, question, answer)


def _dialect(name: str) -> _Dialect:
    request = _fixture(f"{name}.traces.json", ExportTraceServiceRequest())
    block = request.resource_spans[0]
    llm_scope, app_scope = sorted(block.scope_spans, key=lambda s: s.scope.name == "qa-assistant.app")
    root = next(s for s in app_scope.spans if any(a.value.string_value == "/qa" for a in s.attributes))
    llm = next(s for s in llm_scope.spans if s.trace_id == root.trace_id)
    retrieval, tool = (
        _span(f"{kind} {name}", attributes)
        for kind, attributes in zip(("retrieve", "tool"), _EXTRA_SPANS[name], strict=True)
    )
    skeleton = ExportTraceServiceRequest()
    skeleton.resource_spans.add().resource.CopyFrom(block.resource)
    for scope in (llm_scope, app_scope):
        skeleton.resource_spans[0].scope_spans.add().scope.CopyFrom(scope.scope)
    logs = None
    if (FIXTURES / f"{name}.logs.json").exists() and name == "genai":  # only old GenAI keeps content in logs
        logs = _fixture(f"{name}.logs.json", ExportLogsServiceRequest())
        records = logs.resource_logs[0].scope_logs[0].log_records
        kept = [r for r in records if r.span_id == llm.span_id]
        del records[:]
        records.extend(kept)
    return _Dialect(name, skeleton, (root, retrieval, llm, tool, llm), logs)


def _span(name: str, attributes: dict[str, Any]) -> Span:
    span = Span(name=name, kind=Span.SPAN_KIND_INTERNAL)
    span.status.code = Status.STATUS_CODE_OK
    for key, value in attributes.items():
        kv = span.attributes.add(key=key)
        if isinstance(value, float):
            kv.value.double_value = value
        else:
            kv.value.string_value = value.decode() if isinstance(value, bytes) else value
    return span


_IDS = frozenset({"traceId", "spanId", "parentSpanId"})
_M = TypeVar("_M", bound=Message)


def _fixture(name: str, message: _M) -> _M:
    """A captured OTLP JSON object as its protobuf message (hex ids back to the base64 of proto3 JSON)."""
    import base64

    def base64_ids(value: Any) -> Any:
        if isinstance(value, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode() if k in _IDS else base64_ids(v)
                for k, v in value.items()
            }
        return [base64_ids(v) for v in value] if isinstance(value, list) else value

    json_format.ParseDict(base64_ids(orjson.loads((FIXTURES / name).read_bytes())), message)
    return message


_INT64 = frozenset({FieldDescriptor.TYPE_INT64, FieldDescriptor.TYPE_UINT64, FieldDescriptor.TYPE_FIXED64,
                    FieldDescriptor.TYPE_SFIXED64, FieldDescriptor.TYPE_SINT64})  # fmt: skip


@functools.cache
def _json_value(fd: FieldDescriptor) -> Callable[[Any], Any]:
    if fd.type == FieldDescriptor.TYPE_MESSAGE:
        return _json_dict
    if fd.type == FieldDescriptor.TYPE_BYTES:
        import base64

        return bytes.hex if fd.json_name in _IDS else lambda b: base64.b64encode(b).decode()
    if fd.type in _INT64:
        return str
    if fd.type in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return lambda x: (
            x if math.isfinite(x) else ("NaN" if math.isnan(x) else f"{'-' if x < 0 else ''}Infinity")
        )
    return lambda x: x  # strings, bools, 32-bit integers, enums (as integers, like the Collector)


def _json_dict(message: Message) -> dict[str, Any]:
    """A message in OTLP JSON (see devtools.otlp_layout): lowerCamelCase keys, hex ids, int64 as strings."""
    out: dict[str, Any] = {}
    for fd, value in message.ListFields():
        convert = _json_value(fd)
        out[fd.json_name] = [convert(v) for v in value] if fd.is_repeated else convert(value)
    return out


def _fast_json(request: Message) -> bytes:
    return _gzip(orjson.dumps(_json_dict(request)))


def _gzip(body: bytes) -> bytes:
    # Go's default level (6), which the Collector's gzip writer uses; 9 would only make the setup slower.
    return gzip.compress(body, compresslevel=6, mtime=0)


def _check_json(traces: ExportTraceServiceRequest, logs: ExportLogsServiceRequest | None) -> None:
    for request in (traces, logs):
        if request is None:
            continue
        if orjson.loads(orjson.dumps(_json_dict(request))) != orjson.loads(otlp_json(request)):
            raise AssertionError(f"the fast OTLP JSON of a {type(request).__name__} differs from otlp_json's")


def _signal(request: Message) -> Any:
    return "logs" if isinstance(request, ExportLogsServiceRequest) else "traces"
