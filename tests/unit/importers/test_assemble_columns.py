"""Columnar assembly's contract: every trace's row and outcome equal today's `assemble_trace` of the same facts
(floats bit for bit, the metadata text identical, the rows' Parquet bytes identical), the real instrumentations'
and the benchmark's traces done in columns, every odd shape done by today's code, random traces of facts too."""

from __future__ import annotations

import dataclasses
import io
import math
import struct
from collections.abc import Callable, Sequence
from typing import Any

import polars as pl
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.support.fact_columns import bench_requests, columns_of, fixture_names, fixture_request, read_today
from tests.unit.importers.test_otlp_proto_columns import _RESOURCE, _request
from tracewatch.importers import _assemble_columns
from tracewatch.importers._assemble import IncompletePolicy, assemble_trace, group_by_trace
from tracewatch.importers._assemble_columns import assemble_columns
from tracewatch.importers._fact_frame import facts_from_frame, facts_to_frame, python_frame
from tracewatch.importers._llm_calls import Pricer
from tracewatch.importers._rows_frame import trace_rows_frame
from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts
from tracewatch.traces import TRACE_SCHEMA

T0 = 1_765_000_000_000_000_000
FLAGGED = IncompletePolicy.IMPORT_FLAGGED


def table_pricer(model: str, inputs: int, outputs: int) -> float | None:
    """A price for the gpt models (per token, like litellm's map), none for others."""
    if not model.startswith("gpt"):
        return None
    return inputs * 1.5e-7 + outputs * 6e-7


