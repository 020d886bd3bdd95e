"""Real spans from the real OpenAI instrumentations, calling the local test model server.

The importer's dialect tables must match what instrumentations really emit, not what someone remembers of them,
so tests, the demo and the benchmark get their spans here: the real `openai` client, instrumented by one of
- `genai`: the official `opentelemetry-instrumentation-openai-v2` on its default (semconv 1.30) path: the old
  names (`gen_ai.system`) with prompts and answers as log events (`gen_ai.user.message`, `gen_ai.choice`, ...);
- `genai_latest`: the same package with `OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`: the current
  names (`gen_ai.provider.name`, `gen_ai.input.messages`, ...) on the span, plus one
  `gen_ai.client.inference.operation.details` log event (content mode `span_and_event`);
- `openinference`: Arize's `openinference-instrumentation-openai` (`llm.*`, `input.value`, ...);
- `openllmetry`: Traceloop's `opentelemetry-instrumentation-openai` (0.62.4 writes the current GenAI names
  too, not `gen_ai.prompt.{i}`; its own marks are `gen_ai.openai.api_base`, `gen_ai.is_streaming`,
  `gen_ai.usage.total_tokens`; `traceloop.*` attributes come from the Traceloop SDK, not from this package),
inside a root span the way a web app wraps a request, captured by the SDK's in-memory exporters.

Each capture runs in a fresh Python process. Instrumenting one at a time in one process does not work cleanly:
the official instrumentation reads its semconv mode once per process (`_OpenTelemetrySemanticConventionStability`
caches it), so `genai` and `genai_latest` cannot share one, and Traceloop's 0.62.4 `uninstrument()` leaves its
wrapper on `Completions.create` (calls made afterwards still produce `openai.chat` spans). A fresh process also
keeps the instrumentors' global patches away from the caller. The child hands back the OTLP requests (as the
SDK's own encoder builds them) and a record of what was asked and answered.
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, nullcontext
from dataclasses import asdict, dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any, Literal, get_args

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from devtools.model_server import ModelServer
from tracewatch.errors import ServiceError

__all__ = [
    "EXAMPLE_ANSWERS",
    "EXAMPLE_CALLS",
    "INSTRUMENTATIONS",
    "CallRecord",
    "Capture",
    "ChatCall",
    "Instrumentation",
    "SpanRef",
    "capture_calls",
]

Instrumentation = Literal["genai", "genai_latest", "openinference", "openllmetry"]
INSTRUMENTATIONS: tuple[Instrumentation, ...] = get_args(Instrumentation)

SERVICE_NAME = "qa-assistant"
"""The `service.name` of every capture's resource (and OpenInference's `openinference.project.name`)."""

_CAPTURE = (
    "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"  # opentelemetry.util.genai.environment_variables
)
_OPT_IN = "OTEL_SEMCONV_STABILITY_OPT_IN"
_TRACELOOP_CONTENT = "TRACELOOP_TRACE_CONTENT"  # opentelemetry.instrumentation.openai.utils
_ENVIRONMENT: dict[Instrumentation, dict[str, str]] = {
    "genai": {_CAPTURE: "true"},
    "genai_latest": {_OPT_IN: "gen_ai_latest_experimental", _CAPTURE: "span_and_event"},
    "openinference": {},
    "openllmetry": {_TRACELOOP_CONTENT: "true", "TRACELOOP_METRICS_ENABLED": "false"},
}
_PACKAGES: dict[Instrumentation, str] = {
    "genai": "opentelemetry-instrumentation-openai-v2",
    "genai_latest": "opentelemetry-instrumentation-openai-v2",
    "openinference": "openinference-instrumentation-openai",
    "openllmetry": "opentelemetry-instrumentation-openai",
}
_INSTRUMENTOR_MODULES: dict[Instrumentation, str] = {
    "genai": "opentelemetry.instrumentation.openai_v2",
    "genai_latest": "opentelemetry.instrumentation.openai_v2",
    "openinference": "openinference.instrumentation.openai",
    "openllmetry": "opentelemetry.instrumentation.openai",
}
_API_KEY_ENV = "TRACEWATCH_INSTRUMENTED_CALLS_API_KEY"
_IMPORT_ROOT = Path(__file__).resolve().parents[1]
_MODULE = "devtools.instrumented_calls"


@dataclass(frozen=True)
class ChatCall:
    """One request the app serves: a chat completion inside a root span for `route`."""

    messages: tuple[Mapping[str, str], ...]
    model: str = "gpt-4o-mini"
    route: str = "/qa"
    user_id: str | None = None
    session_id: str | None = None
    temperature: float | None = None

    def __post_init__(self) -> None:
        if not self.messages:
            raise ValueError("a ChatCall needs at least one message")
        for message in self.messages:
            if not isinstance(message.get("role"), str) or not isinstance(message.get("content"), str):
                raise ValueError(f"message {message!r} needs string 'role' and 'content'")


EXAMPLE_CALLS: tuple[ChatCall, ...] = (
    ChatCall(
        messages=(
            {"role": "system", "content": "You answer questions about European geography in one sentence."},
            {"role": "user", "content": "What is the capital of France?"},
        ),
        route="/qa",
        user_id="user-17",
        session_id="session-3",
        temperature=0.2,
    ),
    ChatCall(messages=({"role": "user", "content": "Name one prime number above 100."},), route="/chat"),
)
"""Two requests of different shapes (system prompt, user and session, temperature; a bare question): what the
committed fixtures under tests/fixtures/otlp/ were captured from."""

EXAMPLE_ANSWERS: Mapping[str, str] = {
    "capital of France": "Paris is the capital of France.",
    "prime number": "101 is a prime number.",
}
"""Canned answers for the model server (`ModelServer.configure(answers=...)`), so an answer is not the question."""


@dataclass(frozen=True)
class CallRecord:
    """What one call asked and what the server answered, to compare an imported trace with, field by field.

    Ids are lower-case hex from the SDK's span contexts. A failed call has `error_type` (the exception's
    class name) and no answer fields.
    """

    route: str
    model: str
    messages: tuple[Mapping[str, str], ...]
    user_id: str | None
    session_id: str | None
    trace_id: str
    root_span_id: str
    answer: str | None = None
    response_model: str | None = None
    response_id: str | None = None
    finish_reason: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    error_type: str | None = None


@dataclass(frozen=True)
class SpanRef:
    """One finished SDK span, as the SDK itself knows it (hex ids), to check encoded objects against."""

    name: str
    trace_id: str
    span_id: str
    parent_span_id: str | None
    scope: str


@dataclass(frozen=True)
class Capture:
    """The OTLP requests one instrumentation produced for a list of calls, and what was asked and answered.

    `logs` is None when the instrumentation emitted no log records (OpenInference, OpenLLMetry by default).
    """

    instrumentation: Instrumentation
    traces: ExportTraceServiceRequest
    logs: ExportLogsServiceRequest | None
    calls: tuple[CallRecord, ...]
    spans: tuple[SpanRef, ...]
    versions: Mapping[str, str] = field(default_factory=dict)

    def requests(self) -> list[ExportTraceServiceRequest | ExportLogsServiceRequest]:
        """The trace request, then the logs request if any: what one Collector batch would upload."""
        return [self.traces] if self.logs is None else [self.traces, self.logs]


def capture_calls(
    instrumentation: Instrumentation,
    calls: Sequence[ChatCall],
    server: ModelServer,
    *,
    timeout_s: float = 120.0,
) -> Capture:
    """Run `calls` against `server` with `instrumentation` enabled, in a fresh process, and capture its output."""
    if instrumentation not in INSTRUMENTATIONS:
        raise ValueError(f"instrumentation {instrumentation!r} is not one of {list(INSTRUMENTATIONS)}")
    if not calls:
        raise ValueError("no calls to make; a capture needs at least one ChatCall")
    env = {
        key: value for key, value in os.environ.items() if key not in (_CAPTURE, _OPT_IN, _TRACELOOP_CONTENT)
    }
    env.update(_ENVIRONMENT[instrumentation])
    env[_API_KEY_ENV] = server.client_api_key  # never on the command line, where `ps` shows it
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_IMPORT_ROOT), env.get("PYTHONPATH")]))
    payload = json.dumps([asdict(call) for call in calls])
    with tempfile.TemporaryDirectory(prefix="instrumented-calls-") as tmp:
        args = [sys.executable, "-m", _MODULE, instrumentation, server.base_url, tmp]
        try:
            done = subprocess.run(
                args, check=False, input=payload.encode(), env=env, capture_output=True, timeout=timeout_s
            )
        except subprocess.TimeoutExpired as exc:
            raise ServiceError(f"capturing {instrumentation} spans took over {timeout_s:.0f} s") from exc
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace")[-3000:]
            raise ServiceError(f"capturing {instrumentation} spans failed (exit {done.returncode}):\n{tail}")
        return _read_capture(instrumentation, Path(tmp))


def _read_capture(instrumentation: Instrumentation, folder: Path) -> Capture:
    result = json.loads((folder / "result.json").read_text())
    traces = ExportTraceServiceRequest.FromString((folder / "traces.binpb").read_bytes())
    logs_path = folder / "logs.binpb"
    logs = ExportLogsServiceRequest.FromString(logs_path.read_bytes()) if logs_path.exists() else None
    calls = tuple(
        CallRecord(**{**record, "messages": tuple(record["messages"])}) for record in result["calls"]
    )
    return Capture(
        instrumentation=instrumentation,
        traces=traces,
        logs=logs,
        calls=calls,
        spans=tuple(SpanRef(**span) for span in result["spans"]),
        versions=result["versions"],
    )


# ---- the child process -------------------------------------------------------------------------------------


def _instrumentor(instrumentation: Instrumentation) -> Any:
    """The package's `OpenAIInstrumentor`, imported only in the child (the packages ship no complete hints)."""
    return importlib.import_module(_INSTRUMENTOR_MODULES[instrumentation]).OpenAIInstrumentor()


