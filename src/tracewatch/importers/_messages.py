"""Model-call messages flattened to text, whatever shape they arrived in.

Every vocabulary ends in the same `ChatMessage(role, content)`: text parts are joined with newlines, a tool call
becomes one compact JSON object `{"type": "tool_call", "id", "name", "arguments"}` (arguments decoded when they
are a JSON string), so the same call reads the same in every dialect. Reasoning parts are left out of the content:
they are not the answer a person saw, and scoring compares answers. Binary parts keep their type and MIME type,
never their bytes.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from tracewatch.importers._attrs import AttributeReader, sub_indexed, to_json_text
from tracewatch.importers._spans import ChatMessage

UNKNOWN_ROLE = "unknown"
_TEXT_PARTS = frozenset({"text", "refusal", "input_text", "output_text"})
_SKIPPED_PARTS = frozenset({"reasoning", "thinking"})
_BINARY_PARTS = frozenset({"blob", "image", "audio", "input_audio"})


def tool_call_text(call_id: Any, name: Any, arguments: Any) -> str:
    """One tool call as the canonical JSON object shared by all dialects."""
    if isinstance(arguments, str):
        # Arguments that are not JSON are kept as the string the model produced.
        with contextlib.suppress(orjson.JSONDecodeError):
            arguments = orjson.loads(arguments)
    return to_json_text({"type": "tool_call", "id": call_id, "name": name, "arguments": arguments})


def _part_text(part: Any, where: str, reader: AttributeReader) -> str | None:
    if isinstance(part, str):
        return part
    if not isinstance(part, dict):
        reader.warn(f"{where}: a message part that is not an object ({type(part).__name__}); kept as text")
        return str(part)
    kind = part.get("type")
    if kind in _TEXT_PARTS or (kind is None and ("content" in part or "text" in part)):
        # GenAI parts hold `content`; OpenAI content blocks (as older events carry them) hold `text`.
        value = part.get("content", part.get("text"))
        return reader.as_text(where, value)
    if kind == "tool_call":
        return tool_call_text(part.get("id"), part.get("name"), part.get("arguments"))
    if kind == "tool_call_response":
        response = part.get("response")
        return response if isinstance(response, str) else to_json_text(response)
    if kind in _SKIPPED_PARTS:
        return None
    if kind in _BINARY_PARTS:
        return to_json_text({k: v for k, v in part.items() if k not in ("content", "data")})
    return to_json_text(part)


def content_text(content: Any, where: str, reader: AttributeReader) -> str:
    """A message's content as text: a string, a list of parts or content blocks, or (with a warning) anything
    else converted rather than dropped."""
    if isinstance(content, str):
        return content
    if content is None:
        return ""
    if isinstance(content, (list, tuple)):
        texts = []
        for i, part in enumerate(content):
            # The common case, a GenAI text part, skips the general dispatch (1M spans: it adds up).
            if type(part) is dict and part.get("type") == "text" and type(text := part.get("content")) is str:
                text_or_none: str | None = text
            else:
                text_or_none = _part_text(part, f"{where}.{i}", reader)
            if text_or_none:
                texts.append(text_or_none)
        return texts[0] if len(texts) == 1 else "\n".join(texts)
    if isinstance(content, dict):
        return _part_text(content, where, reader) or ""
    reader.warn(f"{where}: content is {type(content).__name__}, not text; converted")
    return str(content)


def _role(value: Any, where: str, reader: AttributeReader) -> str:
    if isinstance(value, str) and value:
        return value
    reader.warn(f"{where}: message without a role; role set to {UNKNOWN_ROLE!r}")
    return UNKNOWN_ROLE


def _openai_tool_calls(calls: Any) -> list[str]:
    """OpenAI-shaped tool calls (`{"id", "function": {"name", "arguments"}}`), as older GenAI events carry them."""
    if not isinstance(calls, (list, tuple)):
        return []
    out = []
    for call in calls:
        if isinstance(call, dict):
            nested = call.get("function")
            function: dict[str, Any] = nested if isinstance(nested, dict) else call
            out.append(tool_call_text(call.get("id"), function.get("name"), function.get("arguments")))
    return out


def structured_message(
    message: Any, where: str, reader: AttributeReader, role: str | None = None
) -> ChatMessage:
    """A message object: GenAI `{"role", "parts"}`, or the older `{"role", "content", "tool_calls"}` shape.

    `role` is the role the container states (an event's name) when the object itself may not repeat it.
    """
    if not isinstance(message, dict):
        reader.warn(f"{where}: a message that is not an object ({type(message).__name__}); kept as text")
        return ChatMessage(role or UNKNOWN_ROLE, content_text(message, where, reader))
    stated = message.get("role")
    role = _role(stated, where, reader) if stated is not None or role is None else role
    parts = message.get("parts")
    content = message.get("content")
    calls = message.get("tool_calls")
    if content is None and calls is None:  # the GenAI shape: parts only
        return ChatMessage(role, content_text(parts, f"{where}.parts", reader))
    pieces = [
        content_text(parts, f"{where}.parts", reader),
        content_text(content, f"{where}.content", reader),
        *_openai_tool_calls(calls),
    ]
    return ChatMessage(role, "\n".join(p for p in pieces if p))


def message_list(value: Any, where: str, reader: AttributeReader) -> list[ChatMessage]:
    """A decoded message list (`gen_ai.input.messages` and friends). A string that was not JSON is kept as one
    message of unknown role, so the text survives; the decoder has already warned about it."""
    if isinstance(value, str):
        return [ChatMessage(UNKNOWN_ROLE, value)]
    if isinstance(value, dict):
        value = [value]
    if not isinstance(value, (list, tuple)):
        reader.warn(f"{where}: expected a list of messages, got {type(value).__name__}; kept as text")
        return [ChatMessage(UNKNOWN_ROLE, str(value))]
    return [
        _plain_message(item) or structured_message(item, f"{where}.{i}", reader)
        for i, item in enumerate(value)
    ]


def _plain_message(item: Any) -> ChatMessage | None:
    """The common message, `{"role": ..., "parts": [{"type": "text", "content": ...}]}`, without building the
    `where` of its warnings (it has none); None for every other shape, which `structured_message` reads."""
    if type(item) is not dict or len(item) != 2:
        return None
    role, parts = item.get("role"), item.get("parts")
    if type(role) is not str or not role or type(parts) is not list or len(parts) != 1:
        return None
    part = parts[0]
    if type(part) is dict and part.get("type") == "text" and type(text := part.get("content")) is str:
        return ChatMessage(role, text)
    return None


def instructions_message(value: Any, where: str, reader: AttributeReader) -> ChatMessage:
    """`gen_ai.system_instructions`: a list of parts (not of messages), which becomes one system message."""
    return ChatMessage("system", content_text(value, where, reader))


def indexed_messages(
    groups: dict[int, dict[str, Any]],
    where: str,
    reader: AttributeReader,
    *,
    prefix: str = "",
) -> list[ChatMessage]:
    """Messages flattened into `{where}.{i}.{prefix}{field}` attributes (OpenInference with prefix `message.`,
    OpenLLMetry's legacy `gen_ai.prompt.{i}.*` with none), in index order.

    Understands role, content (a string, or a JSON list of parts as Traceloop writes multi-part content),
    OpenInference `contents.{j}.message_content.*`, and tool calls in both vocabularies.
    """
    role_key, content_key = f"{prefix}role", f"{prefix}content"
    messages = []
    for index in sorted(groups):
        fields = groups[index]
        at = f"{where}.{index}"
        role = _role(fields.get(role_key), at, reader)
        content = fields.get(content_key)
        if isinstance(content, str) and content.startswith("[{"):
            content = reader.as_decoded(f"{at}.{content_key}", content)
        text = content_text(content, f"{at}.{content_key}", reader)
        if len(fields) > (role_key in fields) + (content_key in fields):  # more than role and content
            text = "\n".join(p for p in (text, *_indexed_extras(fields, at, prefix, reader)) if p)
        messages.append(ChatMessage(role, text))
    return messages


def _indexed_extras(fields: dict[str, Any], at: str, prefix: str, reader: AttributeReader) -> list[str]:
    """A flattened message's content parts and tool calls, as text pieces in index order."""
    pieces = []
    for j, part in sorted(sub_indexed(fields, f"{prefix}contents.").items()):
        part_text = _indexed_content(part, f"{at}.{prefix}contents.{j}", reader)
        if part_text:
            pieces.append(part_text)
    for _, call in sorted(sub_indexed(fields, f"{prefix}tool_calls.").items()):
        pieces.append(_indexed_tool_call(call))
    name = fields.get(f"{prefix}function_call_name")
    if name is not None:
        pieces.append(tool_call_text(None, name, fields.get(f"{prefix}function_call_arguments_json")))
    return pieces


def _indexed_content(part: dict[str, Any], where: str, reader: AttributeReader) -> str | None:
    # OpenInference: message_content.type is text or image; image parts hold message_content.image.image.url.
    if "message_content.text" in part:
        return reader.as_text(where, part["message_content.text"])
    kind = part.get("message_content.type")
    rest = {k.removeprefix("message_content."): v for k, v in part.items() if k != "message_content.type"}
    return to_json_text({"type": kind, **rest}) if rest or kind else None


def _indexed_tool_call(call: dict[str, Any]) -> str:
    if "tool_call.function.name" in call:  # OpenInference
        return tool_call_text(
            call.get("tool_call.id"),
            call.get("tool_call.function.name"),
            call.get("tool_call.function.arguments"),
        )
    return tool_call_text(call.get("id"), call.get("name"), call.get("arguments"))  # OpenLLMetry legacy
