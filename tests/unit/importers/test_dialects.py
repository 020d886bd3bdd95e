"""Attribute dialects: hand-built `Span`s shaped exactly as the pinned instrumentations emit them, read into
`SpanFacts`.

Each span mirrors a real emitter's output, cited per test: the attribute sets were captured from
`opentelemetry-instrumentation-openai-v2` 2.4b0, `openinference-instrumentation-openai` 0.1.66 and Traceloop's
`opentelemetry-instrumentation-openai` 0.62.4 instrumenting the real `openai` client (end-to-end runs of those
packages are the importer's integration tests; these stay fast and cover the shapes those runs do not reach:
older names, retrieval, Traceloop's SDK attributes, malformed values).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.importers._dialects import detect_dialect, read_span
from tracewatch.importers._spans import ChatMessage, Passage, Span, SpanEvent

TRACE = "0af7651916cd43dd8448eb211c80319c"


def span(attributes: dict[str, Any], *, events: list[SpanEvent] | None = None, **fields: Any) -> Span:
    defaults: dict[str, Any] = {
        "trace_id": TRACE,
        "span_id": "b7ad6b7169203331",
        "parent_span_id": "00f067aa0ba902b7",
        "name": "chat smol",
        "start_time_unix_nano": 1_700_000_000_000_000_000,
        "end_time_unix_nano": 1_700_000_001_000_000_000,
    }
    return Span(**{**defaults, **fields}, attributes=attributes, events=events or [])


def event(name: str, body: Any = None, **attributes: Any) -> SpanEvent:
    return SpanEvent(name=name, time_unix_nano=None, attributes=attributes, body=body)


def tool_call(call_id: str, name: str, arguments: Any) -> str:
    return json.dumps(
        {"type": "tool_call", "id": call_id, "name": name, "arguments": arguments}, separators=(",", ":")
    )


SYSTEM_AND_USER = [ChatMessage("system", "Be brief."), ChatMessage("user", "Capital of France?")]
ANSWER = [ChatMessage("assistant", "Paris.")]

# ---- OTel GenAI ----------------------------------------------------------------------------------------------


def test_openai_v2_default_mode_reads_content_from_log_events() -> None:
    """openai_v2's default (non-experimental) mode: older `gen_ai.system` on the span, content as log records
    `gen_ai.{role}.message` and `gen_ai.choice` (opentelemetry/instrumentation/openai_v2/utils.py,
    message_to_event / choice_to_event), joined to the span by the decoder."""
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "smol",
                "gen_ai.system": "openai",
                "gen_ai.response.model": "smol-1",
                "gen_ai.response.finish_reasons": ["stop"],
                "gen_ai.response.id": "chatcmpl-1",
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.usage.output_tokens": 3,
            },
            events=[
                event("gen_ai.system.message", {"content": "Be brief."}, **{"gen_ai.system": "openai"}),
                event("gen_ai.user.message", {"content": "Capital of France?"}),
                event(
                    "gen_ai.choice",
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": "Paris."},
                    },
                ),
            ],
        )
    )
    assert (facts.dialect, facts.role) == ("genai", "llm")
    assert (facts.request_model, facts.response_model, facts.provider) == ("smol", "smol-1", "openai")
    assert (facts.input_tokens, facts.output_tokens, facts.total_tokens) == (12, 3, None)
    assert facts.input_messages == SYSTEM_AND_USER
    assert facts.output_messages == ANSWER
    assert facts.attributes_used == {
        "gen_ai.operation.name",
        "gen_ai.request.model",
        "gen_ai.system",
        "gen_ai.response.model",
        "gen_ai.usage.input_tokens",
        "gen_ai.usage.output_tokens",
    }, "finish reasons and the response id are not consumed: they go to metadata"


CURRENT_INPUT = [
    {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
    {
        "role": "assistant",
        "parts": [{"type": "tool_call", "id": "call_1", "name": "weather", "arguments": {"city": "Paris"}}],
    },
    {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1", "response": "rainy, 12C"}]},
]
CURRENT_OUTPUT = [
    {
        "role": "assistant",
        "parts": [{"type": "reasoning", "content": "it rains"}, {"type": "text", "content": "Rainy, 12C."}],
        "finish_reason": "stop",
    }
]
CURRENT_EXPECTED_INPUT = [
    ChatMessage("system", "You are a weather bot."),
    ChatMessage("user", "Weather in Paris?"),
    ChatMessage("assistant", tool_call("call_1", "weather", {"city": "Paris"})),
    ChatMessage("tool", "rainy, 12C"),
]


@pytest.mark.parametrize("encode", [json.dumps, lambda value: value], ids=["json-string", "structured"])
def test_current_genai_message_attributes_as_json_strings_and_as_structured_values(
    encode: Callable[[Any], Any],
) -> None:
    """Current names, as opentelemetry-util-genai writes them on spans (JSON strings, _invocation.py
    `_get_message_attributes(for_span=True)`) and as decoders may hand them over already structured; messages
    and parts per https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/ (gen_ai.input.messages).
    Reasoning parts are not part of the answer."""
    instructions = [{"type": "text", "content": "You are a weather bot."}]
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.conversation.id": "conv-7",
                "gen_ai.system_instructions": encode(instructions),
                "gen_ai.input.messages": encode(CURRENT_INPUT),
                "gen_ai.output.messages": encode(CURRENT_OUTPUT),
            }
        )
    )
    assert facts.input_messages == CURRENT_EXPECTED_INPUT
    assert facts.output_messages == [ChatMessage("assistant", "Rainy, 12C.")]
    assert (facts.provider, facts.session_id, facts.role) == ("openai", "conv-7", "llm")
    assert "gen_ai.system" in facts.attributes_used, "the older synonym is consumed, not left as metadata"
    assert "import_warnings" not in facts.metadata


def test_operation_details_event_carries_structured_messages() -> None:
    """util-genai's EVENT_ONLY mode: `gen_ai.client.inference.operation.details` with structured message
    attributes (_inference_invocation.py `_maybe_create_event`)."""
    details = event(
        "gen_ai.client.inference.operation.details",
        **{"gen_ai.input.messages": CURRENT_INPUT[:1], "gen_ai.output.messages": CURRENT_OUTPUT},
    )
    facts = read_span(
        span({"gen_ai.operation.name": "chat", "gen_ai.provider.name": "openai"}, events=[details])
    )
    assert facts.input_messages == [ChatMessage("user", "Weather in Paris?")]
    assert facts.output_messages == [ChatMessage("assistant", "Rainy, 12C.")]


def test_older_token_names_and_int64_strings() -> None:
    """Pre-1.27 names (`gen_ai.usage.prompt_tokens` / `completion_tokens`); OTLP JSON sends int64 as strings."""
    facts = read_span(
        span(
            {
                "gen_ai.system": "openai",
                "gen_ai.request.model": "gpt-3.5-turbo",
                "gen_ai.usage.prompt_tokens": "120",
                "gen_ai.usage.completion_tokens": 7.0,
            }
        )
    )
    assert (facts.input_tokens, facts.output_tokens, facts.provider) == (120, 7, "openai")
    assert facts.role == "llm", "without gen_ai.operation.name a requested model marks a model call"


def test_event_tool_calls_in_openai_shape_and_choices_in_index_order() -> None:
    """Older events carry OpenAI-shaped tool calls (`{"id", "type", "function": {"name", "arguments"}}`,
    openai_v2 utils.py extract_tool_calls) and one `gen_ai.choice` per choice, possibly out of order."""
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}}
    ]
    facts = read_span(
        span(
            {"gen_ai.operation.name": "chat"},
            events=[
                event("gen_ai.assistant.message", {"tool_calls": calls}),
                event("gen_ai.tool.message", {"content": "snow", "id": "c1"}),
                event("gen_ai.choice", {"index": 1, "finish_reason": "stop", "message": {"content": "B"}}),
                event("gen_ai.choice", {"index": 0, "finish_reason": "stop", "message": {"content": "A"}}),
            ],
        )
    )
    assert facts.input_messages == [
        ChatMessage("assistant", tool_call("c1", "weather", {"city": "Oslo"})),
        ChatMessage("tool", "snow"),
    ]
    assert facts.output_messages == [ChatMessage("assistant", "A"), ChatMessage("assistant", "B")]


def test_oldest_content_events_and_attributes_winning_over_events() -> None:
    """Semconv 1.26 and before: `gen_ai.content.prompt` / `gen_ai.content.completion` span events with a JSON
    `gen_ai.prompt` / `gen_ai.completion` attribute. When a span has message attributes too, they win."""
    old_events = [
        event("gen_ai.content.prompt", **{"gen_ai.prompt": json.dumps([{"role": "user", "content": "Hi"}])}),
        event(
            "gen_ai.content.completion",
            **{"gen_ai.completion": json.dumps([{"role": "assistant", "content": "Yo"}])},
        ),
    ]
    facts = read_span(span({"gen_ai.system": "openai", "gen_ai.request.model": "m"}, events=old_events))
    assert facts.input_messages == [ChatMessage("user", "Hi")]
    assert facts.output_messages == [ChatMessage("assistant", "Yo")]
    both = read_span(
        span(
            {"gen_ai.operation.name": "chat", "gen_ai.input.messages": json.dumps(CURRENT_INPUT[:1])},
            events=old_events,
        )
    )
    assert both.input_messages == [ChatMessage("user", "Weather in Paris?")]
    assert both.output_messages == [ChatMessage("assistant", "Yo")], "each side falls back on its own"


def test_genai_retrieval_operation() -> None:
    """`retrieval` operation with `gen_ai.retrieval.documents` (JSON, objects with id and score, per the
    attribute registry: https://opentelemetry.io/docs/specs/semconv/registry/attributes/gen-ai/)."""
    docs = [{"id": "doc_123", "score": 0.95, "content": "Paris is..."}, {"id": 456, "score": "0.5"}]
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "retrieval",
                "gen_ai.retrieval.query.text": "capital of France",
                "gen_ai.retrieval.documents": json.dumps(docs),
            }
        )
    )
    assert facts.role == "retriever"
    assert facts.input_text == "capital of France"
    assert facts.retrieved == [Passage("doc_123", "Paris is...", 0.95), Passage("456", None, 0.5)]


