"""Langfuse, Opik and Phoenix exports through the real import run (`import_traces` with kinds `langfuse`, `opik`
and `phoenix`) from the local S3 server, good files beside the bad ones of issue 19's list; `assert_accounted`
checks after every run that each observation, span or exported trace read is in a row, quarantined with its
reason, or counted as a duplicate.

Formats (the builders in tests/support/export_files.py cite their sources):
- Langfuse: https://langfuse.com/docs/api-and-data-platform/features/export-to-blob-storage and
  https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields
- Opik: `opik export` (github.com/comet-ml/opik, `sdks/python/src/opik/cli/exports/project.py`)
- Phoenix: https://arize.com/docs/phoenix/tracing/how-to-tracing/importing-and-exporting-traces
"""

from __future__ import annotations

import datetime as dt
import gzip
import random
import uuid
from typing import Any

import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.s3server import S3Server
from tests.support.export_files import (
    OPIK_FOLDER,
    PHOENIX_LLM,
    PHOENIX_ROOT,
    PHOENIX_TRACE,
    langfuse_encode,
    langfuse_one_trace,
    langfuse_score,
    opik_span,
    opik_trace,
    phoenix_rag_frame,
    save_phoenix_dataset,
    write_langfuse_run,
    write_opik_file,
)
from tests.support.import_runs import ImportState, assert_accounted, s3_source
from tracewatch.errors import ConfigError
from tracewatch.importers import IMPORT_LEDGER_KEY, SourceConfig, import_traces
from tracewatch.ingest import ingest_new_feedback, ingest_new_traces, scan_accepted
from tracewatch.store import Store


def later() -> dt.datetime:
    """The run's clock: past the grace window of objects written just now (their upload time is real)."""
    return dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


def run(store: Store, source: SourceConfig, before: ImportState | None = None) -> ImportState:
    return assert_accounted(store, import_traces(store, [source], now=later()), before)


def assert_answer_row(
    state: ImportState, trace_id: str, *, input_tokens: int = 12, output_tokens: int = 5
) -> None:
    """The builders' one request (the capital of France, answered by gpt-4o-mini) became its row."""
    row = state.row(trace_id)
    assert (row["model"], row["input_tokens"], row["output_tokens"]) == (
        "gpt-4o-mini",
        input_tokens,
        output_tokens,
    )
    assert row["cost_usd"] == pytest.approx(0.0003)
    assert "capital of France" in str(row["input_text"]) and "Paris" in str(row["output_text"])
    assert row["status"] == "ok"


# ---- Langfuse ----------------------------------------------------------------------------------------------


