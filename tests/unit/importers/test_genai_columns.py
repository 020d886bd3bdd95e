"""The columnar GenAI and OpenLLMetry readers against today's: for every span a row marks exact, the facts
`read_genai` / `read_openllmetry` alone set on a fresh `SpanFacts` (through `facts_to_frame`, floats bit for bit)
with no warning; any other span falls back.

Spans: the captured instrumentations' (tests/fixtures/otlp), the import benchmark's, hand-made ones for every
fallback rule (each states whether it must be exact) and random ones (hypothesis) built around the keys the
readers read.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from tests.support.fact_columns import bench_requests, columns_of, fixture_names, fixture_request
from tests.support.otlp_requests import key_values, span_message, trace_request
from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import json_string
from tracewatch.importers._dialects import blank_facts, detect_dialect
from tracewatch.importers._fact_frame import facts_to_frame, span_view
from tracewatch.importers._genai import read_genai
from tracewatch.importers._genai_columns import FACT_COLUMNS as GENAI_COLUMNS
from tracewatch.importers._genai_columns import OUTPUT_SCHEMA as GENAI_SCHEMA
from tracewatch.importers._genai_columns import genai_facts
from tracewatch.importers._openllmetry import read_openllmetry
from tracewatch.importers._openllmetry_columns import FACT_COLUMNS as OPENLLMETRY_COLUMNS
from tracewatch.importers._openllmetry_columns import OUTPUT_SCHEMA as OPENLLMETRY_SCHEMA
from tracewatch.importers._openllmetry_columns import openllmetry_facts
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns
from tracewatch.importers._spans import Span, SpanFacts

_READERS: dict[str, tuple[Callable[..., pl.DataFrame], Callable[..., None], tuple[str, ...], pl.Schema]] = {
    "genai": (genai_facts, read_genai, GENAI_COLUMNS, GENAI_SCHEMA),
    "openllmetry": (openllmetry_facts, read_openllmetry, OPENLLMETRY_COLUMNS, OPENLLMETRY_SCHEMA),
}


def _canon(value: Any) -> Any:
    """Strict equality: floats as their bits (NaN, -0.0), nested values item by item."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, list):
        return [_canon(v) for v in value]
    if isinstance(value, dict):
        return [(k, _canon(v)) for k, v in value.items()]
    return value


def _alone(span: Span, read: Callable[..., None]) -> tuple[SpanFacts, list[str]]:
    """What the dialect reader alone sets on a fresh `SpanFacts`, and its warnings."""
    facts = blank_facts(span)
    reader = AttributeReader(span.attributes)
    read(span, reader, facts)
    return facts, reader.warnings


def _check(cols: SpanColumns, dialect: str, rows: list[int] | None = None) -> list[tuple[bool, bool]]:
    """Reads the `dialect` spans of `cols` (or `rows`) in columns and checks every exact row against today's;
    per span: (exact, today silent)."""
    columnar, read, columns, schema = _READERS[dialect]
    spans = spans_from_columns(cols)
    if rows is None:
        rows = [i for i, span in enumerate(spans) if detect_dialect(span) == dialect]
    found = columnar(span_view(cols, rows))
    assert found.schema == schema
    assert found["span_index"].to_list() == rows
    out = []
    for row, (index, exact) in zip(
        found.select(columns).iter_rows(named=True), zip(rows, found["exact"], strict=True), strict=True
    ):
        if not exact:
            out.append((False, False))  # today's may warn or even raise: the row is read by Python
            continue
        facts, warnings = _alone(spans[index], read)
        assert not warnings, (spans[index].attributes, warnings)
        expected = facts_to_frame([facts]).select(columns).row(0, named=True)
        assert _canon(row) == _canon(expected), (spans[index].attributes, row, expected)
        out.append((True, True))
    return out


def _silent(cols: SpanColumns, rows: list[int], dialect: str) -> list[bool]:
    read = _READERS[dialect][1]
    spans = spans_from_columns(cols)
    return [not _alone(spans[i], read)[1] for i in rows]


