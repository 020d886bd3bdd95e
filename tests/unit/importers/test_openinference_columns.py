"""The OpenInference reader in columns against today's `read_openinference`: every row it marks exact holds what
today's reader alone sets on a fresh `SpanFacts` (strings, floats bit for bit, nulls, list order) without a
warning; every other row is left to Python.

Spans come from the captured OpenInference trace (tests/fixtures/otlp), the import benchmark's spans (all of them
exact), hand-made edge cases for each rule (each one either exact and equal, or left to Python, as stated) and
random spans (hypothesis) over OpenInference's keys with values of every kind.
"""

from __future__ import annotations

import struct
from typing import Any

import orjson
import pytest
from bench.import_spans import _json_dict
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from tests.support.fact_columns import FIXTURES, bench_requests, columns_of, fixture_names, fixture_request
from tests.support.otlp_requests import TRACE_ID, any_value, key_values, otlp_json
from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._dialects import blank_facts, detect_dialect
from tracewatch.importers._fact_frame import facts_to_frame, span_view
from tracewatch.importers._openinference import read_openinference
from tracewatch.importers._openinference_columns import FACT_COLUMNS, OUTPUT_SCHEMA, openinference_facts
from tracewatch.importers._otlp_json_columns import trace_request_columns_json
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns
from tracewatch.importers._spans import Span


