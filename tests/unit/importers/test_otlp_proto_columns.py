"""The columnar protobuf decoder against today's: the same `Span`s, or a fallback, never a different row or a crash.

Requests are built with the real `opentelemetry-proto` classes: the captured instrumentations' traces
(tests/fixtures/otlp, OTLP JSON converted to protobuf), the import benchmark's generated spans, random requests
(hypothesis) and broken bytes. "The same" is checked strictly: floats bit for bit (NaN, -0.0), bools apart from
ints, and every dict's key order.
"""

from __future__ import annotations

import random
import struct
from pathlib import Path
from typing import Any

import pytest
from bench.import_spans import SpanSet, _requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from tests.support.fact_columns import fixture_request
from tests.support.otlp_requests import CHILD_ID, EVERY_KIND, ROOT_ID, TRACE_ID, span_message, trace_request
from tracewatch.importers._otlp_decoded import DecodedTraces, RequestError
from tracewatch.importers._otlp_proto import decode_trace_request
from tracewatch.importers._otlp_proto_columns import trace_request_columns
from tracewatch.importers._span_columns import spans_from_columns
from tracewatch.importers._spans import Span

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "otlp"


def _canon(value: Any) -> Any:
    """`value` in a form whose equality is strict: typed scalars, floats as their bits, dicts as ordered items."""
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return ("dict", [(k, _canon(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_canon(v) for v in value])
    return (type(value).__name__, value)


def _span_canon(span: Span) -> Any:
    return [
        span.trace_id,
        span.span_id,
        span.parent_span_id,
        _canon(span.name),
        _canon(span.start_time_unix_nano),
        _canon(span.end_time_unix_nano),
        span.status,
        _canon(span.status_message),
        _canon(span.kind),
        _canon(span.attributes),
        _canon(span.resource),
        _canon(span.scope_name),
        [
            (_canon(e.name), _canon(e.time_unix_nano), _canon(e.attributes), _canon(e.body))
            for e in span.events
        ],
    ]


def columnar_or_fallback(data: bytes) -> bool:
    """Whether the columnar decoder took `data` (False: it fell back); when it did, today's decoder must read
    every span of it, and the same ones."""
    columns = trace_request_columns(data)
    if columns is None:
        return False
    today = DecodedTraces()
    decode_trace_request(
        data, today
    )  # a RequestError here fails the test: the columns should have fallen back
    assert today.rejected == []
    got = spans_from_columns(columns)
    assert [_span_canon(s) for s in got] == [_span_canon(s) for s in today.spans]
    return True


def _fixture_request(name: str) -> bytes:
    return fixture_request(name).SerializeToString()


@pytest.mark.parametrize("name", sorted(p.name for p in FIXTURES.glob("*.traces.json")))
def test_the_real_instrumentations_traces_decode_alike(name: str) -> None:
    data = _fixture_request(name)
    assert columnar_or_fallback(data)
    columns = trace_request_columns(data)
    assert columns is not None and columns.spans.num_rows == 4


def test_the_benchmarks_spans_decode_alike() -> None:
    requests = [r.SerializeToString() for _, r, _ in _requests(1500, SpanSet(prefix=""))]
    assert len(requests) >= 2
    assert all(columnar_or_fallback(data) for data in requests)
    columns = [trace_request_columns(data) for data in requests]
    assert sum(c.spans.num_rows for c in columns if c) == 7500
    nested = sum(c.attributes.column("nested_value").null_count < c.attributes.num_rows for c in columns if c)
    assert nested, "the benchmark's spans carry key-value lists: the nested path is exercised"


def test_every_value_kind_and_the_layout() -> None:
    data = trace_request(span_message(), span_message(ROOT_ID, parent=b"")).SerializeToString()
    assert columnar_or_fallback(data)
    columns = trace_request_columns(data)
    assert columns is not None
    spans = columns.spans.to_pylist()
    assert spans[0]["trace_id"] == TRACE_ID.hex() and spans[0]["span_id"] == CHILD_ID.hex()
    assert spans[0]["parent_span_id"] == ROOT_ID.hex() and spans[1]["parent_span_id"] is None
    assert spans[0]["status_code"] == 2 and spans[0]["status_message"] == "rate limited"
    rows = [r for r in columns.attributes.to_pylist() if r["owner"] == "span" and r["owner_index"] == 0]
    assert [r["key"] for r in rows] == list(EVERY_KIND)
    kinds = {r["key"]: r["kind"] for r in rows}
    assert kinds["raw"] == "bytes" and kinds["tag.tags"] == "array" and kinds["empty"] is None
    assert columns.events.to_pylist()[0]["span_index"] == 0


# Random requests ----------------------------------------------------------------------------------------------

_TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
_KEYS = st.sampled_from(["a", "b", "", "gen_ai.usage.input_tokens", "ключ", "🔑"]) | _TEXT
_SCALARS = (
    st.none()
    | st.just("EMPTY")  # an AnyValue that is there but holds nothing
    | _TEXT.map(lambda s: ("s", s))
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.binary(max_size=20)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.lists(st.tuples(_KEYS, inner), max_size=4).map(tuple),
    max_leaves=10,
)
_ATTRIBUTES = st.lists(st.tuples(_KEYS, _VALUES), max_size=6)


def _fill(message: AnyValue, value: Any) -> None:
    if value == "EMPTY":
        message.SetInParent()
    elif isinstance(value, tuple) and len(value) == 2 and value[0] == "s" and isinstance(value[1], str):
        message.string_value = value[1]
    elif isinstance(value, bool):
        message.bool_value = value
    elif isinstance(value, int):
        message.int_value = value
    elif isinstance(value, float):
        message.double_value = value
    elif isinstance(value, bytes):
        message.bytes_value = value
    elif isinstance(value, list):
        message.array_value.SetInParent()
        for item in value:
            _fill(message.array_value.values.add(), item)
    elif isinstance(value, tuple):
        message.kvlist_value.SetInParent()
        _key_values(message.kvlist_value.values, value)


def _key_values(target: Any, pairs: Any) -> None:
    for key, value in pairs:
        kv: KeyValue = target.add(key=key)
        if value is not None:
            _fill(kv.value, value)


_ID16 = st.binary(min_size=16, max_size=16).filter(any)
_ID8 = st.binary(min_size=8, max_size=8).filter(any)
_TIME = st.sampled_from([0, 1, 2**53 + 1, 2**63 + 5, 2**64 - 1]) | st.integers(0, 2**64 - 1)
_SPAN = st.fixed_dictionaries(
    {
        "trace_id": _ID16,
        "span_id": _ID8,
        "parent": st.none() | _ID8,
        "name": _TEXT,
        "kind": st.integers(0, 5),
        "start": _TIME,
        "end": _TIME,
        "status": st.none() | st.tuples(st.integers(0, 2), _TEXT),
        "attributes": _ATTRIBUTES,
        "events": st.lists(st.tuples(_TEXT, _TIME, _ATTRIBUTES), max_size=3),
        "links": st.lists(st.tuples(_ID16, _ID8, _TEXT, _ATTRIBUTES), max_size=2),
        "trace_state": _TEXT,
    }
)
_SCOPE = st.tuples(st.none() | _TEXT, st.booleans(), _ATTRIBUTES, st.lists(_SPAN, max_size=4))
_RESOURCE = st.tuples(st.none() | _ATTRIBUTES, st.lists(_SCOPE, max_size=3))


def _span(spec: dict[str, Any], target: SpanMessage) -> None:
    target.trace_id, target.span_id, target.name, target.kind = (
        spec["trace_id"],
        spec["span_id"],
        spec["name"],
        spec["kind"],
    )
    target.start_time_unix_nano, target.end_time_unix_nano = spec["start"], spec["end"]
    target.trace_state = spec["trace_state"]
    if spec["parent"] is not None:
        target.parent_span_id = spec["parent"]
    if spec["status"] is not None:
        target.status.code, target.status.message = spec["status"]
    _key_values(target.attributes, spec["attributes"])
    for name, time, attributes in spec["events"]:
        event = target.events.add(name=name, time_unix_nano=time)
        _key_values(event.attributes, attributes)
    for trace_id, span_id, state, attributes in spec["links"]:
        link = target.links.add(trace_id=trace_id, span_id=span_id, trace_state=state)
        _key_values(link.attributes, attributes)


def _request(resources: list[Any]) -> bytes:
    request = ExportTraceServiceRequest()
    for attributes, scopes in resources:
        block = request.resource_spans.add()
        if attributes is not None:
            block.resource.SetInParent()
            _key_values(block.resource.attributes, attributes)
        for name, version, scope_attributes, spans in scopes:
            scope_block = block.scope_spans.add()
            if name is not None:
                scope_block.scope.name = name
            if version:
                scope_block.scope.version = "1.0"
            _key_values(scope_block.scope.attributes, scope_attributes)
            for spec in spans:
                _span(spec, scope_block.spans.add())
    return request.SerializeToString()


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RESOURCE, max_size=3))
def test_random_requests_decode_alike(resources: list[Any]) -> None:
    assert columnar_or_fallback(_request(resources)), "a valid request fell back"


