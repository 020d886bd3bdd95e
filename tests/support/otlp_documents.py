"""OTLP JSON documents with the span shapes a real instrumentation emits, re-identified per test trace, and
written where and how the Collector's `awss3exporter` puts them.

The spans are those of `tests/fixtures/otlp/genai_latest.traces.json` (the official
opentelemetry-instrumentation-openai-v2 calling the test model server, see that folder's README): a `POST /qa`
SERVER root and its `chat gpt-4o-mini` CLIENT span. A test takes copies with ids of its own and breaks what it
means to break, so a bad input sits next to good traces of the real shape. OTLP JSON:
https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding (hex ids, int64 as strings).
"""

from __future__ import annotations

import copy
import datetime as dt
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson
import pytest

from devtools.otlp_layout import AwsS3Layout, Compression, Marshaler, collector_unique_key, compress
from tests.support.import_runs import ImportState
from tracewatch.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"
FIXTURE = FIXTURES / "genai_latest.traces.json"
_DOCUMENT = orjson.loads(FIXTURE.read_bytes())
_RESOURCE = _DOCUMENT["resourceSpans"][0]["resource"]
_SPANS = {
    span["name"]: (scope["scope"]["name"], span)
    for scope in _DOCUMENT["resourceSpans"][0]["scopeSpans"]
    for span in scope["spans"]
}
_ROOT_SCOPE, _ROOT = _SPANS["POST /qa"]
_CHAT_SCOPE, _CHAT = _SPANS["chat gpt-4o-mini"]

Span = dict[str, Any]
ScopedSpan = tuple[str, Span]


def _attribute(span: Span, key: str) -> Any:
    value = next(a["value"] for a in span["attributes"] if a["key"] == key)
    return next(iter(value.values()))


def _text(messages_attribute: str) -> str:
    [message] = [m for m in orjson.loads(_attribute(_CHAT, messages_attribute)) if m["role"] != "system"]
    return str(message["parts"][0]["content"])


@dataclass(frozen=True)
class QaRequest:
    """What the fixture's `/qa` request was, as its canonical row must say."""

    route: str = _attribute(_ROOT, "http.route")
    user_id: str = _attribute(_ROOT, "user.id")
    session_id: str = _attribute(_ROOT, "session.id")
    model: str = _attribute(_CHAT, "gen_ai.response.model")
    input_tokens: int = int(_attribute(_CHAT, "gen_ai.usage.input_tokens"))
    output_tokens: int = int(_attribute(_CHAT, "gen_ai.usage.output_tokens"))
    input_text: str = _text("gen_ai.input.messages")
    output_text: str = _text("gen_ai.output.messages")
    root_ns: int = int(_ROOT["startTimeUnixNano"])
    latency_ms: float = (int(_ROOT["endTimeUnixNano"]) - int(_ROOT["startTimeUnixNano"])) / 1e6


QA = QaRequest()


def trace_id(n: int) -> str:
    """The hex trace id of test trace `n` (n >= 1: an all-zero id is invalid in OTLP)."""
    return f"{n:032x}"


def span_id(n: int, k: int) -> str:
    """The hex id of span `k` of test trace `n`."""
    return f"{n:08x}{k:08x}"


def qa_spans(n: int) -> tuple[ScopedSpan, ScopedSpan]:
    """Test trace `n`: the fixture's root (span 1) and its model call (span 2), ids of their own."""
    root, chat = copy.deepcopy(_ROOT), copy.deepcopy(_CHAT)
    root["traceId"] = chat["traceId"] = trace_id(n)
    root["spanId"], chat["spanId"] = span_id(n, 1), span_id(n, 2)
    chat["parentSpanId"] = root["spanId"]
    return (_ROOT_SCOPE, root), (_CHAT_SCOPE, chat)


def child_span(n: int, k: int, parent: str, name: str = "tool lookup") -> ScopedSpan:
    """A plain INTERNAL span of trace `n` (no LLM vocabulary), inside the root's time."""
    start = int(_ROOT["startTimeUnixNano"]) + k
    span = {
        "traceId": trace_id(n),
        "spanId": span_id(n, k),
        "parentSpanId": parent,
        "name": name,
        "kind": 1,
        "startTimeUnixNano": str(start),
        "endTimeUnixNano": str(start + 1_000),
        "attributes": [{"key": "tool.name", "value": {"stringValue": "lookup"}}],
        "status": {},
    }
    return _ROOT_SCOPE, span


def set_attribute(span: Span, key: str, value: dict[str, Any]) -> None:
    """Replace (or add) one attribute, `value` an OTLP JSON `AnyValue` such as {"stringValue": "..."}."""
    span["attributes"] = [a for a in span["attributes"] if a["key"] != key] + [{"key": key, "value": value}]


def request(*spans: ScopedSpan) -> bytes:
    """One `ExportTraceServiceRequest` in OTLP JSON: the fixture's resource, one block per scope."""
    by_scope: dict[str, list[Span]] = defaultdict(list)
    for scope, span in spans:
        by_scope[scope].append(span)
    document = {
        "resourceSpans": [
            {
                "resource": _RESOURCE,
                "scopeSpans": [{"scope": {"name": s}, "spans": found} for s, found in by_scope.items()],
            }
        ]
    }
    return orjson.dumps(document)


class Uploads:
    """Objects written in the awss3exporter's key layout, with the Collector's random `{unique}` part (seeded)."""

    def __init__(self, store: Store, seed: int = 19) -> None:
        self.store = store
        self._unique = collector_unique_key(random.Random(seed))

    def put(
        self,
        body: bytes,
        uploaded_at: dt.datetime,
        *,
        marshaler: Marshaler = "otlp_json",
        compression: Compression = "none",
        already_compressed: bool = False,
        signal: Literal["traces", "logs"] = "traces",
    ) -> str:
        """Write one object holding `body` (compressed here unless `already_compressed`); its key."""
        layout = AwsS3Layout(marshaler=marshaler, compression=compression)
        key = layout.key(signal, uploaded_at, self._unique())
        self.store.write_bytes(key, body if already_compressed else compress(body, compression))
        return key


def assert_qa_row(state: ImportState, n: int) -> None:
    """Test trace `n` became the row the fixture's `/qa` request makes."""
    row = state.row(trace_id(n))
    assert (row["route"], row["user_id"], row["session_id"]) == (QA.route, QA.user_id, QA.session_id)
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == (
        QA.model,
        QA.input_tokens,
        QA.output_tokens,
    )
    assert (row["input_text"], row["output_text"], row["status"]) == (QA.input_text, QA.output_text, "ok")
    assert row["latency_ms"] == pytest.approx(QA.latency_ms)
    assert not state.metadata(trace_id(n)).get("incomplete", False)
