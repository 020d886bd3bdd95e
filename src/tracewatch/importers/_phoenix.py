"""Phoenix span dataframes saved as Parquet, read into OTel-shaped `Span`s for the OpenInference dialect.

A Phoenix spans dataframe (`px.Client().get_spans_dataframe()`, `TraceDataset.dataframe`) has one row per span:
`context.trace_id`, `context.span_id`, `parent_id`, `name`, `span_kind`, `start_time`, `end_time`,
`status_code`, `status_message`, `events`, and the span's attributes in `attributes.*` columns under their
OpenInference names. `TraceDataset.save(directory)` writes it as `trace_dataset-{uuid}.parquet` with an `arize`
schema-metadata entry `{dataset_id, dataset_name, eval_ids}`, and each attached evaluation set beside it as
`evaluations-{uuid}.parquet` (Phoenix, `src/phoenix/trace/trace_dataset.py`, `span_evaluations.py`).

Attribute columns come in more than one shape: fully flattened (`attributes.llm.token_count.prompt`), or with
lists of objects left whole (`attributes.llm.input_messages` holding `[{"message.role": ..., ...}]`), or, for a
frame built by `TraceDataset.from_spans`, nested objects (`attributes.llm` holding `{"model_name": ...}`). All
become the flattened dotted keys OTLP exporters write (`llm.input_messages.0.message.role`), so one dialect reads
every source. Parquet widens objects of one column to the union of their keys, so None values are absent
attributes. Objects that OpenInference carries as JSON strings (`metadata`, `llm.invocation_parameters`,
`tool.parameters`, ...) are encoded back to JSON strings instead of flattened. `span_kind` becomes
`openinference.span.kind` when the attributes do not state it.
"""

from __future__ import annotations

import io
import re
from typing import Any

import orjson
import polars as pl
import pyarrow.parquet as pq

from tracewatch.importers._exports import ExportRead, text_or_none, timestamp_ns
from tracewatch.importers._spans import AttributeValue, Span, SpanEvent, SpanStatus
from tracewatch.store import Store

ATTRIBUTE_PREFIX = "attributes."
DATASET_FILE = re.compile(r"^trace_dataset-[0-9a-fA-F-]{36}\.parquet$")
EVALUATIONS_FILE = re.compile(r"^evaluations-[0-9a-fA-F-]{36}\.parquet$")
SPAN_KIND = "openinference.span.kind"
PROJECT = "openinference.project.name"
_REQUIRED = ("name", "start_time")
_ID_COLUMNS = {"trace_id": ("context.trace_id", "trace_id"), "span_id": ("context.span_id", "span_id")}
_HEX = re.compile(r"^[0-9a-f]+$")
_JSON_STRING_KEYS = frozenset({"metadata", "invocation_parameters", "parameters", "arguments", "json_schema"})
"""Last key segments of OpenInference attributes whose value is a JSON string, not a structure to flatten."""
_STATUS: dict[str, SpanStatus] = {"OK": "ok", "ERROR": "error", "UNSET": "unset"}


def read_phoenix_export(
    store: Store, prefix: str = "", *, project: str | None = None, keys: list[str] | None = None
) -> ExportRead[Span]:
    """Read the span Parquet files under `prefix` (or only `keys`); a span saved in two files counts once.

    `project` becomes the spans' `openinference.project.name` resource attribute: a Phoenix frame does not
    record which project it was taken from.
    """
    listing = store.list_objects(prefix)
    result: ExportRead[Span] = ExportRead(objects_listed=len(listing))
    seen: set[tuple[str, str]] = set()
    chosen = None if keys is None else set(keys)
    for info in listing:
        name = info.key.rsplit("/", 1)[-1]
        if chosen is not None and info.key not in chosen:
            result.skip(info.key, "not selected for this read")
        elif EVALUATIONS_FILE.match(name):
            result.skip(info.key, "Phoenix evaluations file (span annotations), not spans; not imported")
        elif not name.endswith(".parquet"):
            result.skip(info.key, "not a Parquet spans dataframe")
        else:
            one = read_phoenix_file(info.key, store.read_bytes(info.key), project=project)
            result.objects_read += one.objects_read
            result.records_read += one.records_read
            result.rejected.extend(one.rejected)
            result.notes.extend(one.notes)
            for span in one.records:
                if (span.trace_id, span.span_id) in seen:
                    result.duplicates_dropped += 1
                else:
                    seen.add((span.trace_id, span.span_id))
                    result.records.append(span)
    return result