def test_embeddings_are_read_but_are_not_llm_calls() -> None:
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "embeddings",
                "gen_ai.request.model": "e5",
                "gen_ai.usage.input_tokens": 9,
            }
        )
    )
    assert (facts.role, facts.request_model, facts.input_tokens) == ("other", "e5", 9)


# ---- OpenInference -------------------------------------------------------------------------------------------

OI_CHAT = {
    "llm.system": "openai",
    "input.value": '{"model": "smol", "messages": [{"role": "user", "content": "Capital of France?"}]}',
    "input.mime_type": "application/json",
    "output.value": '{"id":"chatcmpl-1","model":"smol-1"}',
    "output.mime_type": "application/json",
    "llm.invocation_parameters": '{"model": "smol", "temperature": 0.2}',
    "llm.input_messages.0.message.role": "system",
    "llm.input_messages.0.message.content": "Be brief.",
    "llm.input_messages.1.message.role": "user",
    "llm.input_messages.1.message.content": "Capital of France?",
    "llm.model_name": "smol-1",
    "llm.token_count.total": 15,
    "llm.token_count.prompt": 12,
    "llm.token_count.completion": 3,
    "llm.output_messages.0.message.role": "assistant",
    "llm.output_messages.0.message.content": "Paris.",
    "llm.finish_reason": "stop",
    "openinference.span.kind": "LLM",
}


