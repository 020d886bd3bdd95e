"""Spans to one canonical row per request (issue 19, item 4): the root, the odd span trees real exporters send
(several roots, missing parents, cycles, clock skew, Collector retries), tokens and cost over LLM spans only, the
model with the most tokens, where the cost came from, and rows that match TRACE_SCHEMA exactly."""

from __future__ import annotations

import datetime as dt
import json
import random
import time
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracewatch.importers._assemble import (
    AssembledTrace,
    IncompletePolicy,
    assemble_frame,
    assemble_trace,
    group_by_trace,
)
from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts
from tracewatch.traces import TRACE_SCHEMA

TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
T0 = 1_785_000_000_123_456_789  # 2026-07-25, in Unix nanoseconds
MS = 1_000_000


def span(span_id: str, parent: str | None, start_ms: float = 0, end_ms: float = 10, **kw: Any) -> SpanFacts:
    """Facts as a dialect would produce them; times in ms after T0."""
    return SpanFacts(
        trace_id=kw.pop("trace_id", TRACE),
        span_id=span_id,
        parent_span_id=parent,
        name=kw.pop("name", f"span {span_id}"),
        start_time_unix_nano=T0 + int(start_ms * MS),
        end_time_unix_nano=T0 + int(end_ms * MS),
        **kw,
    )


def llm(span_id: str, parent: str | None, start_ms: float, end_ms: float, **kw: Any) -> SpanFacts:
    kw.setdefault("request_model", "gpt-4o-mini")
    kw.setdefault("input_tokens", 10)
    kw.setdefault("output_tokens", 5)
    return span(span_id, parent, start_ms, end_ms, role="llm", dialect="genai", **kw)


def msgs(*pairs: tuple[str, str]) -> list[ChatMessage]:
    return [ChatMessage(role, content) for role, content in pairs]


def row_of(facts: list[SpanFacts], **kw: Any) -> dict[str, Any]:
    kw.setdefault("project", "shop")
    done = assemble_trace(facts, **kw)
    assert done.row is not None, done.reason
    # Every row must be exactly a TRACE_SCHEMA row: same columns, values polars accepts as those types.
    assert list(done.row) == list(TRACE_SCHEMA)
    assert pl.DataFrame([done.row], schema=TRACE_SCHEMA).schema == pl.Schema(TRACE_SCHEMA)
    return done.row


def meta(row: dict[str, Any]) -> dict[str, Any]:
    parsed = json.loads(row["metadata"])
    assert isinstance(parsed, dict)
    return parsed


def rag_trace() -> list[SpanFacts]:
    """An agent: a root chain, a retriever, two model calls (the second answers), a tool span."""
    return [
        span("a0", None, 0, 900, name="POST /chat", route="/chat", user_id="u1", tags=["beta"]),
        span(
            "a1",
            "a0",
            5,
            50,
            role="retriever",
            retrieved=[Passage("doc-1", "Returns within 30 days.", 0.9)],
        ),
        llm(
            "a2",
            "a0",
            60,
            300,
            input_messages=msgs(
                ("system", "Be brief."), ("user", "Earlier question"), ("user", "Can I return it?")
            ),
            output_messages=msgs(("assistant", "Let me check.")),
            provider="openai",
            input_tokens=120,
            output_tokens=8,
        ),
        span("a3", "a0", 310, 400, name="lookup_order", session_id="s9", tags=["beta", "tools"]),
        llm(
            "a4",
            "a0",
            410,
            880,
            request_model="gpt-4o",
            provider="openai",
            input_messages=msgs(("user", "with tool result")),
            output_messages=msgs(("assistant", "Yes, within 30 days.")),
            input_tokens=200,
            output_tokens=20,
            feedback=[FeedbackValue("thumbs", 1.0, "user")],
        ),
    ]