# Bad input ----------------------------------------------------------------------------------------------------


def _small() -> bytes:
    span = span_message(attributes={"k": "v", "n": 3, "l": [1, "x"], "kv": {"a": {"b": 1.5}}})
    span.links.add(trace_id=TRACE_ID, span_id=ROOT_ID).attributes.add(key="link", value=AnyValue(int_value=1))
    return trace_request(span).SerializeToString()


def test_every_truncation_is_equal_or_a_fallback() -> None:
    data = _small()
    taken = [columnar_or_fallback(data[:cut]) for cut in range(len(data) + 1)]
    assert taken[-1] and taken[0]  # the whole request, and the empty one (no spans)
    assert taken.count(False) > len(data) // 2


def test_random_byte_flips_are_equal_or_a_fallback() -> None:
    data = _small()
    rng = random.Random(19)
    fell_back = 0
    for _ in range(3000):
        flipped = bytearray(data)
        for _ in range(rng.randint(1, 3)):
            flipped[rng.randrange(len(flipped))] = rng.randrange(256)
        fell_back += not columnar_or_fallback(bytes(flipped))
    assert fell_back > 100


def _with_span(**changes: Any) -> bytes:
    span = span_message()
    for name, value in changes.items():
        setattr(span, name, value)
    return trace_request(span).SerializeToString()