def test_openinference_llm_span() -> None:
    """openinference-instrumentation-openai's chat span (_request_attributes_extractor.py,
    _response_attributes_extractor.py): `llm.model_name` is the responding model, the requested one is in
    `llm.invocation_parameters`; the raw request/response bodies are not the span's text when messages exist."""
    facts = read_span(span(OI_CHAT, name="ChatCompletion"))
    assert (facts.dialect, facts.role) == ("openinference", "llm")
    assert (facts.request_model, facts.response_model, facts.provider) == ("smol", "smol-1", "openai")
    assert (facts.input_tokens, facts.output_tokens, facts.total_tokens) == (12, 3, 15)
    assert facts.input_messages == SYSTEM_AND_USER
    assert facts.output_messages == ANSWER
    assert (facts.input_text, facts.output_text) == (None, None)
    assert {"input.value", "output.value", "llm.input_messages.1.message.content"} <= facts.attributes_used
    assert not {"llm.invocation_parameters", "llm.finish_reason"} & facts.attributes_used


def test_openinference_chain_span_with_session_tags_metadata_and_project() -> None:
    """CHAIN span attributes and the resource project, per the OpenInference spec
    (https://arize-ai.github.io/openinference/spec/semantic_conventions.html)."""
    facts = read_span(
        span(
            {
                "openinference.span.kind": "CHAIN",
                "input.value": "Capital of France?",
                "input.mime_type": "text/plain",
                "output.value": "Paris.",
                "session.id": "s-1",
                "user.id": "u-9",
                "tag.tags": ["prod", "v2"],
                "metadata": '{"tenant": "acme", "ab": 3}',
            },
            parent_span_id=None,
            resource={"openinference.project.name": "support-bot", "service.name": "api"},
        )
    )
    assert (facts.role, facts.input_text, facts.output_text) == ("other", "Capital of France?", "Paris.")
    assert (facts.session_id, facts.user_id, facts.tags) == ("s-1", "u-9", ["prod", "v2"])
    assert facts.project == "support-bot"
    assert facts.metadata == {"tenant": "acme", "ab": 3}, "the project is the dialect's own: no source note"