# Real instrumentations and the benchmark --------------------------------------------------------------------


@pytest.mark.parametrize("name", fixture_names())
def test_the_real_instrumentations_spans_are_all_exact(name: str) -> None:
    cols = columns_of(fixture_request(name))
    results = [r for dialect in _READERS for r in _check(cols, dialect)]
    assert all(exact for exact, _ in results)


def test_the_benchmarks_spans_are_exact_unless_today_warns() -> None:
    counts = {"genai": [0, 0], "openllmetry": [0, 0]}
    for request in bench_requests(100):
        cols = columns_of(request)
        spans = spans_from_columns(cols)
        for dialect in _READERS:
            rows = [i for i, span in enumerate(spans) if detect_dialect(span) == dialect]
            exact = [e for e, _ in _check(cols, dialect, rows)]
            # every span today reads without a warning is mapped in columns; the others are its warnings
            assert exact == _silent(cols, rows, dialect)
            counts[dialect][0] += sum(exact)
            counts[dialect][1] += len(exact)
    for exact, spans in counts.values():
        assert spans and exact >= 0.7 * spans


def test_rows_come_in_the_views_order() -> None:
    cols = columns_of(bench_requests(50)[0])
    spans = spans_from_columns(cols)
    for dialect in _READERS:
        rows = [i for i, span in enumerate(spans) if detect_dialect(span) == dialect][::-1]
        assert len(rows) > 5
        _check(cols, dialect, rows)
        assert _check(cols, dialect, []) == []


# Hand-made spans: every rule ------------------------------------------------------------------------------------

_MESSAGES = orjson.dumps([{"role": "user", "parts": [{"type": "text", "content": 'Hi "there"\n'}]}]).decode()
_ANSWER = orjson.dumps([{"role": "assistant", "parts": [{"type": "text", "content": "Hello"}]}]).decode()
_TOOL_CALL = orjson.dumps(
    [
        {
            "role": "assistant",
            "parts": [{"type": "tool_call", "id": "c1", "name": "f", "arguments": '{"a": 1}'}],
        }
    ]
).decode()
_DOCS = orjson.dumps([{"id": 7, "content": "c", "score": 1}, {"id": "d", "score": "0.5"}]).decode()
_CHAT = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
_RETRIEVAL = {"gen_ai.operation.name": "retrieval"}
_TOOL = {"gen_ai.operation.name": "execute_tool"}
_TL = {"traceloop.span.kind": "task"}
_P = "traceloop.association.properties."
_EXACT, _FALLBACK = True, False

