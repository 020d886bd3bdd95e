"""Langfuse blob-storage exports, built to the documented format and read back.

Format: https://langfuse.com/docs/api-and-data-platform/features/export-to-blob-storage (layout, manifests as
the run's commit point, de-duplication by id) and
https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields (columns, timestamps
`YYYY-MM-DD HH:MM:SS.ffffff` UTC, CSV encoding of objects as JSON text, latency in seconds for integrations
created from 2026-04-01 and milliseconds before). Manifest payload as in Langfuse's worker
(`worker/src/features/blobstorage/manifest.ts`): `{version, projectId, exportSource, window, files[{key, table,
fileType, format, compressed, sizeBytes, rowCount}]}`.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path

import orjson
import pytest

from tests.support.export_files import LANGFUSE_PREFIX
from tests.support.export_files import LANGFUSE_PROJECT as PROJECT
from tests.support.export_files import LANGFUSE_ROOT as ROOT
from tests.support.export_files import langfuse_encode as encode
from tests.support.export_files import langfuse_ns as ns
from tests.support.export_files import langfuse_observation as observation
from tests.support.export_files import langfuse_one_trace as one_trace
from tests.support.export_files import langfuse_score as score
from tests.support.export_files import langfuse_ts as ts
from tests.support.export_files import write_langfuse_run as write_run
from tracewatch.importers._exports import ExportRead
from tracewatch.importers._langfuse import read_langfuse_export, read_langfuse_run
from tracewatch.importers._langfuse_scores import SCORE_METADATA
from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts
from tracewatch.store import Store


def by_id(read: ExportRead[SpanFacts]) -> dict[str, SpanFacts]:
    return {f.span_id: f for f in read.records}


def assert_accounted(read: ExportRead[SpanFacts], listed_rejections: int | None = None) -> None:
    rejected_listed = len(read.rejected_objects) if listed_rejections is None else listed_rejections
    assert read.objects_listed == read.objects_read + len(read.skipped) + rejected_listed
    assert read.records_read == len(read.records) + read.merged + read.duplicates_dropped + len(
        read.rejected_records
    )


# ---- the mapping -------------------------------------------------------------------------------------------


def test_a_completed_run_becomes_facts_with_tokens_cost_and_scores(file_store: Store) -> None:
    write_run(
        file_store,
        "2026-12-01T10-00-00",
        observations=one_trace(),
        scores=[
            score("s1", "t1", "helpfulness", "NUMERIC", 0.8, source="EVAL", comment="concise"),
            score("s2", "t1", "thumbs", "BOOLEAN", 1, source="ANNOTATION"),
            score("s3", "t1", "tone", "CATEGORICAL", 2, string_value="friendly"),
            score("s4", "t1", "note", "TEXT", 0, string_value="good answer"),
        ],
        compressed=True,
    )
    read = read_langfuse_export(file_store, "exports")
    facts = by_id(read)
    root, gen = facts["o-root"], facts["o-gen"]
    assert (root.parent_span_id, root.role, root.route, root.dialect) == (
        None,
        "other",
        "qa/answer",
        "langfuse",
    )
    assert (root.input_text, root.output_text) == ("What is the capital of France?", "Paris.")
    assert (root.user_id, root.session_id, root.tags) == ("u-7", "s-3", ["prod"])
    assert (root.start_time_unix_nano, root.end_time_unix_nano) == (ns(0), ns(2))
    assert root.metadata["tenant"] == "acme"
    assert (gen.parent_span_id, gen.role, gen.request_model) == ("o-root", "llm", "gpt-4o-mini")
    assert gen.input_messages == [ChatMessage("user", "What is the capital of France?")]
    assert gen.output_messages == [ChatMessage("assistant", "Paris.")]
    assert (gen.input_tokens, gen.output_tokens, gen.total_tokens, gen.cost_usd) == (12, 5, 17, 0.0003)
    assert gen.metadata["langfuse.usage_details"] == {"input_cached_tokens": 4}
    assert root.feedback == [
        FeedbackValue("helpfulness", 0.8, "EVAL"),
        FeedbackValue("thumbs", 1.0, "ANNOTATION"),
    ]
    assert root.metadata[SCORE_METADATA] == [
        {"name": "helpfulness", "data_type": "NUMERIC", "source": "EVAL", "value": 0.8, "comment": "concise"},
        {"name": "tone", "data_type": "CATEGORICAL", "source": "API", "value": "friendly"},
        {"name": "note", "data_type": "TEXT", "source": "API", "value": "good answer"},
    ]
    assert (read.objects_listed, read.objects_read, read.records_read, read.merged) == (3, 3, 6, 4)
    assert read.rejected == [] and read.skipped == []
    assert_accounted(read)


@pytest.mark.parametrize(
    ("fmt", "compressed"), [("parquet", False), ("csv", True), ("json", False), ("jsonl", True)]
)
def test_every_file_format_reads_the_same(file_store: Store, fmt: str, compressed: bool) -> None:
    """Parquet (the default, maps as Parquet maps), CSV (objects as JSON text), JSON and JSON lines."""
    write_run(
        file_store,
        "2026-12-01T10-00-00",
        observations=one_trace(),
        scores=[score("s1", "t1", "helpfulness", "NUMERIC", 0.5)],
        fmt=fmt,
        compressed=compressed,
    )
    read = read_langfuse_export(file_store, "exports")
    assert read.rejected == []
    gen, root = by_id(read)["o-gen"], by_id(read)["o-root"]
    assert (gen.input_tokens, gen.output_tokens, gen.total_tokens, gen.cost_usd) == (12, 5, 17, 0.0003)
    assert gen.output_messages == [ChatMessage("assistant", "Paris.")]
    assert (gen.start_time_unix_nano, gen.end_time_unix_nano) == (ns(0.5), ns(1.5))
    assert (root.parent_span_id, root.tags, root.metadata["tenant"]) == (None, ["prod"], "acme")
    assert root.feedback == [FeedbackValue("helpfulness", 0.5, "API")]


def test_an_unknown_cost_stays_unknown_not_zero(file_store: Store) -> None:
    """`total_cost` is 0 when no model price matched; that is not a cost of zero."""
    rows = [observation("o1", "t1", type="GENERATION", total_cost=0, cost_details={})]
    rows.append(
        observation("o2", "t1", type="GENERATION", total_cost=0, cost_details={"input": 0.0, "output": 0.0})
    )
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    facts = by_id(read_langfuse_export(file_store, "exports"))
    assert (facts["o1"].cost_usd, facts["o2"].cost_usd) == (None, 0.0)


# ---- latency units -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("latency", "ttft", "unit"), [(2.0, 0.35, "seconds"), (2000.0, 350.0, "milliseconds")]
)
def test_latency_unit_is_inferred_per_file(file_store: Store, latency: float, ttft: float, unit: str) -> None:
    """Integrations from 2026-04-01 write seconds, older ones milliseconds; the file does not say which."""
    rows = [observation("o1", "t1", latency=latency, time_to_first_token=ttft)]
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    read = read_langfuse_export(file_store, "exports")
    assert read.records[0].metadata["langfuse.time_to_first_token_ms"] == pytest.approx(350.0)
    assert any(f"latency columns are in {unit}" in note for note in read.notes)


def test_a_stated_latency_unit_fills_a_missing_end_time(file_store: Store) -> None:
    rows = [observation("o1", "t1", end_time=None, latency=1500.0, time_to_first_token=None)]
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    auto = read_langfuse_export(file_store, "exports")
    assert auto.records[0].end_time_unix_nano is None  # nothing in the file decides the unit
    assert any("latency unit unknown" in note for note in auto.notes)
    stated = read_langfuse_export(file_store, "exports", latency_unit="milliseconds")
    assert stated.records[0].end_time_unix_nano == ns(1.5)


# ---- runs, manifests and duplicates ------------------------------------------------------------------------


def test_a_run_without_manifest_is_skipped_with_its_reason(file_store: Store) -> None:
    write_run(file_store, "2026-12-01T10-00-00", observations=one_trace("t1"))
    pending = write_run(file_store, "2026-12-01T11-00-00", observations=one_trace("t2"), manifest=False)
    read = read_langfuse_export(file_store, "exports")
    assert {f.trace_id for f in read.records} == {"t1"}
    skipped = {s.key: s.reason for s in read.skipped}
    assert set(skipped) == {pending["observations_v2"], pending["scores"]}
    assert all("no readable manifest lists this file" in reason for reason in skipped.values())
    assert_accounted(read)


def test_adjacent_windows_share_a_boundary_and_ids_count_once(file_store: Store) -> None:
    """The same observation (and score) in two windows: one fact, the most recently updated copy."""
    first = one_trace()
    first[1] |= {"end_time": None, "latency": None, "updated_at": ts(1)}
    write_run(
        file_store, "2026-12-01T10-00-00", observations=first, scores=[score("s1", "t1", "ok", "BOOLEAN", 0)]
    )
    later = one_trace()
    later[1] |= {"updated_at": ts(9)}
    updated = score("s1", "t1", "ok", "BOOLEAN", 1, updated_at=ts(9))
    write_run(file_store, "2026-12-01T11-00-00", observations=later, scores=[updated])
    read = read_langfuse_export(file_store, "exports")
    assert sorted(by_id(read)) == ["o-gen", "o-root"]
    assert by_id(read)["o-gen"].end_time_unix_nano == ns(1.5)
    assert by_id(read)["o-root"].feedback == [FeedbackValue("ok", 1.0, "API")]
    assert read.duplicates_dropped == 3
    assert_accounted(read)


def test_only_the_selected_runs_are_read_and_the_rest_accounted_for(file_store: Store) -> None:
    one = write_run(file_store, "2026-12-01T10-00-00", observations=one_trace("t1"))
    two = write_run(file_store, "2026-12-01T11-00-00", observations=one_trace("t2"))
    read = read_langfuse_export(file_store, "exports", manifests=[two["manifest"]])
    assert {f.trace_id for f in read.records} == {"t2"}
    assert {s.key for s in read.skipped} == {one["manifest"], one["observations_v2"], one["scores"]}
    assert_accounted(read)


def test_a_truncated_gzip_file_is_rejected(file_store: Store) -> None:
    whole = gzip.compress(encode(one_trace(), "jsonl"))
    keys = write_run(
        file_store,
        "2026-12-01T10-00-00",
        observations=one_trace(),
        compressed=True,
        corrupt={"observations_v2": whole[: len(whole) // 2]},
    )
    read = read_langfuse_export(file_store, "exports")
    assert read.records == []
    [rejected] = read.rejected
    assert rejected.key == keys["observations_v2"] and "not a complete gzip stream" in rejected.reason
    assert rejected.reason.endswith("(2 rows per the manifest)")
    assert_accounted(read)


def test_invalid_json_is_rejected_naming_the_line(file_store: Store) -> None:
    bad = encode(one_trace(), "jsonl").replace(b"\n", b"\n{not json\n", 1)
    keys = write_run(
        file_store, "2026-12-01T10-00-00", observations=one_trace(), corrupt={"observations_v2": bad}
    )
    read = read_langfuse_export(file_store, "exports")
    [rejected] = read.rejected
    assert rejected.key == keys["observations_v2"] and "line 2 is not valid JSON" in rejected.reason


def test_a_file_that_disagrees_with_its_manifest_is_rejected(file_store: Store) -> None:
    keys = write_run(file_store, "2026-12-01T10-00-00", observations=one_trace())
    file_store.write_bytes(
        keys["observations_v2"], encode(one_trace()[:1], "jsonl")
    )  # replaced after the run
    read = read_langfuse_export(file_store, "exports")
    [rejected] = read.rejected
    assert "but the manifest recorded" in rejected.reason


def test_a_listed_file_missing_from_the_store_is_rejected(file_store: Store) -> None:
    keys = write_run(file_store, "2026-12-01T10-00-00", observations=one_trace())
    file_store.delete(keys["scores"])
    read = read_langfuse_export(file_store, "exports")
    [rejected] = read.rejected
    assert rejected.key == f"{LANGFUSE_PREFIX}/scores/2026-12-01T10-00-00.jsonl"
    assert "but not in the store" in rejected.reason
    assert len(read.records) == 2
    assert_accounted(read, listed_rejections=0)


def test_an_unreadable_manifest_is_rejected_and_its_files_wait(file_store: Store) -> None:
    keys = write_run(file_store, "2026-12-01T10-00-00", observations=one_trace())
    file_store.write_bytes(keys["manifest"], b'{"files": [')
    file_store.write_bytes(f"{ROOT}/DEPRECATION_NOTICE.txt", b"legacy export retired")
    read = read_langfuse_export(file_store, "exports")
    assert [r.key for r in read.rejected] == [keys["manifest"]]
    assert "not valid JSON" in read.rejected[0].reason
    reasons = {s.key: s.reason for s in read.skipped}
    assert "no readable manifest" in reasons[keys["observations_v2"]]
    assert "not part of a Langfuse export" in reasons[f"{ROOT}/DEPRECATION_NOTICE.txt"]
    assert_accounted(read)


def test_scores_that_cannot_be_attached_are_rejected_with_reasons(file_store: Store) -> None:
    write_run(
        file_store,
        "2026-12-01T10-00-00",
        observations=one_trace(),
        scores=[
            score("s1", "t-elsewhere", "tone", "CATEGORICAL", 0, string_value="rude"),
            score("s2", None, "session-score", "NUMERIC", 1, session_id="s-3"),
            score("s3", "t1", "broken", "NUMERIC", None),
            score("s4", "t-elsewhere", "broken", "NUMERIC", None),
        ],
    )
    read = read_langfuse_export(file_store, "exports")
    reasons = {r.record_id: r.reason for r in read.rejected_records}
    assert "only numeric and boolean scores can be sent as late feedback" in reasons["s1"]
    assert "not linked to a trace" in reasons["s2"]
    assert "has no numeric value" in reasons["s3"]
    assert "has no numeric value" in reasons["s4"]
    assert by_id(read)["o-root"].feedback is None
    assert read.feedback == []
    assert_accounted(read)


def test_scores_of_traces_not_in_the_read_become_late_feedback_events(file_store: Store) -> None:
    """A score given after its trace was exported (fields `timestamp`, `source` as documented at
    https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields): an event for the
    late-feedback input, with the score's own time and source ('langfuse' when it states none)."""
    write_run(
        file_store,
        "2026-12-01T10-00-00",
        observations=one_trace(),
        scores=[
            score("s1", "t-old", "helpfulness", "NUMERIC", 0.25, source="ANNOTATION"),
            score("s2", "t-old", "thumbs", "BOOLEAN", 1, source=None, timestamp=None, created_at=None),
            score("s3", "t1", "ok", "BOOLEAN", 1),
        ],
    )
    read = read_langfuse_export(file_store, "exports")
    late = {(e.name, e.trace_id, e.value, e.source, e.created_at) for e in read.feedback}
    at = dt.datetime.fromisoformat(ts(5)).replace(tzinfo=dt.UTC)
    assert late == {
        ("helpfulness", "t-old", 0.25, "ANNOTATION", at),
        ("thumbs", "t-old", 1.0, "langfuse", None),
    }
    assert by_id(read)["o-root"].feedback == [FeedbackValue("ok", 1.0, "API")]
    assert read.rejected_records == []
    assert_accounted(read)


