"""Vendor export files built to their documented formats, for the unit tests of each reader and the
integration tests that import them through `import_traces`.

- Langfuse blob-storage export: https://langfuse.com/docs/api-and-data-platform/features/export-to-blob-storage
  (layout, manifests as the run's commit point, de-duplication by id) and
  https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields (columns, timestamps
  `YYYY-MM-DD HH:MM:SS.ffffff` UTC, CSV encoding of objects as JSON text); manifest payload as in Langfuse's worker
  (`worker/src/features/blobstorage/manifest.ts`).
- `opik export` per-trace JSON files: Opik's Python SDK, `sdks/python/src/opik/cli/exports/project.py`
  (github.com/comet-ml/opik), field names from the REST models `TracePublic`, `SpanPublic`.
- Phoenix span dataframes: `TraceDataset` (github.com/Arize-ai/phoenix, `src/phoenix/trace/trace_dataset.py`),
  https://arize.com/docs/phoenix/tracing/how-to-tracing/importing-and-exporting-traces; attribute names from
  `openinference.semconv.trace`.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import json
import uuid
from typing import Any

import orjson
import pandas as pd
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq
from openinference.semconv.trace import DocumentAttributes, MessageAttributes, SpanAttributes

from tracewatch.store import Store

# ---- Langfuse ----------------------------------------------------------------------------------------------

LANGFUSE_PROJECT = "cm4proj01"
LANGFUSE_ROOT = f"exports/{LANGFUSE_PROJECT}"
LANGFUSE_PREFIX = f"langfuse-bucket-prefix/{LANGFUSE_PROJECT}"
"""Where Langfuse believes it wrote (the manifest's keys)."""
_LANGFUSE_TIME = "2026-12-01 10:00:{:06.3f}000"


def langfuse_ts(seconds: float) -> str:
    return _LANGFUSE_TIME.format(seconds)


def langfuse_ns(seconds: float) -> int:
    return 1_796_119_200_000_000_000 + round(seconds * 1e9)


def langfuse_observation(obs_id: str, trace_id: str, **fields: Any) -> dict[str, Any]:
    """One enriched observation row with every field group, defaults as the docs describe ('' for unset)."""
    row: dict[str, Any] = {
        "id": obs_id,
        "trace_id": trace_id,
        "project_id": LANGFUSE_PROJECT,
        "environment": "production",
        "type": "SPAN",
        "parent_observation_id": "",
        "start_time": langfuse_ts(0),
        "end_time": langfuse_ts(2),
        "name": "handler",
        "metadata": {},
        "level": "DEFAULT",
        "status_message": "",
        "version": "",
        "input": "",
        "output": "",
        "provided_model_name": "",
        "model_parameters": "",
        "usage_details": {},
        "cost_details": {},
        "completion_start_time": None,
        "prompt_name": "",
        "prompt_version": None,
        "total_cost": 0,
        "latency": 2.0,
        "time_to_first_token": None,
        "model_id": "",
        "created_at": langfuse_ts(0),
        "updated_at": langfuse_ts(3),
        "is_root_observation": False,
        "user_id": "u-7",
        "session_id": "s-3",
        "trace_name": "qa/answer",
        "tags": ["prod"],
        "release": "",
        "bookmarked": False,
        "public": False,
    }
    row.update(fields)
    return row


def langfuse_score(
    score_id: str, trace_id: str | None, name: str, data_type: str, value: float, **fields: Any
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": score_id,
        "timestamp": langfuse_ts(5),
        "project_id": LANGFUSE_PROJECT,
        "environment": "production",
        "trace_id": trace_id,
        "observation_id": None,
        "session_id": None,
        "dataset_run_id": None,
        "name": name,
        "value": value,
        "source": "API",
        "comment": None,
        "data_type": data_type,
        "string_value": None,
        "created_at": langfuse_ts(5),
        "updated_at": langfuse_ts(5),
    }
    row.update(fields)
    return row


def langfuse_one_trace(trace_id: str = "t1") -> list[dict[str, Any]]:
    """A root span and the model call under it, as the Langfuse OpenAI integration records them."""
    return [
        langfuse_observation(
            "o-root",
            trace_id,
            is_root_observation=True,
            input="What is the capital of France?",
            output="Paris.",
            metadata={"tenant": "acme"},
        ),
        langfuse_observation(
            "o-gen",
            trace_id,
            type="GENERATION",
            parent_observation_id="o-root",
            name="OpenAI-generation",
            start_time=langfuse_ts(0.5),
            end_time=langfuse_ts(1.5),
            latency=1.0,
            input=orjson.dumps([{"role": "user", "content": "What is the capital of France?"}]).decode(),
            output=orjson.dumps({"role": "assistant", "content": "Paris."}).decode(),
            provided_model_name="gpt-4o-mini",
            usage_details={"input": 12, "output": 5, "total": 17, "input_cached_tokens": 4},
            cost_details={"input": 0.0001, "output": 0.0002, "total": 0.0003},
            total_cost=0.0003,
        ),
    ]


# ---- writing an export the way Langfuse does --------------------------------------------------------------


def langfuse_encode(rows: list[dict[str, Any]], fmt: str) -> bytes:
    if fmt == "jsonl":
        return b"".join(orjson.dumps(r) + b"\n" for r in rows)
    if fmt == "json":
        return orjson.dumps(rows)
    if fmt == "csv":  # all values text, objects and arrays JSON-encoded, null empty
        text = [
            {
                k: None if v is None else v if isinstance(v, str) else orjson.dumps(v).decode()
                for k, v in r.items()
            }
            for r in rows
        ]
        return pl.DataFrame(text, schema=dict.fromkeys(rows[0], pl.String)).write_csv().encode()
    return langfuse_parquet(rows)


_LANGFUSE_MAPS = {"metadata": pa.string(), "usage_details": pa.uint64(), "cost_details": pa.float64()}


_LANGFUSE_TIMES = frozenset(
    {"start_time", "end_time", "created_at", "updated_at", "timestamp", "completion_start_time"}
)


def langfuse_parquet(rows: list[dict[str, Any]]) -> bytes:
    """Typed columns as ClickHouse writes them: maps as Parquet maps, timestamps as timestamps."""
    columns = {}
    for name in rows[0]:
        values = [r[name] for r in rows]
        if name in _LANGFUSE_MAPS:
            columns[name] = pa.array(
                [list(v.items()) for v in values], pa.map_(pa.string(), _LANGFUSE_MAPS[name])
            )
        elif name in _LANGFUSE_TIMES:
            columns[name] = pa.array(
                [None if v is None else pl.Series([v]).str.to_datetime().item() for v in values],
                pa.timestamp("ms", "UTC"),
            )
        else:
            columns[name] = pa.array(values)
    buffer = io.BytesIO()
    pq.write_table(pa.table(columns), buffer)
    return buffer.getvalue()


def write_langfuse_run(
    store: Store,
    stamp: str,
    *,
    observations: list[dict[str, Any]],
    scores: list[dict[str, Any]] | None = None,
    fmt: str = "jsonl",
    compressed: bool = False,
    manifest: bool = True,
    corrupt: dict[str, bytes] | None = None,
) -> dict[str, str]:
    """Write one export run: the table files, then (unless `manifest` is False) the manifest, last."""
    files, keys = [], {}
    for table, rows in (("observations_v2", observations), ("scores", scores or [])):
        name = f"{stamp}.{fmt}" + (".gz" if compressed else "")
        data = langfuse_encode(rows, fmt) if rows else (b"" if fmt != "json" else b"[]")
        if compressed:
            data = gzip.compress(data)
        data = (corrupt or {}).get(table, data)
        keys[table] = f"{LANGFUSE_ROOT}/{table}/{name}"
        store.write_bytes(keys[table], data)
        files.append(
            {
                "key": f"{LANGFUSE_PREFIX}/{table}/{name}",
                "table": table,
                "fileType": fmt.upper(),
                "format": fmt + ("-gzip" if compressed else ""),
                "compressed": compressed,
                "contentType": "application/octet-stream",
                "sizeBytes": len(data),
                "rowCount": None if fmt == "parquet" else len(rows),
            }
        )
    if manifest:
        keys["manifest"] = f"{LANGFUSE_ROOT}/manifests/{stamp}.json"
        window = {"minTimestamp": "2026-12-01T09:00:00.000Z", "maxTimestamp": "2026-12-01T10:00:00.000Z"}
        payload = {
            "version": 1,
            "projectId": LANGFUSE_PROJECT,
            "exportSource": "OBSERVATIONS_V2",
            "window": window,
        }
        payload |= {"maxTimestamp": window["maxTimestamp"], "createdAt": "2026-12-01T10:01:00.000Z"}
        payload |= {"tables": ["observations_v2", "scores"], "files": files}
        store.write_bytes(keys["manifest"], orjson.dumps(payload))
    return keys


# ---- Opik --------------------------------------------------------------------------------------------------

OPIK_FOLDER = "opik/acme/projects/support-bot"
OPIK_TRACE = "0193a1b2-0000-7000-8000-000000000001"
OPIK_START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)