def test_openinference_retriever_documents_in_index_order() -> None:
    attributes: dict[str, Any] = {"openinference.span.kind": "RETRIEVER", "input.value": "q"}
    for i in (0, 1, 10):
        attributes[f"retrieval.documents.{i}.document.id"] = f"d{i}"
        attributes[f"retrieval.documents.{i}.document.content"] = f"text {i}"
        attributes[f"retrieval.documents.{i}.document.score"] = i / 10
    attributes["retrieval.documents.1.document.metadata"] = '{"page": 2}'
    facts = read_span(span(attributes))
    assert facts.role == "retriever"
    assert facts.retrieved == [
        Passage("d0", "text 0", 0.0),
        Passage("d1", "text 1", 0.1),
        Passage("d10", "text 10", 1.0),
    ]
    assert "retrieval.documents.1.document.metadata" in facts.attributes_used
    assert facts.input_text == "q"


def test_openinference_content_parts_tool_calls_and_cost() -> None:
    """Multi-part content (`message.contents.{j}.message_content.*`) and tool calls
    (`message.tool_calls.{j}.tool_call.*`) as the OpenAI instrumentor flattens them; `llm.cost.*`."""
    facts = read_span(
        span(
            {
                "openinference.span.kind": "LLM",
                "llm.input_messages.0.message.role": "user",
                "llm.input_messages.0.message.contents.0.message_content.type": "text",
                "llm.input_messages.0.message.contents.0.message_content.text": "What is this?",
                "llm.input_messages.0.message.contents.1.message_content.type": "image",
                "llm.input_messages.0.message.contents.1.message_content.image.image.url": "https://x/cat.png",
                "llm.output_messages.0.message.role": "assistant",
                # Exporters do not promise attribute order: the second call arrives first.
                "llm.output_messages.0.message.tool_calls.1.tool_call.id": "call_10",
                "llm.output_messages.0.message.tool_calls.1.tool_call.function.name": "lookup",
                "llm.output_messages.0.message.tool_calls.1.tool_call.function.arguments": "not json",
                "llm.output_messages.0.message.tool_calls.0.tool_call.id": "call_9",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "cat"}',
                "llm.cost.prompt": 0.001,
                "llm.cost.completion": 0.002,
            }
        )
    )
    image = json.dumps({"type": "image", "image.image.url": "https://x/cat.png"}, separators=(",", ":"))
    assert facts.input_messages == [ChatMessage("user", f"What is this?\n{image}")]
    calls = f"{tool_call('call_9', 'lookup', {'q': 'cat'})}\n{tool_call('call_10', 'lookup', 'not json')}"
    assert facts.output_messages == [ChatMessage("assistant", calls)]
    assert facts.cost_usd == 0.003


def test_openinference_cost_total_wins_and_half_a_cost_is_unknown() -> None:
    both = read_span(span({"openinference.span.kind": "LLM", "llm.cost.total": 0.5, "llm.cost.prompt": 0.1}))
    half = read_span(span({"openinference.span.kind": "LLM", "llm.cost.prompt": 0.1}))
    assert (both.cost_usd, half.cost_usd) == (0.5, None)


def test_phoenix_structured_messages_and_legacy_prompts() -> None:
    """Phoenix span frames hold `attributes.llm.input_messages` as a list of `{"message.role", ...}` objects;
    completion-style calls use `llm.prompts` / `llm.choices.{i}.completion.text`."""
    facts = read_span(
        span(
            {
                "openinference.span.kind": "LLM",
                "llm.input_messages": [
                    {"message.role": "system", "message.content": "Be brief."},
                    {"message": {"role": "user", "content": "Capital of France?"}},
                ],
                "llm.choices.0.completion.text": "Paris.",
            }
        )
    )
    assert facts.input_messages == SYSTEM_AND_USER
    assert facts.output_messages == ANSWER
    legacy = read_span(span({"openinference.span.kind": "LLM", "llm.prompts": ["Say hi"]}))
    assert legacy.input_messages == [ChatMessage("user", "Say hi")]