def test_an_error_observation_and_a_root_without_the_flag(file_store: Store) -> None:
    """Exports without the `basic` field group have no `is_root_observation`: an empty parent is the root."""
    rows = [observation("o1", "t1", level="ERROR", status_message="rate limited")]
    del rows[0]["is_root_observation"]
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    [fact] = read_langfuse_export(file_store, "exports").records
    assert (fact.parent_span_id, fact.status, fact.error_message) == (None, "error", "rate limited")


def test_a_manifest_entry_without_a_key_rejects_the_manifest(file_store: Store) -> None:
    keys = write_run(file_store, "2026-12-01T10-00-00", observations=one_trace())
    file_store.write_bytes(keys["manifest"], orjson.dumps({"version": 1, "files": [{"table": "scores"}]}))
    read = read_langfuse_export(file_store, "exports")
    assert [r.key for r in read.rejected] == [keys["manifest"]]
    assert "no `files` list of objects with a `key`" in read.rejected[0].reason
    assert read.records == []
    assert_accounted(read)


def test_one_run_is_read_by_its_manifest(file_store: Store) -> None:
    """The unit an import ledger records: one manifest and the files it lists, nothing else listed."""
    write_run(file_store, "2026-12-01T10-00-00", observations=one_trace("t1"))
    two = write_run(
        file_store,
        "2026-12-01T11-00-00",
        observations=one_trace("t2"),
        scores=[score("s", "t2", "ok", "BOOLEAN", 1)],
    )
    write_run(file_store, "2026-12-01T12-00-00", observations=one_trace("t3"), manifest=False)
    read = read_langfuse_run(file_store, two["manifest"])
    assert {f.trace_id for f in read.records} == {"t2"}
    assert by_id(read)["o-root"].feedback == [FeedbackValue("ok", 1.0, "API")]
    assert (read.objects_listed, read.objects_read, read.skipped, read.rejected) == (3, 3, [], [])
    assert_accounted(read)


