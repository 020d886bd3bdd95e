"""The columnar OTLP/JSON decoder against today's: the same `Span`s, or a fallback, never a different row or a
crash.

Documents come from the captured instrumentations (tests/fixtures/otlp), the import benchmark's generated spans,
random requests (hypothesis: the protobuf tests' random requests written as OTLP JSON, then varied the ways JSON
writers differ) and broken or adversarial bytes. "The same" is the protobuf tests' strict comparison (floats bit
for bit, bools apart from ints, dict key order); where the columns are taken, the same request's protobuf
columns must be the same tables too.
"""

from __future__ import annotations

import base64
import copy
import random
from pathlib import Path
from typing import Any

import orjson
import pytest
from bench.import_spans import SpanSet, _json_dict, _requests
from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

from tests.support.otlp_requests import EVERY_KIND, otlp_json, span_message, trace_request
from tests.unit.importers.test_otlp_proto_columns import _RESOURCE, _canon, _request, _span_canon
from tracewatch.importers._otlp_decoded import DecodedTraces
from tracewatch.importers._otlp_json import decode_trace_request
from tracewatch.importers._otlp_json_columns import trace_request_columns_json
from tracewatch.importers._otlp_proto import any_value
from tracewatch.importers._otlp_proto_columns import trace_request_columns
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"


def columnar_or_fallback(data: bytes) -> bool:
    """Whether the columnar decoder took `data` (False: it fell back); when it did, `orjson` must parse it and
    today's decoder must read every span of it, and the same ones."""
    columns = trace_request_columns_json(data)
    if columns is None:
        return False
    today = DecodedTraces()
    decode_trace_request(
        orjson.loads(data), today
    )  # an error here fails the test: it should have fallen back
    assert today.rejected == []
    got = spans_from_columns(columns)
    assert [_span_canon(s) for s in got] == [_span_canon(s) for s in today.spans]
    return True


def _rows(columns: SpanColumns, name: str) -> list[dict[str, Any]]:
    """A table's rows, arrays and key-value lists decoded: the protobuf columns keep a request's own bytes for
    them, the JSON columns bytes written from the decoded value (a repeated key once), which read the same."""
    rows: list[dict[str, Any]] = getattr(columns, name).to_pylist()
    for row in rows:
        if row.get("nested_value") is not None:
            row["nested_value"] = _canon(any_value(AnyValue.FromString(row["nested_value"])))
        if row.get("double_value") is not None:
            row["double_value"] = _canon(row["double_value"])
    return rows


def _same_tables(json_columns: SpanColumns, proto_columns: SpanColumns) -> None:
    for name in ("spans", "attributes", "events"):
        assert getattr(json_columns, name).schema == getattr(proto_columns, name).schema, name
        assert _rows(json_columns, name) == _rows(proto_columns, name), name
    assert (json_columns.resources, json_columns.scopes) == (proto_columns.resources, proto_columns.scopes)


def _proto_of(data: bytes) -> bytes:
    """The same request as protobuf (OTLP JSON's hex ids read as such)."""
    document = orjson.loads(data)
    return json_format.ParseDict(_base64_ids(document), ExportTraceServiceRequest()).SerializeToString()


def _base64_ids(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: base64.b64encode(bytes.fromhex(v)).decode()
            if k in ("traceId", "spanId", "parentSpanId")
            else _base64_ids(v)
            for k, v in node.items()
        }
    return [_base64_ids(v) for v in node] if isinstance(node, list) else node


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.traces.json")))
def test_the_real_instrumentations_traces_decode_alike(name: str) -> None:
    data = (FIXTURES / name).read_bytes()
    assert columnar_or_fallback(data)
    columns = trace_request_columns_json(data)
    proto = trace_request_columns(_proto_of(data))
    assert columns is not None and proto is not None and columns.spans.num_rows == 4
    _same_tables(columns, proto)