def read_phoenix_file(key: str, data: bytes, *, project: str | None = None) -> ExportRead[Span]:
    """One saved dataframe: a `Span` per valid row, a rejection per row that cannot be a span."""
    result: ExportRead[Span] = ExportRead(objects_listed=1)
    try:
        frame = pl.read_parquet(io.BytesIO(data))
        metadata = pq.read_schema(io.BytesIO(data)).metadata or {}
    except (
        Exception
    ) as exc:  # polars and pyarrow raise several unrelated types for a file that is not Parquet
        result.reject(key, f"not a readable Parquet file: {type(exc).__name__}: {exc}")
        return result
    columns = set(frame.columns)
    ids = {name: next((c for c in options if c in columns), None) for name, options in _ID_COLUMNS.items()}
    missing = [c for c in _REQUIRED if c not in columns] + [
        _ID_COLUMNS[n][0] for n, c in ids.items() if c is None
    ]
    if missing:
        result.reject(key, f"not a Phoenix spans dataframe: missing column(s) {', '.join(missing)}")
        return result
    if b"arize" in metadata:
        _note_dataset(key, metadata[b"arize"], result)
    resource: dict[str, AttributeValue] = {PROJECT: project} if project else {}
    result.objects_read = 1
    result.records_read = frame.height
    for n, row in enumerate(frame.iter_rows(named=True)):
        span_or_reason = _span(row, str(ids["trace_id"]), str(ids["span_id"]), resource)
        if isinstance(span_or_reason, str):
            result.reject(key, span_or_reason, text_or_none(row.get(str(ids["span_id"]))) or f"row {n}")
        else:
            result.records.append(span_or_reason)
    return result


def _note_dataset(key: str, raw: bytes, result: ExportRead[Span]) -> None:
    try:
        saved = orjson.loads(raw)
        result.notes.append(
            f"{key}: TraceDataset {saved.get('dataset_name')!r} (id {saved.get('dataset_id')})"
        )
    except (orjson.JSONDecodeError, AttributeError):
        result.notes.append(
            f"{key}: `arize` schema metadata is not the JSON TraceDataset.save writes; ignored"
        )


def _span(
    row: dict[str, Any], trace_column: str, span_column: str, resource: dict[str, AttributeValue]
) -> Span | str:
    """A row as a `Span`, or the reason it cannot be one."""
    trace_id = _hex_id(row.get(trace_column), 32)
    span_id = _hex_id(row.get(span_column), 16)
    parent_raw = text_or_none(row.get("parent_id"))
    parent = _hex_id(parent_raw, 16) if parent_raw is not None else None
    if trace_id is None:
        return f"{trace_column} {row.get(trace_column)!r} is not a 32-digit hex trace id"
    if span_id is None:
        return f"{span_column} {row.get(span_column)!r} is not a 16-digit hex span id"
    if parent_raw is not None and parent is None:
        return f"parent_id {parent_raw!r} is not a 16-digit hex span id"
    start = timestamp_ns(row.get("start_time"))
    if start is None:
        return f"start_time {row.get('start_time')!r} is not a timestamp"
    attributes = span_attributes(row)
    kind = text_or_none(row.get("span_kind"))
    if kind is not None and SPAN_KIND not in attributes:
        attributes[SPAN_KIND] = kind
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=text_or_none(row.get("name")) or "",
        start_time_unix_nano=start,
        end_time_unix_nano=timestamp_ns(row.get("end_time")),
        status=_STATUS.get(str(row.get("status_code") or "UNSET").upper(), "unset"),
        status_message=text_or_none(row.get("status_message")),
        attributes=attributes,
        resource=dict(resource),
        events=_events(row.get("events")),
    )


def _hex_id(value: Any, digits: int) -> str | None:
    text = text_or_none(value)
    if text is None:
        return None
    text = text.strip().lower().removeprefix("0x")
    return text if len(text) == digits and _HEX.match(text) else None


def span_attributes(row: dict[str, Any]) -> dict[str, AttributeValue]:
    """The OpenInference attributes of one dataframe row, flattened to dotted keys (see the module docstring)."""
    out: dict[str, AttributeValue] = {}
    nested = row.get("attributes")
    if isinstance(nested, dict):
        _flatten_into(out, "", nested)
    for column, value in row.items():
        if column.startswith(ATTRIBUTE_PREFIX):
            _flatten_into(out, column[len(ATTRIBUTE_PREFIX) :], value)
    return out


def _flatten_into(out: dict[str, AttributeValue], key: str, value: Any) -> None:
    if value is None:
        return
    last = key.rsplit(".", 1)[-1]
    if isinstance(value, dict):
        if last in _JSON_STRING_KEYS:
            present = {k: v for k, v in value.items() if v is not None}
            if present:
                out[key] = orjson.dumps(present, default=str).decode()
            return
        for child, item in value.items():
            _flatten_into(out, f"{key}.{child}" if key else str(child), item)
    elif isinstance(value, list) and value and all(isinstance(item, dict) for item in value):
        for index, item in enumerate(value):
            _flatten_into(out, f"{key}.{index}", item)
    elif isinstance(value, list):
        out[key] = [item for item in value if item is not None]
    else:
        out[key] = value


def _events(value: Any) -> list[SpanEvent]:
    """Span events as Phoenix keeps them (`[{name, timestamp, attributes}]`); exception events carry errors."""
    if not isinstance(value, list):
        return []
    events = []
    for item in value:
        if isinstance(item, dict) and text_or_none(item.get("name")):
            attributes: dict[str, AttributeValue] = {}
            if isinstance(item.get("attributes"), dict):
                _flatten_into(attributes, "", item["attributes"])
            events.append(SpanEvent(str(item["name"]), timestamp_ns(item.get("timestamp")), attributes))
    return events