def opik_at(seconds: float) -> dt.datetime:
    return OPIK_START + dt.timedelta(seconds=seconds)


def opik_ns(seconds: float) -> int:
    return round(opik_at(seconds).timestamp() * 1e9)


def opik_trace(trace_id: str = OPIK_TRACE, **fields: Any) -> dict[str, Any]:
    """A `TracePublic.model_dump()`: datetimes stay datetime objects until json.dump's default=str."""
    row: dict[str, Any] = {
        "id": trace_id,
        "project_id": "0193a1b2-0000-7000-8000-00000000aaaa",
        "name": "answer_question",
        "start_time": opik_at(0),
        "end_time": opik_at(2),
        "input": {"question": "What is the capital of France?"},
        "output": {"output": "Paris."},
        "metadata": {"tenant": "acme"},
        "tags": ["prod"],
        "error_info": None,
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "created_at": opik_at(3),
        "last_updated_at": opik_at(3),
        "created_by": "admin",
        "last_updated_by": "admin",
        "feedback_scores": [
            {
                "name": "helpfulness",
                "category_name": None,
                "value": 0.75,
                "reason": "concise",
                "source": "sdk",
            },
            {"name": "tone", "category_name": "friendly", "value": 1.0, "reason": None, "source": "ui"},
        ],
        "comments": None,
        "guardrails_validations": None,
        "total_estimated_cost": 0.0003,
        "span_count": 2,
        "duration": 2000.0,
        "thread_id": "thread-42",
    }
    row.update(fields)
    return row


