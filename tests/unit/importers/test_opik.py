"""`opik export` per-trace JSON files, built the way Opik's SDK writes them, and read back.

Format: Opik's Python SDK, `sdks/python/src/opik/cli/exports/project.py` (github.com/comet-ml/opik): one file
`{workspace}/projects/{project}/trace_{trace_id}.json` per trace, `json.dump({"trace": trace.model_dump(),
"spans": [span.model_dump() ...], "attachments": [...], "downloaded_at": ..., "project_name": ...}, indent=2,
default=str)`, so datetimes are `str(datetime)`; field names from the REST models `TracePublic`, `SpanPublic`,
`FeedbackScorePublic` and `ErrorInfoPublic` (`sdks/python/src/opik/rest_api/types/`). Resumable exports keep
their state in `export_manifest.db` beside the trace files.
"""

from __future__ import annotations

from tests.support.export_files import OPIK_FOLDER as FOLDER
from tests.support.export_files import OPIK_TRACE as TRACE
from tests.support.export_files import opik_ns as ns
from tests.support.export_files import opik_span as span
from tests.support.export_files import opik_trace as trace
from tests.support.export_files import write_opik_file as export_file
from tracewatch.importers._exports import ExportRead
from tracewatch.importers._opik import SCORE_DETAILS, read_opik_export
from tracewatch.importers._spans import ChatMessage, FeedbackValue, SpanFacts
from tracewatch.store import Store


def assert_accounted(read: ExportRead[SpanFacts]) -> None:
    assert read.objects_listed == read.objects_read + len(read.skipped) + len(read.rejected_objects)
    assert read.records_read == len(read.records) + read.duplicates_dropped + len(read.rejected_records)


def test_a_trace_and_its_spans_become_facts(file_store: Store) -> None:
    tool = span(
        "0193a1b2-0000-7000-8000-0000000000b2",
        type="tool",
        name="search",
        parent_span_id="0193a1b2-0000-7000-8000-0000000000b1",
        input={"query": "capital of France"},
        output={"results": ["Paris"]},
        usage=None,
        model=None,
        provider=None,
        total_estimated_cost=None,
        error_info={"exception_type": "TimeoutError", "message": "search timed out", "traceback": "..."},
    )
    export_file(file_store, trace(), [span("0193a1b2-0000-7000-8000-0000000000b1"), tool])
    read = read_opik_export(file_store, "opik")
    root, llm, child = read.records
    assert (root.span_id, root.parent_span_id, root.route, root.dialect) == (
        TRACE,
        None,
        "answer_question",
        "opik",
    )
    assert (root.input_text, root.output_text) == ("What is the capital of France?", "Paris.")
    assert (root.session_id, root.project, root.tags) == ("thread-42", "support-bot", ["prod"])
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (ns(0), ns(2))
    assert (root.input_tokens, root.cost_usd) == (None, None)  # the trace repeats its spans' totals
    assert root.metadata["opik.trace_total_estimated_cost"] == 0.0003
    assert root.feedback == [FeedbackValue("helpfulness", 0.75, "sdk"), FeedbackValue("tone", 1.0, "ui")]
    assert root.metadata[SCORE_DETAILS] == [
        {"name": "helpfulness", "reason": "concise"},
        {"name": "tone", "category_name": "friendly"},
    ]
    assert (llm.parent_span_id, llm.role, llm.request_model, llm.provider) == (
        TRACE,
        "llm",
        "gpt-4o-mini",
        "openai",
    )
    assert llm.input_messages == [ChatMessage("user", "What is the capital of France?")]
    assert llm.output_messages == [ChatMessage("assistant", "Paris.")]
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens, llm.cost_usd) == (12, 5, 17, 0.0003)
    assert (child.parent_span_id, child.role, child.status) == (llm.span_id, "other", "error")
    assert (child.error_type, child.error_message) == ("TimeoutError", "search timed out")
    assert (child.input_text, child.output_text) == ("capital of France", '{"results":["Paris"]}')
    assert child.metadata["opik.type"] == "tool"
    assert (read.objects_read, read.records_read, read.rejected) == (1, 3, [])
    assert_accounted(read)


def test_a_file_missing_trace_is_rejected_with_that_reason(file_store: Store) -> None:
    key = export_file(file_store, None, [span("s1")])
    read = read_opik_export(file_store, "opik")
    assert read.records == []
    [rejected] = read.rejected
    assert rejected.key == key and rejected.record_id is None
    assert 'has no `trace` object; expected {"trace": {...}, "spans": [...]}' in rejected.reason
    assert_accounted(read)


def test_invalid_json_is_rejected(file_store: Store) -> None:
    key = f"{FOLDER}/trace_broken.json"
    file_store.write_bytes(key, b'{"trace": {"id": "x", ')
    read = read_opik_export(file_store, "opik")
    assert [(r.key, "not valid JSON" in r.reason) for r in read.rejected] == [(key, True)]
    assert_accounted(read)


def test_files_that_are_not_json_trace_exports_are_accounted_for(file_store: Store) -> None:
    export_file(file_store, trace(), [])
    file_store.write_bytes(f"{FOLDER}/export_manifest.db", b"SQLite format 3\x00")
    file_store.write_bytes("opik/acme/datasets/dataset_qa.json", b"{}")
    file_store.write_bytes(f"{FOLDER}/trace_{TRACE}.csv", b"trace_id,trace_name\n")
    read = read_opik_export(file_store, "opik")
    assert len(read.records) == 1
    assert {s.key for s in read.skipped} == {
        f"{FOLDER}/export_manifest.db",
        "opik/acme/datasets/dataset_qa.json",
    }
    [csv] = read.rejected
    assert "--format json" in csv.reason
    assert_accounted(read)


def test_duplicates_count_once_and_foreign_or_broken_spans_are_rejected(file_store: Store) -> None:
    spans = [
        span("s1"),
        span("s1"),  # the same span twice
        span("s2", trace_id="0193a1b2-0000-7000-8000-00000000ffff"),
        span("s3", start_time="yesterday"),
        "not a span",
        span(TRACE),
    ]
    key = export_file(file_store, trace(), spans)
    file_store.write_bytes(f"opik/copy/trace_{TRACE}.json", file_store.read_bytes(key))  # exported twice
    read = read_opik_export(file_store, "opik")
    assert [f.span_id for f in read.records] == [TRACE, "s1"]
    reasons = {r.record_id: r.reason for r in read.rejected_records}
    assert "not the file's trace" in reasons["s2"]
    assert "is not a timestamp" in reasons["s3"]
    assert "not an object" in reasons["spans[4]"]
    assert "has the id of its trace" in reasons[TRACE]
    # The repeated span in each file, then the second file's trace and span; its bad spans are reported again.
    assert read.duplicates_dropped == 1 + 1 + 2
    assert len(read.rejected_records) == 4 + 4
    assert_accounted(read)


def test_a_trace_without_spans_and_an_iso_timestamp(file_store: Store) -> None:
    export_file(file_store, trace(start_time="2026-12-01T10:00:00Z", end_time=None, feedback_scores=None), [])
    [root] = read_opik_export(file_store, "opik").records
    assert (root.start_time_unix_nano, root.end_time_unix_nano, root.feedback) == (ns(0), None, None)
