"""The per-trace JSON files `opik export` writes, read into `SpanFacts`.

Layout and fields, as in Opik's Python SDK (`sdks/python/src/opik/cli/exports/project.py`, which writes
`{output}/{workspace}/projects/{project}/trace_{trace_id}.json` with `json.dump(..., default=str)`, and the REST
models `TracePublic` / `SpanPublic` / `FeedbackScorePublic` / `ErrorInfoPublic` it dumps):

    {"trace": {id, name, start_time, end_time, input, output, metadata, tags, error_info, usage,
               feedback_scores, total_estimated_cost, duration, thread_id, ...},
     "spans": [{id, trace_id, parent_span_id, name, type: general|tool|llm|guardrail, start_time, end_time,
                input, output, metadata, model, provider, tags, usage, error_info, feedback_scores,
                total_estimated_cost, ...}],
     "attachments": [...], "downloaded_at": "...", "project_name": "..."}

Timestamps are Python's `str(datetime)` (`2026-12-01 10:00:00.123456+00:00`) or ISO 8601. An Opik trace is not a
span: it becomes the root `SpanFacts` (span id = trace id) and spans without a parent become its children, so
assembly sees one tree. Token usage and cost are read from spans (`usage.prompt_tokens` / `completion_tokens` /
`total_tokens`, `total_estimated_cost`); the trace's own totals repeat them and go to metadata only.
`thread_id` is the session. The export's CSV form (`--format csv`) flattens the input and output into
Python reprs and is rejected with a request to export JSON.
"""

from __future__ import annotations

from typing import Any

import orjson

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._dialects import IMPORT_WARNINGS
from tracewatch.importers._exports import (
    ExportRead,
    as_count,
    as_mapping,
    as_number,
    as_text_list,
    first_count,
    set_payloads,
    text_or_none,
    timestamp_ns,
)
from tracewatch.importers._spans import FeedbackValue, SpanFacts
from tracewatch.store import Store

FILE_PREFIX = "trace_"
_EXPECTED = 'expected {"trace": {...}, "spans": [...]} as written by `opik export`'
SCORE_DETAILS = "opik.feedback_details"
"""Metadata key of the category names and reasons of the feedback scores, which `FeedbackValue` has no room for."""


def read_opik_export(
    store: Store, prefix: str = "", *, keys: list[str] | None = None
) -> ExportRead[SpanFacts]:
    """Read the `trace_*.json` files under `prefix` (or only `keys`); a trace exported twice counts once."""
    listing = store.list_objects(prefix)
    result: ExportRead[SpanFacts] = ExportRead(objects_listed=len(listing))
    seen: set[str] = set()
    chosen = None if keys is None else set(keys)
    for info in listing:
        name = info.key.rsplit("/", 1)[-1]
        if chosen is not None and info.key not in chosen:
            result.skip(info.key, "not selected for this read")
        elif not name.startswith(FILE_PREFIX):
            result.skip(info.key, "not a trace file of `opik export` (trace_<id>.json)")
        elif name.endswith(".csv"):
            result.reject(info.key, "CSV trace export is not supported: run `opik export ... --format json`")
        elif not name.endswith(".json"):
            result.skip(info.key, "not a trace file of `opik export` (trace_<id>.json)")
        else:
            one = read_opik_file(info.key, store.read_bytes(info.key))
            _merge(result, one, seen)
    return result


def _merge(result: ExportRead[SpanFacts], one: ExportRead[SpanFacts], seen: set[str]) -> None:
    result.objects_read += one.objects_read
    result.records_read += one.records_read
    result.duplicates_dropped += one.duplicates_dropped
    result.rejected.extend(one.rejected)
    if one.records and one.records[0].trace_id in seen:
        # The same trace exported into two folders (or twice with --force): keep the first copy.
        result.duplicates_dropped += len(one.records)
        return
    if one.records:
        seen.add(one.records[0].trace_id)
    result.records.extend(one.records)


def read_opik_file(key: str, data: bytes) -> ExportRead[SpanFacts]:
    """One exported trace: its root facts first, then one `SpanFacts` per span."""
    result: ExportRead[SpanFacts] = ExportRead(objects_listed=1)
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        result.reject(key, f"not valid JSON ({exc}); {_EXPECTED}")
        return result
    trace = document.get("trace") if isinstance(document, dict) else None
    if not isinstance(trace, dict):
        result.reject(key, f"has no `trace` object; {_EXPECTED}")
        return result
    trace_id, start = text_or_none(trace.get("id")), timestamp_ns(trace.get("start_time"))
    if trace_id is None or start is None:
        result.reject(
            key, f"trace without `id` or with an unreadable `start_time` ({trace.get('start_time')!r})"
        )
        return result
    spans = document.get("spans") or []
    if not isinstance(spans, list):
        result.reject(key, f"`spans` is a {type(spans).__name__}; {_EXPECTED}")
        return result
    result.objects_read = 1
    result.records_read = 1 + len(spans)
    project = text_or_none(document.get("project_name"))
    root = _facts(trace, trace_id, trace_id, None, project)
    root.session_id = text_or_none(trace.get("thread_id"))
    root.input_tokens = root.output_tokens = root.total_tokens = root.cost_usd = None  # totals of the spans
    for name in ("usage", "total_estimated_cost"):
        if trace.get(name) is not None:
            root.metadata[f"opik.trace_{name}"] = trace[name]
    result.records.append(root)
    seen: set[str] = set()
    for n, span in enumerate(spans):
        _add_span(result, key, n, span, trace_id, project, seen)
    return result