def _string_field(number: int, raw: bytes) -> bytes:
    """`raw` as length-delimited field `number` (upb's classes would refuse to build some of these)."""
    return _varint(number << 3 | 2) + _varint(len(raw)) + raw


def _varint(value: int) -> bytes:
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    return bytes(out) + bytes([value])


def _raw_request(span: bytes) -> bytes:
    """A request of one resource block of one scope block holding the span encoded as `span`."""
    return _string_field(1, _string_field(2, _string_field(2, span)))


def _bad_status() -> bytes:
    span = span_message()
    span.status.code = 7  # type: ignore[assignment]
    return trace_request(span).SerializeToString()


_SPAN_BYTES = span_message().SerializeToString()


@pytest.mark.parametrize(
    "data",
    [
        _with_span(trace_id=b"\x01" * 15),
        _with_span(trace_id=bytes(16)),
        _with_span(trace_id=b""),
        _with_span(span_id=b"\x01" * 9),
        _with_span(span_id=bytes(8)),
        _with_span(parent_span_id=bytes(8)),
        _with_span(parent_span_id=b"\x01" * 4),
        _bad_status(),  # a status code OTLP does not define
        # the older instrumentation_library_spans (field 1000) in place of scope_spans
        _string_field(1, _string_field(1000, b"")),
        # a name (field 5) that is not UTF-8, and a trace state (field 3, not kept but checked by upb)
        _raw_request(span_message(attributes={}).SerializeToString() + _string_field(5, b"chat\xffsmol")),
        _raw_request(_SPAN_BYTES + _string_field(3, b"\xed\xa0\x80")),
        # a span giving its name twice (upb keeps the last: this reader falls back)
        _raw_request(_SPAN_BYTES + _string_field(5, b"again")),
    ],
)
def test_what_today_rejects_or_reads_otherwise_falls_back(data: bytes) -> None:
    assert trace_request_columns(data) is None
    assert not columnar_or_fallback(data)