GENAI_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("a chat", {**_CHAT, "gen_ai.input.messages": _MESSAGES, "gen_ai.output.messages": _ANSWER}, _EXACT),
    ("an operation that is not text", {"gen_ai.operation.name": 3}, _FALLBACK),
    ("an operation without a value", {"gen_ai.operation.name": None, "gen_ai.request.model": "m"}, _EXACT),
    ("an empty model", {"gen_ai.request.model": "", "gen_ai.response.model": ""}, _EXACT),
    ("a model that is a bool", {"gen_ai.request.model": True}, _FALLBACK),
    ("a response model as bytes", {"gen_ai.response.model": b"m"}, _FALLBACK),
    ("an empty provider, then the system", {"gen_ai.provider.name": "", "gen_ai.system": "openai"}, _EXACT),
    ("a provider without a value", {"gen_ai.provider.name": None, "gen_ai.system": "x"}, _EXACT),
    ("a system that is a list", {"gen_ai.provider.name": "p", "gen_ai.system": ["x"]}, _FALLBACK),
    ("the older token names", {"gen_ai.usage.prompt_tokens": 0, "gen_ai.usage.completion_tokens": 2}, _EXACT),
    ("both token names", {"gen_ai.usage.input_tokens": 5, "gen_ai.usage.prompt_tokens": 9}, _EXACT),
    ("tokens as a numeric string", {"gen_ai.usage.input_tokens": "15"}, _FALLBACK),
    ("tokens as an integral float", {"gen_ai.usage.output_tokens": 15.0}, _FALLBACK),
    ("tokens without a value", {"gen_ai.usage.output_tokens": None}, _FALLBACK),
    ("a synonym that is odd", {"gen_ai.usage.input_tokens": 1, "gen_ai.usage.prompt_tokens": "x"}, _FALLBACK),
    ("an extreme count", {"gen_ai.usage.input_tokens": -(2**63)}, _EXACT),
    ("a conversation", {"gen_ai.conversation.id": "c-1", "gen_ai.operation.name": "embeddings"}, _EXACT),
    ("a conversation that is an int", {"gen_ai.conversation.id": 5}, _FALLBACK),
    ("messages that are not JSON", {**_CHAT, "gen_ai.input.messages": "hello"}, _FALLBACK),
    (
        "structured messages",
        {"gen_ai.input.messages": [{"role": "user", "parts": [{"type": "text", "content": "q"}]}]},
        _EXACT,
    ),
    ("no messages", {"gen_ai.input.messages": "[]", "gen_ai.output.messages": "null"}, _FALLBACK),
    ("empty message lists", {"gen_ai.input.messages": "[]", "gen_ai.output.messages": "[]"}, _EXACT),
    ("one message, not a list", {"gen_ai.output.messages": '{"role": "assistant", "content": "x"}'}, _EXACT),
    ("a message without a role", {"gen_ai.input.messages": '[{"parts": []}]'}, _FALLBACK),
    (
        "instructions and a tool call",
        {
            "gen_ai.system_instructions": '[{"type": "text", "content": "Be brief"}]',
            "gen_ai.output.messages": _TOOL_CALL,
        },
        _EXACT,
    ),
    ("instructions alone", {"gen_ai.system_instructions": "[]"}, _EXACT),
    ("a part that is a number", {"gen_ai.input.messages": '[{"role": "user", "parts": [1]}]'}, _FALLBACK),
    (
        "a retrieval",
        {**_RETRIEVAL, "gen_ai.retrieval.query.text": "q", "gen_ai.retrieval.documents": _DOCS},
        _EXACT,
    ),
    ("a retrieval without documents", {**_RETRIEVAL}, _EXACT),
    ("a query that is an int", {**_RETRIEVAL, "gen_ai.retrieval.query.text": 1}, _FALLBACK),
    ("a query on another operation", {**_CHAT, "gen_ai.retrieval.query.text": 1}, _EXACT),
    ("documents that are not JSON", {**_RETRIEVAL, "gen_ai.retrieval.documents": "doc"}, _FALLBACK),
    ("documents that are an object", {**_RETRIEVAL, "gen_ai.retrieval.documents": "{}"}, _FALLBACK),
    ("a document that is a string", {**_RETRIEVAL, "gen_ai.retrieval.documents": '["d"]'}, _FALLBACK),
    (
        "a document score that is text",
        {**_RETRIEVAL, "gen_ai.retrieval.documents": '[{"score": "high"}]'},
        _FALLBACK,
    ),
    (
        "a document text that is a number",
        {**_RETRIEVAL, "gen_ai.retrieval.documents": '[{"content": 5}]'},
        _FALLBACK,
    ),
    (
        "structured documents",
        {**_RETRIEVAL, "gen_ai.retrieval.documents": [{"id": "a", "score": -0.0}]},
        _EXACT,
    ),
    ("documents on a chat", {**_CHAT, "gen_ai.retrieval.documents": "doc"}, _EXACT),
    (
        "a tool call",
        {
            **_TOOL,
            "gen_ai.tool.call.arguments": '{"q": "x", "n": [1, 2.5]}',
            "gen_ai.tool.call.result": '"done"',
        },
        _EXACT,
    ),
    ("a tool result in plain text", {**_TOOL, "gen_ai.tool.call.result": "done"}, _EXACT),
    (
        "plain-text arguments",
        {**_TOOL, "gen_ai.tool.call.arguments": "q", "gen_ai.tool.call.result": "1"},
        _EXACT,
    ),
    ("a result that starts like JSON", {**_TOOL, "gen_ai.tool.call.result": "tomorrow"}, _EXACT),
    ("a result of JSON after whitespace", {**_TOOL, "gen_ai.tool.call.result": ' \t\n\r"x"'}, _EXACT),
    ("an empty result", {**_TOOL, "gen_ai.tool.call.result": ""}, _EXACT),
    ("a result after other whitespace", {**_TOOL, "gen_ai.tool.call.result": "\u00a0{}"}, _EXACT),
    ("structured tool arguments", {**_TOOL, "gen_ai.tool.call.arguments": {"q": b"x", "n": 1}}, _EXACT),
    (
        "a tool result of null",
        {**_TOOL, "gen_ai.tool.call.result": "null", "gen_ai.request.model": "m"},
        _EXACT,
    ),
    ("no operation but a model", {"gen_ai.request.model": "m"}, _EXACT),
    ("no operation but messages", {"gen_ai.output.messages": _ANSWER}, _EXACT),
    ("an empty operation", {"gen_ai.operation.name": "", "gen_ai.request.model": "m"}, _EXACT),
    (
        "a repeated key",
        {
            "gen_ai.request.model": "first",
            "gen_ai.usage.input_tokens": 1,
            "again": {"gen_ai.request.model": "last"},
        },
        _EXACT,
    ),
]
"""(what, attributes, must be exact): attributes under `again` are added once more, after the others."""