def _add_span(
    result: ExportRead[SpanFacts],
    key: str,
    n: int,
    span: Any,
    trace_id: str,
    project: str | None,
    seen: set[str],
) -> None:
    span_id = text_or_none(span.get("id")) if isinstance(span, dict) else None
    if not isinstance(span, dict) or span_id is None:
        result.reject(key, "span is not an object with an `id`", f"spans[{n}]")
    elif text_or_none(span.get("trace_id")) not in (None, trace_id):
        result.reject(
            key, f"span belongs to trace {span.get('trace_id')}, not the file's trace {trace_id}", span_id
        )
    elif timestamp_ns(span.get("start_time")) is None:
        result.reject(key, f"span start_time {span.get('start_time')!r} is not a timestamp", span_id)
    elif span_id == trace_id:
        result.reject(key, "span has the id of its trace; spans and the trace need their own ids", span_id)
    elif span_id in seen:
        result.duplicates_dropped += 1
    else:
        seen.add(span_id)
        parent = text_or_none(span.get("parent_span_id")) or trace_id
        result.records.append(_facts(span, trace_id, span_id, parent, project))


def _facts(
    item: dict[str, Any], trace_id: str, span_id: str, parent: str | None, project: str | None
) -> SpanFacts:
    """What a trace or a span says; the fields they share have the same names in Opik's REST models."""
    reader = AttributeReader({})
    fact = SpanFacts(
        trace_id=trace_id,
        span_id=span_id,
        parent_span_id=parent,
        name=text_or_none(item.get("name")) or "",
        start_time_unix_nano=timestamp_ns(item.get("start_time")),
        end_time_unix_nano=timestamp_ns(item.get("end_time")),
        role="llm" if item.get("type") == "llm" else "other",
        dialect="opik",
        request_model=text_or_none(item.get("model")),
        provider=text_or_none(item.get("provider")),
        project=text_or_none(item.get("project_name")) or project,
        tags=as_text_list(item.get("tags")),
        cost_usd=as_number(item.get("total_estimated_cost")),
    )
    if parent is None:
        fact.route = fact.name or None
    error = item.get("error_info")
    if isinstance(error, dict):
        fact.status = "error"
        fact.error_type = text_or_none(error.get("exception_type"))
        fact.error_message = text_or_none(error.get("message"))
    set_payloads(fact, item.get("input"), item.get("output"), reader)
    usage = {k: as_count(v) for k, v in as_mapping(item.get("usage")).items()}
    fact.input_tokens = first_count(usage, "prompt_tokens", "input_tokens")
    fact.output_tokens = first_count(usage, "completion_tokens", "output_tokens")
    fact.total_tokens = first_count(usage, "total_tokens")
    fact.metadata = dict(as_mapping(item.get("metadata")))
    if item.get("type") not in (None, "llm"):
        fact.metadata["opik.type"] = item["type"]
    _feedback(fact, item.get("feedback_scores"), reader)
    if reader.warnings:
        fact.metadata[IMPORT_WARNINGS] = reader.warnings
    return fact


def _feedback(fact: SpanFacts, scores: Any, reader: AttributeReader) -> None:
    """Feedback scores: every Opik score has a numeric `value` (a categorical one too, with its
    `category_name`), so each becomes feedback; category names and reasons go to metadata. They stay on the
    trace row rather than going to the late-feedback input: `opik export` writes them inside the trace's own
    file, so they always arrive with their trace and are never late."""
    if not isinstance(scores, list):
        return
    values, details = [], []
    for n, score in enumerate(scores):
        value = as_number(score.get("value")) if isinstance(score, dict) else None
        if value is None or not isinstance(score, dict):
            reader.warn(f"feedback_scores[{n}]: no numeric value ({score!r:.80}); left out")
            continue
        name = text_or_none(score.get("name")) or "score"
        values.append(FeedbackValue(name, value, text_or_none(score.get("source"))))
        extra = {k: score[k] for k in ("category_name", "reason") if text_or_none(score.get(k))}
        if extra:
            details.append({"name": name, **extra})
    fact.feedback = values or None
    if details:
        fact.metadata[SCORE_DETAILS] = details
