"""The two shapes every importer speaks: a raw `Span` as a source carries it, and the `SpanFacts` a dialect reads
from it.

Decoders (OTLP JSON, OTLP protobuf, Phoenix span frames) produce `Span`s with their attributes already decoded
from OTLP `AnyValue`s into plain Python values; a dialect turns each into `SpanFacts`, which say what the span was
(an LLM call, a retrieval, something else) in tracewatch's own terms. Vendor exports that are not OTel-shaped
(Langfuse observations, Opik spans) produce `SpanFacts` directly. Assembly groups the facts of one trace into
one canonical trace row, so it never needs to know where a span came from.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any, Literal

AttributeValue = str | int | float | bool | bytes | None | list[Any] | dict[str, Any]
"""An OTLP `AnyValue` as Python: arrays become lists, key-value lists dicts, bytes stay bytes."""

SpanRole = Literal["llm", "retriever", "other"]
"""What a span did, as far as tracewatch cares: called a model, retrieved passages, or anything else."""

Dialect = Literal["genai", "openinference", "openllmetry", "langfuse", "opik", "none"]
"""The attribute vocabulary a span's facts were read in (`none`: no LLM vocabulary recognised)."""

SpanStatus = Literal["unset", "ok", "error"]


@dataclass(slots=True)
class SpanEvent:
    """A span event (or a log record joined to its span by trace and span id): older GenAI instrumentations
    carry prompt and completion content this way (`gen_ai.user.message`, `gen_ai.choice`, ...)."""

    name: str
    time_unix_nano: int | None
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    body: AttributeValue = None


@dataclass(slots=True)
class Span:
    """One span as a source carries it; ids are lower-case hex (32 digits for a trace, 16 for a span)."""

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_unix_nano: int | None
    end_time_unix_nano: int | None
    status: SpanStatus = "unset"
    status_message: str | None = None
    kind: int = 0
    attributes: dict[str, AttributeValue] = field(default_factory=dict)
    resource: dict[str, AttributeValue] = field(default_factory=dict)
    scope_name: str | None = None
    events: list[SpanEvent] = field(default_factory=list)


@dataclass(slots=True)
class ChatMessage:
    """A message of a model call's input or output, flattened to text (parts joined, tool calls as JSON)."""

    role: str
    content: str


@dataclass(slots=True)
class Passage:
    """A retrieved document: id, text and retrieval score when the source records them."""

    document_id: str | None
    text: str | None
    score: float | None


@dataclass(slots=True)
class FeedbackValue:
    """A numeric or boolean score a person or an evaluator attached to the trace (booleans as 0/1)."""

    name: str
    value: float
    source: str | None


@dataclass(slots=True)
class SpanFacts:
    """What one span tells us, in tracewatch's terms; every field is None when the span does not say.

    `input_text` / `output_text` hold a span's plain input and output (a chain's `input.value`, a workflow's
    `traceloop.entity.input`); `input_messages` / `output_messages` a model call's messages. `route` is the
    application's own name for the request when the span states one (`http.route`, a workflow name).
    `attributes_used` names the attribute keys the dialect consumed, so the rest can go to metadata.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_time_unix_nano: int | None
    end_time_unix_nano: int | None
    role: SpanRole = "other"
    dialect: Dialect = "none"
    status: SpanStatus = "unset"
    error_type: str | None = None
    error_message: str | None = None
    request_model: str | None = None
    response_model: str | None = None
    provider: str | None = None
    input_messages: list[ChatMessage] | None = None
    output_messages: list[ChatMessage] | None = None
    input_text: str | None = None
    output_text: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cost_usd: float | None = None
    retrieved: list[Passage] | None = None
    route: str | None = None
    project: str | None = None
    user_id: str | None = None
    session_id: str | None = None
    tags: list[str] | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    feedback: list[FeedbackValue] | None = None
    attributes_used: frozenset[str] = frozenset()
    log_records: int = 0
    """log records joined to the span as events: counted with it, so every record an import reads is accounted for"""

    def __reduce__(self) -> tuple[type[SpanFacts], tuple[Any, ...]]:
        # Facts cross from import workers to the importing process by the million: the field values in one C
        # call, rebuilt by `__init__`, pickle in half the time of the dataclass's per-field state.
        return SpanFacts, _FACT_VALUES(self)


_FACT_VALUES = attrgetter(*(f.name for f in fields(SpanFacts)))