# ---- OpenLLMetry ---------------------------------------------------------------------------------------------


def test_traceloop_current_llm_span_reads_genai_names_plus_total() -> None:
    """Traceloop's opentelemetry-instrumentation-openai 0.62.4 chat span (shared/chat_wrappers.py
    `_set_input_messages`, shared/__init__.py `_set_request_attributes`)."""
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.provider.name": "openai",
                "gen_ai.request.model": "smol",
                "gen_ai.is_streaming": False,
                "gen_ai.openai.api_base": "http://localhost:9/v1/",
                "gen_ai.input.messages": json.dumps(
                    [
                        {"role": "system", "parts": [{"content": "Be brief.", "type": "text"}]},
                        {"role": "user", "parts": [{"content": "Capital of France?", "type": "text"}]},
                    ]
                ),
                "gen_ai.response.model": "smol-1",
                "gen_ai.usage.total_tokens": 15,
                "gen_ai.usage.output_tokens": 3,
                "gen_ai.usage.input_tokens": 12,
                "gen_ai.output.messages": json.dumps(
                    [
                        {
                            "role": "assistant",
                            "parts": [{"content": "Paris.", "type": "text"}],
                            "finish_reason": "stop",
                        }
                    ]
                ),
            },
            name="openai.chat",
        )
    )
    assert (facts.dialect, facts.role) == ("openllmetry", "llm")
    assert (facts.input_tokens, facts.output_tokens, facts.total_tokens) == (12, 3, 15)
    assert (facts.input_messages, facts.output_messages) == (SYSTEM_AND_USER, ANSWER)


def test_traceloop_legacy_indexed_prompt_and_completion() -> None:
    """Pre-0.50 OpenLLMetry attributes (`gen_ai.prompt.{i}.*`, `gen_ai.completion.{i}.*`, `llm.request.type`,
    `llm.usage.total_tokens`; opentelemetry-semantic-conventions-ai SpanAttributes). Traceloop writes list
    content as a JSON string; `gen_ai.prompt.prompt_filter_results` is not a message."""
    facts = read_span(
        span(
            {
                "llm.request.type": "chat",
                "gen_ai.system": "OpenAI",
                "gen_ai.request.model": "gpt-4o",
                "gen_ai.prompt.0.role": "user",
                "gen_ai.prompt.0.content": json.dumps([{"type": "text", "text": "Capital of France?"}]),
                "gen_ai.prompt.prompt_filter_results": "[]",
                "gen_ai.completion.0.role": "assistant",
                "gen_ai.completion.0.content": "Paris.",
                "gen_ai.completion.0.finish_reason": "stop",
                "gen_ai.completion.1.role": "assistant",
                "gen_ai.completion.1.tool_calls.0.id": "c1",
                "gen_ai.completion.1.tool_calls.0.name": "lookup",
                "gen_ai.completion.1.tool_calls.0.arguments": '{"q": "x"}',
                "gen_ai.usage.prompt_tokens": 12,
                "gen_ai.usage.completion_tokens": 3,
                "llm.usage.total_tokens": 15,
            }
        )
    )
    assert (facts.dialect, facts.role) == ("openllmetry", "llm")
    assert facts.input_messages == [ChatMessage("user", "Capital of France?")]
    assert facts.output_messages == [
        ChatMessage("assistant", "Paris."),
        ChatMessage("assistant", tool_call("c1", "lookup", {"q": "x"})),
    ]
    assert (facts.input_tokens, facts.output_tokens, facts.total_tokens) == (12, 3, 15)
    assert "gen_ai.prompt.prompt_filter_results" not in facts.attributes_used