def test_an_agent_trace_becomes_one_row_with_root_timing_and_the_llm_calls_content() -> None:
    row = row_of(rag_trace())
    assert row["trace_id"] == TRACE
    assert row["start_time"] == dt.datetime(2026, 7, 25, 17, 20, 0, 123456, tzinfo=dt.UTC)
    assert row["latency_ms"] == 900.0  # the root's own duration, not the spread of its children
    assert (row["project"], row["route"], row["user_id"], row["session_id"]) == ("shop", "/chat", "u1", "s9")
    # Input from the first model call: the last user message, and every message (system included).
    assert row["input_text"] == "Can I return it?"
    assert [m["role"] for m in row["input_messages"]] == ["system", "user", "user"]
    assert row["output_text"] == "Yes, within 30 days."  # from the call that ended last
    assert (row["input_tokens"], row["output_tokens"]) == (320, 28)
    assert (row["model"], row["provider_name"]) == ("gpt-4o", "openai")  # 220 tokens beat 128
    assert row["retrieved_context"] == [
        {"document_id": "doc-1", "text": "Returns within 30 days.", "score": 0.9}
    ]
    assert row["feedback"] == [{"name": "thumbs", "value": 1.0, "source": "user"}]
    assert row["tags"] == ["beta", "tools"]
    assert row["status"] == "ok" and row["error_type"] is None
    m = meta(row)
    assert m["models"] == ["gpt-4o-mini", "gpt-4o"]
    assert (m["span_count"], m["llm_span_count"], m["retriever_span_count"]) == (5, 2, 1)
    assert m["dialects"] == ["genai", "none"] and m["root_span_id"] == "a0"
    assert "span_tree" not in m  # nothing odd about this tree


def test_the_roots_own_input_and_output_win_over_the_model_calls() -> None:
    facts = rag_trace()
    facts[0].input_text, facts[0].output_text = "raw request body", "raw response body"
    row = row_of(facts)
    assert (row["input_text"], row["output_text"]) == ("raw request body", "raw response body")
    assert row["input_messages"][-1]["content"] == "Can I return it?"  # still what the model was sent


def test_a_single_llm_span_is_its_own_root() -> None:
    only = llm(
        "b0", None, 0, 250, input_messages=msgs(("user", "hi")), output_messages=msgs(("assistant", "hey"))
    )
    row = row_of([only])
    assert (row["input_text"], row["output_text"], row["latency_ms"], row["route"]) == (
        "hi",
        "hey",
        250.0,
        "span b0",
    )


def test_tokens_are_summed_over_llm_spans_only_because_parents_repeat_totals() -> None:
    facts = [
        span(
            "c0", None, 0, 100, input_tokens=30, output_tokens=12, cost_usd=0.5
        ),  # a workflow repeating totals
        llm("c1", "c0", 1, 40, input_tokens=10, output_tokens=4),
        llm("c2", "c0", 41, 90, input_tokens=20, output_tokens=8),
    ]
    row = row_of(facts)
    assert (row["input_tokens"], row["output_tokens"]) == (30, 12)
    assert row["cost_usd"] is None  # the root's cost is not an LLM span's; the calls are unpriced
    assert "notes" in meta(row)


def test_the_root_supplies_counts_no_llm_span_states() -> None:
    facts = [span("d0", None, 0, 100, input_tokens=30, output_tokens=12, cost_usd=0.25)]
    facts.append(llm("d1", "d0", 1, 90, input_tokens=None, output_tokens=None))
    row = row_of(facts)
    assert (row["input_tokens"], row["output_tokens"], row["cost_usd"]) == (30, 12, 0.25)
    assert meta(row)["cost_source"] == "attributes"
    assert any("from the root span" in n for n in meta(row)["notes"])


def test_a_partial_token_sum_is_kept_and_says_it_is_partial() -> None:
    facts = [span("e0", None, 0, 100), llm("e1", "e0", 1, 40), llm("e2", "e0", 41, 90, input_tokens=None)]
    row = row_of(facts)
    assert row["input_tokens"] == 10
    assert "input_tokens unknown on 1 of 2 LLM spans; the sum covers the others" in meta(row)["notes"]


