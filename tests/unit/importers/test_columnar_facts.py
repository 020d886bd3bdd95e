"""`columnar_facts` against today's `span_facts`, span by span: the rules every dialect shares, what goes to Python
and why, and that every span of an object gets exactly one row in document order."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span as SpanMessage
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from tests.support.fact_columns import bench_requests, columns_of, fixture_names, fixture_request, read_today
from tests.support.otlp_requests import TRACE_ID, key_values
from tracewatch.importers._columnar_facts import DIALECT_READERS, DialectReader, columnar_facts
from tracewatch.importers._fact_frame import facts_from_frame, facts_to_frame
from tracewatch.importers._object_reads import span_facts
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns
from tracewatch.importers._spans import SpanEvent

READERS: dict[str, DialectReader] = DIALECT_READERS
"""The dialect readers (each tested on its own in test_genai_columns / test_openinference_columns); here with the
shared rules on top, against today's `span_facts`."""


def _check(
    columns: SpanColumns, *, joined: dict[int, list[SpanEvent]] | None = None, project: str | None = None
) -> pl.DataFrame:
    got = columnar_facts(columns, readers=READERS, joined=joined, from_attribute=project)
    spans = spans_from_columns(columns)
    today = [span_facts(span, (joined or {}).get(i), project) for i, span in enumerate(spans)]
    exact = got.frame.filter(pl.col("python_index").is_null())
    rows = [i for i, index in enumerate(got.frame["python_index"]) if index is None]
    assert exact.drop("python_index").equals(facts_to_frame([today[i] for i in rows])), "a row differs"
    assert facts_from_frame(got.frame, got.read) == [
        replace(f, attributes_used=frozenset()) if i in rows else f for i, f in enumerate(today)
    ]
    python = got.frame["python_index"]
    assert sorted(python.drop_nulls().to_list()) == list(range(len(got.read)))
    assert [f.span_id for f in got.read] == got.frame.filter(python.is_not_null())["span_id"].to_list()
    return got.frame


@pytest.mark.parametrize("name", fixture_names())
def test_the_real_instrumentations_spans(name: str) -> None:
    frame = _check(columns_of(fixture_request(name)))
    assert frame.height == 4


def test_the_benchmarks_spans_are_mapped_in_columns_unless_todays_readers_warn() -> None:
    columnar = silent = 0
    for request in bench_requests(400):
        columns = columns_of(request)
        frame = _check(columns)
        columnar += frame.filter(pl.col("python_index").is_null()).height
        silent += sum(not f.metadata.get("import_warnings") for f in read_today(columns))
    # Every span today's readers read without a warning is mapped in columns, and the warned-about ones (plain
    # text tool results) survive the frame too (`read_rows`): every span of the benchmark is a column row.
    assert silent >= 1600
    assert columnar == 2000


def _span(
    number: int,
    *,
    parent: int | None,
    kind: int = 1,
    status: tuple[int, str] | None = None,
    attributes: dict[str, Any] | None = None,
    events: int = 0,
) -> SpanMessage:
    span = SpanMessage(
        trace_id=TRACE_ID,
        span_id=number.to_bytes(8, "big"),
        parent_span_id=b"" if parent is None else parent.to_bytes(8, "big"),
        name=f"span {number}",
        kind=kind,  # type: ignore[arg-type]
        start_time_unix_nano=1_765_000_000_000_000_000 + number,
        end_time_unix_nano=1_765_000_001_000_000_000,
    )
    if status is not None:
        span.status.CopyFrom(Status(code=status[0], message=status[1]))  # type: ignore[arg-type]
    span.attributes.extend(key_values(attributes or {}))
    for i in range(events):
        span.events.add(name="exception", time_unix_nano=5).attributes.extend(
            key_values({"exception.type": f"E{i}", "exception.message": "boom"})
        )
    return span


def _request(*spans: SpanMessage, resource: dict[str, Any] | None = None) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    block = request.resource_spans.add()
    block.resource.attributes.extend(
        key_values({"service.name": "chat-api"} if resource is None else resource)
    )
    block.scope_spans.add().spans.extend(spans)
    return request