def test_an_any_value_with_two_value_fields_falls_back() -> None:
    value = AnyValue(string_value="first").SerializeToString() + AnyValue(int_value=2).SerializeToString()
    kv = KeyValue(key="k").SerializeToString() + _string_field(2, value)
    data = _raw_request(span_message(attributes={}).SerializeToString() + _string_field(9, kv))
    today = DecodedTraces()
    decode_trace_request(data, today)
    assert today.spans[0].attributes == {"k": 2}  # upb: the last field of the oneof wins
    assert trace_request_columns(data) is None


def _nested_request(levels: int, *, in_event: bool = False) -> bytes:
    """A span (or its event) with one attribute: a string inside `levels` arrays, each two messages deeper."""
    value = AnyValue(string_value="deep").SerializeToString()
    for _ in range(levels):
        value = _string_field(5, _string_field(1, value))  # AnyValue.array_value.values[0]
    kv = _string_field(1, b"deep") + _string_field(2, value)
    if in_event:
        return _raw_request(_SPAN_BYTES + _string_field(11, _string_field(3, kv)))
    return _raw_request(_SPAN_BYTES + _string_field(9, kv))


def test_nesting_upb_refuses_falls_back() -> None:
    data = _nested_request(120)
    with pytest.raises(RequestError):
        decode_trace_request(data, DecodedTraces())
    assert trace_request_columns(data) is None
    # around upb's depth limit: the same spans or a fallback, both for a span's and an event's attribute
    taken = [
        columnar_or_fallback(_nested_request(n, in_event=e)) for n in range(40, 52) for e in (False, True)
    ]
    assert taken[0] and not taken[-1]


def test_unknown_span_fields_are_skipped_as_upb_skips_them() -> None:
    unknown = (
        _varint(20 << 3) + _varint(7) + _string_field(21, b"\xff not text") + _varint(22 << 3 | 5) + bytes(4)
    )
    data = _raw_request(_SPAN_BYTES + unknown)
    assert columnar_or_fallback(data)


def test_a_known_field_with_another_wire_type_falls_back() -> None:
    data = _raw_request(_SPAN_BYTES + _varint(5 << 3) + _varint(1))  # the name as a varint
    assert trace_request_columns(data) is None
    assert not columnar_or_fallback(data)


def test_scope_attributes_are_kept_and_links_are_not() -> None:
    span = span_message(attributes={"k": "v"})
    span.links.add(trace_id=TRACE_ID, span_id=ROOT_ID).attributes.add(
        key="link.k", value=AnyValue(int_value=1)
    )
    request = trace_request(span)
    request.resource_spans[0].scope_spans[0].scope.attributes.add(
        key="scope.k", value=AnyValue(bool_value=True)
    )
    data = request.SerializeToString()
    assert columnar_or_fallback(data)
    columns = trace_request_columns(data)
    assert columns is not None and (columns.resources, columns.scopes) == (1, 1)
    rows = [(r["owner"], r["owner_index"], r["key"]) for r in columns.attributes.to_pylist()]
    assert rows == [
        ("resource", 0, "service.name"),
        ("scope", 0, "scope.k"),
        ("span", 0, "k"),
        ("event", 0, "index"),
    ]


def test_bytes_that_are_not_a_request_fall_back() -> None:
    for data in (b"\xff" * 10, b"\x0b\x0c", b"\x0a\x80", b"\x0a\x05\x12\x03\x12\x01", b"\x08\x01"):
        assert not columnar_or_fallback(data)