@pytest.fixture
def langfuse(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> tuple[SourceConfig, Store]:
    return s3_source(s3_server, monkeypatch, "langfuse")


def langfuse_trace(trace_id: str) -> list[dict[str, Any]]:
    """The builders' root and generation, with observation ids of this trace (ids are unique per project)."""
    return [
        {
            **o,
            "id": f"{o['id']}-{trace_id}",
            "parent_observation_id": f"{o['parent_observation_id']}-{trace_id}"
            if o["parent_observation_id"]
            else "",
        }
        for o in langfuse_one_trace(trace_id)
    ]


def test_langfuse_runs_import_with_scores_and_a_run_without_manifest_waits_for_it(
    langfuse: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    source, export = langfuse
    write_langfuse_run(
        export,
        "2026-12-06T20-00-00",
        observations=[*langfuse_trace("t1"), *langfuse_trace("t2")],
        scores=[langfuse_score("s1", "t1", "helpfulness", "NUMERIC", 0.8)],
        fmt="parquet",
    )
    unfinished = [*langfuse_trace("t3")]
    write_langfuse_run(export, "2026-12-06T21-00-00", observations=unfinished, fmt="jsonl", manifest=False)

    first = run(s3_store, source)

    assert (first.outcome.objects, first.outcome.records, first.outcome.traces) == (1, 4, 2)
    assert first.ledger["object_key"].to_list() == ["exports/cm4proj01/manifests/2026-12-06T20-00-00.json"]
    assert_answer_row(first, "t1")
    assert_answer_row(first, "t2")
    row = first.row("t1")
    assert (row["route"], row["user_id"], row["session_id"], row["tags"]) == (
        "qa/answer",
        "u-7",
        "s-3",
        ["prod"],
    )
    assert row["feedback"] == [{"name": "helpfulness", "value": 0.8, "source": "API"}]

    write_langfuse_run(
        export, "2026-12-06T21-00-00", observations=unfinished, fmt="jsonl"
    )  # the manifest comes
    second = run(s3_store, source, before=first)

    assert (second.outcome.objects, second.outcome.records, second.outcome.traces) == (1, 2, 1)
    assert_answer_row(second, "t3")


def test_langfuse_bad_files_are_quarantined_and_overlapping_windows_count_once(
    langfuse: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    source, export = langfuse
    write_langfuse_run(export, "2026-12-06T19-00-00", observations=langfuse_trace("t1"), compressed=True)
    # The next window shares its boundary observations with the first (Langfuse's documented overlap).
    write_langfuse_run(
        export, "2026-12-06T20-00-00", observations=[*langfuse_trace("t1"), *langfuse_trace("t2")], fmt="csv"
    )
    truncated = gzip.compress(langfuse_encode(langfuse_trace("t3"), "jsonl"))[:40]
    write_langfuse_run(
        export,
        "2026-12-06T21-00-00",
        observations=langfuse_trace("t3"),
        scores=[langfuse_score("s3", "t3", "helpfulness", "NUMERIC", 1.0)],
        compressed=True,
        corrupt={"observations_v2": truncated},
    )
    export.write_bytes("exports/cm4proj01/manifests/2026-12-06T22-00-00.json", b'{"version": 1, "files": [')

    state = run(s3_store, source)

    assert (state.outcome.objects, state.outcome.objects_rejected, state.outcome.traces) == (4, 1, 2)
    assert state.outcome.records_duplicate == 2
    assert state.metadata("t1")["span_tree"] == {"duplicate_spans": 2}
    reasons = " | ".join(state.reasons("object"))
    assert "manifest is not valid JSON" in reasons
    assert "gzip" in reasons and "truncated" in reasons
    # the score of t3, whose observations could not be read, waits in the late-feedback input for them
    assert state.reasons("record") == []
    assert state.outcome.feedback_events == 1
    [late] = state.outcome.feedback_outputs
    assert s3_store.read_parquet(late)["trace_id"].to_list() == ["t3"]
    assert_answer_row(state, "t1")
    assert_answer_row(state, "t2")


def test_a_langfuse_score_of_a_trace_imported_earlier_reaches_it_as_late_feedback(
    langfuse: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    """A score given two days after its trace was exported comes in a later export run (Langfuse exports a
    score with its own `timestamp`: https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields).
    It is written to `feedback/date=D/` and, once the nightly ingests traces and feedback, is in the trace's
    feedback beside the score that came with the trace."""
    source, export = langfuse
    write_langfuse_run(
        export,
        "2026-12-01T11-00-00",
        observations=langfuse_trace("t1"),
        scores=[langfuse_score("s1", "t1", "helpfulness", "NUMERIC", 0.8)],
    )
    first = run(s3_store, source)
    reviewed = "2026-12-03 09:00:00.000000"
    scores = [
        langfuse_score("s2", "t1", "rating", "NUMERIC", 4, source="ANNOTATION", timestamp=reviewed),
        langfuse_score("s3", None, "session-score", "NUMERIC", 1, session_id="s-3"),
    ]
    write_langfuse_run(export, "2026-12-03T10-00-00", observations=[], scores=scores)
    second = run(s3_store, source, before=first)

    assert second.outcome.feedback_events == 1
    assert "1 score(s) written as late feedback" in second.outcome.message
    [key] = second.outcome.feedback_outputs
    assert key.startswith(f"feedback/date=2026-12-03/import-{source.name}-") and key.endswith(".parquet")
    assert second.outcome.outputs == []  # no trace file: nothing for the trace days to re-read
    assert second.reasons("record") == ["score is not linked to a trace (session or dataset-run score)"]
    trace_day = first.row("t1")["start_time"].date()

    ingest_new_traces(s3_store, up_to=dt.date(2026, 12, 3))
    late = ingest_new_feedback(s3_store, up_to=dt.date(2026, 12, 3))

    assert late.dates_rebuilt == [trace_day]
    [feedback] = scan_accepted(s3_store, trace_day, ("trace_id", "feedback"))["feedback"].to_list()
    assert sorted(feedback, key=lambda f: f["name"]) == [
        {"name": "helpfulness", "value": 0.8, "source": "API"},
        {"name": "rating", "value": 4.0, "source": "ANNOTATION"},
    ]


# ---- Opik --------------------------------------------------------------------------------------------------


@pytest.fixture
def opik(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> tuple[SourceConfig, Store]:
    return s3_source(s3_server, monkeypatch, "opik")


def opik_trace_id(n: int) -> str:
    return f"0193a1b2-0000-7000-8000-{n:012x}"


def test_opik_files_import_and_a_file_missing_trace_or_not_json_is_rejected(
    opik: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    source, export = opik
    for n in (1, 2):
        trace_id = opik_trace_id(n)
        spans = [opik_span(f"{trace_id[:-3]}b{n:02x}", trace_id)]
        if n == 2:  # the same span twice, and a span whose time cannot be read
            spans += [spans[0], opik_span(f"{trace_id[:-3]}c{n:02x}", trace_id, start_time="yesterday")]
        write_opik_file(export, opik_trace(trace_id), spans)
    missing = write_opik_file(export, None, [opik_span("0193a1b2-0000-7000-8000-0000000000f1")])
    export.write_bytes(f"{OPIK_FOLDER}/trace_{opik_trace_id(9)}.json", b'{"trace": {"id": ')
    export.write_bytes(f"{OPIK_FOLDER}/export_manifest.db", b"SQLite format 3\x00")

    state = run(s3_store, source)

    outcome = state.outcome
    assert (outcome.objects, outcome.objects_rejected, outcome.traces) == (5, 2, 2)
    assert (outcome.records_duplicate, outcome.records_rejected) == (1, 1)
    reasons = dict(state.ledger.select("object_key", "reason").iter_rows())
    assert "has no `trace` object" in reasons[missing]
    assert "not valid JSON" in reasons[f"{OPIK_FOLDER}/trace_{opik_trace_id(9)}.json"]
    assert "not a trace file" in reasons[f"{OPIK_FOLDER}/export_manifest.db"]
    assert "'yesterday' is not a timestamp" in state.reasons("record")[0]
    for n in (1, 2):
        assert_answer_row(state, opik_trace_id(n))
        row = state.row(opik_trace_id(n))
        assert (row["session_id"], row["route"]) == ("thread-42", "answer_question")
        assert row["feedback"] == [
            {"name": "helpfulness", "value": 0.75, "source": "sdk"},
            {"name": "tone", "value": 1.0, "source": "ui"},
        ]


# ---- Phoenix -----------------------------------------------------------------------------------------------


@pytest.fixture
def phoenix(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> tuple[SourceConfig, Store]:
    return s3_source(s3_server, monkeypatch, "phoenix")


def test_phoenix_frames_import_and_bad_files_and_rows_are_quarantined(
    phoenix: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    source, export = phoenix
    save_phoenix_dataset(export, phoenix_rag_frame())
    second = phoenix_rag_frame()  # a second save of the same spans, plus one row whose id is not an id
    broken = second.iloc[[2]].assign(**{"context.span_id": "not-hex", "context.trace_id": "1" * 32})
    save_phoenix_dataset(export, pd.concat([second, broken], ignore_index=True))
    export.write_bytes(f"phoenix/trace_dataset-{uuid.uuid4()}.parquet", random.Random(3).randbytes(2048))
    buffer = pa.BufferOutputStream()
    pq.write_table(pa.table({"name": ["x"]}), buffer)
    export.write_bytes("phoenix/other.parquet", buffer.getvalue().to_pybytes())
    export.write_bytes(f"phoenix/evaluations-{uuid.uuid4()}.parquet", b"PAR1")

    state = run(s3_store, source)

    outcome = state.outcome
    assert (outcome.objects, outcome.objects_rejected, outcome.traces) == (5, 2, 1)
    assert (outcome.records, outcome.records_duplicate, outcome.records_rejected) == (7, 3, 1)
    assert "16-digit hex span id" in state.reasons("record")[0]
    skipped = state.ledger.filter(pl.col("status") == "skipped")["reason"].to_list()
    assert skipped == ["a Phoenix evaluations file (span annotations), not spans"]
    row = state.row(PHOENIX_TRACE)
    assert (row["input_text"], row["output_text"], row["model"]) == (
        "Capital of France?",
        "Paris.",
        "gpt-4o-mini",
    )
    assert (row["input_tokens"], row["output_tokens"], row["session_id"]) == (12, 5, "s-3")
    assert [p["document_id"] for p in row["retrieved_context"]] == ["doc-1"]
    meta = state.metadata(PHOENIX_TRACE)
    assert meta["root_span_id"] == PHOENIX_ROOT and meta["llm_span_count"] == 1
    assert PHOENIX_LLM not in str(meta.get("span_tree", ""))


# ---- the source itself (any kind) ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value", "setting"),
    [
        ("SOURCE_S3_SECRET", "not-the-secret", "secret_access_key_env=SOURCE_S3_SECRET"),
        ("SOURCE_S3_KEY_ID", None, "access_key_id_env"),
    ],
)
def test_wrong_or_missing_credentials_stop_the_run_naming_the_setting(
    langfuse: tuple[SourceConfig, Store],
    s3_store: Store,
    monkeypatch: pytest.MonkeyPatch,
    variable: str,
    value: str | None,
    setting: str,
) -> None:
    source, export = langfuse
    write_langfuse_run(export, "2026-12-06T20-00-00", observations=langfuse_trace("t1"))
    if value is None:
        monkeypatch.delenv(variable)
    else:
        monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError) as raised:
        import_traces(s3_store, [source], now=later())
    assert source.name in str(raised.value) and setting in str(raised.value)
    assert not s3_store.exists(IMPORT_LEDGER_KEY), "nothing was read"
