"""The columnar facts' contract: `FACT_SCHEMA` is `SpanFacts`, facts survive the trip through a frame, and
`span_view` gives the spans' attributes as a decoded dict holds them."""

from __future__ import annotations

import dataclasses

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage

from tests.support.fact_columns import bench_requests, columns_of, fixture_names, fixture_request, read_today
from tests.support.otlp_requests import key_values, span_message, trace_request
from tracewatch.importers._fact_frame import FACT_SCHEMA, facts_from_frame, facts_to_frame, span_view
from tracewatch.importers._spans import SpanFacts


def test_the_schema_is_span_facts_but_the_keys_it_used() -> None:
    names = [f.name for f in dataclasses.fields(SpanFacts) if f.name != "attributes_used"]
    assert FACT_SCHEMA.names() == names


def _without_used(facts: list[SpanFacts]) -> list[SpanFacts]:
    return [dataclasses.replace(f, attributes_used=frozenset()) for f in facts]


@pytest.mark.parametrize("name", fixture_names())
def test_facts_survive_a_frame(name: str) -> None:
    facts = read_today(columns_of(fixture_request(name)))
    assert facts_from_frame(facts_to_frame(facts)) == _without_used(facts)


def test_the_benchmarks_facts_survive_a_frame_and_python_rows_are_kept_as_read() -> None:
    facts = [f for request in bench_requests(200) for f in read_today(columns_of(request))]
    assert len(facts) == 1000
    assert {f.dialect for f in facts} == {"genai", "openinference", "openllmetry", "none"}
    assert facts_from_frame(facts_to_frame(facts)) == _without_used(facts)
    kept = facts_from_frame(facts_to_frame(facts, python_index=True), facts)
    assert all(a is b for a, b in zip(kept, facts, strict=True))


def test_a_view_holds_the_last_value_of_a_repeated_key_at_its_first_place() -> None:
    span = span_message(attributes={"a": "first", "b": 2})
    span.attributes.extend(key_values({"a": "last"}))
    other = span_message(bytes.fromhex("0102030405060708"), attributes={"c": 1.5})
    other.kind = SpanMessage.SPAN_KIND_SERVER
    columns = columns_of(trace_request(span, other))
    view = span_view(columns)
    rows = view.attributes.sort("span_index", "position").select(
        "span_index", "key", "position", "repeated", "kind", "string_value"
    )
    assert rows.rows() == [
        (0, "a", 0, True, "string", "last"),
        (0, "b", 1, False, "int", None),
        (1, "c", 0, False, "double", None),
    ]
    assert view.events["span_index"].to_list() == [0, 1]
    assert view.event_attributes["key"].to_list() == ["index", "index"]
    assert view.resources["key"].to_list() == ["service.name"]
    only = span_view(columns, [1])
    assert only.spans["span_index"].to_list() == [1]
    assert only.attributes["key"].to_list() == ["c"]
    assert only.events["span_index"].to_list() == [1]