def _bench_documents(spans: int) -> list[tuple[bytes, bytes]]:
    """The benchmark's requests as OTLP JSON (its own writer, `bench.import_spans._json_dict`) and protobuf."""
    return [
        (orjson.dumps(_json_dict(r)), r.SerializeToString())
        for _, r, _ in _requests(spans // 5, SpanSet(prefix=""))
    ]


def test_the_benchmarks_spans_decode_alike() -> None:
    documents = _bench_documents(7500)
    assert len(documents) >= 2
    assert all(columnar_or_fallback(data) for data, _ in documents)
    nested = 0
    for data, proto in documents:
        columns, expected = trace_request_columns_json(data), trace_request_columns(proto)
        assert columns is not None and expected is not None
        _same_tables(columns, expected)
        nested += columns.attributes.column("nested_value").null_count < columns.attributes.num_rows
    assert nested, "the benchmark's spans carry arrays or key-value lists: the nested path is exercised"


def test_every_value_kind_and_the_layout() -> None:
    every_kind = {**EVERY_KIND, "metadata": {"user": "gold", "n": 3}}  # one level of nesting (see the module)
    spans = span_message(attributes=every_kind), span_message(parent=b"", attributes=every_kind)
    data = otlp_json(trace_request(*spans), use_integers_for_enums=True)
    assert columnar_or_fallback(data)
    columns = trace_request_columns_json(data)
    assert columns is not None
    kinds = {r["key"]: r["kind"] for r in columns.attributes.to_pylist() if r["owner"] == "span"}
    assert {"string", "bool", "int", "double", "array", "kvlist", "bytes", None} <= set(kinds.values())
    assert columns.spans.column("parent_span_id").to_pylist()[1] is None


# Random requests ----------------------------------------------------------------------------------------------

_VARIANTS = st.sampled_from(["hex", "snake", "enum names", "int numbers", "pretty"])


def _variant(request: bytes, variant: str) -> bytes:
    message = ExportTraceServiceRequest.FromString(request)
    if variant == "snake":
        return otlp_json(message, preserving_proto_field_name=True)
    if variant == "enum names":
        return otlp_json(message, use_integers_for_enums=False)
    if variant == "int numbers":
        return orjson.dumps(_ints_as_numbers(orjson.loads(otlp_json(message, use_integers_for_enums=True))))
    if variant == "pretty":
        document = orjson.loads(otlp_json(message, use_integers_for_enums=True))
        return orjson.dumps(document, option=orjson.OPT_INDENT_2)
    return otlp_json(message, use_integers_for_enums=True)


def _ints_as_numbers(node: Any) -> Any:
    if isinstance(node, dict):
        return {
            k: int(v) if k in ("intValue", "startTimeUnixNano", "timeUnixNano") else _ints_as_numbers(v)
            for k, v in node.items()
        }
    return [_ints_as_numbers(v) for v in node] if isinstance(node, list) else node


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RESOURCE, max_size=3), _VARIANTS)
def test_random_requests_decode_alike(resources: list[Any], variant: str) -> None:
    request = _request(resources)
    data = _variant(request, variant)
    if columnar_or_fallback(data) and variant in ("hex", "pretty"):
        columns, proto = trace_request_columns_json(data), trace_request_columns(request)
        assert columns is not None and proto is not None
        _same_tables(columns, proto)


_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=10)
_KEYS = (
    st.sampled_from(["a", "b", "", "gen_ai.usage.input_tokens", "ключ", "🔑", 'q"uote Value": null']) | _TEXT
)
_SCALAR_VALUES = st.one_of(
    st.just({}),  # an AnyValue that is there but holds nothing
    _TEXT.map(lambda v: {"stringValue": v}),
    st.booleans().map(lambda v: {"boolValue": v}),
    st.integers(-(2**63), 2**63 - 1).map(lambda v: {"intValue": str(v)}),
    st.floats(allow_nan=False, allow_infinity=False).map(lambda v: {"doubleValue": v}),
    st.binary(max_size=12).map(lambda v: {"bytesValue": base64.b64encode(v).decode()}),
)


def _key_value(key: str, value: dict[str, Any] | None) -> dict[str, Any]:
    return {"key": key} if value is None else {"key": key, "value": value}


