"""Spans to one canonical trace row per request (issue 19, item 4).

A tracewatch trace is one request, and an OTel trace (or a Langfuse / Opik trace) is the spans of one request, so
the facts of one trace id become one row of `TRACE_SCHEMA`. Every importer produces `SpanFacts`; this module is
the one place that decides how they add up, so all sources follow the same rules:

- timing, route, status, user and session come from the root (the span without a parent, see `_span_tree` for
  traces that have several, none, cycles or clock skew); route, user, session and project fall back to the
  first other span that states them; a route still unknown is the root span's name.
- input: the root's input text, else the last user message of the first LLM call's input messages (which keep
  the system instructions as role "system"); `input_messages` are the root's messages, else the first call's.
- output: the root's output, else the answer of the LLM call that ended last.
- tokens and cost over LLM spans only, and the model is the call with the most tokens (`_llm_calls`).
- status: "error" when the root says so (or states an `error.type`); when the root says nothing (status unset,
  as most instrumentations leave a successful root), the LLM call that ended last decides, because an earlier
  failed call that the application retried did not fail the request. Failed calls are counted in metadata.
- no LLM span: rejected with code `no_llm_call`. The row would have no model, which every report groups by
  and which validation requires, so it would be quarantined at ingest under a less helpful reason; a request
  that never called a model (a cache hit, a refusal by a guardrail, a health check) is the application's
  traffic but not an LLM request. The caller counts these as skipped, not as bad data.
- no root (it never arrived, or parents form a cycle): imported with metadata `incomplete: true` and the
  reason, or rejected with code `rootless`, as the caller's `IncompletePolicy` says.

Metadata is one JSON object: the dialects, models, span counts, cost source, oddities of the span tree, notes
on partial sums, `import_warnings` (what decoders and dialects put under that key in a span's metadata), every
other key of the spans' metadata under `span_metadata` (the root's value wins a clash), and `source` as given.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal

import orjson
import polars as pl

from tracewatch.importers._facts_json import json_default
from tracewatch.importers._llm_calls import (
    Pricer,
    answer_text,
    end_key,
    last_user_text,
    summarise_llm_spans,
)
from tracewatch.importers._rows_frame import trace_rows_frame
from tracewatch.importers._span_tree import NAMED_AT_MOST, SpanTree, span_tree
from tracewatch.importers._spans import SpanFacts
from tracewatch.importers._trace_buffer import ReleasedTrace, TraceBuffer

__all__ = [
    "IMPORT_WARNINGS_KEY",
    "AssembledFrame",
    "AssembledTrace",
    "IncompletePolicy",
    "Pricer",
    "RejectionCode",
    "ReleasedTrace",
    "TraceBuffer",
    "assemble_frame",
    "assemble_trace",
    "group_by_trace",
]

IMPORT_WARNINGS_KEY = "import_warnings"
"""A span-metadata key whose list of strings (problems a decoder or dialect met) is gathered at the top level."""

RejectionCode = Literal["no_llm_call", "rootless", "no_start_time"]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


class IncompletePolicy(enum.StrEnum):
    """What to do with a trace whose root never arrived: import it flagged, or reject it for quarantine."""

    IMPORT_FLAGGED = "import_flagged"
    QUARANTINE = "quarantine"


@dataclass(slots=True)
class AssembledTrace:
    """One trace's outcome: a canonical `row` (a dict with exactly the `TRACE_SCHEMA` columns), or a `reason`
    (with its `code`) why it is not a row. `span_count` counts distinct spans, `duplicates` the re-sent ones,
    so an importer can account for every span it read."""

    trace_id: str
    row: dict[str, Any] | None
    code: RejectionCode | None
    reason: str | None
    span_count: int
    duplicates: int
    incomplete: bool = False

    @property
    def accepted(self) -> bool:
        """True when the trace became a row."""
        return self.row is not None


@dataclass(slots=True)
class AssembledFrame:
    """A batch: the rows as a frame with exactly `TRACE_SCHEMA`, and the traces that were not rows."""

    frame: pl.DataFrame
    rejected: list[AssembledTrace] = field(default_factory=list)


def assemble_trace(
    facts: Sequence[SpanFacts],
    *,
    project: str | None,
    pricer: Pricer | None = None,
    incomplete: IncompletePolicy = IncompletePolicy.IMPORT_FLAGGED,
    source: Mapping[str, Any] | None = None,
) -> AssembledTrace:
    """One trace's facts (any order, duplicates allowed) as a canonical row or a rejection with its reason.

    `project` (the source's project mapping) wins over what the spans say; None takes the spans' project.
    `pricer` prices LLM spans without a cost attribute; None leaves them unknown. `source` (object keys, source
    name, ...) is stored under metadata `source`. ValueError for no facts, or facts of several traces.
    """
    tree = span_tree(facts)
    llm_spans = [s for s in tree.spans if s.role == "llm"]

    rootless = tree.rootless_reason
    if rootless is not None and incomplete is IncompletePolicy.QUARANTINE:
        return _rejected(tree, "rootless", rootless)
    if not llm_spans:
        return _rejected(
            tree, "no_llm_call", f"no LLM call in trace: none of its {len(tree.spans)} span(s) called a model"
        )
    root = tree.stand_in
    notes: list[str] = []
    start_ns = root.start_time_unix_nano
    if start_ns is None:
        start_ns = next(
            (s.start_time_unix_nano for s in tree.spans if s.start_time_unix_nano is not None), None
        )
        if start_ns is None:
            return _rejected(tree, "no_start_time", "no span of the trace has a start time")
        notes.append("the root span has no start time: start_time is the earliest span's")
    summary = summarise_llm_spans(llm_spans, root, pricer)
    notes += summary.notes
    input_messages = root.input_messages if root.input_messages is not None else summary.input_messages
    output_text = root.output_text or answer_text(root.output_messages) or summary.output_text
    status, error_type, error_message = _status(tree, root, llm_spans)
    row: dict[str, Any] = {
        "trace_id": tree.trace_id,
        "start_time": _EPOCH + dt.timedelta(microseconds=start_ns // 1000),
        "project": project or _first(tree, root, "project"),
        "route": _first(tree, root, "route") or root.name,
        "model": summary.model,
        "provider_name": summary.provider,
        "input_text": root.input_text or last_user_text(input_messages),
        "input_messages": _plain(input_messages),
        "output_text": output_text,
        "input_tokens": summary.input_tokens,
        "output_tokens": summary.output_tokens,
        "cost_usd": summary.cost_usd,
        "latency_ms": _latency_ms(root, notes),
        "status": status,
        "error_type": error_type,
        "error_message": error_message,
        "user_id": _first(tree, root, "user_id"),
        "session_id": _first(tree, root, "session_id"),
        "tags": _tags(tree, root),
        "metadata": None,
        "retrieved_context": _joined(tree, "retrieved"),
        "feedback": _joined(tree, "feedback"),
    }
    meta = _metadata(tree, llm_spans, notes, source)
    meta["models"] = summary.models
    meta["cost_source"] = summary.cost_source
    if summary.cost_known_usd is not None:
        meta["cost_known_usd"] = summary.cost_known_usd
    if rootless is not None:
        meta["incomplete"] = True
        meta["incomplete_reason"] = rootless
    row["metadata"] = orjson.dumps(meta, default=json_default, option=orjson.OPT_SORT_KEYS).decode()
    return AssembledTrace(
        tree.trace_id, row, None, None, len(tree.spans), tree.duplicates, incomplete=rootless is not None
    )


def assemble_frame(
    traces: Iterable[Sequence[SpanFacts]],
    *,
    project: str | None,
    pricer: Pricer | None = None,
    incomplete: IncompletePolicy = IncompletePolicy.IMPORT_FLAGGED,
    source: Mapping[str, Any] | None = None,
) -> AssembledFrame:
    """`assemble_trace` over many traces (each a group of one trace id's facts): the rows as one frame with
    exactly `TRACE_SCHEMA`, and every trace that did not become a row with its reason."""
    rows: list[dict[str, Any]] = []
    rejected: list[AssembledTrace] = []
    for facts in traces:
        done = assemble_trace(facts, project=project, pricer=pricer, incomplete=incomplete, source=source)
        if done.row is not None:
            rows.append(done.row)
        else:
            rejected.append(done)
    return AssembledFrame(trace_rows_frame(rows), rejected)


def group_by_trace(facts: Iterable[SpanFacts]) -> list[list[SpanFacts]]:
    """Facts grouped by trace id, in order of each trace's first fact: the input `assemble_frame` takes."""
    groups: dict[str, list[SpanFacts]] = {}
    for item in facts:
        groups.setdefault(item.trace_id, []).append(item)
    return list(groups.values())


# ---- the row's parts -------------------------------------------------------------------------------------

_Field = Literal["project", "route", "user_id", "session_id"]


def _first(tree: SpanTree, root: SpanFacts, name: _Field) -> str | None:
    """The root's value, else the first span (in start order) that states one."""
    value: str | None = getattr(root, name)
    if value:
        return value
    return next((v for s in tree.spans if (v := getattr(s, name))), None)


def _failed(span: SpanFacts) -> bool:
    # An `error.type` on a span whose status is unset still marks a failure (the GenAI conventions' rule).
    return span.status == "error" or (span.status == "unset" and bool(span.error_type))


def _status(
    tree: SpanTree, root: SpanFacts, llm_spans: list[SpanFacts]
) -> tuple[str, str | None, str | None]:
    """(status, error type, error message): the root's word, else the LLM call that ended last."""
    if _failed(root):
        # The root often says only that it failed; the first failed span below it usually says why.
        cause = next((s for s in tree.spans if s is not root and _failed(s)), None)
        return (
            "error",
            root.error_type or (cause.error_type if cause else None),
            root.error_message or (cause.error_message if cause else None),
        )
    if root.status == "ok":
        return "ok", None, None
    last = max(llm_spans, key=end_key)
    if _failed(last):
        return "error", last.error_type, last.error_message
    return "ok", None, None


def _latency_ms(root: SpanFacts, notes: list[str]) -> float | None:
    start, end = root.start_time_unix_nano, root.end_time_unix_nano
    if start is None or end is None:
        notes.append("latency unknown: the root span has no start or no end time")
        return None
    if end < start:
        notes.append(f"latency unknown: the root span ends {(start - end) / 1e6:.3f} ms before it starts")
        return None
    return (end - start) / 1e6


def _tags(tree: SpanTree, root: SpanFacts) -> list[str] | None:
    stated = [t for s in (root, *tree.spans) if s.tags for t in s.tags]
    return list(dict.fromkeys(stated)) if any(s.tags is not None for s in tree.spans) else None


def _joined(tree: SpanTree, name: Literal["retrieved", "feedback"]) -> list[dict[str, Any]] | None:
    """Every span's passages (or feedback) in start order as plain dicts; None when no span states any."""
    lists = [v for s in tree.spans if (v := getattr(s, name)) is not None]
    if not lists:
        return None
    return [_as_dict(item) for items in lists for item in items]


def _rejected(tree: SpanTree, code: RejectionCode, reason: str) -> AssembledTrace:
    # A module function, not a closure in assemble_trace: compiled with mypyc, a closure's environment and the
    # function form a reference cycle that would keep every trace's facts alive while the collector is paused.
    return AssembledTrace(tree.trace_id, None, code, reason, len(tree.spans), tree.duplicates)


def _plain(messages: Sequence[Any] | None) -> list[dict[str, Any]] | None:
    return None if messages is None else [_as_dict(m) for m in messages]


def _as_dict(item: Any) -> dict[str, Any]:
    """A message, passage or feedback value as a dict in its fields' order (from `fields`, not `__slots__`:
    the classes compiled with mypyc have none)."""
    names = _FIELD_NAMES.get(type(item))
    if names is None:
        names = _FIELD_NAMES[type(item)] = tuple(f.name for f in fields(item))
    return {name: getattr(item, name) for name in names}


_FIELD_NAMES: dict[type, tuple[str, ...]] = {}


def _metadata(
    tree: SpanTree, llm_spans: list[SpanFacts], notes: list[str], source: Mapping[str, Any] | None
) -> dict[str, Any]:
    dialects: set[str] = set()
    retrievers = log_records = 0
    for span in tree.spans:  # one pass for three counts: this runs for every trace of an import
        dialects.add(span.dialect)
        retrievers += span.role == "retriever"
        log_records += span.log_records
    meta: dict[str, Any] = {
        "dialects": sorted(dialects),
        "span_count": len(tree.spans),
        "llm_span_count": len(llm_spans),
        "retriever_span_count": retrievers,
        "root_span_id": tree.stand_in.span_id,
    }
    if log_records:  # log records joined to the spans as events (older GenAI content), for the accounting
        meta["log_record_count"] = log_records
    failed_calls = sum(1 for s in llm_spans if _failed(s))
    if failed_calls:
        meta["failed_llm_calls"] = failed_calls
    odd = _tree_oddities(tree)
    if odd:
        meta["span_tree"] = odd
    warnings, leftovers = _span_metadata(tree)
    if warnings:
        meta[IMPORT_WARNINGS_KEY] = warnings
    if leftovers:
        meta["span_metadata"] = leftovers
    if notes:
        meta["notes"] = notes
    if source:
        meta["source"] = dict(source)
    return meta


def _tree_oddities(tree: SpanTree) -> dict[str, Any]:
    odd: dict[str, Any] = {}
    if tree.duplicates:
        odd["duplicate_spans"] = tree.duplicates
    if tree.differing_duplicates:
        odd["differing_duplicate_span_ids"] = tree.differing_duplicates
    if tree.parentless > 1:
        odd["parentless_spans"] = tree.parentless
    if tree.missing_parent_count:
        odd["missing_parent_spans"] = tree.missing_parent_count
        odd["missing_parent_span_ids"] = tree.missing_parent
    if tree.cyclic_count:
        odd["cyclic_spans"] = tree.cyclic_count
        odd["cyclic_span_ids"] = tree.cyclic
    if tree.skewed:
        odd["clock_skew_spans"] = tree.skewed
        odd["max_clock_skew_ms"] = tree.max_skew_ms
    return odd


def _span_metadata(tree: SpanTree) -> tuple[list[str], dict[str, Any]]:
    """(import warnings, the spans' other metadata keys): root first, so the root's value wins a clash."""
    warnings: list[str] = []
    merged: dict[str, Any] = {}
    clashes: set[str] = set()
    ordered = [tree.stand_in, *(s for s in tree.spans if s is not tree.stand_in)]
    for span in ordered:
        for key, value in span.metadata.items():
            if key == IMPORT_WARNINGS_KEY:
                found = value if isinstance(value, list) else [value]
                warnings += [f"span {span.span_id}: {w}" for w in found]
            elif key not in merged:
                merged[key] = value
            elif merged[key] != value:
                clashes.add(key)
    if len(warnings) > NAMED_AT_MOST:
        warnings = [*warnings[:NAMED_AT_MOST], f"... and {len(warnings) - NAMED_AT_MOST} more"]
    if clashes:
        merged["_clashing_keys"] = sorted(clashes)
    return warnings, merged
