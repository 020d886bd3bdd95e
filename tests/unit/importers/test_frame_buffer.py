"""`FrameBuffer` against `TraceBuffer`: the same objects, releases and pauses between runs must release the same
traces, in the same order, with the same spans and windows (random sequences and the named cases)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracewatch.importers._fact_frame import facts_to_frame, python_frame
from tracewatch.importers._frame_buffer import FrameBuffer, ReleasedFrame
from tracewatch.importers._spans import SpanFacts
from tracewatch.importers._trace_buffer import ReleasedTrace, TraceBuffer

GRACE = dt.timedelta(minutes=10)
NIGHT = dt.datetime(2026, 11, 1, 23, 0, tzinfo=dt.UTC)


def at(minutes: float) -> dt.datetime:
    return NIGHT + dt.timedelta(minutes=minutes)


def fact(trace: str, span: str, parent: str | None, *, tokens: int | None = None) -> SpanFacts:
    return SpanFacts(
        trace_id=trace * 32,
        span_id=span * 16,
        parent_span_id=None if parent is None else parent * 16,
        name=f"{trace}{span}",
        start_time_unix_nano=1_790_000_000_000_000_000,
        end_time_unix_nano=None,
        input_tokens=tokens,
    )


def frame_of(facts: list[SpanFacts], python: set[int]) -> tuple[pl.DataFrame, list[SpanFacts]]:
    """The object's rows: the facts at `python` as Python-read rows, the rest as columns (document order)."""
    python = {i for i in python if i < len(facts)}
    read = [f for i, f in enumerate(facts) if i in python]
    columns = facts_to_frame([f for i, f in enumerate(facts) if i not in python]).with_columns(
        pl.lit(None, pl.Int32()).alias("python_index")
    )
    rows = pl.concat([columns, python_frame(read)]) if read else columns
    order = [i for i in range(len(facts)) if i not in python] + sorted(python)
    return rows.with_columns(pl.Series("_at", order)).sort("_at").drop("_at"), read


def released(trace: ReleasedTrace) -> tuple[Any, ...]:
    facts = [dataclasses.replace(f, attributes_used=frozenset()) for f in trace.facts]
    return (
        trace.trace_id,
        facts,
        trace.home,
        trace.first_uploaded,
        trace.last_new_uploaded,
        trace.has_root,
        trace.late,
    )


def released_frame(out: ReleasedFrame) -> list[tuple[Any, ...]]:
    return [
        (
            row["trace_id"],
            out.facts(row["trace_id"]),
            row["home"],
            row["first_uploaded"],
            row["last_new_uploaded"],
            row["has_root"],
            row["late"],
        )
        for row in out.traces.iter_rows(named=True)
    ]


_TRACES = "abcdef"
_SPANS = "0123"
_FACT = st.tuples(st.sampled_from(_TRACES), st.sampled_from(_SPANS), st.sampled_from([None, "0", "1"]))
_STEP = st.one_of(
    st.tuples(
        st.just("add"),
        st.lists(_FACT, min_size=1, max_size=8),
        st.integers(0, 12),
        st.sets(st.integers(0, 7)),
    ),
    st.tuples(st.just("release"), st.integers(0, 15)),
    st.tuples(st.just("pause")),
    st.tuples(st.just("remember"), st.sampled_from(_TRACES)),
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(_STEP, min_size=1, max_size=14), st.sampled_from([0, 5, 10]))
def test_the_frame_buffer_releases_what_the_trace_buffer_releases(
    steps: list[Any], grace_minutes: int
) -> None:
    grace = dt.timedelta(minutes=grace_minutes)
    today, columns = TraceBuffer(grace=grace), FrameBuffer(grace=grace)
    clock = 0
    for number, step in enumerate(steps):
        if step[0] == "add":
            _, items, advance, python = step
            clock += advance
            facts = [fact(t, s, p, tokens=number) for t, s, p in items]
            today.add(facts, uploaded=at(clock), home=f"object-{number}")
            rows, read = frame_of(facts, python)
            columns.add(rows, read, uploaded=at(clock), home=f"object-{number}")
        elif step[0] == "release":
            now = at(clock + step[1])
            assert released_frame(columns.release(now)) == [released(t) for t in today.release(now)]
        elif step[0] == "pause":  # the run ends: the waiting traces are written and read back
            assert columns.to_frame().equals(today.to_frame())
            frame = today.to_frame()
            today = TraceBuffer.from_frame(frame, grace=grace)
            columns = FrameBuffer.from_frame(frame, grace=grace)
        else:
            today.remember_released([step[1] * 32])
            columns.remember_released([step[1] * 32])
        assert (columns.trace_count, columns.span_count) == (today.trace_count, today.span_count)
    assert released_frame(columns.release_all()) == [released(t) for t in today.release_all()]


def test_a_re_sent_span_neither_extends_the_window_nor_makes_a_root() -> None:
    buffer = FrameBuffer(grace=GRACE)
    buffer.add(*frame_of([fact("a", "1", "0")], set()), uploaded=at(0), home="first")
    buffer.add(*frame_of([fact("a", "1", None), fact("b", "0", None)], {0}), uploaded=at(5), home="second")
    out = buffer.release(at(10))
    assert out.traces.select("trace_id", "has_root", "home").rows() == [("a" * 32, False, "first")]
    assert out.spans["span_id"].to_list() == ["1" * 16, "1" * 16]
    assert buffer.trace_count == 1 and buffer.release(at(15)).traces["trace_id"].to_list() == ["b" * 32]
