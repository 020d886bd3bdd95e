"""Bad OTLP input through the real import run (issue 19, "Bad input"): objects in the Collector's S3 layout on
the local S3 server, read by `import_traces`. Each case sits next to good traces of the real instrumentation's
shape; the run completes, the good traces become correct rows, and `assert_accounted` checks that every span
read is in a row, quarantined with its reason, counted as a duplicate or waiting.

Layout and encodings: opentelemetry-collector-contrib `exporter/awss3exporter` (see devtools/otlp_layout.py);
OTLP JSON: https://opentelemetry.io/docs/specs/otlp/#json-protobuf-encoding.
"""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import orjson
import polars as pl
import pytest

from devtools.otlp_layout import compress
from devtools.s3server import S3Server
from tests.support import otlp_requests
from tests.support.import_runs import ImportState, assert_accounted, s3_source
from tests.support.otlp_documents import (
    FIXTURES,
    QA,
    Uploads,
    assert_qa_row,
    child_span,
    qa_spans,
    request,
    set_attribute,
    span_id,
    trace_id,
)
from tracewatch.errors import ConfigError
from tracewatch.importers import IMPORT_LEDGER_KEY, SourceConfig, import_traces
from tracewatch.store import Store

UPLOADED_AT = dt.datetime(2026, 12, 6, 21, 5, tzinfo=dt.UTC)
NOW = UPLOADED_AT + dt.timedelta(hours=1)


