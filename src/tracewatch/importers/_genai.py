"""The OpenTelemetry GenAI semantic conventions, current and older names, read into `SpanFacts`.

Current names (semconv 1.37+, as `opentelemetry-util-genai` and `opentelemetry-instrumentation-openai-v2` in
"latest experimental" mode write them): `gen_ai.provider.name`, `gen_ai.usage.input_tokens` / `output_tokens`,
`gen_ai.input.messages` / `gen_ai.output.messages` (messages of `{"role", "parts": [...]}`) and
`gen_ai.system_instructions` (a list of parts), each a JSON string on spans or a structured value.
Older names still in the field: `gen_ai.system`, `gen_ai.usage.prompt_tokens` / `completion_tokens`, and
content carried as events (or log records joined to the span): `gen_ai.{system,user,assistant,tool}.message`
with body `{"content", "tool_calls"}` and `gen_ai.choice` with body `{"index", "finish_reason", "message"}`
(openai_v2's default mode); `gen_ai.client.inference.operation.details` carries the current message attributes
on an event; the oldest form is `gen_ai.content.prompt` / `gen_ai.content.completion` events with a JSON
`gen_ai.prompt` / `gen_ai.completion` attribute. Attributes win over events when a span has both.
"""

from __future__ import annotations

from typing import Any

from tracewatch.importers._attrs import MISSING, AttributeReader, to_json_text
from tracewatch.importers._messages import (
    instructions_message,
    message_list,
    structured_message,
)
from tracewatch.importers._spans import ChatMessage, Passage, Span, SpanEvent, SpanFacts

OPERATION = "gen_ai.operation.name"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
SYSTEM_INSTRUCTIONS = "gen_ai.system_instructions"
# Operations that are a model producing text; `embeddings` calls a model too but has no answer, so it is not an
# LLM call for assembly (its model and tokens are still read).
LLM_OPERATIONS = frozenset({"chat", "text_completion", "generate_content"})
RETRIEVAL_OPERATION = "retrieval"
TOOL_OPERATION = "execute_tool"
OPERATION_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
CHOICE_EVENT = "gen_ai.choice"


def first_integer(reader: AttributeReader, *keys: str) -> int | None:
    """The first of `keys` that holds an integer; every present key is marked used (they are synonyms)."""
    found = None
    attributes = reader.attributes
    for key in keys:
        if key in attributes:  # most synonyms are absent: no call for them
            value = reader.integer(key)
            if found is None:
                found = value
    return found


def first_text(reader: AttributeReader, *keys: str) -> str | None:
    """The first of `keys` that holds text; every present key is marked used (they are synonyms)."""
    found = None
    attributes = reader.attributes
    for key in keys:
        if key in attributes:  # most synonyms are absent: no call for them
            value = reader.text(key)
            if found is None and value:
                found = value
    return found


