"""Phoenix span dataframes saved as Parquet, built the way Phoenix builds and saves them, and read back.

Format: Phoenix's `TraceDataset` (github.com/Arize-ai/phoenix, `src/phoenix/trace/trace_dataset.py`): required
columns `name, span_kind, parent_id, start_time, end_time, status_code, status_message, context.span_id,
context.trace_id`, attributes in `attributes.*` columns under OpenInference names; `save(directory)` writes
`trace_dataset-{uuid}.parquet` (pandas `to_parquet`, then `pyarrow.parquet.write_table` with an `arize` schema
metadata entry `{dataset_id, dataset_name, eval_ids}`) and evaluations as `evaluations-{uuid}.parquet`
(`span_evaluations.py`). Docs: https://arize.com/docs/phoenix/tracing/how-to-tracing/importing-and-exporting-traces
and `docs/tracing/how-to-tracing/save-and-load-traces.md` in the Phoenix repository (`.../trace_dataset-<id>.parquet`).
Attribute names from `openinference.semconv.trace`.
"""

from __future__ import annotations

import io
import uuid

import orjson
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from openinference.semconv.trace import (
    SpanAttributes,
)

from tests.support.export_files import PHOENIX_LLM as LLM
from tests.support.export_files import PHOENIX_RETRIEVER as RETRIEVER
from tests.support.export_files import PHOENIX_ROOT as ROOT
from tests.support.export_files import PHOENIX_TRACE as TRACE
from tests.support.export_files import phoenix_at as at
from tests.support.export_files import phoenix_ns as ns
from tests.support.export_files import phoenix_rag_frame as rag_frame
from tests.support.export_files import phoenix_row as row
from tests.support.export_files import save_phoenix_dataset as save_trace_dataset
from tracewatch.importers._dialects import read_span
from tracewatch.importers._exports import ExportRead
from tracewatch.importers._phoenix import read_phoenix_export, span_attributes
from tracewatch.importers._spans import Span
from tracewatch.store import Store


def assert_accounted(read: ExportRead[Span]) -> None:
    assert read.objects_listed == read.objects_read + len(read.skipped) + len(read.rejected_objects)
    assert read.records_read == len(read.records) + read.duplicates_dropped + len(read.rejected_records)


def test_a_saved_trace_dataset_becomes_openinference_spans(file_store: Store) -> None:
    key = save_trace_dataset(file_store, rag_frame())
    read = read_phoenix_export(file_store, "phoenix", project="support-bot")
    root, retriever, llm = read.records
    assert (root.trace_id, root.span_id, root.parent_span_id, root.name) == (TRACE, ROOT, None, "query")
    assert (root.start_time_unix_nano, root.end_time_unix_nano, root.status) == (ns(0), ns(2), "ok")
    assert root.status_message is None
    assert root.resource == {"openinference.project.name": "support-bot"}
    assert root.attributes == {
        "input.value": "Capital of France?",
        "output.value": "Paris.",
        "session.id": "s-3",
        "metadata": '{"tenant":"acme"}',
        "openinference.span.kind": "CHAIN",
    }
    assert retriever.attributes == {
        "retrieval.documents.0.document.id": "doc-1",
        "retrieval.documents.0.document.content": "Paris is the capital of France.",
        "retrieval.documents.0.document.score": 0.92,
        "retrieval.documents.0.document.metadata": '{"source":"wiki"}',
        "openinference.span.kind": "RETRIEVER",
    }
    assert llm.attributes["llm.input_messages.1.message.content"] == "Capital of France?"
    assert llm.attributes["llm.output_messages.0.message.role"] == "assistant"
    assert llm.attributes["llm.token_count.total"] == 17
    assert llm.attributes["llm.invocation_parameters"] == '{"temperature": 0}'
    assert any("TraceDataset 'prod'" in note and key in note for note in read.notes)
    assert (read.objects_read, read.records_read, read.rejected) == (1, 3, [])
    assert_accounted(read)


def test_the_openinference_dialect_reads_the_spans(file_store: Store) -> None:
    save_trace_dataset(file_store, rag_frame())
    facts = {f.span_id: f for f in map(read_span, read_phoenix_export(file_store, "phoenix").records)}
    llm, retriever = facts[LLM], facts[RETRIEVER]
    assert (llm.role, llm.dialect, llm.request_model or llm.response_model) == (
        "llm",
        "openinference",
        "gpt-4o-mini",
    )
    assert (llm.input_tokens, llm.output_tokens) == (12, 5)
    assert [m.content for m in llm.input_messages or []] == ["Answer briefly.", "Capital of France?"]
    assert retriever.role == "retriever"
    assert [(p.document_id, p.score) for p in retriever.retrieved or []] == [("doc-1", 0.92)]
    assert facts[ROOT].session_id == "s-3"