def opik_span(span_id: str, trace_id: str = OPIK_TRACE, **fields: Any) -> dict[str, Any]:
    """A `SpanPublic.model_dump()`."""
    row: dict[str, Any] = {
        "id": span_id,
        "project_name": None,
        "project_id": "0193a1b2-0000-7000-8000-00000000aaaa",
        "trace_id": trace_id,
        "parent_span_id": None,
        "name": "chat_completion_create",
        "type": "llm",
        "start_time": opik_at(0.5),
        "end_time": opik_at(1.5),
        "input": {"messages": [{"role": "user", "content": "What is the capital of France?"}]},
        "output": {"choices": [{"index": 0, "message": {"role": "assistant", "content": "Paris."}}]},
        "metadata": {"created_from": "openai"},
        "model": "gpt-4o-mini",
        "provider": "openai",
        "tags": None,
        "usage": {"prompt_tokens": 12, "completion_tokens": 5, "total_tokens": 17},
        "error_info": None,
        "created_at": opik_at(3),
        "last_updated_at": opik_at(3),
        "feedback_scores": None,
        "comments": None,
        "total_estimated_cost": 0.0003,
        "total_estimated_cost_version": "v1",
        "duration": 1000.0,
    }
    row.update(fields)
    return row


def write_opik_file(
    store: Store, the_trace: dict[str, Any] | None, spans: list[dict[str, Any]], **extra: Any
) -> str:
    trace_id = the_trace["id"] if the_trace else "missing"
    document: dict[str, Any] = {} if the_trace is None else {"trace": the_trace}
    document |= {
        "spans": spans,
        "attachments": [],
        "downloaded_at": "2026-12-02T01:00:00",
        "project_name": "support-bot",
    }
    document |= extra
    key = f"{OPIK_FOLDER}/trace_{trace_id}.json"
    store.write_bytes(key, json.dumps(document, indent=2, default=str).encode())
    return key


# ---- Phoenix -----------------------------------------------------------------------------------------------

