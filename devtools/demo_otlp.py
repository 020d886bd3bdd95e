"""The demo's traces as a production application's OpenTelemetry Collector leaves them in object storage.

`make demo` should exercise the path real traces take: spans in the Collector's S3 layout, imported into
canonical traces (docs/importing.md), then ingested. So each canonical demo row (`tracewatch.traces.
generate_day`) becomes the spans a question-answering service instrumented with the current OpenTelemetry
GenAI conventions emits, as `opentelemetry-instrumentation-openai-v2` writes them in its "latest experimental"
mode (semconv 1.37+, https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/):

- a SERVER root `POST <route>` (`http.route`, `user.id`, `session.id`; status ERROR with `error.type` when the
  request failed; start = the row's start_time, end = start + latency_ms), carrying what GenAI has no name for
  in tracewatch's own vocabulary (`tracewatch.feedback.<name>`, `tracewatch.tags`, `tracewatch.metadata`, see
  `tracewatch.importers._app_attributes`);
- a `retrieval wikipedia` span when the row has retrieved passages (`gen_ai.operation.name = retrieval`,
  `gen_ai.retrieval.query.text`, `gen_ai.retrieval.documents` as JSON, the names the GenAI dialect reads);
- a CLIENT `chat <model>` span (`gen_ai.operation.name`, `gen_ai.provider.name`, request / response model,
  `gen_ai.usage.input_tokens` / `output_tokens`, `gen_ai.input.messages` / `gen_ai.output.messages` as JSON
  strings of `{"role", "parts": [{"type": "text", "content"}]}` messages).

GenAI has no cost attribute: the importer prices calls from litellm's cost map, so `register_demo_prices` adds
the demo's made-up models to it, as a team with unlisted models would. How the spans are batched into objects
and what bad input is planted: `devtools.demo_otlp_writer`.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, ArrayValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span, Status

from devtools.otlp_layout import AwsS3Layout
from tracewatch.llm import load_litellm
from tracewatch.traces._profile import ALL_MODELS

DEMO_LAYOUT = AwsS3Layout(marshaler="otlp_json", compression="gzip")
"""The Collector's default marshaler, gzip-compressed; keys in the default partition format, UTC."""
UPLOAD_SPAN_CAP = dt.timedelta(minutes=10)
"""An upload waits for a span's end, but never longer than this (a span that claims to last days)."""

SERVER_SCOPE = ("opentelemetry.instrumentation.fastapi", "0.55b0")
LLM_SCOPE = ("opentelemetry.instrumentation.openai_v2", "2.1b0")
RETRIEVAL_SCOPE = ("qa_app.retrieval", "1.4.2")
DATA_SOURCE = "wikipedia"
SPAN_KIND_INTERNAL, SPAN_KIND_SERVER, SPAN_KIND_CLIENT = 1, 2, 3
STATUS_ERROR = Status.STATUS_CODE_ERROR

Row = Mapping[str, Any]
ScopedSpan = tuple[tuple[str, str], Span]
"""A span with the (name, version) of the instrumentation scope that produced it."""


def register_demo_prices() -> None:
    """Add the demo's models to litellm's cost map (in this process), so imported demo traces are priced.

    Bare names, as the spans state them: `register_model_prices` wants a model string litellm can route, and
    the demo's self-hosted model has none.
    """
    load_litellm().register_model(
        {
            m.name: {
                "input_cost_per_token": m.usd_per_1k_input / 1000,
                "output_cost_per_token": m.usd_per_1k_output / 1000,
                # Stated so that litellm does not warn that it assumes them: the demo's calls use no cache.
                "cache_creation_input_token_cost": 0.0,
                "cache_read_input_token_cost": 0.0,
                "litellm_provider": m.provider,
                "mode": "chat",
            }
            for m in ALL_MODELS
        }
    )


def span_id(trace_id: str, role: str) -> bytes:
    """A stable 8-byte span id for one role in one trace (never all zeros, which OTLP calls invalid)."""
    digest = hashlib.blake2b(f"{trace_id}/{role}".encode(), digest_size=8).digest()
    return digest if any(digest) else b"\x00" * 7 + b"\x01"


def trace_spans(row: Row) -> list[ScopedSpan]:
    """The spans the instrumented application emits for one canonical row: root first, then its children."""
    trace_id = bytes.fromhex(row["trace_id"])
    start = _unix_nanos(row["start_time"])
    length = round(row["latency_ms"] * 1_000_000)
    root_id = span_id(row["trace_id"], "root")
    failed = row["status"] == "error"
    root = _span(trace_id, root_id, None, f"POST {row['route']}", SPAN_KIND_SERVER, start, start + length)
    _set(root, _root_attributes(row, failed))
    if failed:
        root.status.CopyFrom(Status(code=STATUS_ERROR, message=row["error_message"] or ""))
    spans: list[ScopedSpan] = [(SERVER_SCOPE, root)]
    if row["retrieved_context"]:
        retrieval = _span(
            trace_id,
            span_id(row["trace_id"], "retrieval"),
            root_id,
            f"retrieval {DATA_SOURCE}",
            SPAN_KIND_CLIENT,
            start + length * 2 // 100,
            start + length * 15 // 100,
        )
        _set(retrieval, _retrieval_attributes(row))
        spans.append((RETRIEVAL_SCOPE, retrieval))
    llm = _span(
        trace_id,
        span_id(row["trace_id"], "llm"),
        root_id,
        f"chat {row['model']}",
        SPAN_KIND_CLIENT,
        start + length * 18 // 100,
        start + length * 97 // 100,
    )
    _set(llm, _llm_attributes(row, failed))
    if failed:
        llm.status.CopyFrom(Status(code=STATUS_ERROR, message=row["error_message"] or ""))
    spans.append((LLM_SCOPE, llm))
    return spans