OPENLLMETRY_CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("a chat", {**_CHAT, **_TL, "gen_ai.usage.total_tokens": 3, "gen_ai.input.messages": _MESSAGES}, _EXACT),
    ("total tokens, older name", {"llm.usage.total_tokens": 4, "llm.request.type": "chat"}, _EXACT),
    ("total tokens as text", {"llm.usage.total_tokens": "4", "llm.request.type": "chat"}, _FALLBACK),
    ("a workflow", {"traceloop.workflow.name": "qa", **_TL}, _EXACT),
    ("a workflow that is an int", {"traceloop.workflow.name": 1, **_TL}, _FALLBACK),
    (
        "legacy messages",
        {
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "s",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "q",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "a",
            "gen_ai.completion.0.finish_reason": "stop",
        },
        _EXACT,
    ),
    (
        "legacy tool calls",
        {
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.tool_calls.0.id": "c",
            "gen_ai.completion.0.tool_calls.0.name": "f",
            "gen_ai.completion.0.tool_calls.0.arguments": '{"a":1}',
        },
        _EXACT,
    ),
    (
        "legacy parts as JSON",
        {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": '[{"type": "text", "text": "q"}]'},
        _EXACT,
    ),
    (
        "legacy parts that are not JSON",
        {"gen_ai.prompt.0.role": "user", "gen_ai.prompt.0.content": "[{oops"},
        _FALLBACK,
    ),
    ("a legacy message without a role", {"gen_ai.prompt.0.content": "q", **_TL}, _FALLBACK),
    (
        "legacy messages after current ones",
        {
            "gen_ai.input.messages": _MESSAGES,
            "gen_ai.prompt.0.content": "q",
            "gen_ai.completion.0.content": "a",
        },
        _FALLBACK,
    ),
    (
        "legacy inputs under current ones",
        {
            "gen_ai.input.messages": _MESSAGES,
            "gen_ai.prompt.0.content": "q",
            "gen_ai.completion.0.role": "assistant",
        },
        _EXACT,
    ),
    (
        "indexes with leading zeros",
        {
            "gen_ai.prompt.01.role": "user",
            "gen_ai.prompt.1.content": "q",
            "gen_ai.prompt.007.role": "x",
            **_TL,
        },
        _EXACT,
    ),
    (
        "a key that is not an index",
        {"gen_ai.prompt.prompt_filter_results": "[]", "gen_ai.prompt.0.role": "user"},
        _EXACT,
    ),
    ("an index without a field", {"gen_ai.prompt.0": "q", **_TL}, _FALLBACK),
    ("a non-ASCII index", {"gen_ai.prompt.\u0663.role": "user", **_TL}, _FALLBACK),
    ("a structured prompt", {"gen_ai.prompt": [{"role": "user", "content": "q"}], **_TL}, _FALLBACK),
    (
        "a function's input, unwrapped",
        {
            **_TL,
            "traceloop.entity.input": '{"args": ["q"], "kwargs": {}}',
            "traceloop.entity.output": '{"a": 1}',
        },
        _EXACT,
    ),
    ("a keyword input", {**_TL, "traceloop.entity.input": '{"kwargs": {"question": "q"}}'}, _EXACT),
    ("two inputs", {**_TL, "traceloop.entity.input": '{"args": ["q", 1]}'}, _EXACT),
    (
        "an input of JSON text",
        {**_TL, "traceloop.entity.input": '"q"', "traceloop.entity.output": "null"},
        _EXACT,
    ),
    ("an output in plain text", {**_TL, "traceloop.entity.output": "answer"}, _EXACT),
    ("an output of JSON after whitespace", {**_TL, "traceloop.entity.output": "\n[1]"}, _EXACT),
    (
        "an empty tool result, then the output",
        {**_TOOL, "gen_ai.tool.call.result": '""', "traceloop.entity.output": "a"},
        _EXACT,
    ),
    ("a structured output", {**_TL, "traceloop.entity.output": {"a": [1, None]}}, _EXACT),
    (
        "a tool's result before the function's",
        {**_TOOL, "gen_ai.tool.call.result": '"r"', "traceloop.entity.output": "answer"},
        _EXACT,
    ),
    (
        "an empty query, then the input",
        {**_RETRIEVAL, "gen_ai.retrieval.query.text": "", "traceloop.entity.input": '"q"'},
        _EXACT,
    ),
    ("an empty query and no input", {**_RETRIEVAL, "gen_ai.retrieval.query.text": "", **_TL}, _EXACT),
    (
        "association properties",
        {
            **_TL,
            f"{_P}user_id": 42,
            f"{_P}session_id": 's "1"\n\u2028é',
            f"{_P}flag": False,
            f"{_P}none": None,
            f"{_P}x": 2.5,
            f"{_P}list": [1, "a", {"k": None}],
            f"{_P}": "empty name",
        },
        _EXACT,
    ),
    ("an association value of bytes", {**_TL, f"{_P}raw": b"\x00"}, _FALLBACK),
    ("a float user", {**_TL, f"{_P}userId": 1.5}, _FALLBACK),
    ("a bool user", {**_TL, f"{_P}userId": True, "gen_ai.user": 3}, _EXACT),
    (
        "a user without a value, then another",
        {**_TL, f"{_P}user_id": None, f"{_P}userId": "u2", "gen_ai.user": "g"},
        _EXACT,
    ),
    ("an empty user, then the request's", {**_TL, f"{_P}user_id": "", "llm.user": "l"}, _EXACT),
    ("a request user that is an int", {**_TL, "gen_ai.user": 3}, _FALLBACK),
    (
        "a conversation before the properties",
        {**_TL, "gen_ai.conversation.id": "c", f"{_P}chat_id": 1.5},
        _EXACT,
    ),
    ("a chat id as the session", {**_TL, f"{_P}chat_id": 7, f"{_P}conversation_id": "c"}, _EXACT),
    ("a float session", {**_TL, f"{_P}sessionId": 7.0}, _FALLBACK),
    ("a structured session", {**_TL, f"{_P}session_id": {"a": 1}}, _FALLBACK),
    ("a chat request type", {"llm.request.type": "completion", "gen_ai.request.model": "m"}, _EXACT),
    ("another request type", {"llm.request.type": "embedding", "gen_ai.request.model": "m"}, _EXACT),
    ("a request type under an operation", {"llm.request.type": "rerank", **_CHAT}, _EXACT),
    ("a request type that is an int", {"llm.request.type": 1, **_TL}, _FALLBACK),
    ("a span kind that is an int", {"traceloop.span.kind": 1}, _FALLBACK),
    ("messages on a task", {**_TL, "gen_ai.operation.name": "x", "gen_ai.output.messages": _ANSWER}, _EXACT),
    (
        "messages without a kind",
        {"gen_ai.usage.total_tokens": 1, "gen_ai.operation.name": "x", "gen_ai.output.messages": _ANSWER},
        _EXACT,
    ),
    ("the GenAI rules apply", {**_TL, "gen_ai.usage.input_tokens": "1"}, _FALLBACK),
]