def test_a_conversation_on_a_span_that_is_not_a_model_call_reads_as_its_last_message(
    file_store: Store,
) -> None:
    """A chat endpoint's trace records the conversation; the request's text is what was asked and answered."""
    conversation = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]
    rows = [
        observation(
            "o1",
            "t1",
            input=orjson.dumps({"messages": conversation}).decode(),
            output=orjson.dumps(
                {"role": "assistant", "content": [{"type": "text", "text": "Hello"}]}
            ).decode(),
            metadata={"payload": '{"a": 1}'},
        )
    ]
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    [fact] = read_langfuse_export(file_store, "exports").records
    assert (fact.input_text, fact.output_text, fact.input_messages) == ("Hi", "Hello", None)
    assert fact.metadata["payload"] == '{"a": 1}'


def test_manifest_keys_resolve_to_the_right_file_in_a_shared_bucket(file_store: Store) -> None:
    """Manifest keys carry Langfuse's own prefix (and possibly an integration folder), not this store's; two
    projects in one bucket write the same timestamped names, and each manifest must get its own project's."""
    name = "observations_v2/2026-12-01T10-00-00.jsonl"
    mine, other = f"exports/{PROJECT}/integration-9/{name}", f"exports/other-project/integration-9/{name}"
    file_store.write_bytes(mine, encode(one_trace("t-mine"), "jsonl"))
    file_store.write_bytes(other, encode([observation("o-x", "t-other", is_root_observation=True)], "jsonl"))
    entry = {"key": f"lf/{PROJECT}/integration-9/{name}", "table": "observations_v2", "fileType": "JSONL"}
    file_store.write_bytes(
        f"exports/{PROJECT}/manifests/2026-12-01T10-00-00.json", orjson.dumps({"files": [entry]})
    )
    read = read_langfuse_export(file_store, "exports")
    assert {f.trace_id for f in read.records} == {"t-mine"}
    assert "no readable manifest" in {s.key: s.reason for s in read.skipped}[other]
    assert_accounted(read)