def test_the_model_is_the_call_with_the_most_tokens_and_the_earliest_wins_a_tie() -> None:
    facts = [
        span("f0", None, 0, 100),
        llm("f1", "f0", 1, 10, request_model="small", provider="p1", input_tokens=5, output_tokens=5),
        llm("f2", "f0", 11, 20, request_model="big", provider="p2", input_tokens=500, output_tokens=1),
        llm("f3", "f0", 21, 30, request_model="tie", input_tokens=400, output_tokens=101),
        llm(
            "f4",
            "f0",
            31,
            40,
            request_model=None,
            response_model="only-response",
            input_tokens=None,
            output_tokens=None,
        ),
    ]
    row = row_of(facts)
    assert (row["model"], row["provider_name"]) == ("big", "p2")
    assert meta(row)["models"] == ["small", "big", "tie", "only-response"]
    facts[3].provider = None
    facts[3].output_tokens = 102
    row = row_of(facts)  # "tie" now has the most; it names no provider, so the first call that does lends it
    assert (row["model"], row["provider_name"]) == ("tie", "p1")


def test_cost_from_attributes_and_from_the_pricer_with_its_source_recorded() -> None:
    calls: list[tuple[str, int, int]] = []

    def pricer(model: str, inp: int, out: int) -> float | None:
        calls.append((model, inp, out))
        return {"gpt-4o-mini-2024-07-18": 0.001}.get(model)

    attrs = [span("g0", None), llm("g1", "g0", 1, 5, cost_usd=0.02), llm("g2", "g0", 6, 9, cost_usd=0.03)]
    row = row_of(attrs, pricer=pricer)
    assert row["cost_usd"] == pytest.approx(0.05) and meta(row)["cost_source"] == "attributes"
    assert calls == []  # a stated cost is never recomputed

    mapped = [span("g0", None), llm("g1", "g0", 1, 5, response_model="gpt-4o-mini-2024-07-18")]
    row = row_of(mapped, pricer=pricer)
    assert row["cost_usd"] == 0.001 and meta(row)["cost_source"] == "litellm_cost_map"
    assert calls == [("gpt-4o-mini-2024-07-18", 10, 5)]  # the dated answering model is tried first

    mixed = [*mapped, llm("g2", "g0", 6, 9, cost_usd=0.01)]
    row = row_of(mixed, pricer=pricer)
    assert row["cost_usd"] == pytest.approx(0.011) and meta(row)["cost_source"] == "mixed"


def test_unknown_cost_stays_null_never_zero_and_keeps_the_priced_part() -> None:
    facts = [
        span("h0", None),
        llm("h1", "h0", 1, 5, cost_usd=0.02),
        llm("h2", "h0", 6, 9, request_model="mystery"),
    ]
    row = row_of(facts, pricer=lambda model, i, o: None)
    m = meta(row)
    assert row["cost_usd"] is None and m["cost_source"] is None and m["cost_known_usd"] == 0.02
    assert any("mystery" in n for n in m["notes"])
    assert row_of(facts[:1] + facts[2:])["cost_usd"] is None  # no pricer at all: unknown too


def test_a_call_that_reported_no_usage_is_left_out_of_the_cost_with_a_note() -> None:
    facts = [
        span("i0", None),
        llm("i1", "i0", 1, 5, cost_usd=0.02),
        llm("i2", "i0", 6, 9, input_tokens=None, output_tokens=None, status="error", error_type="timeout"),
    ]
    row = row_of(facts)
    assert row["cost_usd"] == 0.02
    assert "1 LLM span(s) state no tokens and no cost; left out of the cost" in meta(row)["notes"]


def test_the_root_decides_the_status_and_a_failed_child_says_why() -> None:
    facts = rag_trace()
    facts[0].status = "error"
    facts[3].status, facts[3].error_type, facts[3].error_message = "error", "ToolError", "order service down"
    row = row_of(facts)
    assert (row["status"], row["error_type"], row["error_message"]) == (
        "error",
        "ToolError",
        "order service down",
    )
    facts[0].error_type = "HTTP 502"
    assert row_of(facts)["error_type"] == "HTTP 502"