def test_nested_attribute_objects_are_flattened_the_same_way() -> None:
    """`TraceDataset.from_spans` normalises with `max_level=1`, so `attributes.llm` holds a nested object."""
    nested = {
        "attributes.llm": {
            "model_name": "gpt-4o-mini",
            "token_count": {"prompt": 12, "completion": None},
            "input_messages": [{"message": {"role": "user", "content": "Hi"}}],
        },
        "attributes.tag.tags": ["a", None, "b"],
        "attributes": {"input": {"value": "Hi"}},
    }
    assert span_attributes(nested) == {
        "input.value": "Hi",
        "llm.model_name": "gpt-4o-mini",
        "llm.token_count.prompt": 12,
        "llm.input_messages.0.message.role": "user",
        "llm.input_messages.0.message.content": "Hi",
        "tag.tags": ["a", "b"],
    }


def test_errors_and_exception_events_survive(file_store: Store) -> None:
    failed = row(
        ROOT,
        None,
        "LLM",
        "ChatCompletion",
        **{SpanAttributes.LLM_MODEL_NAME: "gpt-4o-mini"},
    ) | {
        "status_code": "ERROR",
        "status_message": "RateLimitError: slow down",
        "events": [
            {
                "name": "exception",
                "timestamp": at(1).isoformat(),
                "attributes": {"exception.type": "RateLimitError", "exception.message": "slow down"},
            }
        ],
    }
    save_trace_dataset(file_store, pd.DataFrame([failed]))
    [span] = read_phoenix_export(file_store, "phoenix").records
    assert (span.status, span.status_message) == ("error", "RateLimitError: slow down")
    [event] = span.events
    assert (event.name, event.time_unix_nano) == ("exception", ns(1))
    assert event.attributes == {"exception.type": "RateLimitError", "exception.message": "slow down"}


def test_bad_rows_and_files_are_rejected_and_the_rest_accounted_for(file_store: Store) -> None:
    frame = rag_frame()
    frame.loc[1, "context.span_id"] = "not-hex"
    frame.loc[2, "parent_id"] = "123"
    save_trace_dataset(file_store, frame)
    save_trace_dataset(file_store, rag_frame().iloc[[0]])  # the root saved again in another dataset
    file_store.write_bytes(
        "phoenix/trace_dataset-00000000-0000-0000-0000-000000000000.parquet", b"\x00random"
    )
    buffer = io.BytesIO()
    pq.write_table(pa.table({"name": ["x"], "start_time": [at(0)]}), buffer)
    file_store.write_bytes("phoenix/other.parquet", buffer.getvalue())
    file_store.write_bytes(f"phoenix/evaluations-{uuid.uuid4()}.parquet", b"PAR1")
    file_store.write_bytes("phoenix/README.md", b"# traces")
    read = read_phoenix_export(file_store, "phoenix")
    assert [s.span_id for s in read.records] == [ROOT]
    reasons = {r.record_id: r.reason for r in read.rejected_records}
    assert reasons == {
        "not-hex": "context.span_id 'not-hex' is not a 16-digit hex span id",
        LLM: "parent_id '123' is not a 16-digit hex span id",
    }
    objects = {r.key: r.reason for r in read.rejected_objects}
    assert (
        "not a readable Parquet file"
        in objects["phoenix/trace_dataset-00000000-0000-0000-0000-000000000000.parquet"]
    )
    assert objects["phoenix/other.parquet"] == (
        "not a Phoenix spans dataframe: missing column(s) context.trace_id, context.span_id"
    )
    assert sorted(s.reason for s in read.skipped) == [
        "Phoenix evaluations file (span annotations), not spans; not imported",
        "not a Parquet spans dataframe",
    ]
    assert read.duplicates_dropped == 1
    assert_accounted(read)


def test_a_frame_with_plain_id_columns_and_string_times(file_store: Store) -> None:
    """Newer clients name the id columns `span_id` / `trace_id`; a frame saved by hand may hold ISO strings."""
    frame = pl_free_frame()
    buffer = io.BytesIO()
    frame.to_parquet(buffer)
    file_store.write_bytes("phoenix/spans.parquet", buffer.getvalue())
    [span] = read_phoenix_export(file_store, "phoenix").records
    assert (span.span_id, span.trace_id, span.start_time_unix_nano) == (ROOT, TRACE, ns(0))
    assert span.attributes == {
        "openinference.span.kind": "CHAIN",
        "input.value": orjson.dumps({"q": 1}).decode(),
    }


def pl_free_frame() -> pd.DataFrame:
    return pd.DataFrame(
        [
            {
                "span_id": ROOT.upper(),
                "trace_id": TRACE,
                "parent_id": None,
                "name": "query",
                "span_kind": "CHAIN",
                "start_time": "2026-12-01T10:00:00+00:00",
                "end_time": None,
                "status_code": "UNSET",
                "status_message": None,
                "attributes.input.value": orjson.dumps({"q": 1}).decode(),
            }
        ]
    )