def _span(span_id: int, attributes: dict[str, Any], events: Sequence[str] = ()) -> SpanMessage:
    again = attributes.pop("again", None)
    span = span_message(span_id.to_bytes(8, "big"), attributes=attributes)
    del span.events[:]
    if again:
        span.attributes.extend(key_values(again))
    for name in events:
        span.events.add(name=name, time_unix_nano=1)
    return span


def _one(attributes: dict[str, Any], events: Sequence[str] = ()) -> SpanColumns:
    return columns_of(trace_request(_span(1, dict(attributes), events)))


@pytest.mark.parametrize(("dialect", "attributes", "must_be_exact"), [
    *(pytest.param("genai", a, e, id=f"genai: {what}") for what, a, e in GENAI_CASES),
    *(pytest.param("openllmetry", a, e, id=f"openllmetry: {what}") for what, a, e in OPENLLMETRY_CASES),
    *(pytest.param("openllmetry", {**_TL, **a}, e, id=f"openllmetry task: {what}") for what, a, e in GENAI_CASES),
])  # fmt: skip
def test_every_rule_is_exact_or_falls_back(
    dialect: str, attributes: dict[str, Any], must_be_exact: bool
) -> None:
    cols = _one(attributes)
    assert detect_dialect(spans_from_columns(cols)[0]) == dialect
    [(exact, _)] = _check(cols, dialect, [0])
    assert exact == must_be_exact