def _call_context(instrumentation: Instrumentation, call: ChatCall) -> AbstractContextManager[Any]:
    """OpenInference takes session and user from the context, the way its users are told to pass them."""
    if instrumentation != "openinference" or (call.user_id is None and call.session_id is None):
        return nullcontext()
    from openinference.instrumentation import using_attributes

    return using_attributes(session_id=call.session_id or "", user_id=call.user_id or "")


def _run_calls(instrumentation: Instrumentation, calls: Sequence[ChatCall], base_url: str, out: Path) -> None:
    """Instrument, make the calls inside root spans, un-instrument, and write what was captured to `out`."""
    import openai
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from devtools.otlp_layout import logs_request, trace_request

    attributes: dict[str, str] = {"service.name": SERVICE_NAME, "deployment.environment.name": "test"}
    if instrumentation == "openinference":
        attributes["openinference.project.name"] = SERVICE_NAME
    resource = Resource.create(attributes)
    log_exporter: Any = InMemoryLogRecordExporter  # its __init__ has no annotations
    spans, records = InMemorySpanExporter(), log_exporter()
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(SimpleSpanProcessor(spans))
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(SimpleLogRecordProcessor(records))

    instrumentor = _instrumentor(instrumentation)
    instrumentor.instrument(tracer_provider=tracer_provider, logger_provider=logger_provider)
    try:
        client = openai.OpenAI(base_url=base_url, api_key=os.environ[_API_KEY_ENV], max_retries=0)
        tracer = tracer_provider.get_tracer("qa-assistant.app", "1.0.0")
        results = [_one_call(instrumentation, client, tracer, call) for call in calls]
    finally:
        instrumentor.uninstrument()
    tracer_provider.force_flush()
    logger_provider.force_flush()

    finished = spans.get_finished_spans()
    (out / "traces.binpb").write_bytes(trace_request(finished).SerializeToString())
    if logs := records.get_finished_logs():
        (out / "logs.binpb").write_bytes(logs_request(logs).SerializeToString())
    refs = [
        SpanRef(
            name=span.name,
            trace_id=f"{span.context.trace_id:032x}",
            span_id=f"{span.context.span_id:016x}",
            parent_span_id=None if span.parent is None else f"{span.parent.span_id:016x}",
            scope=span.instrumentation_scope.name if span.instrumentation_scope else "",
        )
        for span in finished
        if span.context is not None
    ]
    versions = {
        name: metadata.version(name) for name in ("openai", "opentelemetry-sdk", _PACKAGES[instrumentation])
    }
    result = {"calls": [asdict(r) for r in results], "spans": [asdict(r) for r in refs], "versions": versions}
    (out / "result.json").write_text(json.dumps(result))