def trace_request(spans: Iterable[ScopedSpan], projects: Mapping[bytes, str]) -> ExportTraceServiceRequest:
    """One export request: spans grouped by resource (`service.name` = the trace's project) and scope.

    `projects` maps a trace id to its project, as each service's own SDK would name itself.
    """
    grouped: dict[str, dict[tuple[str, str], list[Span]]] = {}
    for scope, span in spans:
        grouped.setdefault(projects[span.trace_id], {}).setdefault(scope, []).append(span)
    request = ExportTraceServiceRequest()
    for project, scopes in grouped.items():
        resource_spans = ResourceSpans(resource=Resource(attributes=_key_values(_resource(project))))
        for (name, version), members in scopes.items():
            resource_spans.scope_spans.append(
                ScopeSpans(scope=InstrumentationScope(name=name, version=version), spans=members)
            )
        request.resource_spans.append(resource_spans)
    return request


def upload_time(spans: Sequence[ScopedSpan], *, delay_s: float) -> dt.datetime:
    """When the Collector uploads a batch: `delay_s` after its last span ended (capped, see UPLOAD_SPAN_CAP)."""
    cap = int(UPLOAD_SPAN_CAP.total_seconds() * 1e9)
    last = max(min(s.end_time_unix_nano, s.start_time_unix_nano + cap) for _, s in spans)
    return dt.datetime.fromtimestamp(last / 1e9, dt.UTC) + dt.timedelta(seconds=delay_s)


# ---- attributes ---------------------------------------------------------------------------------------------


def _root_attributes(row: Row, failed: bool) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "http.request.method": "POST",
        "http.route": row["route"],
        "http.response.status_code": 500 if failed else 200,
        "user.id": row["user_id"],
        "session.id": row["session_id"],
        "error.type": row["error_type"] if failed else None,
        "tracewatch.tags": list(row["tags"] or []) or None,
        "tracewatch.metadata": row["metadata"],
    }
    for feedback in row["feedback"] or []:
        attributes[f"tracewatch.feedback.{feedback['name']}"] = feedback["value"]
    sources = {f["source"] for f in row["feedback"] or []} - {None, "user"}  # "user" is the default
    if len(sources) > 1:
        raise ValueError(
            f"trace {row['trace_id']}: one span states one feedback source, got {sorted(sources)}"
        )
    if sources:
        attributes["tracewatch.feedback_source"] = sources.pop()
    return attributes


def _retrieval_attributes(row: Row) -> dict[str, Any]:
    documents = [
        {"id": p["document_id"], "content": p["text"], "score": p["score"]} for p in row["retrieved_context"]
    ]
    return {
        "gen_ai.operation.name": "retrieval",
        "gen_ai.data_source.id": DATA_SOURCE,
        "gen_ai.retrieval.query.text": row["input_text"],
        "gen_ai.retrieval.documents": _json(documents),
    }


def _llm_attributes(row: Row, failed: bool) -> dict[str, Any]:
    metadata = json.loads(row["metadata"]) if row["metadata"] else {}
    inputs = [_message(m["role"], m["content"]) for m in row["input_messages"] or []]
    answered = not failed and row["output_text"] is not None
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": row["provider_name"],
        "gen_ai.request.model": row["model"],
        "gen_ai.request.temperature": metadata.get("temperature"),
        "gen_ai.response.model": None if failed else row["model"],
        "gen_ai.response.finish_reasons": None if failed else ["stop"],
        "gen_ai.usage.input_tokens": row["input_tokens"],
        "gen_ai.usage.output_tokens": row["output_tokens"],
        "gen_ai.input.messages": _json(inputs) if inputs else None,
        "gen_ai.output.messages": (
            _json([{**_message("assistant", row["output_text"]), "finish_reason": "stop"}])
            if answered
            else None
        ),
        "error.type": row["error_type"] if failed else None,
    }


def _message(role: str, content: str) -> dict[str, Any]:
    return {"role": role, "parts": [{"type": "text", "content": content}]}


def _resource(project: str) -> dict[str, Any]:
    return {
        "service.name": project,
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": "1.38.0",
    }


# ---- protobuf ------------------------------------------------------------------------------------------------


def _span(
    trace_id: bytes, own_id: bytes, parent: bytes | None, name: str, kind: int, start: int, end: int
) -> Span:
    return Span(
        trace_id=trace_id,
        span_id=own_id,
        parent_span_id=parent or b"",
        name=name,
        kind=kind,  # type: ignore[arg-type]  # the proto enum's values are plain ints
        start_time_unix_nano=start,
        end_time_unix_nano=end,
    )


def _set(span: Span, attributes: Mapping[str, Any]) -> None:
    span.attributes.extend(_key_values(attributes))


def _key_values(attributes: Mapping[str, Any]) -> list[KeyValue]:
    """Attributes as OTLP key-values; None means "not set", as an SDK drops a None attribute."""
    return [KeyValue(key=key, value=_any(value)) for key, value in attributes.items() if value is not None]


def _any(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        return AnyValue(array_value=ArrayValue(values=[_any(v) for v in value]))
    raise TypeError(f"attribute value {value!r} is not a bool, int, float, str or list of them")


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def _unix_nanos(moment: dt.datetime) -> int:
    return (moment - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1) * 1000