def test_a_superscript_index_falls_back() -> None:
    cols = _one({"gen_ai.prompt.\u00b2.role": "user", **_TL})
    _alone(spans_from_columns(cols)[0], read_openllmetry)  # today's reader leaves it unread (test_dialects)
    assert _check(cols, "openllmetry", [0]) == [(False, False)]


@pytest.mark.parametrize("dialect", list(_READERS))
def test_gen_ai_events_fall_back_and_other_events_do_not(dialect: str) -> None:
    attributes = {**_CHAT, **(_TL if dialect == "openllmetry" else {})}
    assert _check(_one(attributes, ["gen_ai.choice"]), dialect, [0]) == [(False, False)]
    assert _check(_one(attributes, ["exception", "log"]), dialect, [0]) == [(True, True)]


def test_the_association_metadata_is_compact_json_in_attribute_order() -> None:
    cols = _one({**_TL, f"{_P}b": "x\n", f"{_P}a": 1, f"{_P}c": [True, 2.5]})
    found = openllmetry_facts(span_view(cols, [0]))
    assert found["metadata"].to_list() == ['{"b":"x\\n","a":1,"c":[true,2.5]}']
    assert found["exact"].to_list() == [True]


# Random spans ---------------------------------------------------------------------------------------------------

_KEYS = [
    "gen_ai.operation.name", "gen_ai.request.model", "gen_ai.response.model", "gen_ai.provider.name",
    "gen_ai.system", "gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens", "gen_ai.usage.total_tokens", "llm.usage.total_tokens",
    "gen_ai.conversation.id", "gen_ai.retrieval.query.text", "gen_ai.retrieval.documents",
    "gen_ai.tool.call.arguments", "gen_ai.tool.call.result", "gen_ai.system_instructions",
    "gen_ai.input.messages", "gen_ai.output.messages", "traceloop.workflow.name", "traceloop.span.kind",
    "traceloop.entity.input", "traceloop.entity.output", "gen_ai.user", "llm.user", "llm.request.type",
    "gen_ai.prompt", "gen_ai.prompt.0.role", "gen_ai.prompt.0.content", "gen_ai.prompt.1.content",
    "gen_ai.prompt.x", "gen_ai.completion.0.role", "gen_ai.completion.0.content",
    "gen_ai.completion.0.tool_calls.0.name", f"{_P}user_id", f"{_P}userId", f"{_P}session_id", f"{_P}chat_id",
    f"{_P}é\"", "http.route",
]  # fmt: skip
_INT64 = st.integers(-(2**63), 2**63 - 1)
_WORDS = st.sampled_from(
    ["chat", "retrieval", "execute_tool", "completion", "embeddings", "user", "assistant", ""]
)
_TEXT = st.text(max_size=6) | _WORDS
_PART = st.fixed_dictionaries(
    {"type": st.sampled_from(["text", "tool_call", "reasoning", "image"]), "content": _TEXT}
)
_MESSAGE = st.fixed_dictionaries(
    {"role": _TEXT, "parts": st.lists(_PART, max_size=2)}
) | st.fixed_dictionaries({"role": _TEXT, "content": _TEXT})
_DOCUMENT = st.fixed_dictionaries(
    {}, optional={"id": _TEXT | _INT64, "content": _TEXT | st.none(), "score": st.floats() | _TEXT}
)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-5, 5) | st.floats(allow_nan=False) | _TEXT,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=5,
)
_JSON_TEXT = (
    st.lists(_MESSAGE, max_size=2) | st.lists(_PART, max_size=2) | st.lists(_DOCUMENT, max_size=2) | _JSON
    | st.fixed_dictionaries({"args": st.lists(_TEXT | _INT64, max_size=2)}, optional={"kwargs": _JSON})
).map(lambda v: orjson.dumps(v).decode())  # fmt: skip
_SCALAR = (
    st.none() | st.booleans() | _INT64 | st.floats() | _TEXT | st.binary(max_size=3)
    | _JSON_TEXT | st.sampled_from(["[{", "12", " 7", "1.0"])
)  # fmt: skip
_VALUE = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=4,
)
_TEXT_KEYS = [k for k in _KEYS if not k.startswith(("gen_ai.usage", "llm.usage")) and "messages" not in k]
_ATTRIBUTES = st.lists(
    st.tuples(st.sampled_from(_TEXT_KEYS), _TEXT)
    | st.tuples(st.sampled_from([k for k in _KEYS if "usage" in k]), st.integers(0, 2**63 - 1))
    | st.tuples(st.sampled_from(_KEYS), _JSON_TEXT)
    | st.tuples(st.sampled_from(_KEYS) | st.text(max_size=4), _VALUE),
    max_size=8,
).map(dict)
"""Mostly a key's own type, so that many spans are mapped, and anything anywhere."""
_SPEC = st.tuples(
    _ATTRIBUTES, st.lists(st.sampled_from(["gen_ai.choice", "exception"]), max_size=1), _ATTRIBUTES
)


def _random_request(
    specs: list[tuple[dict[str, Any], list[str], dict[str, Any]]],
) -> ExportTraceServiceRequest:
    spans = []
    for number, (attributes, events, again) in enumerate(specs, start=1):
        repeated = {k: v for k, v in again.items() if k in attributes}
        spans.append(_span(number, {**attributes, "again": repeated}, events))
    return trace_request(*spans)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SPEC, min_size=1, max_size=4))
def test_random_spans_are_exact_or_fall_back(
    specs: list[tuple[dict[str, Any], list[str], dict[str, Any]]],
) -> None:
    cols = columns_of(_random_request(specs))
    for dialect in _READERS:
        for exact, _ in _check(cols, dialect):
            event(f"{dialect}: {'exact' if exact else 'falls back'}")


@settings(max_examples=200, deadline=None)
@given(st.text() | st.sampled_from(['"\\u2028"', "\x00\x1f\x7f", 'é"\\/']))
def test_json_strings_are_written_as_orjson_writes_them(value: str) -> None:
    written = pl.DataFrame({"v": [value]}).select(json_string(pl.col("v"))).to_series().item()
    assert written == orjson.dumps(value).decode()