def _one_call(instrumentation: Instrumentation, client: Any, tracer: Any, call: ChatCall) -> CallRecord:
    """One request: a SERVER root span with the route (as an HTTP framework's instrumentation names it) and the
    user and session an app would add, around the instrumented completion call."""
    from opentelemetry.trace import SpanKind, Status, StatusCode

    root_attributes = {"http.request.method": "POST", "http.route": call.route}
    root_attributes |= {"user.id": call.user_id} if call.user_id is not None else {}
    root_attributes |= {"session.id": call.session_id} if call.session_id is not None else {}
    options: dict[str, Any] = {} if call.temperature is None else {"temperature": call.temperature}
    with tracer.start_as_current_span(
        f"POST {call.route}", kind=SpanKind.SERVER, attributes=root_attributes, record_exception=False
    ) as root:
        context = root.get_span_context()
        asked = CallRecord(
            route=call.route,
            model=call.model,
            messages=tuple(dict(m) for m in call.messages),
            user_id=call.user_id,
            session_id=call.session_id,
            trace_id=f"{context.trace_id:032x}",
            root_span_id=f"{context.span_id:016x}",
        )
        try:
            with _call_context(instrumentation, call):
                response = client.chat.completions.create(
                    model=call.model, messages=[dict(m) for m in call.messages], **options
                )
        except Exception as exc:  # a failed call is data for the importer tests, as in production
            root.record_exception(exc)
            root.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            return replace(asked, error_type=type(exc).__name__)
        root.set_attribute("http.response.status_code", 200)
        choice = response.choices[0] if response.choices else None
        usage = response.usage
        return replace(
            asked,
            answer=None if choice is None else choice.message.content,
            response_model=response.model,
            response_id=response.id,
            finish_reason=None if choice is None else choice.finish_reason,
            input_tokens=None if usage is None else usage.prompt_tokens,
            output_tokens=None if usage is None else usage.completion_tokens,
            total_tokens=None if usage is None else usage.total_tokens,
        )


def _main(argv: Sequence[str]) -> None:
    """`python -m devtools.instrumented_calls INSTRUMENTATION BASE_URL OUT_DIR` with the calls as JSON on stdin
    (what `capture_calls` runs; the API key is read from the environment)."""
    if len(argv) != 3 or argv[0] not in INSTRUMENTATIONS:
        raise SystemExit(f"usage: {_MODULE} {{{','.join(INSTRUMENTATIONS)}}} BASE_URL OUT_DIR < calls.json")
    instrumentation = next(name for name in INSTRUMENTATIONS if name == argv[0])
    calls = [ChatCall(**{**c, "messages": tuple(c["messages"])}) for c in _load_calls(sys.stdin.read())]
    _run_calls(instrumentation, calls, argv[1], Path(argv[2]))


def _load_calls(text: str) -> Iterator[dict[str, Any]]:
    data = json.loads(text)
    if not isinstance(data, list):
        raise SystemExit(f"expected a JSON list of calls on stdin, got {type(data).__name__}")
    yield from data


if __name__ == "__main__":
    _main(sys.argv[1:])