def test_the_shared_rules_on_spans_of_no_dialect() -> None:
    frame = _check(
        columns_of(
            _request(
                _span(1, parent=None, attributes={"http.route": "/ask", "user.id": "", "enduser.id": "ann"}),
                _span(2, parent=1, kind=2, attributes={"http.route": "/inner", "session.id": "s1"}),
                _span(3, parent=1, attributes={"http.route": "/not-read", "error.type": "Timeout"}),
                _span(
                    4, parent=1, status=(2, "rate limited"), attributes={"user.id": "bob", "enduser.id": "x"}
                ),
                _span(5, parent=1, status=(1, "fine"), attributes={"error.type": ""}),
                _span(6, parent=1, status=(2, "")),
            )
        )
    )
    assert frame["python_index"].null_count() == 6
    assert frame["route"].to_list() == ["/ask", "/inner", None, None, None, None]
    assert frame["user_id"].to_list() == ["ann", None, None, "bob", None, None]
    assert frame["status"].to_list() == ["unset", "unset", "error", "error", "ok", "error"]
    assert frame["error_message"].to_list() == [None, None, None, "rate limited", None, None]


@pytest.mark.parametrize(
    "resource",
    [
        {"service.name": "unknown_service:python"},
        {"service.name": ""},
        {},
        {"service.name": 7},
        {"service.name": None},
    ],
)
def test_a_service_name_that_names_no_project(resource: dict[str, Any]) -> None:
    frame = _check(columns_of(_request(_span(1, parent=None), resource=resource)))
    assert frame["project"].to_list() == [None]


@pytest.mark.parametrize(
    ("attributes", "resource"),
    [
        ({"team": "search"}, {}),
        ({}, {"team": "search"}),
        ({"team": None}, {"team": "r"}),
        ({}, {"team": 3}),
        ({"team": 3}, {}),
    ],
)
def test_the_sources_project_attribute(attributes: dict[str, Any], resource: dict[str, Any]) -> None:
    _check(
        columns_of(_request(_span(1, parent=None, attributes=attributes), resource=resource)), project="team"
    )


@pytest.mark.parametrize(
    "attributes",
    [
        {"user.id": 5},
        {"http.route": b"/x"},
        {"session.id": ["a"]},
        {"error.type": 1.5},
        {"tracewatch.tags": "t"},
    ],
)
def test_values_today_would_warn_about_and_app_attributes_are_read_as_today_reads_them(
    attributes: dict[str, Any],
) -> None:
    _check(columns_of(_request(_span(1, parent=None, attributes=attributes))))


def test_spans_with_events_and_joined_log_records_are_read_as_today_and_counted() -> None:
    columns = columns_of(_request(_span(1, parent=None, events=1), _span(2, parent=1), _span(3, parent=1)))
    joined = {2: [SpanEvent("gen_ai.user.message", 7, {}, {"content": "hi"})]}
    frame = _check(columns, joined=joined)
    assert frame["log_records"].to_list() == [0, 0, 1]
    # (the exception event's type and message are in span 1's facts: `_check` compared every span's facts)


_VALUES = st.one_of(
    st.sampled_from(["", "x", "unknown_service:y", "/r"]), st.none(), st.integers(-3, 3), st.booleans()
)
_KEYS = st.sampled_from(
    ["http.route", "user.id", "enduser.id", "session.id", "error.type", "service.name", "team", "other"]
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(
            st.booleans(),
            st.integers(0, 5),
            st.none() | st.tuples(st.integers(0, 2), st.sampled_from(["", "m"])),
            st.dictionaries(_KEYS, _VALUES, max_size=5),
        ),
        min_size=1,
        max_size=6,
    ),
    st.dictionaries(_KEYS, _VALUES, max_size=3),
    st.sampled_from([None, "team", "session.id"]),
)
def test_random_spans_of_no_dialect(spans: list[Any], resource: dict[str, Any], project: str | None) -> None:
    messages = [
        _span(i + 1, parent=None if rooted else 1, kind=kind, status=status, attributes=attributes)
        for i, (rooted, kind, status, attributes) in enumerate(spans)
    ]
    _check(columns_of(_request(*messages, resource=resource)), project=project)