def test_an_error_type_alone_marks_a_failure_as_the_genai_conventions_say() -> None:
    facts = [span("j0", None, error_type="timeout"), llm("j1", "j0", 1, 5)]
    assert (row_of(facts)["status"], row_of(facts)["error_type"]) == ("error", "timeout")


def test_a_silent_root_takes_the_status_of_the_call_that_ended_last() -> None:
    failed = dict(status="error", error_type="RateLimitError", error_message="429")
    retried = [span("k0", None, 0, 100), llm("k1", "k0", 1, 10, **failed), llm("k2", "k0", 20, 90)]
    row = row_of(retried)
    assert (
        row["status"] == "ok" and meta(row)["failed_llm_calls"] == 1
    )  # a retried failure did not fail the request
    gave_up = [span("k0", None, 0, 100), llm("k1", "k0", 1, 10), llm("k2", "k0", 20, 90, **failed)]
    assert (row_of(gave_up)["status"], row_of(gave_up)["error_type"]) == ("error", "RateLimitError")
    gave_up[0].status = "ok"  # the application handled it: the root's word wins
    assert row_of(gave_up)["status"] == "ok"


def test_re_sent_spans_count_once_and_a_differing_copy_is_named() -> None:
    facts = rag_trace()
    again = [*facts, *facts[2:4]]
    row = row_of(again)
    assert (row["input_tokens"], row["output_tokens"]) == (320, 28)
    assert meta(row)["span_tree"] == {"duplicate_spans": 2}
    changed = span("a3", "a0", 310, 400, name="lookup_order v2")
    tree = meta(row_of([*facts, changed]))["span_tree"]
    assert tree == {"duplicate_spans": 1, "differing_duplicate_span_ids": ["a3"]}
    done = assemble_trace(again, project=None)
    assert (done.span_count, done.duplicates) == (5, 2)


def test_of_several_parentless_spans_the_earliest_is_the_root() -> None:
    facts = [
        span("l9", None, 50, 60, name="late orphan root"),
        span("l0", None, 0, 500, name="real root", route="/r"),
        llm("l1", "l0", 10, 40),
    ]
    row = row_of(facts)
    assert (row["route"], row["latency_ms"]) == ("/r", 500.0)
    assert meta(row)["root_span_id"] == "l0" and meta(row)["span_tree"] == {"parentless_spans": 2}


def test_a_parent_outside_the_trace_keeps_the_span_and_names_it() -> None:
    facts = [span("m0", None, 0, 100), llm("m1", "gone", 10, 40), llm("m2", "m1", 41, 50)]
    row = row_of(facts)
    assert row["input_tokens"] == 20  # the orphan's call still counts
    tree = meta(row)["span_tree"]
    assert tree == {"missing_parent_spans": 1, "missing_parent_span_ids": ["m1"]}
    assert "incomplete" not in meta(row)


def test_a_trace_whose_root_never_arrived_is_flagged_or_quarantined_as_the_caller_says() -> None:
    facts = [
        llm("n1", "root-not-here", 10, 40, output_messages=msgs(("assistant", "x"))),
        llm("n2", "n1", 20, 30),
    ]
    row = row_of(facts)
    m = meta(row)
    assert m["incomplete"] is True and m["incomplete_reason"].startswith("root span never arrived")
    assert m["root_span_id"] == "n1" and row["latency_ms"] == 30.0  # the top orphan stands in for timing
    done = assemble_trace(facts, project="shop", incomplete=IncompletePolicy.QUARANTINE)
    assert (done.row, done.code) == (None, "rootless")
    assert done.reason is not None and "root-not-here" not in done.reason and "n1" in done.reason