def _bits(value: Any) -> Any:
    """A row value with floats as their bits, so that NaN, -0.0 and the last bit compare."""
    if isinstance(value, float):
        return ("float", struct.pack("<d", value))
    if isinstance(value, dict):
        return {k: _bits(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_bits(v) for v in value]
    return value


def _parquet(frame: pl.DataFrame) -> bytes:
    out = io.BytesIO()
    frame.write_parquet(out)
    return out.getvalue()


def frame_of(facts: Sequence[SpanFacts], python: Sequence[int] = ()) -> pl.DataFrame:
    """Facts as `FRAME_SCHEMA` rows; the rows at `python` point at their facts (`python_index`)."""
    index = [i if i in python else None for i in range(len(facts))]
    return facts_to_frame(facts).with_columns(pl.Series("python_index", index, dtype=pl.Int32()))


def sources_of(frame: pl.DataFrame, **columns: Callable[[str], str]) -> pl.DataFrame:
    ids = frame["trace_id"].unique(maintain_order=True).to_list()
    return pl.DataFrame(
        {"trace_id": ids, **{name: [make(i) for i in ids] for name, make in columns.items()}},
        schema={"trace_id": pl.String(), **dict.fromkeys(columns, pl.String())},
    )


def assert_as_today(
    frame: pl.DataFrame,
    read: Sequence[SpanFacts] = (),
    *,
    pricer: Pricer | None = table_pricer,
    incomplete: IncompletePolicy = FLAGGED,
    sources: pl.DataFrame | None = None,
    monkeypatch: pytest.MonkeyPatch,
) -> set[str]:
    """Assert `assemble_columns` equals today's code trace by trace; the trace ids it left to today's code."""
    if sources is None:
        sources = sources_of(frame, name=lambda _: "bench", home=lambda t: f"s3://b/{t[:4]}")
    left: set[str] = set()

    def spy(facts: Sequence[SpanFacts], **kwargs: Any) -> Any:
        left.add(facts[0].trace_id)
        return assemble_trace(facts, **kwargs)

    monkeypatch.setattr(_assemble_columns, "assemble_trace", spy)
    got = assemble_columns(frame, read, pricer=pricer, incomplete=incomplete, sources=sources, columns_from=0)
    monkeypatch.undo()

    by_trace = {r[0]: dict(zip(sources.columns[1:], r[1:], strict=True)) for r in sources.rows()}
    rows: list[dict[str, Any]] = []
    outcomes: list[tuple[Any, ...]] = []
    for facts in group_by_trace(facts_from_frame(frame, read)):
        done = assemble_trace(
            facts, project=None, pricer=pricer, incomplete=incomplete, source=by_trace[facts[0].trace_id]
        )
        if done.row is not None:
            rows.append(done.row)
        outcomes.append(
            (done.trace_id, done.span_count, done.duplicates, done.incomplete, done.code, done.reason)
        )
    want = trace_rows_frame(rows)
    assert got.rows.schema == pl.Schema(TRACE_SCHEMA)
    assert got.outcomes.rows() == outcomes
    assert got.rows.height == want.height
    for mine, today in zip(got.rows.iter_rows(named=True), want.iter_rows(named=True), strict=True):
        assert _bits(mine) == _bits(today), mine["trace_id"]
    assert _parquet(got.rows) == _parquet(want)
    return left


# ---- real spans: all in columns -------------------------------------------------------------------------


@pytest.mark.parametrize("name", fixture_names())
def test_the_instrumentations_traces_are_assembled_in_columns_as_today(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = frame_of(read_today(columns_of(fixture_request(name))))
    assert assert_as_today(frame, monkeypatch=monkeypatch) == set()


@pytest.mark.parametrize("pricer", [table_pricer, None])
def test_the_benchmarks_traces_are_assembled_in_columns_as_today(
    pricer: Pricer | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts = [f for request in bench_requests(300) for f in read_today(columns_of(request))]
    frame = frame_of(facts)
    assert frame["trace_id"].n_unique() == 300
    assert assert_as_today(frame, pricer=pricer, monkeypatch=monkeypatch) == set()


def test_rows_come_in_the_order_of_each_traces_first_row(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = [f for request in bench_requests(20) for f in read_today(columns_of(request))]
    shuffled = facts[1::2] + facts[::2]
    frame = frame_of(shuffled)
    assert assert_as_today(frame, monkeypatch=monkeypatch) == set()
    got = assemble_columns(
        frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame), columns_from=0
    )
    assert got.rows["trace_id"].to_list() == list(dict.fromkeys(f.trace_id for f in shuffled))


def test_spans_read_in_python_send_their_trace_to_todays_code(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = [f for request in bench_requests(10) for f in read_today(columns_of(request))]
    python = [3]
    read = [dataclasses.replace(facts[3], metadata={"odd": True})]
    frame = frame_of(facts, python).with_columns(
        pl.when(pl.col("python_index").is_not_null()).then(0).alias("python_index").cast(pl.Int32())
    )
    left = assert_as_today(frame, read, monkeypatch=monkeypatch)
    assert left == {facts[3].trace_id}
    got = assemble_columns(frame, read, pricer=None, incomplete=FLAGGED, sources=sources_of(frame))
    row = got.rows.filter(pl.col("trace_id") == facts[3].trace_id)
    assert '"odd":true' in row["metadata"][0]


# ---- hand-made traces: each odd shape falls back or equals today ----------------------------------------


def span(
    span_id: str,
    parent: str | None = None,
    start: int | None = 0,
    end: int | None = 1_000_000,
    *,
    trace_id: str = "t1",
    **fields: Any,
) -> SpanFacts:
    return SpanFacts(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=fields.pop("name", f"op {span_id}"),
        start_time_unix_nano=None if start is None else T0 + start,
        end_time_unix_nano=None if end is None else T0 + end,
        **fields,
    )


def llm(span_id: str, parent: str | None = "r", start: int = 100, end: int = 900, **fields: Any) -> SpanFacts:
    defaults: dict[str, Any] = {
        "role": "llm",
        "dialect": "genai",
        "request_model": "gpt-4o-mini",
        "provider": "openai",
        "input_tokens": 10,
        "output_tokens": 5,
        "input_messages": [ChatMessage("system", "be brief"), ChatMessage("user", "hi")],
        "output_messages": [ChatMessage("assistant", "hello")],
    }
    return span(span_id, parent, start, end, **{**defaults, **fields})


def root(**fields: Any) -> SpanFacts:
    return span("r", None, fields.pop("start", 0), fields.pop("end", 1_000_000), **fields)


SIMPLE = [root(route="/qa"), llm("a")]

# name -> (facts, done in columns)
CASES: dict[str, tuple[list[SpanFacts], bool]] = {
    "simple": (SIMPLE, True),
    "empty parent id is no parent": ([root(), llm("a", parent="")], False),
    "duplicate span, same facts": ([*SIMPLE, llm("a")], False),
    "duplicate span, differing facts": ([*SIMPLE, llm("a", input_tokens=99)], False),
    "two roots": ([root(), llm("a", parent=None)], False),
    "missing parent": ([root(), llm("a", parent="zz")], False),
    "rootless": ([llm("a", parent="zz"), llm("b", parent="a", start=200)], False),
    "cycle beside a root": ([root(), llm("a", parent="b", start=10), llm("b", parent="a", start=20)], False),
    "cycle only": ([llm("a", parent="b", start=10), llm("b", parent="a", start=10)], False),
    "clock skew": ([root(start=500), llm("a", start=100)], False),
    "same start, parent id first": ([span("a", None, 100), llm("b", parent="a", start=100)], True),
    "same start, parent id last": ([span("b", None, 100), llm("a", parent="b", start=100)], False),
    "child without start": ([root(), llm("a"), span("c", "r", None, 5)], False),
    "child without end": ([root(), llm("a"), span("c", "r", 5, None)], False),
    "root without start": ([root(start=None), llm("a")], False),
    "root without any start": ([span("r", None, None, 5), span("a", "r", None, 9, role="llm")], False),
    "root ends before it starts": ([root(start=500, end=400), llm("a", start=600, end=700)], False),
    "no llm span": ([root(), span("c", "r", 5, 9, role="retriever")], False),
    "negative tokens": ([root(), llm("a", input_tokens=-1)], False),
    "huge tokens": ([root(), llm("a", output_tokens=2**50)], False),
    "huge total": ([root(), llm("a", total_tokens=2**41)], False),
    "ties in start: span id decides": (
        [root(), llm("b", start=100, response_model="m-b"), llm("a", start=100, response_model="m-a")],
        True,
    ),
    "ties in end: the later start wins, then the first": (
        [
            root(),
            llm("a", start=100, end=900, output_messages=[ChatMessage("assistant", "A")]),
            llm("b", start=200, end=900, output_messages=[ChatMessage("assistant", "B")]),
            llm("c", start=200, end=900, output_messages=[ChatMessage("assistant", "C")]),
        ],
        True,
    ),
    "ties in tokens: the earliest call's model": (
        [root(), llm("a", request_model="gpt-a"), llm("b", start=200, request_model="gpt-b")],
        True,
    ),
    "weight from the total alone": (
        [
            root(),
            llm("a", request_model="gpt-a", input_tokens=None, output_tokens=None, total_tokens=100),
            llm("b", start=200, request_model="gpt-b", input_tokens=40, output_tokens=None),
        ],
        True,
    ),
    "missing tokens on one call": ([root(), llm("a"), llm("b", start=200, input_tokens=None)], True),
    "no call states tokens: the root's": (
        [
            root(input_tokens=70, output_tokens=30, cost_usd=0.25),
            llm("a", input_tokens=None, output_tokens=None, cost_usd=None),
        ],
        True,
    ),
    "root is the llm span": ([llm("r", parent=None, start=0, input_tokens=None)], True),
    "unknown price": ([root(), llm("a", request_model="claude-3", response_model="claude-3-x")], True),
    "answered model priced, requested not": (
        [root(), llm("a", request_model="x", response_model="gpt-4o")],
        True,
    ),
    "requested model priced, answered not": (
        [root(), llm("a", request_model="gpt-4o", response_model="x")],
        True,
    ),
    "cost attribute and price mixed": ([root(), llm("a", cost_usd=0.5), llm("b", start=200)], True),
    "cost attribute alone": ([root(), llm("a", cost_usd=0.1), llm("b", start=200, cost_usd=0.2)], True),
    "silent call": (
        [root(), llm("a"), llm("b", start=200, input_tokens=None, output_tokens=None, request_model=None)],
        True,
    ),
    "unpriced and priced: cost known": ([root(), llm("a"), llm("b", start=200, request_model="other")], True),
    "no model name": ([root(), llm("a", request_model="", response_model=None)], True),
    "root fails with a cause below": (
        [root(status="error"), llm("a", status="error", error_type="Timeout", error_message="slow")],
        True,
    ),
    "root error type on an unset status": ([root(error_type="Boom"), llm("a")], True),
    "root error with its own words": (
        [root(status="error", error_type="E", error_message="m"), llm("a", status="error", error_type="T")],
        True,
    ),
    "root ok, last call failed": ([root(status="ok"), llm("a", status="error", error_type="T")], True),
    "root unset, last call failed": (
        [root(), llm("a"), llm("b", start=200, end=950, status="error", error_message="down")],
        True,
    ),
    "an earlier call failed, the last did not": (
        [root(), llm("a", status="error", error_type="T"), llm("b", start=200, end=950)],
        True,
    ),
    "tags null": (SIMPLE, True),
    "tags empty": ([root(tags=[]), llm("a")], True),
    "tags repeated across spans": ([root(tags=["x", "y"]), llm("a", tags=["y", "z", "x"])], True),
    "retrieved and feedback empty": ([root(retrieved=[], feedback=[]), llm("a")], True),
    "retrieved and feedback joined in start order": (
        [
            root(feedback=[FeedbackValue("thumbs", 1.0, "user")]),
            span("q", "r", 50, 90, role="retriever", retrieved=[Passage("d1", "text", 0.5)]),
            llm("a", retrieved=[Passage(None, None, None)], feedback=[]),
        ],
        True,
    ),
    "input and output from the root": (
        [root(input_text="question", output_text="answer", input_messages=[]), llm("a")],
        True,
    ),
    "empty root texts fall through": (
        [root(input_text="", output_text="", output_messages=[ChatMessage("user", "u")]), llm("a")],
        True,
    ),
    "input of unknown role, output without assistant": (
        [
            root(),
            llm(
                "a",
                input_messages=[ChatMessage("unknown", "raw"), ChatMessage("system", "s")],
                output_messages=[ChatMessage("tool", "t1"), ChatMessage("tool", "t2")],
            ),
        ],
        True,
    ),
    "no messages at all": ([root(), llm("a", input_messages=None, output_messages=[])], True),
    "output text beats messages on the last call": (
        [
            root(),
            llm("a", output_text=""),
            llm("b", start=200, end=500, output_text="later start, earlier end"),
        ],
        True,
    ),
    "first other span states route, user, session, project": (
        [
            root(route="", project=""),
            span("c", "r", 10, 20, route="/r", project="p", user_id="u", session_id="s"),
            llm("a", user_id="u2", session_id=""),
        ],
        True,
    ),
    "no route: the root's name": ([root(name=""), llm("a")], True),
    "provider from another call": (
        [root(), llm("a", provider="", input_tokens=50), llm("b", start=200, provider="azure")],
        True,
    ),
    "span metadata: warnings, clashes, leftovers": (
        [
            root(metadata={"k": 1, "import_warnings": ["w1", "w2"]}, log_records=2),
            span("c", "r", 10, 20, metadata={"k": 2, "import_warnings": "single", "n": {"b": 1, "a": [1]}}),
            llm("a", metadata={"k": 1, "import_warnings": [f"w{i}" for i in range(12)]}),
        ],
        True,
    ),
    "import_warnings in a value, not a key": ([root(metadata={"x": "import_warnings"}), llm("a")], True),
}


@pytest.mark.parametrize("name", list(CASES))
def test_each_shape_equals_today_in_columns_or_by_fallback(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    facts, in_columns = CASES[name]
    left = assert_as_today(frame_of(facts), monkeypatch=monkeypatch)
    assert left == (set() if in_columns else {"t1"})


@pytest.mark.parametrize("incomplete", list(IncompletePolicy))
def test_rootless_traces_follow_the_policy_as_today(
    incomplete: IncompletePolicy, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = frame_of([*CASES["rootless"][0], *(dataclasses.replace(f, trace_id="t2") for f in SIMPLE)])
    left = assert_as_today(frame, incomplete=incomplete, monkeypatch=monkeypatch)
    assert left == {"t1"}


@pytest.mark.parametrize(
    ("answer", "in_columns"),
    [(0.25, True), (None, True), (math.nan, True), (-1.0, True), (2, False), (True, False)],
)
def test_a_pricer_answer_that_is_not_a_float_sends_the_trace_to_todays_code(
    answer: Any, in_columns: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    left = assert_as_today(frame_of(SIMPLE), pricer=lambda *_: answer, monkeypatch=monkeypatch)
    assert left == (set() if in_columns else {"t1"})


def test_sources_without_columns_give_no_source(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = frame_of(SIMPLE)
    assert_as_today(frame, sources=sources_of(frame), monkeypatch=monkeypatch)
    got = assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame))
    assert '"source"' not in got.rows["metadata"][0]


@pytest.mark.parametrize("metadata_text", ['["not", "an", "object"]', "{not json", '{"a": 1}'])
def test_span_metadata_that_is_not_a_json_object_is_left_to_todays_code(
    metadata_text: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    frame = frame_of(SIMPLE).with_columns(pl.lit(metadata_text).alias("metadata"))
    sources = sources_of(frame)
    if metadata_text == '{"a": 1}':
        assert assert_as_today(frame, sources=sources, monkeypatch=monkeypatch) == set()
        return
    with pytest.raises((ValueError, AttributeError)) as today:
        facts = facts_from_frame(frame)
        assemble_trace(facts, project=None)
    with pytest.raises(today.type):
        assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=sources)


def test_a_null_dialect_fails_as_today(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = frame_of(SIMPLE).with_columns(pl.lit(None, pl.String()).alias("dialect"))
    assert assert_as_today(frame, monkeypatch=monkeypatch) == {"t1"}  # one null dialect sorts
    frame = frame_of(SIMPLE).with_columns(
        pl.when(pl.col("role") == "llm").then(None).otherwise(pl.col("dialect")).alias("dialect")
    )
    with pytest.raises(TypeError):
        assemble_trace(facts_from_frame(frame), project=None)
    with pytest.raises(TypeError):
        assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame))


def test_bad_input_gets_a_clear_error() -> None:
    frame = frame_of(SIMPLE)
    with pytest.raises(ValueError, match="FRAME_SCHEMA"):
        assemble_columns(
            frame.drop("python_index"), [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame)
        )
    with pytest.raises(ValueError, match="lack 1 trace"):
        assemble_columns(
            frame, [], pricer=None, incomplete=FLAGGED, sources=pl.DataFrame({"trace_id": ["other"]})
        )
    with pytest.raises(ValueError, match="one row per trace"):
        assemble_columns(
            frame, [], pricer=None, incomplete=FLAGGED, sources=pl.DataFrame({"trace_id": ["t1", "t1"]})
        )
    with pytest.raises(ValueError, match="must be String"):
        assemble_columns(
            frame, [], pricer=None, incomplete=FLAGGED, sources=pl.DataFrame({"trace_id": ["t1"], "n": [1]})
        )
    with pytest.raises(ValueError, match="start with a trace_id"):
        assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=pl.DataFrame({"n": ["t1"]}))


# ---- random traces of facts ------------------------------------------------------------------------------

_TEXT = st.sampled_from([None, "", "a", "b"])
_MESSAGES = st.none() | st.lists(
    st.builds(
        ChatMessage, st.sampled_from(["system", "user", "assistant", "unknown", "tool"]), _TEXT.map(str)
    ),
    max_size=3,
)
_METADATA = st.sampled_from(
    [
        {},
        {},
        {"k": 1},
        {"k": 2},
        {"import_warnings": ["w"]},
        {"import_warnings": "w", "k": 1},
        {"o": [1, {"z": 2}]},
    ]
)


@st.composite
def _trace(draw: st.DrawFn, trace_id: str) -> list[SpanFacts]:
    """A tree of 1-5 spans (parents earlier, starts not before them), then maybe one oddity."""
    count = draw(st.integers(1, 5))
    ids = draw(st.permutations([f"{i:02x}" for i in range(count)]))
    starts: list[int] = []
    facts: list[SpanFacts] = []
    for i, span_id in enumerate(ids):
        parent = None if i == 0 else draw(st.integers(0, i - 1))
        start = 0 if parent is None else starts[parent] + draw(st.sampled_from([0, 10, 10, 500]))
        starts.append(start)
        role = draw(st.sampled_from(["llm", "llm", "llm", "retriever", "other"]))
        facts.append(
            SpanFacts(
                trace_id=trace_id,
                span_id=span_id,
                parent_span_id=None if parent is None else ids[parent],
                name=draw(st.sampled_from(["", "n"])),
                start_time_unix_nano=T0 + start,
                end_time_unix_nano=T0 + start + draw(st.sampled_from([0, 100, 1000, 123_456_789])),
                role=role,
                dialect=draw(st.sampled_from(["genai", "openinference", "openllmetry", "none"])),
                status=draw(st.sampled_from(["unset", "unset", "ok", "error"])),
                error_type=draw(_TEXT),
                error_message=draw(_TEXT),
                request_model=draw(st.sampled_from([None, "", "gpt-a", "gpt-b", "other"])),
                response_model=draw(st.sampled_from([None, "", "gpt-a", "other"])),
                provider=draw(_TEXT),
                input_messages=draw(_MESSAGES),
                output_messages=draw(_MESSAGES),
                input_text=draw(_TEXT),
                output_text=draw(_TEXT),
                input_tokens=draw(st.sampled_from([None, 0, 5, 100])),
                output_tokens=draw(st.sampled_from([None, 0, 7])),
                total_tokens=draw(st.sampled_from([None, None, 12])),
                cost_usd=draw(st.sampled_from([None, None, 0.0, 0.1, 1e-7, -0.0])),
                retrieved=draw(
                    st.none()
                    | st.lists(st.builds(Passage, _TEXT, _TEXT, st.none() | st.floats()), max_size=2)
                ),
                route=draw(_TEXT),
                project=draw(_TEXT),
                user_id=draw(_TEXT),
                session_id=draw(_TEXT),
                tags=draw(st.none() | st.lists(st.sampled_from(["x", "y"]), max_size=2)),
                metadata=draw(_METADATA),
                feedback=draw(
                    st.none()
                    | st.lists(st.builds(FeedbackValue, _TEXT.map(str), st.floats(), _TEXT), max_size=2)
                ),
                log_records=draw(st.sampled_from([0, 0, 1])),
            )
        )
    oddity = draw(st.sampled_from(["none"] * 10 + ["duplicate", "skew", "missing", "no start", "loop"]))
    target = draw(st.integers(0, count - 1))
    if oddity == "duplicate":
        facts.append(dataclasses.replace(facts[target], output_tokens=draw(st.sampled_from([None, 1]))))
    elif oddity == "skew":
        facts[target] = dataclasses.replace(facts[target], start_time_unix_nano=T0 - 5)
    elif oddity == "missing":
        facts[target] = dataclasses.replace(facts[target], parent_span_id="ff")
    elif oddity == "no start":
        facts[target] = dataclasses.replace(facts[target], start_time_unix_nano=None)
    elif oddity == "loop" and count > 1:
        facts[0] = dataclasses.replace(facts[0], parent_span_id=ids[count - 1])
    return draw(st.permutations(facts))


@st.composite
def _batch(draw: st.DrawFn) -> list[SpanFacts]:
    traces = [draw(_trace(f"t{i}")) for i in range(draw(st.integers(1, 4)))]
    facts = [f for trace in traces for f in trace]
    return draw(st.permutations(facts))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)
@given(_batch(), st.sampled_from(list(IncompletePolicy)), st.booleans())
def test_random_traces_equal_today(
    facts: list[SpanFacts], incomplete: IncompletePolicy, priced: bool
) -> None:
    with pytest.MonkeyPatch.context() as monkeypatch:
        left = assert_as_today(
            frame_of(facts),
            pricer=table_pricer if priced else None,
            incomplete=incomplete,
            monkeypatch=monkeypatch,
        )
    traces = {f.trace_id for f in facts}
    event("traces in columns", len(traces - left))
    event("traces by today's code", len(left))


def test_an_escaped_warnings_key_is_left_to_todays_code(monkeypatch: pytest.MonkeyPatch) -> None:
    escaped = '{"import\\u005fwarnings":["hidden"],"k":1}'
    frame = frame_of(SIMPLE).with_columns(pl.lit(escaped).alias("metadata"))
    assert assert_as_today(frame, monkeypatch=monkeypatch) == {"t1"}
    got = assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame))
    assert "span r: hidden" in got.rows["metadata"][0]


def test_a_pricer_that_raises_on_a_model_today_never_asks_about_is_left_to_todays_code(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def pricer(model: str, inputs: int, outputs: int) -> float | None:
        if model == "requested":
            raise RuntimeError("not in the cost map")
        return 0.5

    facts = [root(), llm("a", request_model="requested", response_model="answered")]
    assert assert_as_today(frame_of(facts), pricer=pricer, monkeypatch=monkeypatch) == {"t1"}


def test_an_empty_frame_and_reordered_columns(monkeypatch: pytest.MonkeyPatch) -> None:
    empty = frame_of([])
    got = assemble_columns(empty, [], pricer=None, incomplete=FLAGGED, sources=sources_of(empty))
    assert got.rows.schema == pl.Schema(TRACE_SCHEMA)
    assert got.rows.height == got.outcomes.height == 0
    frame = frame_of(SIMPLE)
    reordered = frame.select(reversed(frame.columns))
    expected = assemble_columns(frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame))
    again = assemble_columns(reordered, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame))
    assert again.rows.equals(expected.rows)