PHOENIX_TRACE = "0af7651916cd43dd8448eb211c80319c"
PHOENIX_ROOT, PHOENIX_RETRIEVER, PHOENIX_LLM = "b7ad6b7169203331", "00f067aa0ba902b7", "a3ce929d0e0e4736"
PHOENIX_START = dt.datetime(2026, 12, 1, 10, 0, tzinfo=dt.UTC)
PHOENIX_ATTR = "attributes."


def phoenix_at(seconds: float) -> dt.datetime:
    return PHOENIX_START + dt.timedelta(seconds=seconds)


def phoenix_ns(seconds: float) -> int:
    return round(phoenix_at(seconds).timestamp() * 1e9)


def phoenix_row(span_id: str, parent: str | None, kind: str, name: str, **attributes: Any) -> dict[str, Any]:
    """One row of a spans dataframe as `get_spans_dataframe` returns it (attribute columns prefixed)."""
    base: dict[str, Any] = {
        "name": name,
        "span_kind": kind,
        "parent_id": parent,
        "start_time": phoenix_at(0 if parent is None else 0.5),
        "end_time": phoenix_at(2 if parent is None else 1.5),
        "status_code": "OK",
        "status_message": "",
        "events": [],
        "context.span_id": span_id,
        "context.trace_id": PHOENIX_TRACE,
    }
    return base | {PHOENIX_ATTR + key: value for key, value in attributes.items()}


def phoenix_rag_frame() -> pd.DataFrame:
    """A RAG request: a chain, a retriever and the model call, with OpenInference's names."""
    messages = [
        {MessageAttributes.MESSAGE_ROLE: "system", MessageAttributes.MESSAGE_CONTENT: "Answer briefly."},
        {MessageAttributes.MESSAGE_ROLE: "user", MessageAttributes.MESSAGE_CONTENT: "Capital of France?"},
    ]
    documents = [
        {
            DocumentAttributes.DOCUMENT_ID: "doc-1",
            DocumentAttributes.DOCUMENT_CONTENT: "Paris is the capital of France.",
            DocumentAttributes.DOCUMENT_SCORE: 0.92,
            DocumentAttributes.DOCUMENT_METADATA: {"source": "wiki"},
        }
    ]
    rows = [
        phoenix_row(
            PHOENIX_ROOT,
            None,
            "CHAIN",
            "query",
            **{
                SpanAttributes.INPUT_VALUE: "Capital of France?",
                SpanAttributes.OUTPUT_VALUE: "Paris.",
                SpanAttributes.SESSION_ID: "s-3",
                SpanAttributes.METADATA: {"tenant": "acme"},
            },
        ),
        phoenix_row(
            PHOENIX_RETRIEVER,
            PHOENIX_ROOT,
            "RETRIEVER",
            "retrieve",
            **{SpanAttributes.RETRIEVAL_DOCUMENTS: documents},
        ),
        phoenix_row(
            PHOENIX_LLM,
            PHOENIX_ROOT,
            "LLM",
            "ChatCompletion",
            **{
                SpanAttributes.LLM_MODEL_NAME: "gpt-4o-mini",
                SpanAttributes.LLM_INPUT_MESSAGES: messages,
                SpanAttributes.LLM_OUTPUT_MESSAGES: [
                    {MessageAttributes.MESSAGE_ROLE: "assistant", MessageAttributes.MESSAGE_CONTENT: "Paris."}
                ],
                SpanAttributes.LLM_TOKEN_COUNT_PROMPT: 12,
                SpanAttributes.LLM_TOKEN_COUNT_COMPLETION: 5,
                SpanAttributes.LLM_TOKEN_COUNT_TOTAL: 17,
                SpanAttributes.LLM_INVOCATION_PARAMETERS: json.dumps({"temperature": 0}),
            },
        ),
    ]
    return pd.DataFrame(rows)


def save_phoenix_dataset(store: Store, frame: pd.DataFrame, folder: str = "phoenix") -> str:
    """What `TraceDataset.save(directory)` writes: the frame with `arize` schema metadata, under its id."""
    dataset_id = uuid.uuid4()
    table = pa.Table.from_pandas(frame)
    metadata = {b"arize": json.dumps({"dataset_id": str(dataset_id), "dataset_name": "prod", "eval_ids": []})}
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), **metadata})
    buffer = io.BytesIO()
    pq.write_table(table, buffer)
    key = f"{folder}/trace_dataset-{dataset_id}.parquet"
    store.write_bytes(key, buffer.getvalue())
    return key