def test_traceloop_workflow_span_with_entity_io_and_association_properties() -> None:
    """Traceloop SDK workflow span: `traceloop.entity.input` is `{"args": [...], "kwargs": {...}}` JSON, the
    output the JSON of the return value; association properties go to metadata, user_id / session_id to the
    person and conversation (https://www.traceloop.com/docs/openllmetry/tracing/association)."""
    facts = read_span(
        span(
            {
                "traceloop.span.kind": "workflow",
                "traceloop.workflow.name": "answer_question",
                "traceloop.entity.name": "answer_question",
                "traceloop.entity.input": json.dumps({"args": ["Capital of France?"], "kwargs": {}}),
                "traceloop.entity.output": json.dumps("Paris."),
                "traceloop.association.properties.user_id": "u-1",
                "traceloop.association.properties.session_id": "s-1",
                "traceloop.association.properties.tenant": "acme",
            },
            parent_span_id=None,
        )
    )
    assert (facts.dialect, facts.role, facts.route) == ("openllmetry", "other", "answer_question")
    assert (facts.input_text, facts.output_text) == ("Capital of France?", "Paris.")
    assert (facts.user_id, facts.session_id) == ("u-1", "s-1")
    assert facts.metadata == {"user_id": "u-1", "session_id": "s-1", "tenant": "acme"}
    assert "traceloop.entity.name" not in facts.attributes_used
    several = read_span(span({"traceloop.entity.input": json.dumps({"args": ["a", 2], "kwargs": {}})}))
    assert several.input_text == json.dumps({"args": ["a", 2], "kwargs": {}}), (
        "kept whole when not one string"
    )


def test_association_properties_alone_mark_openllmetry_and_legacy_embeddings_are_not_llm() -> None:
    assert detect_dialect(span({"traceloop.association.properties.chat_id": "c"})) == "openllmetry"
    embedding = read_span(span({"llm.request.type": "embedding", "gen_ai.request.model": "ada"}))
    assert (embedding.dialect, embedding.role) == ("openllmetry", "other")


# ---- detection, shared fields, errors ------------------------------------------------------------------------


def test_openinference_kind_wins_over_genai_names() -> None:
    both = span({"openinference.span.kind": "LLM", "gen_ai.request.model": "m", "llm.model_name": "n"})
    assert detect_dialect(both) == "openinference"
    assert detect_dialect(span({"http.method": "GET"})) == "none"
    assert detect_dialect(span({}, events=[event("gen_ai.user.message", {"content": "hi"})])) == "genai"


def test_server_span_route_user_and_service_project() -> None:
    """A plain HTTP server root: the route is `http.route` there only; `service.name` names the project as a
    fallback (and the SDK's `unknown_service:*` default names none)."""
    root = read_span(
        span(
            {"http.route": "/chat", "enduser.id": "u-3", "session.id": "s-3"},
            kind=2,
            resource={"service.name": "chat-api"},
        )
    )
    assert (root.dialect, root.role, root.route) == ("none", "other", "/chat")
    assert (root.user_id, root.session_id, root.project) == ("u-3", "s-3", "chat-api")
    assert root.metadata == {"project_source": "service.name"}
    child = read_span(
        span({"http.route": "/inner"}, kind=3, resource={"service.name": "unknown_service:python"})
    )
    assert (child.route, child.project) == (None, None)
    assert "http.route" not in child.attributes_used


def test_errors_from_status_error_type_and_exception_event() -> None:
    """openai_v2 sets `error.type` and the status; OpenInference records an `exception` event
    (https://opentelemetry.io/docs/specs/semconv/exceptions/exceptions-spans/)."""
    genai = read_span(
        span(
            {"gen_ai.operation.name": "chat", "error.type": "BadRequestError"},
            status="error",
            status_message="400",
        )
    )
    assert (genai.status, genai.error_type, genai.error_message) == ("error", "BadRequestError", "400")
    exception = event(
        "exception", **{"exception.type": "openai.BadRequestError", "exception.message": "bad model"}
    )
    oi = read_span(span({"openinference.span.kind": "LLM"}, status="error", events=[exception]))
    assert (oi.status, oi.error_type, oi.error_message) == ("error", "openai.BadRequestError", "bad model")
    unset = read_span(span({"error.type": "timeout"}))
    assert unset.status == "error", "error.type is only set on failure, even if the status was lost"


# ---- malformed input -----------------------------------------------------------------------------------------


def test_message_attribute_that_is_not_json_is_kept_as_text_with_a_warning() -> None:
    facts = read_span(span({"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[{'role': 'user'"}))
    assert facts.input_messages == [ChatMessage("unknown", "[{'role': 'user'")]
    (warning,) = facts.metadata["import_warnings"]
    assert warning.startswith("gen_ai.input.messages: not valid JSON")