@pytest.fixture
def otel(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> tuple[SourceConfig, Uploads]:
    source, source_store = s3_source(s3_server, monkeypatch, "otlp")
    return source, Uploads(source_store)


def run(store: Store, source: SourceConfig, now: dt.datetime = NOW) -> ImportState:
    return assert_accounted(store, import_traces(store, [source], now=now))


# ---- objects that cannot be read --------------------------------------------------------------------------


@pytest.mark.parametrize(("compression", "words"), [("gzip", "gzip"), ("zstd", "zstd")])
def test_a_truncated_compressed_object_is_rejected_and_the_next_one_imports(
    otel: tuple[SourceConfig, Uploads], s3_store: Store, compression: Any, words: str
) -> None:
    source, uploads = otel
    whole = compress(request(*qa_spans(1)), compression)
    bad = uploads.put(whole[: len(whole) // 2], UPLOADED_AT, compression=compression, already_compressed=True)
    uploads.put(request(*qa_spans(2)), UPLOADED_AT, compression=compression)

    state = run(s3_store, source)

    assert (state.outcome.objects, state.outcome.objects_rejected, state.outcome.traces) == (2, 1, 1)
    [reason] = state.ledger.filter(pl.col("object_key") == bad)["reason"]
    assert words in reason.lower() and "truncated" in reason.lower()
    assert_qa_row(state, 2)


def test_invalid_json_and_random_bytes_named_binpb_are_rejected_with_their_reasons(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    not_json = uploads.put(request(*qa_spans(1))[:-7], UPLOADED_AT)
    noise = uploads.put(random.Random(7).randbytes(4096), UPLOADED_AT, marshaler="otlp_proto")
    uploads.put(request(*qa_spans(2)), UPLOADED_AT)

    state = run(s3_store, source)

    assert (state.outcome.objects, state.outcome.objects_rejected, state.outcome.records) == (3, 2, 2)
    reasons = dict(state.ledger.select("object_key", "reason").iter_rows())
    assert "not valid OTLP JSON" in reasons[not_json]
    assert "protobuf" in reasons[noise].lower()
    assert_qa_row(state, 2)


def test_requests_with_no_spans_are_read_and_hold_nothing(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    for body in (b"{}", b'{"resourceSpans":[]}', b'{"resourceSpans":[{"resource":{},"scopeSpans":[]}]}'):
        uploads.put(body, UPLOADED_AT)
    uploads.put(b"", UPLOADED_AT, marshaler="otlp_proto")  # an empty protobuf message is an empty request
    uploads.put(request(*qa_spans(1)), UPLOADED_AT)

    state = run(s3_store, source)

    assert (state.outcome.objects, state.outcome.objects_rejected, state.outcome.records) == (5, 0, 2)
    assert state.ledger.filter(pl.col("records") == 0)["status"].to_list() == ["read"] * 4
    assert_qa_row(state, 1)


def test_a_bad_line_of_a_fileexporter_file_is_rejected_alone(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, s3_store: Store
) -> None:
    """The fileexporter's JSON lines (`exporter/fileexporter`, one request per line): a line that is not JSON
    is one quarantined request; the requests around it import."""
    source, source_store = s3_source(s3_server, monkeypatch, "otlp_file")
    lines = [request(*qa_spans(1)), b'{"resourceSpans": [{"scopeSpans": [', request(*qa_spans(2))]
    source_store.write_bytes("otel/traces.jsonl", b"\n".join(lines) + b"\n")

    now = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)  # a file's upload time is its real write time
    state = run(s3_store, source, now=now)

    assert (state.outcome.objects, state.outcome.objects_rejected, state.outcome.traces) == (1, 0, 2)
    assert (state.outcome.records, state.outcome.records_rejected) == (4, 0)
    [reason] = state.reasons("request")
    assert "not valid OTLP JSON" in reason
    assert state.quarantine.filter(pl.col("scope") == "request")["location"].to_list() == ["line 2"]
    assert_qa_row(state, 1)
    assert_qa_row(state, 2)


@pytest.mark.parametrize("root_lost", [False, True])
def test_log_events_join_their_spans_and_those_of_a_span_that_never_came_are_quarantined(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, s3_store: Store, root_lost: bool
) -> None:
    """The official openai-v2 instrumentation's default path: message content as log records
    (`gen_ai.user.message`, `gen_ai.choice`) in `logs_*` objects of the same layout, joined by trace and span
    id. The second request's spans are lost, so its log records cannot be joined; when the first request's
    root is lost too (and such traces are quarantined), its joined log records are quarantined with it."""
    source, source_store = s3_source(
        s3_server, monkeypatch, "otlp", incomplete="quarantine" if root_lost else "import"
    )
    uploads = Uploads(source_store)
    traces = orjson.loads((FIXTURES / "genai.traces.json").read_bytes())
    blocks = traces["resourceSpans"][0]["scopeSpans"]
    lost = sorted({s["traceId"] for block in blocks for s in block["spans"]})[1]
    for block in blocks:
        block["spans"] = [
            s for s in block["spans"] if s["traceId"] != lost and (s.get("parentSpanId") or not root_lost)
        ]
    uploads.put((FIXTURES / "genai.logs.json").read_bytes(), UPLOADED_AT, signal="logs")
    uploads.put(orjson.dumps(traces), UPLOADED_AT)

    state = run(s3_store, source)

    unjoined = state.quarantine.filter(
        (pl.col("scope") == "log_record") & ~pl.col("object_key").str.ends_with("#traces")
    )
    assert set(unjoined["trace_id"]) == {lost} and unjoined.height == 2
    assert all("could not be joined" in r for r in unjoined["reason"])
    if root_lost:
        assert (state.outcome.traces, state.outcome.traces_quarantined) == (0, 1)
        with_trace = state.quarantine.filter(pl.col("object_key").str.ends_with("#traces"))
        assert sorted(with_trace["scope"].to_list()) == ["log_record"] * 3 + ["trace"]
        assert all("root span never arrived" in r for r in with_trace["reason"])
    else:
        [row] = state.rows.iter_rows(named=True)
        assert row["output_text"] and row["input_text"]
        assert state.metadata(str(row["trace_id"]))["log_record_count"] == 3


# ---- spans that cannot be read ----------------------------------------------------------------------------


def test_spans_without_a_trace_id_or_with_ids_of_the_wrong_length_are_quarantined_alone(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    spans = [*qa_spans(1)]
    broken: list[tuple[str, dict[str, Any]]] = []
    for n, (field, value) in enumerate(
        [
            ("traceId", None),  # absent
            ("traceId", "0af7651916cd43dd"),  # 8 bytes
            ("spanId", "00f067aa0ba9"),  # 6 bytes
            ("parentSpanId", "00f067aa0ba902b700"),  # 9 bytes
            ("traceId", "CvdlGRbNQ92ESOshHIAxnA=="),  # base64, as a generic protobuf JSON printer writes it
        ],
        start=10,
    ):
        scope, root = qa_spans(n)[0]
        if value is None:
            del root[field]
        else:
            root[field] = value
        broken.append((scope, root))
    uploads.put(request(*spans, *broken), UPLOADED_AT)

    state = run(s3_store, source)

    assert (state.outcome.records, state.outcome.records_rejected, state.outcome.traces) == (7, 5, 1)
    reasons = state.reasons("span")
    assert any("no trace id" in r.lower() or "no traceid" in r.lower() for r in reasons), reasons
    assert any("8 bytes, expected 16" in r for r in reasons), reasons
    assert any("6 bytes, expected 8" in r for r in reasons), reasons
    assert any("9 bytes, expected 8" in r for r in reasons), reasons
    assert any("base64" in r for r in reasons), reasons
    raw = state.quarantine.filter(pl.col("scope") == "span")["raw"]
    assert raw.null_count() == 0, "a rejected span keeps its own encoding"
    assert_qa_row(state, 1)


def test_protobuf_spans_with_ids_of_the_wrong_length_are_quarantined_alone(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    """The same checks on `.binpb` objects (pdata's proto marshaler), where ids are raw bytes."""
    source, uploads = otel
    body = otlp_requests.trace_request(
        otlp_requests.span_message(),  # a model call whose root is in no object: imported incomplete
        otlp_requests.span_message(trace_id=b"\x01" * 8),
        otlp_requests.span_message(span_id=b"\x02" * 4),
        otlp_requests.span_message(trace_id=b""),
    ).SerializeToString()
    uploads.put(body, UPLOADED_AT, marshaler="otlp_proto", compression="gzip")

    state = run(s3_store, source)

    assert (state.outcome.records, state.outcome.records_rejected, state.outcome.traces_incomplete) == (
        4,
        3,
        1,
    )
    reasons = " | ".join(state.reasons("span"))
    assert (
        "8 bytes, expected 16" in reasons
        and "4 bytes, expected 8" in reasons
        and "span has no trace id" in reasons
    )


# ---- span trees that are not trees ------------------------------------------------------------------------


@pytest.mark.parametrize("incomplete", ["import", "quarantine"])
def test_missing_and_cyclic_parents(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, s3_store: Store, incomplete: str
) -> None:
    source, source_store = s3_source(s3_server, monkeypatch, "otlp", incomplete=incomplete)
    uploads = Uploads(source_store)
    _, lost_root = qa_spans(1)  # the root never arrives
    _, loop_a = qa_spans(2)  # no parentless span: the model call and a tool span are each other's parent
    loop_b = child_span(2, 3, parent=span_id(2, 2))
    loop_a[1]["parentSpanId"] = span_id(2, 3)
    rooted = [*qa_spans(3), child_span(3, 3, span_id(3, 4)), child_span(3, 4, span_id(3, 3))]  # a loop beside
    uploads.put(request(lost_root, loop_a, loop_b, *rooted), UPLOADED_AT)

    state = run(s3_store, source)

    assert_qa_row(state, 3)
    tree = state.metadata(trace_id(3))["span_tree"]
    assert isinstance(tree, dict)
    assert (tree["cyclic_spans"], tree["cyclic_span_ids"]) == (2, [span_id(3, 3), span_id(3, 4)])
    if incomplete == "import":
        assert (state.outcome.traces, state.outcome.traces_incomplete) == (1, 2)
        lost, looped = state.metadata(trace_id(1)), state.metadata(trace_id(2))
        assert "root span never arrived" in str(lost["incomplete_reason"])
        assert "cycle" in str(looped["incomplete_reason"])
        assert state.row(trace_id(1))["output_text"] == QA.output_text
    else:
        assert (state.outcome.traces, state.outcome.traces_quarantined) == (1, 2)
        records = state.quarantine.filter(pl.col("scope") == "trace").sort("span_id")
        by_trace = records.group_by("trace_id").agg("span_id", "reason")
        spans = dict(by_trace.select("trace_id", "span_id").iter_rows())
        assert spans == {trace_id(1): [span_id(1, 2)], trace_id(2): [span_id(2, 2), span_id(2, 3)]}
        reasons = dict(by_trace.select("trace_id", pl.col("reason").list.first()).iter_rows())
        assert "root span never arrived" in reasons[trace_id(1)]
        assert "cycle" in reasons[trace_id(2)]


def test_a_child_that_starts_before_its_parent_keeps_the_roots_clock(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    (root_scope, root), (chat_scope, chat) = qa_spans(1)
    skew_ns = 250_000_000  # the model call's host runs 250 ms behind
    chat["startTimeUnixNano"] = str(int(root["startTimeUnixNano"]) - skew_ns)
    uploads.put(request((root_scope, root), (chat_scope, chat)), UPLOADED_AT)

    state = run(s3_store, source)

    assert_qa_row(state, 1)
    assert state.row(trace_id(1))["start_time"] == dt.datetime.fromtimestamp(QA.root_ns // 1000 / 1e6, dt.UTC)
    tree = state.metadata(trace_id(1))["span_tree"]
    assert tree == {"clock_skew_spans": 1, "max_clock_skew_ms": skew_ns / 1e6}


# ---- size ---------------------------------------------------------------------------------------------------


def test_a_trace_of_ten_thousand_spans_over_three_objects(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    """A 10,000-span trace (a chain 9,998 tool spans deep under its root) sent in three uploads a minute apart."""
    source, uploads = otel
    root, chat = qa_spans(1)
    tools = [child_span(1, k, span_id(1, 1 if k == 3 else k - 1)) for k in range(3, 10_001)]
    parts = [[chat, *tools[:5000]], tools[5000:], [root]]
    for minute, part in enumerate(parts):
        uploads.put(request(*part), UPLOADED_AT + dt.timedelta(minutes=minute), compression="gzip")
    uploads.put(request(*qa_spans(2)), UPLOADED_AT)

    state = run(s3_store, source)

    assert (state.outcome.records, state.outcome.traces) == (10_002, 2)
    meta = state.metadata(trace_id(1))
    assert (meta["span_count"], meta["llm_span_count"]) == (10_000, 1)
    assert "span_tree" not in meta
    assert_qa_row(state, 1)
    assert_qa_row(state, 2)


def test_a_five_megabyte_answer_is_kept_whole_beside_a_five_megabyte_unmapped_attribute(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    """An attribute no mapping table names is not kept (docs/importing.md, "What is lost in conversion"), so a
    5 MB debug dump costs neither the trace nor a 5 MB metadata cell; a 5 MB answer is the row's output."""
    source, uploads = otel
    answer = "Paris. " * (5 * 1024 * 1024 // 7)
    (_, _), (_, chat) = spans = qa_spans(1)
    set_attribute(
        chat,
        "gen_ai.output.messages",
        {"stringValue": f'[{{"role":"assistant","parts":[{{"type":"text","content":"{answer}"}}]}}]'},
    )
    set_attribute(chat, "app.debug_dump", {"stringValue": "x" * (5 * 1024 * 1024)})
    uploads.put(request(*spans, *qa_spans(2)), UPLOADED_AT, compression="zstd")

    state = run(s3_store, source)

    assert state.outcome.traces == 2 and state.outcome.records_rejected == 0
    row = state.row(trace_id(1))
    assert row["output_text"] == answer
    assert "app.debug_dump" not in str(row["metadata"]) and len(str(row["metadata"])) < 10_000
    assert_qa_row(state, 2)


# ---- content that does not parse ----------------------------------------------------------------------------


def test_message_attributes_that_are_not_json_are_kept_as_text_with_a_warning(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    (_, _), (_, chat) = spans = qa_spans(1)
    cut_short = '[{"role":"user","parts":[{"content":"What is'
    set_attribute(chat, "gen_ai.input.messages", {"stringValue": cut_short})
    set_attribute(chat, "gen_ai.output.messages", {"stringValue": "Paris, obviously"})
    uploads.put(request(*spans, *qa_spans(2)), UPLOADED_AT)

    state = run(s3_store, source)

    assert state.outcome.traces == 2 and state.outcome.records_rejected == 0
    row = state.row(trace_id(1))
    assert (row["input_text"], row["output_text"]) == (cut_short, "Paris, obviously")
    assert row["input_messages"] == [{"role": "unknown", "content": cut_short}]
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == (
        QA.model,
        QA.input_tokens,
        QA.output_tokens,
    )
    warnings = " ".join(map(str, state.metadata(trace_id(1))["import_warnings"]))  # type: ignore[arg-type]
    assert "gen_ai.input.messages" in warnings and "gen_ai.output.messages" in warnings
    assert_qa_row(state, 2)


# ---- the same spans twice -----------------------------------------------------------------------------------


def test_a_collector_retry_counts_each_span_once(otel: tuple[SourceConfig, Uploads], s3_store: Store) -> None:
    """A retried upload is a second object (a new `{unique}` key) with the same spans; within the grace window
    they are duplicates, after the trace was assembled they are late and quarantined, never a second row."""
    source, uploads = otel
    body = request(*qa_spans(1), *qa_spans(2))
    first = uploads.put(body, UPLOADED_AT)
    retry = uploads.put(body, UPLOADED_AT + dt.timedelta(minutes=1))
    late_body = request(*qa_spans(3))
    uploads.put(late_body, UPLOADED_AT)
    uploads.put(late_body, UPLOADED_AT + dt.timedelta(hours=2))  # long after the grace window

    state = run(s3_store, source, now=UPLOADED_AT + dt.timedelta(hours=3))

    assert first != retry
    assert (state.outcome.records, state.outcome.traces) == (12, 3)
    assert (state.outcome.records_duplicate, state.outcome.records_late) == (4, 2)
    assert state.metadata(trace_id(1))["span_tree"] == {"duplicate_spans": 2}
    late = state.quarantine.filter(pl.col("scope") == "span")
    assert set(late["trace_id"]) == {trace_id(3)}
    assert all("arrived after the trace was assembled" in r for r in late["reason"])
    for n in (1, 2, 3):
        assert_qa_row(state, n)


@pytest.mark.parametrize(
    ("root_after", "late"), [(dt.timedelta(minutes=10), False), (dt.timedelta(hours=2), True)]
)
def test_a_root_that_comes_in_the_next_run(
    otel: tuple[SourceConfig, Uploads], s3_store: Store, root_after: dt.timedelta, late: bool
) -> None:
    """The first run ends inside the grace window of a trace whose root has not come: it waits (pending) and the
    next run completes it; a root that comes after the window finds its trace imported incomplete and is
    quarantined as late, never a second row."""
    source, uploads = otel
    root, chat = qa_spans(1)
    uploads.put(request(chat, *qa_spans(2)), UPLOADED_AT)
    first = run(s3_store, source, now=UPLOADED_AT + dt.timedelta(minutes=5))
    assert (first.outcome.traces, first.outcome.pending_traces) == (0, 2)

    uploads.put(request(root), UPLOADED_AT + root_after)
    result = import_traces(s3_store, [source], now=UPLOADED_AT + root_after + dt.timedelta(hours=1))
    second = assert_accounted(s3_store, result, before=first)

    assert second.outcome.pending_traces == 0
    assert_qa_row(second, 2)
    if late:
        assert (second.outcome.traces, second.outcome.traces_incomplete, second.outcome.records_late) == (
            1,
            1,
            1,
        )
        assert second.metadata(trace_id(1))["incomplete"] is True
        [reason] = second.reasons("span")
        assert "arrived after the trace was assembled" in reason
    else:
        assert (second.outcome.traces, second.outcome.traces_incomplete) == (2, 0)
        assert_qa_row(second, 1)


# ---- the source itself --------------------------------------------------------------------------------------


def test_a_wrong_location_stops_the_run_before_anything_is_read(
    otel: tuple[SourceConfig, Uploads], s3_store: Store
) -> None:
    source, uploads = otel
    uploads.put(request(*qa_spans(1)), UPLOADED_AT)
    wrong = source.model_copy(update={"name": "typo", "location": "s3://no-such-bucket-19/otel"})
    with pytest.raises(ConfigError) as raised:
        import_traces(s3_store, [source, wrong], now=NOW)
    assert "'typo'" in str(raised.value) and "s3://no-such-bucket-19/otel" in str(raised.value)
    assert not s3_store.exists(IMPORT_LEDGER_KEY), "the good source was not read either"