_KEY_VALUES = st.lists(st.builds(_key_value, _KEYS, st.none() | _SCALAR_VALUES), max_size=3)
_VALUES = st.one_of(
    _SCALAR_VALUES,
    st.lists(_SCALAR_VALUES, max_size=3).map(lambda v: {"arrayValue": {"values": v}}),
    st.just({"arrayValue": {}}),
    _KEY_VALUES.map(lambda v: {"kvlistValue": {"values": v}}),
)
_ATTRIBUTES = st.lists(st.builds(_key_value, _KEYS, st.none() | _VALUES), max_size=5)
_HEX32 = st.binary(min_size=16, max_size=16).filter(any).map(bytes.hex)
_HEX16 = st.binary(min_size=8, max_size=8).filter(any).map(bytes.hex)
_TIMES = st.sampled_from(["0", "1", str(2**63 + 5), str(2**64 - 1), ""]) | st.integers(0, 2**64 - 1).map(str)
_EVENT = st.fixed_dictionaries(
    {},
    optional={
        "name": _TEXT,
        "timeUnixNano": _TIMES,
        "attributes": _ATTRIBUTES,
        "droppedAttributesCount": st.just(1),
    },
)
_JSON_SPAN = st.fixed_dictionaries(
    {"traceId": _HEX32 | _HEX32.map(str.upper), "spanId": _HEX16},
    optional={
        "parentSpanId": st.just("") | _HEX16,
        "traceState": _TEXT,
        "flags": st.just(257),
        "name": _TEXT,
        "kind": st.integers(0, 5),
        "startTimeUnixNano": _TIMES,
        "endTimeUnixNano": _TIMES,
        "attributes": _ATTRIBUTES,
        "events": st.lists(_EVENT, max_size=3),
        "links": st.lists(st.fixed_dictionaries({"traceId": _HEX32, "attributes": _ATTRIBUTES}), max_size=2),
        "status": st.fixed_dictionaries({}, optional={"code": st.integers(0, 2), "message": _TEXT}),
    },
)
_SCOPE_BLOCK = st.fixed_dictionaries(
    {},
    optional={
        "scope": st.fixed_dictionaries(
            {}, optional={"name": _TEXT, "version": _TEXT, "attributes": _ATTRIBUTES}
        ),
        "spans": st.lists(_JSON_SPAN, max_size=4),
        "schemaUrl": _TEXT,
    },
)
_RESOURCE_BLOCK = st.fixed_dictionaries(
    {},
    optional={
        "resource": st.fixed_dictionaries({}, optional={"attributes": _ATTRIBUTES}),
        "scopeSpans": st.lists(_SCOPE_BLOCK, max_size=3),
    },
)
_DOCUMENTS = st.fixed_dictionaries({}, optional={"resourceSpans": st.lists(_RESOURCE_BLOCK, max_size=3)})


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCUMENTS, st.booleans())
def test_random_documents_in_the_supported_shapes_are_taken(document: dict[str, Any], pretty: bool) -> None:
    data = orjson.dumps(document, option=orjson.OPT_INDENT_2 if pretty else None)
    assert columnar_or_fallback(data), "a document in the supported shapes fell back"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_DOCUMENTS, st.randoms(use_true_random=False))
def test_random_mutations_are_equal_or_a_fallback(document: dict[str, Any], rng: random.Random) -> None:
    for _ in range(rng.randint(1, 3)):
        _mutate(document, rng)
    columnar_or_fallback(orjson.dumps(document))


_ODD_VALUES: list[Any] = [
    None, 0, -1, 1.5, 2**63, 2**64 - 1, "", "x", "0" * 16, "AAAAAAAAAAAAAAAAAAAAAA==", "NaN", True, [], {}, [None],
    {"stringValue": "s"}, {"intValue": "1", "stringValue": "s"}, {"kvlistValue": {"values": [{"key": "k"}]}},
    {"arrayValue": {"values": [{"arrayValue": {}}]}}, " 7", "+7", "1_0", "٣",
]  # fmt: skip


def _mutate(node: Any, rng: random.Random) -> None:
    """Replace, add or drop one field somewhere in `node` (a parsed document), in place."""
    path: list[Any] = []
    while isinstance(node, (dict, list)) and node and rng.random() < 0.8:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if not isinstance(node[key], (dict, list)) or not node[key]:
            break
        path.append(node)
        node = node[key]
    if isinstance(node, dict):
        action = rng.random()
        if node and action < 0.4:
            node[rng.choice(list(node))] = copy.deepcopy(rng.choice(_ODD_VALUES))
        elif node and action < 0.6:
            del node[rng.choice(list(node))]
        else:
            name = rng.choice(["stringValue", "intValue", "code", "kind", "extra", "trace_id", "doubleValue"])
            node[name] = copy.deepcopy(rng.choice(_ODD_VALUES))
    elif isinstance(node, list) and node:
        node[rng.randrange(len(node))] = copy.deepcopy(rng.choice(_ODD_VALUES))


