"""Arize OpenInference attributes (`openinference-semantic-conventions`, as `openinference-instrumentation-*` and
Phoenix write them) read into `SpanFacts`.

The span kind (`openinference.span.kind`) says what the span is: LLM spans are model calls, RETRIEVER spans
retrievals, everything else (CHAIN, AGENT, TOOL, EMBEDDING, ...) is "other". Messages are flattened as
`llm.input_messages.{i}.message.{role,content,contents.{j}.message_content.*,tool_calls.{j}.tool_call.*}`;
Phoenix's span frames hold the same as a list under `llm.input_messages`, which is read the same way.
On an LLM span `input.value` / `output.value` are the raw request and response bodies: they become the span's
text only when no messages were recorded on that side, since the messages carry the same content.
"""

from __future__ import annotations

from typing import Any

from tracewatch.importers._attrs import MISSING, AttributeReader
from tracewatch.importers._genai import first_text
from tracewatch.importers._messages import indexed_messages
from tracewatch.importers._spans import ChatMessage, Passage, SpanFacts

SPAN_KIND = "openinference.span.kind"
PROJECT = "openinference.project.name"
INVOCATION_PARAMETERS = "llm.invocation_parameters"
_INPUT = "llm.input_messages."
_OUTPUT = "llm.output_messages."
_PROMPTS = "llm.prompts."
_CHOICES = "llm.choices."
_DOCUMENTS = "retrieval.documents."
_PREFIXES = (_INPUT, _OUTPUT, _PROMPTS, _CHOICES, _DOCUMENTS)


def read_openinference(reader: AttributeReader, resource: dict[str, Any], facts: SpanFacts) -> None:
    """Fill `facts` from OpenInference attributes (and the project from the resource)."""
    kind = (reader.text(SPAN_KIND) or "").upper()
    groups = reader.indexed(_PREFIXES)
    facts.input_messages = _messages(groups[_INPUT], groups[_PROMPTS], _INPUT, "llm.prompts", "user", reader)
    facts.output_messages = _messages(
        groups[_OUTPUT], groups[_CHOICES], _OUTPUT, "llm.choices", "assistant", reader
    )
    model = reader.text("llm.model_name")
    facts.request_model = reader.text("llm.request.model_name") or _invoked_model(reader) or model
    facts.response_model = reader.text("llm.response.model_name") or model
    facts.provider = first_text(reader, "llm.provider", "llm.system")
    facts.input_tokens = reader.integer("llm.token_count.prompt")
    facts.output_tokens = reader.integer("llm.token_count.completion")
    facts.total_tokens = reader.integer("llm.token_count.total")
    facts.cost_usd = _cost(reader)
    input_value = reader.text("input.value")
    output_value = reader.text("output.value")
    reader.text("input.mime_type")
    reader.text("output.mime_type")
    facts.input_text = input_value if facts.input_messages is None else None
    facts.output_text = output_value if facts.output_messages is None else None
    if groups[_DOCUMENTS]:
        facts.retrieved = _documents(groups[_DOCUMENTS], reader)
    facts.session_id = reader.text("session.id")
    facts.user_id = reader.text("user.id")
    facts.tags = _tags(reader)
    _metadata(reader, facts)
    project = resource.get(PROJECT)
    if isinstance(project, str) and project:
        facts.project = project
    if kind == "LLM":
        facts.role = "llm"
    elif kind == "RETRIEVER":
        facts.role = "retriever"


def _messages(
    messages: dict[int, dict[str, Any]],
    legacy: dict[int, dict[str, Any]],
    where: str,
    legacy_where: str,
    legacy_role: str,
    reader: AttributeReader,
) -> list[ChatMessage] | None:
    if messages:
        return indexed_messages(messages, where.rstrip("."), reader, prefix="message.")
    if legacy:
        # Completion-style calls: `llm.prompts.{i}.prompt.text` in, `llm.choices.{i}.completion.text` out.
        texts = ((i, next(iter(fields.values()), None)) for i, fields in sorted(legacy.items()))
        return [ChatMessage(legacy_role, reader.as_text(f"{legacy_where}.{i}", t) or "") for i, t in texts]
    return None


def _invoked_model(reader: AttributeReader) -> str | None:
    """The model the application asked for: `llm.model_name` is the one that answered (the response's model),
    the request's own is in `llm.invocation_parameters`. That attribute is only peeked at, not consumed: the
    other parameters in it (temperature, ...) belong in metadata."""
    raw = reader.attributes.get(INVOCATION_PARAMETERS)
    if not isinstance(raw, str) or '"model"' not in raw:
        return None
    params = reader.as_decoded(INVOCATION_PARAMETERS, raw)
    model = params.get("model") if isinstance(params, dict) else None
    return model if isinstance(model, str) and model else None


def _cost(reader: AttributeReader) -> float | None:
    total = reader.number("llm.cost.total")
    prompt = reader.number("llm.cost.prompt")
    completion = reader.number("llm.cost.completion")
    if total is not None:
        return total
    # Only both halves make a total; one half alone would understate the cost, and unknown is not zero.
    return prompt + completion if prompt is not None and completion is not None else None


def _documents(groups: dict[int, dict[str, Any]], reader: AttributeReader) -> list[Passage]:
    passages = []
    for i in sorted(groups):
        fields = groups[i]
        doc_id = fields.get("document.id")
        content = fields.get("document.content")
        score = fields.get("document.score")
        where = f"retrieval.documents.{i}.document"
        passages.append(
            Passage(
                document_id=None if doc_id is None else str(doc_id),
                text=None if content is None else reader.as_text(f"{where}.content", content),
                score=None if score is None else reader.as_number(f"{where}.score", score),
            )
        )
    return passages


def _tags(reader: AttributeReader) -> list[str] | None:
    value = reader.decoded("tag.tags")
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return [value]  # a single tag that is not a JSON list
    if isinstance(value, (list, tuple)):
        return [tag if isinstance(tag, str) else str(tag) for tag in value]
    reader.warn(f"tag.tags: expected a list of strings, got {type(value).__name__}; kept as one tag")
    return [str(value)]


def _metadata(reader: AttributeReader, facts: SpanFacts) -> None:
    value = reader.decoded("metadata")
    if value is MISSING or value is None:
        return
    if isinstance(value, dict):
        facts.metadata.update(value)
    else:
        # Not an object (or not JSON, already warned): kept whole rather than spread into keys.
        facts.metadata["metadata"] = value