def test_cyclic_parents_never_hang_and_are_recorded() -> None:
    cycle = [llm("o1", "o3", 0, 10), llm("o2", "o1", 1, 9), llm("o3", "o2", 2, 8), llm("o4", "o4", 3, 4)]
    row = row_of(cycle)
    m = meta(row)
    assert m["incomplete_reason"] == "no root span: every span has a parent and the parents form a cycle"
    assert m["span_tree"]["cyclic_spans"] == 4 and row["input_tokens"] == 40
    beside_root = [
        span("p0", None, 0, 100),
        llm("p1", "p0", 1, 5),
        llm("p2", "p3", 6, 7),
        llm("p3", "p2", 6, 9),
    ]
    m = meta(row_of(beside_root))
    assert "incomplete" not in m and m["span_tree"] == {"cyclic_spans": 2, "cyclic_span_ids": ["p2", "p3"]}


def test_clock_skew_is_recorded_and_the_roots_own_clock_times_the_request() -> None:
    facts = [span("q0", None, 100, 400), llm("q1", "q0", 40, 300), llm("q2", "q1", 30, 200)]
    row = row_of(facts)
    assert row["start_time"] == dt.datetime(2026, 7, 25, 17, 20, 0, 223456, tzinfo=dt.UTC)
    assert row["latency_ms"] == 300.0
    assert meta(row)["span_tree"] == {"clock_skew_spans": 2, "max_clock_skew_ms": 60.0}


def test_a_trace_without_an_llm_call_is_rejected_with_that_reason() -> None:
    facts = [span("r0", None), span("r1", "r0", role="retriever", retrieved=[])]
    done = assemble_trace(facts, project="shop")
    assert (done.row, done.code, done.span_count) == (None, "no_llm_call", 2)
    assert done.reason == "no LLM call in trace: none of its 2 span(s) called a model"


def test_route_user_session_and_project_fall_back_to_other_spans_and_the_callers_project_wins() -> None:
    facts = [
        span("s0", None, name="handler"),
        llm("s1", "s0", 1, 5, route="/ask", user_id="u7", session_id="c1", project="svc-from-spans"),
    ]
    row = row_of(facts, project=None)
    assert (row["route"], row["user_id"], row["session_id"], row["project"]) == (
        "/ask",
        "u7",
        "c1",
        "svc-from-spans",
    )
    assert row_of(facts, project="mapped")["project"] == "mapped"
    facts[1].route = None
    assert row_of(facts)["route"] == "handler"  # no span names a route: the root span's name


def test_metadata_gathers_import_warnings_span_metadata_and_the_source() -> None:
    facts = rag_trace()
    facts[0].metadata = {"import_warnings": ["tag.tags is not a list"], "app_version": "1.2", "env": "prod"}
    facts[2].metadata = {"import_warnings": ["llm.input_messages.0 is not JSON"], "env": "staging", "x": 1}
    facts[3].metadata = {"blob": b"\x00\x01"}
    m = meta(row_of(facts, source={"source": "collector", "objects": ["k1", "k2"]}))
    assert m["import_warnings"] == [
        "span a0: tag.tags is not a list",
        "span a2: llm.input_messages.0 is not JSON",
    ]
    assert m["span_metadata"] == {
        "app_version": "1.2",
        "env": "prod",
        "x": 1,
        "blob": "AAE=",
        "_clashing_keys": ["env"],
    }
    assert m["source"] == {"source": "collector", "objects": ["k1", "k2"]}


def _wide_trace(spans: int) -> list[Any]:
    """A trace of `spans` spans under random parents, a quarter of them model calls, shuffled."""
    rng = random.Random(7)
    facts = [span("root", None, 0, 60_000, route="/batch")]
    for i in range(spans - 1):
        parent = facts[rng.randrange(len(facts))].span_id
        start = rng.uniform(0, 50_000)
        if i % 4 == 0:
            facts.append(llm(f"s{i:05d}", parent, start, start + 10, input_tokens=i % 50, output_tokens=1))
        else:
            facts.append(span(f"s{i:05d}", parent, start, start + 10, metadata={"i": i}))
    rng.shuffle(facts)
    return facts