# Bad input ----------------------------------------------------------------------------------------------------


def _small() -> bytes:
    span = span_message(attributes={"k": "v", "n": 3, "l": [1, "x"], "kv": {"a": 1.5}, "b": b"\x00\xff"})
    return otlp_json(trace_request(span), use_integers_for_enums=True)


def test_every_truncation_is_equal_or_a_fallback() -> None:
    data = _small()
    taken = [columnar_or_fallback(data[:cut]) for cut in range(len(data) + 1)]
    assert taken[-1] and taken.count(True) == 1


def test_random_byte_flips_are_equal_or_a_fallback() -> None:
    data = _small()
    rng = random.Random(19)
    taken = 0
    for _ in range(2000):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(flipped))] = rng.choice(b'{}[]":,0aZ \\\x00\xff')
        taken += columnar_or_fallback(bytes(flipped))
    assert taken > 20  # flips inside strings and ids read alike


def _document(**span_changes: Any) -> dict[str, Any]:
    document: dict[str, Any] = orjson.loads(_small())
    span = document["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    for key, value in span_changes.items():
        if value is _DROP:
            del span[key]
        else:
            span[key] = value
    return document


_DROP = object()
_HEX16 = "5b8efff798038103d269b633813fc60c"


def _with_attribute(value: Any) -> bytes:
    return orjson.dumps(_document(attributes=[{"key": "k", "value": value}]))


def _raw(text: str) -> bytes:
    return text.encode()


@pytest.mark.parametrize(
    "data",
    [
        # ids: missing, empty, wrong length, not hex, base64, all zeros, a number
        orjson.dumps(_document(traceId=_DROP)),
        orjson.dumps(_document(traceId="")),
        orjson.dumps(_document(traceId=_HEX16[:30])),
        orjson.dumps(_document(traceId=_HEX16[:31] + "g")),
        orjson.dumps(_document(traceId="W47/95gDgQPSabYzgT/GDA==")),
        orjson.dumps(_document(spanId="0" * 16)),
        orjson.dumps(_document(parentSpanId="00112233 4455667")),
        orjson.dumps(_document(spanId=12)),
        # wrong JSON types in every span field
        orjson.dumps(_document(name=5)),
        orjson.dumps(_document(kind="SPAN_KIND_CLIENT")),
        orjson.dumps(_document(kind=1.0)),
        orjson.dumps(_document(kind=2**40)),
        orjson.dumps(_document(startTimeUnixNano=1765000000123456789)),
        orjson.dumps(_document(startTimeUnixNano="-5")),
        orjson.dumps(_document(startTimeUnixNano=" 5")),
        orjson.dumps(_document(endTimeUnixNano=str(2**64))),
        orjson.dumps(_document(status={"code": 7})),
        orjson.dumps(_document(status={"code": "STATUS_CODE_ERROR"})),
        orjson.dumps(_document(status={"code": 2, "message": 5})),
        orjson.dumps(_document(status=[])),
        orjson.dumps(_document(attributes={})),
        orjson.dumps(_document(attributes=[None])),
        orjson.dumps(_document(events=[None])),
        orjson.dumps(_document(events=[{"name": "e", "timeUnixNano": 5}])),
        # attribute values: null kinds, two kinds, wrong types, ints today reads more loosely, bad base64, nesting
        _with_attribute({"stringValue": None}),
        _with_attribute({"stringValue": "a", "intValue": "1"}),
        _with_attribute({"intValue": "1", "boolValue": True}),
        _with_attribute({"stringValue": 5}),
        _with_attribute({"boolValue": "true"}),
        _with_attribute({"intValue": 5}),
        _with_attribute({"intValue": " 5"}),
        _with_attribute({"intValue": "1_000"}),
        _with_attribute({"intValue": str(2**63)}),
        _with_attribute({"doubleValue": "NaN"}),
        _with_attribute({"doubleValue": "1.5"}),
        _with_attribute({"bytesValue": "not base64!"}),
        _with_attribute({"arrayValue": {"values": [{"arrayValue": {"values": []}}]}}),
        _with_attribute({"kvlistValue": {"values": [{"value": {"stringValue": "no key"}}]}}),
        _with_attribute({"arrayValue": {"values": [None]}}),
        _with_attribute({"arrayValue": []}),
        orjson.dumps(_document(attributes=[{"value": {"stringValue": "no key"}}])),
        orjson.dumps(_document(attributes=[{"key": 5, "value": {}}])),
        # unknown, snake_case and legacy fields
        orjson.dumps(_document(extra=1)),
        orjson.dumps(_document(trace_id=_HEX16)),
        _raw('{"resourceSpans":[{"instrumentationLibrarySpans":[{"spans":[]}]}]}'),
        _raw('{"resource_spans":[]}'),
        # not one request document as orjson reads it
        _raw(""),
        _raw("[]"),
        _raw('{"resourceSpans":[]}{"resourceSpans":[]}'),
        _raw('{"resourceSpans":[]}\n{"resourceSpans":[]}'),
        b"\xef\xbb\xbf" + _small(),
        _small().replace(b'"doubleValue":1.5', b'"doubleValue":NaN'),
        _small().replace(b'"doubleValue":1.5', b'"doubleValue":-Infinity'),
        _small().replace(b'"doubleValue":1.5', b'"doubleValue":-0'),  # orjson: the int 0; Arrow: -0.0
        # the same keys written with escapes (orjson and Arrow both unescape keys)
        _small().replace(b'"stringValue":"v"', b'"string\\u0056alue":null'),
        _small().replace(b'"stringValue":"v"', b'"stringValu\\u0065" : null'),
        _small().replace(b'"doubleValue":1.5', b'"\\u0064oubleValue":NaN'),
        _small().replace(b'"key":"k"', b'"key":"k","key":"k2"'),
        _small().replace(b'"stringValue":"v"', b'"stringValue":"v\xff"'),
        _small().replace(b'"stringValue":"v"', b'"stringValue":"\\ud800"'),
        _small().replace(b'"stringValue":"v"', b'"stringValue":"\xed\xa0\x80"'),
        orjson.dumps(_document(traceState="TS")).replace(b'"TS"', b'"\xff"'),  # ignored today, still parsed
        _small()[:-1],
        _small() + b"x",
    ],
)
def test_what_today_rejects_or_reads_otherwise_falls_back(data: bytes) -> None:
    assert trace_request_columns_json(data) is None
    assert not columnar_or_fallback(data)


@pytest.mark.parametrize(
    "data",
    [
        _raw("{}"),
        _raw('  {"resourceSpans":[]}\n'),
        _raw('{"resourceSpans":[{"resource":{"attributes":[{"key":"a","value":{"stringValue":"r"}}]}}]}'),
        orjson.dumps(_document(parentSpanId="")),
        orjson.dumps(_document(traceId=_HEX16.upper())),
        orjson.dumps(_document(name=_DROP, kind=_DROP, status=_DROP, events=_DROP, startTimeUnixNano="0")),
        orjson.dumps(_document(status={}, kind=-3, endTimeUnixNano="")),
        orjson.dumps(_document(name='ünï 🔑 \u0000 "quoted" Value": null', startTimeUnixNano="007")),
        _with_attribute({}),
        _with_attribute({"intValue": "-9223372036854775808"}),
        _with_attribute({"doubleValue": 1e308}),
        _with_attribute({"doubleValue": 3}),
        _with_attribute({"doubleValue": -0.0}),
        _small().replace(b'"stringValue":"v"', b'"string\\u0056alue":"v"'),
        _small().replace(b'"stringValue":"v"', b'"stringValue":"\\u0041 \\u00e9\\": null"'),
        _with_attribute({"doubleValue": 1.5}).replace(b"1.5", b"-0e0"),
        _with_attribute({"doubleValue": 1.5}).replace(b"1.5", b"18446744073709551616"),
        _with_attribute({"bytesValue": "AP8"}),  # no padding, as protobuf parsers accept
        _with_attribute({"bytesValue": "-_-_"}),  # the URL-safe alphabet
        _with_attribute({"arrayValue": {}}),
        _with_attribute(
            {"kvlistValue": {"values": [{"key": "a"}, {"key": "a", "value": {"boolValue": False}}]}}
        ),
        orjson.dumps(
            _document(attributes=[{"key": "k", "value": {"stringValue": "1"}}, {"key": "k", "value": {}}])
        ),
        orjson.dumps(_document(attributes=[{"key": "k", "value": None}])),
    ],
)
def test_what_today_reads_alike_is_taken(data: bytes) -> None:
    assert columnar_or_fallback(data)