def test_missing_roles_non_string_content_and_bad_numbers_are_kept_and_reported() -> None:
    messages = [{"parts": [{"type": "text", "content": 42}]}, {"role": "user", "content": 7}, "loose text"]
    facts = read_span(
        span(
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.input.messages": json.dumps(messages),
                "gen_ai.usage.input_tokens": "many",
                "gen_ai.request.model": 5,
            }
        )
    )
    assert facts.input_messages == [
        ChatMessage("unknown", "42"),
        ChatMessage("user", "7"),
        ChatMessage("unknown", "loose text"),
    ]
    assert (facts.input_tokens, facts.request_model) == (None, "5")
    warnings = facts.metadata["import_warnings"]
    assert len(warnings) == 6, warnings
    assert any("without a role" in w for w in warnings) and any("expected an integer" in w for w in warnings)


def test_openinference_metadata_that_is_not_an_object() -> None:
    facts = read_span(span({"openinference.span.kind": "CHAIN", "metadata": "{broken"}))
    assert facts.metadata["metadata"] == "{broken"
    assert facts.metadata["import_warnings"][0].startswith("metadata: not valid JSON")


_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20) | st.binary(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=8,
)
_KEYS = st.sampled_from(
    [
        "gen_ai.operation.name",
        "gen_ai.input.messages",
        "gen_ai.output.messages",
        "gen_ai.system_instructions",
        "gen_ai.usage.input_tokens",
        "gen_ai.retrieval.documents",
        "gen_ai.prompt.0.content",
        "gen_ai.prompt.0.role",
        "openinference.span.kind",
        "llm.input_messages",
        "llm.input_messages.0.message.content",
        "llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments",
        "retrieval.documents.0.document.score",
        "llm.cost.total",
        "tag.tags",
        "metadata",
        "traceloop.entity.input",
        "traceloop.association.properties.user_id",
        "error.type",
        "http.route",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_KEYS, _VALUES, max_size=8), _VALUES)
def test_no_attribute_value_makes_reading_fail(attributes: dict[str, Any], body: Any) -> None:
    """Whatever a key holds, the span is read: problems become warnings (strings), never exceptions."""
    facts = read_span(
        span(attributes, events=[event("gen_ai.choice", body), event("gen_ai.user.message", body)])
    )
    assert facts.attributes_used <= set(attributes)
    assert all(isinstance(w, str) for w in facts.metadata.get("import_warnings", []))
    for message in (facts.input_messages or []) + (facts.output_messages or []):
        assert isinstance(message.role, str) and isinstance(message.content, str)


@pytest.mark.parametrize(
    "key", ["gen_ai.prompt.².role", "llm.input_messages.².message.role", "retrieval.documents.٣.document.id"]
)
def test_an_index_of_unicode_digits_is_not_read_as_a_position(key: str) -> None:
    # "²".isdigit() is true but int("²") raises; "٣" is a digit int() reads. Neither is an exporter's index:
    # the key stays unread, and reading the span never raises.
    marker = (
        {"openinference.span.kind": "LLM"} if not key.startswith("gen_ai") else {"llm.request.type": "chat"}
    )
    facts = read_span(span({**marker, key: "user"}))
    assert facts.input_messages is None and facts.retrieved is None
    assert key not in facts.attributes_used


@pytest.mark.parametrize(
    ("attributes", "field", "text"),
    [
        (
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.result": "Rainy, 57°F"},
            "output_text",
            "Rainy, 57°F",
        ),
        (
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.arguments": "Paris"},
            "input_text",
            "Paris",
        ),
        (
            {"traceloop.span.kind": "tool", "traceloop.entity.output": "the answer"},
            "output_text",
            "the answer",
        ),
        (
            {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.call.result": '{"t": 57}'},
            "output_text",
            '{"t":57}',
        ),
    ],
)
def test_plain_text_where_the_conventions_allow_it_is_kept_without_a_warning(
    attributes: dict[str, Any], field: str, text: str
) -> None:
    # A tool's result may be any value, plain text included (the GenAI conventions' own example is "Rainy, 57°F"):
    # a warning on every such span would bury the real problems in import_warnings.
    facts = read_span(span(attributes))
    assert getattr(facts, field) == text
    assert "import_warnings" not in facts.metadata