def test_a_small_batch_goes_to_todays_code_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = [f for request in bench_requests(12) for f in read_today(columns_of(request))]
    frame = frame_of(facts)
    left: list[str] = []

    def spy(facts: Sequence[SpanFacts], **kwargs: Any) -> Any:
        left.append(facts[0].trace_id)
        return assemble_trace(facts, **kwargs)

    monkeypatch.setattr(_assemble_columns, "assemble_trace", spy)
    small = assemble_columns(
        frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame), columns_from=13
    )
    assert len(left) == 12
    left.clear()
    large = assemble_columns(
        frame, [], pricer=None, incomplete=FLAGGED, sources=sources_of(frame), columns_from=12
    )
    assert left == []
    assert small.rows.equals(large.rows)
    assert small.outcomes.equals(large.outcomes)


def test_python_frame_rows_send_their_trace_to_todays_code(monkeypatch: pytest.MonkeyPatch) -> None:
    facts = [f for request in bench_requests(6) for f in read_today(columns_of(request))]
    odd = [i for i, f in enumerate(facts) if f.trace_id == facts[0].trace_id]
    read = [dataclasses.replace(facts[i], metadata={"raw": b"\x00\x01"}) for i in odd]
    rows = python_frame(read)
    frame = pl.concat([frame_of([f for i, f in enumerate(facts) if i not in odd]), rows])
    assert assert_as_today(frame, read, monkeypatch=monkeypatch) == {facts[0].trace_id}


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_RESOURCE, max_size=3))
def test_random_requests_equal_today(resources: list[Any]) -> None:
    facts = read_today(columns_of(ExportTraceServiceRequest.FromString(_request(resources))))
    try:
        frame, read = frame_of(facts), []
    except (ValueError, TypeError, OverflowError, pl.exceptions.PolarsError):
        frame, read = python_frame(facts), facts  # values a frame cannot hold: every trace by today's code
    with pytest.MonkeyPatch.context() as monkeypatch:
        assert_as_today(frame, read, monkeypatch=monkeypatch)
