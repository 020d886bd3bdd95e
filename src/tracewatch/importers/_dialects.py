"""Which attribute vocabulary a span speaks, and the one entry that reads any span into `SpanFacts`.

Detection is per span and looks only at key presence, cheapest test first. Precedence, when a span carries
several vocabularies at once:

1. OpenInference, when `openinference.span.kind` is present: the kind is an explicit statement by the
   instrumentation, and OpenInference spans may also carry GenAI names that say less.
2. OpenLLMetry, when any Traceloop name is present (`traceloop.*`, `llm.request.type`, `llm.usage.total_tokens`,
   `gen_ai.usage.total_tokens`, the legacy `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*`). Traceloop spans
   carry GenAI names too; its reader reads those first and lets Traceloop's names fill the gaps, so the
   precedence costs nothing.
3. GenAI, when any `gen_ai.*` attribute or event is present.
4. None: the span is read for what every span may say (route, status, errors, user, session) and is "other".

What every dialect shares is read last and never overrides what the dialect found: `http.route` on a server
or root span as the route, `user.id` / `enduser.id` / `session.id`, `error.type` and `exception` events as the
error, the span status, and the resource's `service.name` as the project when nothing better names it
(then `metadata["project_source"]` is "service.name", so a source's project mapping knows it is only a hint).
Then tracewatch's own `tracewatch.*` names for feedback, tags and metadata (`_app_attributes`), on any span.
Problems with values end up in `metadata["import_warnings"]`.
"""

from __future__ import annotations

from itertools import repeat

from tracewatch.importers._app_attributes import read_app_attributes
from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._genai import first_text, read_genai
from tracewatch.importers._openinference import SPAN_KIND, read_openinference
from tracewatch.importers._openllmetry import read_openllmetry
from tracewatch.importers._spans import Dialect, Span, SpanFacts

IMPORT_WARNINGS = "import_warnings"
PROJECT_SOURCE = "project_source"
_SPAN_KIND_SERVER = 2  # OTLP Span.SpanKind.SPAN_KIND_SERVER
OPENLLMETRY_MARKERS = frozenset(
    {
        "traceloop.span.kind",
        "traceloop.workflow.name",
        "traceloop.entity.name",
        "llm.request.type",
        "llm.usage.total_tokens",
        "gen_ai.usage.total_tokens",
        "gen_ai.prompt.0.role",
        "gen_ai.prompt.0.content",
        "gen_ai.completion.0.role",
        "gen_ai.completion.0.content",
    }
)


def detect_dialect(span: Span) -> Dialect:
    """The vocabulary `span` is written in (see the module docstring for the precedence)."""
    attributes = span.attributes
    if SPAN_KIND in attributes:
        return "openinference"
    if not attributes.keys().isdisjoint(OPENLLMETRY_MARKERS):
        return "openllmetry"
    # Key scans through `map` run in C; a Python loop over the keys cost more than the rest of detection.
    if any(map(str.startswith, attributes, repeat("traceloop."))):
        return "openllmetry"  # association properties can be a span's only Traceloop names
    if any(map(str.startswith, attributes, repeat("gen_ai."))) or any(
        event.name.startswith("gen_ai.") for event in span.events
    ):
        return "genai"
    return "none"


def blank_facts(span: Span) -> SpanFacts:
    """The facts every span states before any dialect reads it: ids, name, times and status."""
    return SpanFacts(
        trace_id=span.trace_id,
        span_id=span.span_id,
        parent_span_id=span.parent_span_id,
        name=span.name,
        start_time_unix_nano=span.start_time_unix_nano,
        end_time_unix_nano=span.end_time_unix_nano,
        status=span.status,
    )


def read_span(span: Span) -> SpanFacts:
    """Everything `span` says in tracewatch's terms; never raises on malformed attribute values."""
    facts = blank_facts(span)
    reader = AttributeReader(span.attributes)
    facts.dialect = detect_dialect(span)
    if facts.dialect == "openinference":
        read_openinference(reader, span.resource, facts)
    elif facts.dialect == "openllmetry":
        read_openllmetry(span, reader, facts)
    elif facts.dialect == "genai":
        read_genai(span, reader, facts)
    _read_common(span, reader, facts)
    read_app_attributes(reader, facts)
    if reader.warnings:
        facts.metadata.setdefault(IMPORT_WARNINGS, []).extend(reader.warnings)
    facts.attributes_used = frozenset(reader.used)
    return facts


def _read_common(span: Span, reader: AttributeReader, facts: SpanFacts) -> None:
    # Runs for every span, and most spans state none of these: a key test each before any call.
    attributes = reader.attributes
    if (
        facts.route is None
        and "http.route" in attributes
        and (span.kind == _SPAN_KIND_SERVER or span.parent_span_id is None)
    ):
        facts.route = reader.text("http.route")
    if facts.user_id is None and ("user.id" in attributes or "enduser.id" in attributes):
        facts.user_id = first_text(reader, "user.id", "enduser.id")
    if facts.session_id is None and "session.id" in attributes:
        facts.session_id = reader.text("session.id")
    if "error.type" in attributes or span.events or facts.status != "unset":
        _read_error(span, reader, facts)
    if facts.project is None:
        service = span.resource.get("service.name")
        # The SDK's default (`unknown_service:python`) names no project: better unknown than a false one.
        if isinstance(service, str) and service and not service.startswith("unknown_service"):
            facts.project = service
            facts.metadata[PROJECT_SOURCE] = "service.name"


def _read_error(span: Span, reader: AttributeReader, facts: SpanFacts) -> None:
    facts.error_type = reader.text("error.type")
    if facts.error_type is not None and facts.status == "unset":
        # GenAI and HTTP conventions set `error.type` only when the operation failed; some exporters drop the
        # status that should go with it.
        facts.status = "error"
    if facts.status == "error" and span.status_message:
        facts.error_message = span.status_message
    for event in span.events:
        if event.name != "exception":
            continue
        # The first exception is the one that ended the span's work; later ones are usually re-raises.
        if facts.error_type is None:
            facts.error_type = reader.as_text("exception.type", event.attributes.get("exception.type"))
        if facts.error_message is None:
            facts.error_message = reader.as_text(
                "exception.message", event.attributes.get("exception.message")
            )
        break
