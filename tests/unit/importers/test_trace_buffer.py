"""The grace window: a trace spread over several Collector objects is released once, whole, after no new span
came for the window (in upload time); a trace without its root is released flagged; re-sent spans do not hold a
trace back; spans after the release are marked late; and what is still waiting survives a Parquet round trip to
the next night's run, which resumes the windows where they stood."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from tracewatch.importers._assemble import IncompletePolicy, TraceBuffer, assemble_trace
from tracewatch.importers._facts_json import facts_from_json, facts_to_json
from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts
from tracewatch.importers._trace_buffer import PENDING_SCHEMA, ReleasedTrace

GRACE = dt.timedelta(minutes=10)
NIGHT = dt.datetime(2026, 11, 1, 23, 0, tzinfo=dt.UTC)
T0 = 1_790_000_000_000_000_000


def facts(trace: str, span_id: str, parent: str | None, **kw: object) -> SpanFacts:
    return SpanFacts(
        trace_id=trace * 32 if len(trace) == 1 else trace,
        span_id=span_id,
        parent_span_id=parent,
        name=span_id,
        start_time_unix_nano=T0,
        end_time_unix_nano=T0 + 1_000_000,
        **kw,  # type: ignore[arg-type]
    )


def at(minutes: float) -> dt.datetime:
    return NIGHT + dt.timedelta(minutes=minutes)


def ids(released: list[ReleasedTrace]) -> list[tuple[str, bool]]:
    return [(r.trace_id[0], r.has_root) for r in released]


def test_a_trace_whose_spans_span_several_objects_is_released_once_after_the_window() -> None:
    buffer = TraceBuffer(grace=GRACE)
    buffer.add([facts("a", "a1", "a0", role="llm")], uploaded=at(0), home="k/minute=00/traces_1.json")
    buffer.add([facts("a", "a0", None)], uploaded=at(3), home="k/minute=03/traces_2.json")
    assert buffer.release(at(12)) == []  # the root came at minute 3: the window runs to minute 13
    [whole] = buffer.release(at(13))
    assert (whole.has_root, whole.late, whole.home) == (True, False, "k/minute=00/traces_1.json")
    assert sorted(f.span_id for f in whole.facts) == ["a0", "a1"]
    assert (whole.first_uploaded, whole.last_new_uploaded, buffer.trace_count) == (at(0), at(3), 0)


def test_a_trace_without_its_root_is_released_after_the_window_for_the_policy_to_decide() -> None:
    buffer = TraceBuffer(grace=GRACE)
    buffer.add(
        [facts("b", "b1", "b0", role="llm", request_model="m", input_tokens=1, output_tokens=1)],
        uploaded=at(0),
    )
    [rootless] = buffer.release(at(10))
    assert not rootless.has_root
    flagged = assemble_trace(rootless.facts, project="p", source=rootless.source_metadata())
    assert flagged.incomplete and flagged.row is not None
    meta = json.loads(flagged.row["metadata"])
    assert meta["incomplete"] is True and meta["source"]["first_uploaded"] == "2026-11-01T23:00:00+00:00"
    quarantined = assemble_trace(rootless.facts, project="p", incomplete=IncompletePolicy.QUARANTINE)
    assert quarantined.code == "rootless" and quarantined.row is None


def test_re_sent_spans_do_not_extend_the_window_but_reach_assembly_to_be_counted() -> None:
    buffer = TraceBuffer(grace=GRACE)
    root = facts("c", "c0", None)
    buffer.add([root], uploaded=at(0))
    buffer.add([root], uploaded=at(8))  # a Collector retry of the same span
    [released] = buffer.release(at(10))
    assert len(released.facts) == 2 and released.last_new_uploaded == at(0)


def test_traces_are_released_in_the_order_their_windows_closed() -> None:
    buffer = TraceBuffer(grace=GRACE)
    buffer.add([facts("d", "d0", None), facts("e", "e0", None)], uploaded=at(0))
    buffer.add([facts("f", "f0", None)], uploaded=at(1))
    buffer.add([facts("d", "d1", "d0")], uploaded=at(2))
    assert ids(buffer.release(at(11))) == [("e", True), ("f", True)]
    assert ids(buffer.release(at(12))) == [("d", True)]


def test_spans_of_an_already_released_trace_come_out_late_instead_of_as_a_second_row() -> None:
    buffer = TraceBuffer(grace=GRACE)
    buffer.add([facts("g", "g0", None)], uploaded=at(0))
    assert ids(buffer.release(at(10))) == [("g", True)]
    buffer.add([facts("g", "g1", "g0")], uploaded=at(30))
    [late] = buffer.release(at(30))  # no window to wait for: its trace is gone
    assert late.late and "arrived after the trace was assembled" in late.late_reason


def test_pending_traces_survive_a_parquet_round_trip_and_resume_their_windows(tmp_path: Path) -> None:
    rich = facts(
        "h",
        "h1",
        "h0",
        role="llm",
        input_messages=[ChatMessage("system", "be brief"), ChatMessage("user", "hi")],
        retrieved=[Passage("d1", "text", 0.5), Passage(None, None, None)],
        feedback=[FeedbackValue("thumbs", 1.0, "user")],
        tags=["x"],
        metadata={"nested": {"k": [1, 2.5, None, True]}},
        attributes_used=frozenset({"gen_ai.request.model", "gen_ai.usage.input_tokens"}),
        cost_usd=0.25,
    )
    tonight = TraceBuffer(grace=GRACE)
    tonight.add([rich, rich], uploaded=at(0), home="obj-1")
    tonight.add([facts("i", "i0", None)], uploaded=at(5), home="obj-2")
    path = tmp_path / "pending.parquet"
    tonight.to_frame().write_parquet(path)

    tomorrow = TraceBuffer.from_frame(pl.read_parquet(path), grace=GRACE)
    assert (tomorrow.trace_count, tomorrow.span_count) == (2, 3)
    assert tomorrow.release(at(9)) == []
    [h] = tomorrow.release(at(10))  # the window closed where it would have without the pause
    kept = dataclasses.replace(rich, attributes_used=frozenset())  # which keys a reader used is not state
    assert (h.facts, h.home, h.first_uploaded, h.has_root) == ([kept, kept], "obj-1", at(0), False)
    tomorrow.add([facts("i", "i1", "i0")], uploaded=at(14))
    assert tomorrow.release(at(23)) == [] and ids(tomorrow.release(at(24))) == [("i", True)]


def test_an_empty_or_absent_pending_state_is_an_empty_buffer() -> None:
    assert TraceBuffer.from_frame(None, grace=GRACE).trace_count == 0
    empty = TraceBuffer(grace=GRACE).to_frame()
    assert empty.schema == pl.Schema(PENDING_SCHEMA)
    assert TraceBuffer.from_frame(empty, grace=GRACE).trace_count == 0


def test_a_pending_state_that_cannot_be_read_is_a_clear_error() -> None:
    buffer = TraceBuffer(grace=GRACE)
    buffer.add([facts("j", "j0", None)], uploaded=at(0))
    good = buffer.to_frame()
    with pytest.raises(ValueError, match=r"lacks column\(s\) facts;"):
        TraceBuffer.from_frame(good.drop("facts"), grace=GRACE)
    with pytest.raises(ValueError, match=r"format \[2\]; this version reads 1"):
        TraceBuffer.from_frame(good.with_columns(pl.lit(2, pl.Int32).alias("format")), grace=GRACE)
    with pytest.raises(ValueError, match="filed under trace"):
        TraceBuffer.from_frame(good.with_columns(pl.lit("k" * 32).alias("trace_id")), grace=GRACE)


def test_facts_json_rejects_what_it_did_not_write() -> None:
    text = facts_to_json(facts("k", "k0", None, metadata={"raw": b"\xff"}))
    assert facts_from_json(text).metadata == {"raw": "/w=="}  # bytes are kept as base64 text
    with pytest.raises(ValueError, match="not valid JSON"):
        facts_from_json(text[:-3])
    with pytest.raises(ValueError, match="keys SpanFacts does not know: colour"):
        facts_from_json(text[:-1] + ',"colour":"red"}')
    with pytest.raises(ValueError, match="incomplete"):
        facts_from_json('{"trace_id": "k"}')
    with pytest.raises(ValueError, match="must be a JSON object"):
        facts_from_json("[1]")


def test_upload_times_must_be_aware_and_grace_not_negative() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        TraceBuffer(grace=GRACE).add([], uploaded=dt.datetime(2026, 11, 1))
    with pytest.raises(ValueError, match="grace must be"):
        TraceBuffer(grace=dt.timedelta(seconds=-1))


def test_traces_due_together_are_released_in_the_order_they_arrived() -> None:
    # The order must not depend on the process's string hash seed: it decides the order of the released-traces
    # state file and of trace-level quarantine records, which a rerun must write the same.
    buffer = TraceBuffer(grace=GRACE)
    trace_ids = [f"{n * 7919 % 1000:032x}" for n in range(1, 60)]
    buffer.add([facts(t, "a" * 16, None) for t in trace_ids], uploaded=at(0))
    assert [r.trace_id for r in buffer.release(at(10))] == trace_ids