def _canon(value: Any) -> Any:
    """`value` compared strictly: floats as their bits, nested values item by item."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return ("dict", [(k, _canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_canon(v) for v in value])
    return (type(value).__name__, value)


def _today(span: Span) -> tuple[dict[str, Any], list[str]]:
    """What `read_openinference` alone sets for `span`, as a `FACT_SCHEMA` row, and its warnings."""
    facts = blank_facts(span)
    reader = AttributeReader(span.attributes)
    read_openinference(reader, span.resource, facts)
    return facts_to_frame([facts]).select(FACT_COLUMNS).row(0, named=True), reader.warnings


def check(columns: SpanColumns) -> tuple[int, int]:
    """Read the OpenInference spans of `columns` both ways; every exact row must equal today's. Returns how many
    spans were OpenInference and how many of them were exact."""
    spans = spans_from_columns(columns)
    rows = [i for i, span in enumerate(spans) if detect_dialect(span) == "openinference"]
    got = openinference_facts(span_view(columns, rows))
    assert got.schema == OUTPUT_SCHEMA
    assert got["span_index"].to_list() == rows
    exact = 0
    for i, row in zip(rows, got.iter_rows(named=True), strict=True):
        if not row["exact"]:
            continue
        exact += 1
        want, warnings = _today(spans[i])
        assert warnings == [], f"an exact row today's reader warns about: {warnings}"
        for name in FACT_COLUMNS:
            assert _canon(row[name]) == _canon(want[name]), (name, row[name], want[name], spans[i].attributes)
    return len(rows), exact


# ---- requests ------------------------------------------------------------------------------------------------


def _span(number: int, attributes: dict[str, Any] | list[tuple[str, Any]]) -> SpanMessage:
    span = SpanMessage(
        trace_id=TRACE_ID,
        span_id=(number + 1).to_bytes(8, "big"),
        name=f"span {number}",
        kind=SpanMessage.SPAN_KIND_INTERNAL,
        start_time_unix_nano=1_765_000_000_000_000_000,
        end_time_unix_nano=1_765_000_001_000_000_000,
    )
    pairs = attributes.items() if isinstance(attributes, dict) else attributes
    span.attributes.extend(KeyValue(key=key, value=any_value(value)) for key, value in pairs)
    return span


def request(
    *spans: dict[str, Any] | list[tuple[str, Any]], resource: dict[str, Any] | None = None
) -> SpanColumns:
    """The columns of `message(*spans, resource)` (the protobuf decoder)."""
    return columns_of(message(*spans, resource=resource))


def message(
    *spans: dict[str, Any] | list[tuple[str, Any]], resource: dict[str, Any] | None = None
) -> ExportTraceServiceRequest:
    """One request of spans with these attributes (a list of pairs may repeat a key), with a non-OpenInference
    span first so the view's rows are not all of the object's."""
    out = ExportTraceServiceRequest()
    block = out.resource_spans.add()
    names = {"service.name": "qa", "openinference.project.name": "qa-project"}
    block.resource.attributes.extend(key_values(names if resource is None else resource))
    scope = block.scope_spans.add()
    scope.spans.append(_span(0, {"http.route": "/qa"}))
    scope.spans.extend(_span(i + 1, attributes) for i, attributes in enumerate(spans))
    return out


# ---- the real spans ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", fixture_names())
def test_the_captured_spans_are_all_exact(name: str) -> None:
    total, exact = check(columns_of(fixture_request(name)))
    assert exact == total
    assert total == (2 if name.startswith("openinference") else 0)


def test_the_benchmarks_spans_are_all_exact() -> None:
    requests = bench_requests(400)
    counted = [check(columns_of(r)) for r in requests]
    total = sum(t for t, _ in counted)
    assert total > 300 and sum(e for _, e in counted) == total
    roles = openinference_facts(span_view(columns_of(requests[0]), None))["role"]
    assert {"llm", "retriever", "other"} <= set(roles.to_list())


def test_the_json_decoders_columns_read_alike() -> None:
    # The captured file itself, and the benchmark's spans as its JSON objects are written.
    for data in (
        (FIXTURES / "openinference.traces.json").read_bytes(),
        orjson.dumps(_json_dict(bench_requests(60)[0])),
    ):
        columns = trace_request_columns_json(data)
        assert columns is not None
        total, exact = check(columns)
        assert total >= 2 and exact == total


def test_no_spans() -> None:
    columns = request({"openinference.span.kind": "LLM"})
    frame = openinference_facts(span_view(columns, []))
    assert frame.height == 0 and frame.schema == OUTPUT_SCHEMA


# ---- edge cases: each rule, exact or left to Python ------------------------------------------------------------

_KIND = "openinference.span.kind"
_IN = "llm.input_messages"
_OUT = "llm.output_messages"
_DOC = "retrieval.documents"

EXACT: dict[str, dict[str, Any] | list[tuple[str, Any]]] = {
    "message gaps and key order": {
        _KIND: "LLM",
        f"{_IN}.2.message.content": "later",
        f"{_IN}.2.message.role": "user",
        f"{_IN}.0.message.role": "system",
        f"{_IN}.0.message.content": "first",
        f"{_IN}.10.message.role": "user",
        f"{_IN}.10.message.content": "tenth",
    },
    "a message without content, and one with an empty value": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "user",
        f"{_OUT}.0.message.role": "assistant",
        f"{_OUT}.0.message.content": None,
    },
    "tool calls and content parts (today's function per span)": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "user",
        f"{_IN}.0.message.contents.0.message_content.type": "text",
        f"{_IN}.0.message.contents.0.message_content.text": "look",
        f"{_IN}.0.message.contents.1.message_content.type": "image",
        f"{_IN}.0.message.contents.1.message_content.image.image.url": "https://x/y.png",
        f"{_OUT}.0.message.role": "assistant",
        f"{_OUT}.0.message.tool_calls.0.tool_call.id": "call-1",
        f"{_OUT}.0.message.tool_calls.0.tool_call.function.name": "lookup",
        f"{_OUT}.0.message.tool_calls.0.tool_call.function.arguments": '{"q": "paris"}',
        f"{_OUT}.1.message.role": "assistant",
        f"{_OUT}.1.message.content": "plain",
    },
    "JSON content parts (today's function per span)": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "user",
        f"{_IN}.0.message.content": '[{"type": "text", "text": "hi"}]',
    },
    "legacy prompts and choices": {
        _KIND: "LLM",
        "llm.prompts.1.prompt.text": "second",
        "llm.prompts.0.prompt.text": "first",
        "llm.prompts.0.other": 5,
        "llm.choices.0.completion.text": None,
        "input.value": "not used: there are prompts",
    },
    "messages win over prompts (a bad prompt is never read)": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "user",
        f"{_IN}.0.message.content": "hi",
        "llm.prompts.0.prompt.text": 7,
    },
    "documents: int id, missing and empty parts, int score, other fields, gaps": {
        _KIND: "RETRIEVER",
        f"{_DOC}.3.document.id": 42,
        f"{_DOC}.3.document.score": 3,
        f"{_DOC}.0.document.content": "text",
        f"{_DOC}.0.document.metadata": '{"a": 1}',
        f"{_DOC}.1.document.id": None,
        f"{_DOC}.1.document.score": float("nan"),
        f"{_DOC}.2.document.score": -0.0,
        f"{_DOC}.x.document.id": "not an index: not grouped",
        f"{_DOC}..document.id": "no index",
    },
    "models: the request's own name wins": {
        _KIND: "LLM",
        "llm.request.model_name": "asked",
        "llm.invocation_parameters": '{"model": ',
        "llm.model_name": "answered",
        "llm.response.model_name": "",
    },
    "models: the invocation parameters' model": {
        _KIND: "LLM",
        "llm.request.model_name": "",
        "llm.invocation_parameters": '{"temperature": 0, "model": "gpt-x"}',
        "llm.model_name": "answered",
    },
    "models: an empty invocation model falls to the model name": {
        _KIND: "llm",
        "llm.invocation_parameters": '{"model": ""}',
        "llm.model_name": "answered",
    },
    "models: parameters without a model, or not text": [
        (_KIND, "LLM"),
        ("llm.invocation_parameters", '{"temperature": 1}'),
    ],
    "models: parameters as a key-value list are not read": {
        _KIND: "LLM",
        "llm.invocation_parameters": {"model": "m"},
        "llm.model_name": "",
    },
    "provider: the provider wins over the system": {
        _KIND: "LLM",
        "llm.provider": "azure",
        "llm.system": "openai",
    },
    "provider: empty falls to the system": {_KIND: "LLM", "llm.provider": "", "llm.system": "openai"},
    "provider: both empty": {_KIND: "LLM", "llm.provider": "", "llm.system": None},
    "counts: integral floats and plain integer text": {
        _KIND: "LLM",
        "llm.token_count.prompt": 12.0,
        "llm.token_count.completion": "-7",
        "llm.token_count.total": 2**62,
    },
    "cost: the two halves": {_KIND: "LLM", "llm.cost.prompt": 0.1, "llm.cost.completion": 2},
    "cost: one half alone is unknown": {_KIND: "LLM", "llm.cost.prompt": 0.1},
    "cost: the total wins": {
        _KIND: "LLM",
        "llm.cost.total": float("inf"),
        "llm.cost.prompt": 1.0,
        "llm.cost.completion": 1.0,
    },
    "kind: lower case, another kind, empty text, no value": {_KIND: "retriever"},
    "kind: an empty text": {_KIND: ""},
    "kind: no value": {_KIND: None, "input.value": "in", "output.value": "out"},
    "kind: Python's own upper case (dotless i)": {_KIND: "retr\u0131ever"},
    "kind: a chain's input and output": {
        _KIND: "CHAIN",
        "input.value": "q",
        "output.value": "a",
        "input.mime_type": "text/plain",
        "session.id": "",
        "user.id": "u",
    },
    "tags: a JSON list, a JSON string, numbers": {_KIND: "CHAIN", "tag.tags": '["a", 1, 2.5, null]'},
    "tags: an array": {_KIND: "CHAIN", "tag.tags": ["a", "b"]},
    "tags: a JSON text": {_KIND: "CHAIN", "tag.tags": '"one"'},
    "tags: null": {_KIND: "CHAIN", "tag.tags": "null"},
    "metadata: a JSON object keeps its order": {_KIND: "CHAIN", "metadata": '{"z": 1, "a": {"b": [1.5]}}'},
    "metadata: an empty object": {_KIND: "CHAIN", "metadata": "{}"},
    "metadata: not an object is kept whole": {_KIND: "CHAIN", "metadata": "[1, 2]"},
    "metadata: a key-value list": {_KIND: "CHAIN", "metadata": {"tier": "gold", "n": 3}},
    "metadata: an int": {_KIND: "CHAIN", "metadata": 5},
    "metadata: bytes of JSON": {_KIND: "CHAIN", "metadata": b'{"a": 1}'},
    "a key of another vocabulary": {_KIND: "CHAIN", "gen_ai.request.model": 5, "llm.other": True},
}

FALLBACK: dict[str, dict[str, Any] | list[tuple[str, Any]]] = {
    "a repeated key": [(_KIND, "LLM"), ("llm.model_name", "a"), ("llm.model_name", "b")],
    "a structured message list": {_KIND: "LLM", _IN: [{"message.role": "user", "message.content": "hi"}]},
    "an index with a leading zero": {_KIND: "LLM", f"{_IN}.01.message.role": "user"},
    "an index without a field": {_KIND: "LLM", "llm.prompts.0": "text"},
    "a non-ASCII index": {_KIND: "LLM", f"{_IN}.\u0663.message.role": "user"},
    "an index of ten digits": {_KIND: "LLM", f"{_DOC}.1234567890.document.id": "d"},
    "a message without a role": {_KIND: "LLM", f"{_IN}.0.message.content": "hi"},
    "a message with an empty role": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "",
        f"{_IN}.0.message.content": "x",
    },
    "a message with an int role": {_KIND: "LLM", f"{_IN}.0.message.role": 1},
    "a message with bytes content": {
        _KIND: "LLM",
        f"{_IN}.0.message.role": "u",
        f"{_IN}.0.message.content": b"x",
    },
    "a legacy prompt that is an int": {_KIND: "LLM", "llm.prompts.0.prompt.text": 7},
    "a text key holding an int": {_KIND: "LLM", "llm.model_name": 4},
    "a text key holding a bool": {_KIND: "CHAIN", "user.id": True},
    "a span kind that is a list": {_KIND: ["LLM"]},
    "a mime type that is bytes": {_KIND: "CHAIN", "output.mime_type": b"text/plain"},
    "a count with a fraction": {_KIND: "LLM", "llm.token_count.prompt": 1.5},
    "a count as a float text": {_KIND: "LLM", "llm.token_count.prompt": "12.0"},
    "a count with spaces": {_KIND: "LLM", "llm.token_count.total": " 12"},
    "a count without a value": {_KIND: "LLM", "llm.token_count.total": None},
    "a count that is a bool": {_KIND: "LLM", "llm.token_count.completion": True},
    "a count beyond int64 as a float": {_KIND: "LLM", "llm.token_count.completion": 1e19},
    "a cost as text": {_KIND: "LLM", "llm.cost.total": "0.5"},
    "a cost that is the least int64": {_KIND: "LLM", "llm.cost.total": -(2**63)},
    "a cost int beyond 2**53": {_KIND: "LLM", "llm.cost.prompt": 2**53 + 1, "llm.cost.completion": 1.0},
    "a cost that is a bool": {_KIND: "LLM", "llm.cost.completion": False},
    "invocation parameters that are not JSON, asked": {
        _KIND: "LLM",
        "llm.invocation_parameters": '{"model": ',
        "llm.model_name": "m",
    },
    "tags as an object": {_KIND: "CHAIN", "tag.tags": '{"a": 1}'},
    "tags that are not JSON": {_KIND: "CHAIN", "tag.tags": "solo"},
    "metadata that is not JSON": {_KIND: "CHAIN", "metadata": "{oops"},
    "a document id that is a float": {_KIND: "RETRIEVER", f"{_DOC}.0.document.id": 1.5},
    "a document content that is an int": {_KIND: "RETRIEVER", f"{_DOC}.0.document.content": 3},
    "a document score as text": {_KIND: "RETRIEVER", f"{_DOC}.0.document.score": "0.5"},
    "a document score int beyond 2**53": {_KIND: "RETRIEVER", f"{_DOC}.0.document.score": 2**60},
}


@pytest.mark.parametrize("name", list(EXACT))
def test_edge_cases_read_exactly(name: str) -> None:
    assert check(request(EXACT[name])) == (1, 1)


@pytest.mark.parametrize("name", list(FALLBACK))
def test_edge_cases_left_to_python(name: str) -> None:
    columns = request(FALLBACK[name], {_KIND: "CHAIN", "input.value": "a neighbour stays exact"})
    assert check(columns) == (2, 1)
    frame = openinference_facts(span_view(columns, [1, 2]))
    assert frame["exact"].to_list() == [False, True]


def test_a_digit_index_python_cannot_read_is_left_to_python() -> None:
    # `'²'.isdigit()` but `int('²')` raises: today's `AttributeReader.indexed` raises on this key.
    columns = request({_KIND: "LLM", f"{_IN}.\u00b2.message.role": "user"})
    assert openinference_facts(span_view(columns, [1]))["exact"].to_list() == [False]


def test_the_project_comes_from_each_spans_resource() -> None:
    message = ExportTraceServiceRequest()
    for number, project in enumerate(["first", "", 7, None]):
        block = message.resource_spans.add()
        resource = {"service.name": "qa"} | (
            {} if project is None else {"openinference.project.name": project}
        )
        block.resource.attributes.extend(key_values(resource))
        block.scope_spans.add().spans.append(_span(number, {_KIND: "CHAIN"}))
    columns = columns_of(message)
    assert check(columns) == (4, 4)
    assert openinference_facts(span_view(columns))["project"].to_list() == ["first", None, None, None]


def test_several_spans_of_each_shape_in_one_object() -> None:
    shapes = list(EXACT.values()) * 3 + list(FALLBACK.values())
    total, exact = check(request(*shapes))
    assert (total, exact) == (len(shapes), 3 * len(EXACT))


def test_the_edge_cases_through_the_json_decoder() -> None:
    # The Collector's JSON (enums as integers); the JSON decoder leaves NaN, infinities and the structured value
    # to today's decoder, so it takes all but three of the objects.
    taken = 0
    for shape in (*EXACT.values(), *FALLBACK.values()):
        columns = trace_request_columns_json(otlp_json(message(shape), use_integers_for_enums=True))
        if columns is not None:
            taken += 1
            assert check(columns) == (1, 1 if any(shape is s for s in EXACT.values()) else 0)
    assert taken == len(EXACT) + len(FALLBACK) - 3


# ---- random spans ------------------------------------------------------------------------------------------------

_KEYS = st.sampled_from(
    [
        *(f"{_IN}.{i}.message.{f}" for i in (0, 1, 3) for f in ("role", "content")),
        *(f"{_OUT}.{i}.message.{f}" for i in (0, 2) for f in ("role", "content")),
        f"{_IN}.0.message.tool_calls.0.tool_call.function.name",
        f"{_IN}.1.message.contents.0.message_content.text",
        "llm.prompts.0.prompt.text",
        "llm.prompts.1.prompt.text",
        "llm.choices.0.completion.text",
        *(f"{_DOC}.{i}.document.{f}" for i in (0, 1) for f in ("id", "content", "score", "metadata")),
        f"{_IN}.00.message.role",
        _IN,
        "llm.model_name",
        "llm.request.model_name",
        "llm.response.model_name",
        "llm.provider",
        "llm.system",
        "llm.invocation_parameters",
        "input.value",
        "output.value",
        "input.mime_type",
        "session.id",
        "user.id",
        "llm.token_count.prompt",
        "llm.token_count.total",
        "llm.cost.total",
        "llm.cost.prompt",
        "llm.cost.completion",
        "tag.tags",
        "metadata",
        "other",
    ]
)
_NICE = st.sampled_from(
    ["", "user", "LLM", "retriever", "[{", '[{"type": "text", "text": "x"}]', '{"model": "m"}', '{"model": ',
     '["t", 1]', '{"a": 1}', "null", "12", "-3", "007", " 4", "1.5", "hi \u00e9"]
)  # fmt: skip
_SCALARS = (
    _NICE
    | st.text(max_size=6)
    | st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.sampled_from([0, 1, 2**53, 2**53 + 1])
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.binary(max_size=6)
)
_VALUES = (
    _SCALARS | st.lists(_SCALARS, max_size=3) | st.dictionaries(st.sampled_from(["a", "model"]), _SCALARS)
)
_WELL_TYPED = (
    st.tuples(
        st.sampled_from(
            [
                *(
                    f"{side}.{i}.message.{f}"
                    for side in (_IN, _OUT)
                    for i in (0, 1)
                    for f in ("role", "content")
                ),
                "llm.prompts.0.prompt.text",
                f"{_DOC}.0.document.id",
                f"{_DOC}.1.document.content",
                "llm.model_name",
                "llm.provider",
                "llm.system",
                "input.value",
                "llm.invocation_parameters",
                "tag.tags",
                "metadata",
            ]
        ),
        _NICE | st.text(min_size=1, max_size=4),
    )
    | st.tuples(st.sampled_from(["llm.token_count.prompt", "llm.token_count.total"]), st.integers(0, 10**6))
    | st.tuples(
        st.sampled_from(
            ["llm.cost.total", "llm.cost.prompt", "llm.cost.completion", f"{_DOC}.0.document.score"]
        ),
        st.floats(),
    )
)
"""Values of the type each key wants, so that many random spans are exact and compared."""
_SPAN = st.tuples(
    st.sampled_from(["LLM", "RETRIEVER", "CHAIN", "llm", ""]) | _SCALARS,
    st.lists(st.tuples(_KEYS, _VALUES) | _WELL_TYPED, max_size=8) | st.lists(_WELL_TYPED, max_size=8),
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_SPAN, min_size=1, max_size=5))
def test_random_spans_are_exact_or_left_to_python(spans: list[tuple[Any, list[tuple[str, Any]]]]) -> None:
    total, _ = check(request(*([(_KIND, kind), *pairs] for kind, pairs in spans)))
    assert total == len(spans)