def read_genai(span: Span, reader: AttributeReader, facts: SpanFacts) -> None:
    """Fill `facts` from GenAI attributes and events; leaves fields the span does not state as they are."""
    operation = reader.text(OPERATION)
    facts.request_model = reader.text("gen_ai.request.model")
    facts.response_model = reader.text("gen_ai.response.model")
    facts.provider = first_text(reader, "gen_ai.provider.name", "gen_ai.system")
    facts.input_tokens = first_integer(reader, "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
    facts.output_tokens = first_integer(
        reader, "gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens"
    )
    facts.session_id = reader.text("gen_ai.conversation.id")
    facts.input_messages, facts.output_messages = _messages(span.events, reader)
    if operation == RETRIEVAL_OPERATION:
        facts.role = "retriever"
        facts.input_text = reader.text("gen_ai.retrieval.query.text")
        facts.retrieved = _documents(reader)
    elif operation == TOOL_OPERATION:
        facts.input_text = _any_text(reader, "gen_ai.tool.call.arguments")
        facts.output_text = _any_text(reader, "gen_ai.tool.call.result")
    elif operation in LLM_OPERATIONS or (
        operation is None and (facts.request_model or facts.input_messages or facts.output_messages)
    ):
        # Instrumentations older than `gen_ai.operation.name` still name the model of every call they make.
        facts.role = "llm"


def _any_text(reader: AttributeReader, key: str) -> str | None:
    value = reader.decoded(key, text_allowed=True)  # a tool may take or give plain text
    if value is MISSING or value is None:
        return None
    return value if isinstance(value, str) else to_json_text(value)


def _messages(
    events: list[SpanEvent], reader: AttributeReader
) -> tuple[list[ChatMessage] | None, list[ChatMessage] | None]:
    inputs: list[ChatMessage] = []
    instructions = reader.decoded(SYSTEM_INSTRUCTIONS)
    if instructions is not MISSING:
        inputs.append(instructions_message(instructions, SYSTEM_INSTRUCTIONS, reader))
    value = reader.decoded(INPUT_MESSAGES)
    if value is not MISSING:
        inputs.extend(message_list(value, INPUT_MESSAGES, reader))
    value = reader.decoded(OUTPUT_MESSAGES)
    outputs = message_list(value, OUTPUT_MESSAGES, reader) if value is not MISSING else None
    if events and (not inputs or outputs is None):
        event_inputs, event_outputs = _event_messages(events, reader)
        inputs = inputs or event_inputs
        outputs = outputs if outputs is not None else event_outputs
    return inputs or None, outputs or None


def _event_messages(
    events: list[SpanEvent], reader: AttributeReader
) -> tuple[list[ChatMessage], list[ChatMessage]]:
    inputs: list[ChatMessage] = []
    choices: list[tuple[int, ChatMessage]] = []
    for event in events:
        name = event.name
        if not name.startswith("gen_ai."):
            continue
        if name.endswith(".message"):
            body = reader.as_decoded(name, event.body) if isinstance(event.body, str) else event.body
            inputs.append(structured_message(body or {}, name, reader, role=name[7:-8]))
        elif name == CHOICE_EVENT:
            choices.append(_choice(event, reader, len(choices)))
        elif name == OPERATION_DETAILS_EVENT:
            inputs.extend(_details_inputs(event, reader))
            value = event.attributes.get(OUTPUT_MESSAGES)
            if value is not None:
                choices.extend(enumerate(message_list(reader.as_decoded(name, value), name, reader)))
        elif name == "gen_ai.content.prompt" and "gen_ai.prompt" in event.attributes:
            inputs.extend(
                message_list(reader.as_decoded(name, event.attributes["gen_ai.prompt"]), name, reader)
            )
        elif name == "gen_ai.content.completion" and "gen_ai.completion" in event.attributes:
            value = reader.as_decoded(name, event.attributes["gen_ai.completion"])
            choices.extend(enumerate(message_list(value, name, reader)))
    choices.sort(key=lambda pair: pair[0])
    return inputs, [message for _, message in choices]


def _choice(event: SpanEvent, reader: AttributeReader, position: int) -> tuple[int, ChatMessage]:
    body: Any = reader.as_decoded(CHOICE_EVENT, event.body) if isinstance(event.body, str) else event.body
    if not isinstance(body, dict):
        reader.warn(f"{CHOICE_EVENT}: body is {type(body).__name__}, not an object; kept as text")
        return position, ChatMessage("assistant", "" if body is None else str(body))
    index = body.get("index")
    message = body.get("message")
    # A choice whose content was not captured still says that the model answered: keep it as an empty message.
    chat = structured_message(
        message if isinstance(message, dict) else {}, CHOICE_EVENT, reader, role="assistant"
    )
    return (index if isinstance(index, int) else position), chat


def _details_inputs(event: SpanEvent, reader: AttributeReader) -> list[ChatMessage]:
    where = OPERATION_DETAILS_EVENT
    out = []
    instructions = event.attributes.get(SYSTEM_INSTRUCTIONS)
    if instructions is not None:
        out.append(instructions_message(reader.as_decoded(where, instructions), where, reader))
    value = event.attributes.get(INPUT_MESSAGES)
    if value is not None:
        out.extend(message_list(reader.as_decoded(where, value), where, reader))
    return out


def _documents(reader: AttributeReader) -> list[Passage] | None:
    key = "gen_ai.retrieval.documents"
    value = reader.decoded(key)
    if value is MISSING:
        return None
    if not isinstance(value, (list, tuple)):
        reader.warn(f"{key}: expected a list of documents, got {type(value).__name__}; ignored")
        return None
    passages = []
    for i, doc in enumerate(value):
        if not isinstance(doc, dict):
            reader.warn(f"{key}.{i}: expected an object, got {type(doc).__name__}; ignored")
            continue
        doc_id, content, score = doc.get("id"), doc.get("content"), doc.get("score")
        passages.append(
            Passage(
                document_id=None if doc_id is None else str(doc_id),
                text=None if content is None else reader.as_text(f"{key}.{i}.content", content),
                score=None if score is None else reader.as_number(f"{key}.{i}.score", score),
            )
        )
    return passages