def _fastest_assembly(facts: list[Any], *, batch: int = 1) -> float:
    """Seconds per assembly, the fastest of 5 timings of `batch` assemblies each: a batch makes a small trace's
    timing as long as a large one's, so one pause of a busy machine cannot dominate it."""
    timings = []
    for _ in range(5):
        began = time.perf_counter()
        for _ in range(batch):
            row_of(facts)
        timings.append((time.perf_counter() - began) / batch)
    return min(timings)


def test_a_ten_thousand_span_trace_assembles_in_time_linear_in_its_spans() -> None:
    """Ten times the spans take about ten times as long (a quadratic step would take a hundred): a ratio
    measured in one run, so a busy machine slows both sides alike."""
    small, large = _wide_trace(1_000), _wide_trace(10_000)
    ratio = _fastest_assembly(large) / _fastest_assembly(small, batch=10)
    assert ratio < 40, f"10x the spans took {ratio:.0f}x as long"
    row = row_of(large)
    llm_calls = [f for f in large if f.role == "llm"]
    assert (
        row["input_tokens"] == sum(f.input_tokens or 0 for f in llm_calls) and row["output_tokens"] == 2_500
    )
    assert meta(row)["span_count"] == 10_000


def test_the_batch_form_builds_exactly_trace_schema_and_returns_what_it_rejected() -> None:
    other = "00000000000000000000000000000001"
    mixed = [
        *rag_trace(),
        span("t0", None, trace_id=other),
        llm("u1", "u0", 1, 5, trace_id="00000000000000000000000000000002"),
    ]
    result = assemble_frame(group_by_trace(mixed), project="shop", incomplete=IncompletePolicy.QUARANTINE)
    assert result.frame.schema == pl.Schema(TRACE_SCHEMA) and result.frame["trace_id"].to_list() == [TRACE]
    assert [(r.trace_id, r.code) for r in result.rejected] == [
        (other, "no_llm_call"),
        ("00000000000000000000000000000002", "rootless"),
    ]
    assert assemble_frame([], project=None).frame.schema == pl.Schema(TRACE_SCHEMA)


def test_facts_of_several_traces_or_none_are_a_clear_error() -> None:
    with pytest.raises(ValueError, match="at least one span"):
        assemble_trace([], project=None)
    with pytest.raises(ValueError, match="share its trace id"):
        assemble_trace([span("v0", None), span("v1", "v0", trace_id="ff" * 16)], project=None)


def test_a_trace_without_any_start_time_is_rejected() -> None:
    facts = [span("w0", None), llm("w1", "w0", 1, 2)]
    for f in facts:
        f.start_time_unix_nano = None
    done = assemble_trace(facts, project="shop")
    assert (done.code, done.reason) == ("no_start_time", "no span of the trace has a start time")


def _comparable(done: AssembledTrace) -> dict[str, Any]:
    assert done.row is not None
    row = dict(done.row)
    m = json.loads(row.pop("metadata"))
    m.get("span_tree", {}).pop("duplicate_spans", None)
    return {**row, "metadata": m}


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_arrival_order_and_re_sent_spans_never_change_the_row(data: st.DataObject) -> None:
    n = data.draw(st.integers(1, 12))
    facts: list[SpanFacts] = []
    for i in range(n):
        parent = data.draw(st.sampled_from([None, "nowhere", *(f.span_id for f in facts)]))
        start = data.draw(st.integers(0, 50))
        make = llm if data.draw(st.booleans()) else span
        facts.append(
            make(
                f"x{i}",
                parent,
                start,
                start + data.draw(st.integers(0, 50)),
                route=f"r{i % 3}",
                cost_usd=0.1 * i,
            )
        )
    facts.append(llm("x-last", None, 60, 70, input_messages=msgs(("user", "q")), cost_usd=0.5))
    shuffled = data.draw(st.permutations([*facts, *data.draw(st.lists(st.sampled_from(facts), max_size=5))]))
    assert _comparable(assemble_trace(shuffled, project="p")) == _comparable(
        assemble_trace(facts, project="p")
    )
