"""Traceloop's OpenLLMetry attributes read into `SpanFacts`.

OpenLLMetry writes two layers. Its instrumentations (`opentelemetry-instrumentation-openai` 0.62 and later)
put current GenAI names on model-call spans (`gen_ai.input.messages`, `gen_ai.usage.input_tokens`, ...), plus
`gen_ai.usage.total_tokens`; older releases wrote `gen_ai.prompt.{i}.role|content`,
`gen_ai.completion.{i}.role|content|finish_reason|tool_calls.{j}.*`, `gen_ai.usage.prompt_tokens` and
`llm.usage.total_tokens` / `llm.request.type`. The Traceloop SDK adds `traceloop.workflow.name`,
`traceloop.span.kind` (workflow, task, agent, tool), `traceloop.entity.name|input|output` on decorated functions
and `traceloop.association.properties.*` on every span. So the GenAI reader runs first and the Traceloop and
legacy names fill what it left unknown.
"""

from __future__ import annotations

from typing import Any

from tracewatch.importers._attrs import MISSING, AttributeReader, to_json_text
from tracewatch.importers._genai import OPERATION, first_integer, first_text, read_genai
from tracewatch.importers._messages import indexed_messages
from tracewatch.importers._spans import Span, SpanFacts

ASSOCIATION = "traceloop.association.properties."
_PROMPT = "gen_ai.prompt."
_COMPLETION = "gen_ai.completion."
_LLM_REQUEST_TYPES = frozenset({"chat", "completion"})
# Association properties that name a person or a conversation (Traceloop's standard ones, and the common
# spellings teams use), most specific first.
_USER_KEYS = ("user_id", "userId")
_SESSION_KEYS = ("session_id", "sessionId", "conversation_id", "chat_id")


def read_openllmetry(span: Span, reader: AttributeReader, facts: SpanFacts) -> None:
    """Fill `facts` from GenAI names first, then from Traceloop's own and its legacy names."""
    read_genai(span, reader, facts)
    groups = reader.indexed((_PROMPT, _COMPLETION))
    if facts.input_messages is None and groups[_PROMPT]:
        facts.input_messages = indexed_messages(groups[_PROMPT], _PROMPT[:-1], reader)
    if facts.output_messages is None and groups[_COMPLETION]:
        facts.output_messages = indexed_messages(groups[_COMPLETION], _COMPLETION[:-1], reader)
    facts.total_tokens = first_integer(reader, "gen_ai.usage.total_tokens", "llm.usage.total_tokens")
    facts.route = reader.text("traceloop.workflow.name")
    facts.input_text = facts.input_text or _entity_text(
        reader, "traceloop.entity.input", unwrap_arguments=True
    )
    facts.output_text = facts.output_text or _entity_text(
        reader, "traceloop.entity.output", unwrap_arguments=False
    )
    _association_properties(reader, facts)
    # The OpenAI `user` request parameter names the application's end user.
    facts.user_id = facts.user_id or first_text(reader, "gen_ai.user", "llm.user")
    request_type = reader.text("llm.request.type")
    kind = reader.text("traceloop.span.kind")
    if request_type is not None and OPERATION not in reader.attributes:
        # Before `gen_ai.operation.name`, the request type was the only word on what kind of call this was.
        facts.role = "llm" if request_type in _LLM_REQUEST_TYPES else "other"
    elif facts.role == "other" and kind is None and (facts.input_messages or facts.output_messages):
        facts.role = "llm"


def _entity_text(reader: AttributeReader, key: str, *, unwrap_arguments: bool) -> str | None:
    """A decorated function's input or output as text.

    The SDK records inputs as JSON `{"args": [...], "kwargs": {...}}`: a call with one string argument becomes
    that string (what the person asked); anything else stays the JSON text, so nothing is lost.
    """
    raw = reader.attributes.get(key)
    value = reader.decoded(key, text_allowed=True)  # a function may take or return plain text
    if value is MISSING or value is None:
        return None
    if isinstance(value, str):
        return value
    if unwrap_arguments and isinstance(value, dict) and set(value) <= {"args", "kwargs"}:
        args = value.get("args") or []
        kwargs = value.get("kwargs") or {}
        values = [
            *(args if isinstance(args, (list, tuple)) else [args]),
            *(kwargs.values() if isinstance(kwargs, dict) else []),
        ]
        if len(values) == 1 and isinstance(values[0], str):
            return values[0]
    return raw if isinstance(raw, str) else to_json_text(value)


def _association_properties(reader: AttributeReader, facts: SpanFacts) -> None:
    properties: dict[str, Any] = {}
    for key, value in reader.attributes.items():
        if key.startswith(ASSOCIATION):
            reader.used.add(key)
            properties[key[len(ASSOCIATION) :]] = value
    if not properties:
        return
    facts.metadata.update(properties)
    user = next((properties[k] for k in _USER_KEYS if k in properties), None)
    session = next((properties[k] for k in _SESSION_KEYS if k in properties), None)
    if user is not None and facts.user_id is None:
        facts.user_id = str(user)
    if session is not None and facts.session_id is None:
        facts.session_id = str(session)