def test_a_store_rooted_at_the_project_folder(tmp_path: Path) -> None:
    """The source location may be the project folder itself: then keys start at `manifests/`."""
    outer = Store(f"file://{tmp_path / 'bucket'}")
    keys = write_run(outer, "2026-12-01T10-00-00", observations=one_trace())
    project = Store(f"file://{tmp_path / 'bucket' / ROOT}")
    read = read_langfuse_run(project, keys["manifest"].removeprefix(f"{ROOT}/"))
    assert sorted(by_id(read)) == ["o-gen", "o-root"]
    assert (read.objects_listed, read.objects_read, read.rejected) == (3, 3, [])


def test_a_retriever_observation_lists_its_documents(file_store: Store) -> None:
    """LangChain's Langfuse callback records a retriever's output as its documents."""
    documents = [
        {
            "page_content": "Paris is the capital of France.",
            "metadata": {"source": "wiki/France", "score": 0.9},
        },
        {"page_content": "Lyon is a city.", "metadata": {}, "type": "Document"},
    ]
    rows = [
        observation(
            "o1", "t1", type="RETRIEVER", input="capital of France", output=orjson.dumps(documents).decode()
        )
    ]
    write_run(file_store, "2026-12-01T10-00-00", observations=rows)
    [fact] = read_langfuse_export(file_store, "exports").records
    assert fact.role == "retriever"
    assert fact.retrieved == [
        Passage("wiki/France", "Paris is the capital of France.", 0.9),
        Passage(None, "Lyon is a city.", None),
    ]
