"""Langfuse scores (the `scores/` table of a blob-storage export) attached to the observations they judge.

Fields as documented at https://langfuse.com/docs/api-and-data-platform/features/blob-storage-export-fields
(`#scores`): `value` is the number (0/1 for BOOLEAN, a category index for CATEGORICAL, always 0 for TEXT) and
`string_value` the label or text. So numeric and boolean scores become `FeedbackValue`s, and categorical and
text scores, whose number means nothing on its own, go to metadata with their label.

A score often comes days after its trace (a reviewer's rating), so its trace's observations were exported, and
imported, by an earlier run. Scores whose trace is in the same read are attached to the trace row (the row is
being written anyway, and the row's own feedback is what every stage reads first); a numeric or boolean score
of any other trace becomes a `FeedbackEvent` for the late-feedback input (`feedback/date=D/`), which the
nightly attaches to its trace by id whatever the dates. Its `created_at` is the score's `timestamp` (else its
`created_at`); a score stating neither gets the export run's time from the import. A categorical or text score
of a trace not in the read is still rejected: the feedback input holds numbers only.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from typing import Any

from tracewatch.importers._exports import (
    ExportRead,
    FeedbackEvent,
    as_number,
    is_newer,
    text_or_none,
    timestamp_ns,
)
from tracewatch.importers._spans import FeedbackValue, SpanFacts

_NUMERIC_SCORES = frozenset({"NUMERIC", "BOOLEAN"})
SCORE_METADATA = "langfuse.scores"
LANGFUSE_FEEDBACK_SOURCE = "langfuse"
"""The feedback `source` of a late score that states none."""
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
"""Metadata key of the categorical and text scores (and the comments of numeric ones) of a trace."""


def attach_scores(
    facts: list[SpanFacts], rows: list[tuple[str, dict[str, Any]]], result: ExportRead[SpanFacts]
) -> None:
    """Numeric and boolean scores become feedback on their trace's root observation (or, when the root is in
    another window, the trace's earliest observation here); categorical and text scores, and comments, become
    metadata there. A numeric or boolean score whose trace is not among the observations read goes to
    `result.feedback` (late feedback); any other score that cannot be attached is rejected with the reason."""
    holder: dict[str, SpanFacts] = {}
    for fact in sorted(facts, key=lambda f: (f.parent_span_id is not None, f.start_time_unix_nano or 0)):
        holder.setdefault(fact.trace_id, fact)
    latest: dict[str, tuple[str, dict[str, Any]]] = {}
    for n, (key, row) in enumerate(rows):
        score_id = text_or_none(row.get("id"))
        if score_id is None:
            result.reject(key, "score without `id`", f"score {n}")
            continue
        if score_id in latest:
            result.duplicates_dropped += 1
            if not is_newer(row, latest[score_id][1]):
                continue
        latest[score_id] = (key, row)
    grouped: dict[str, list[tuple[str, str, dict[str, Any]]]] = defaultdict(list)
    for score_id, (key, row) in latest.items():
        trace_id = text_or_none(row.get("trace_id"))
        if trace_id is None:
            result.reject(key, "score is not linked to a trace (session or dataset-run score)", score_id)
        elif trace_id not in holder:
            if _late_event(trace_id, key, score_id, row, result):
                result.merged += 1
        else:
            grouped[trace_id].append((key, score_id, row))
    for trace_id, scores in grouped.items():
        target = holder[trace_id]
        for key, score_id, row in scores:
            if _apply_score(target, key, score_id, row, result):
                result.merged += 1


def _late_event(
    trace_id: str, key: str, score_id: str, row: dict[str, Any], result: ExportRead[SpanFacts]
) -> bool:
    """A score of a trace not in this read as a late feedback event; False when it had to be rejected."""
    name, data_type = _name_and_type(row)
    if data_type.upper() not in _NUMERIC_SCORES:
        result.reject(
            key,
            f"{data_type} score {name!r} of trace {trace_id}, whose observations are not in the runs read: "
            "only numeric and boolean scores can be sent as late feedback",
            score_id,
        )
        return False
    value = as_number(row.get("value"))
    if value is None:
        result.reject(
            key, f"{data_type} score {name!r} has no numeric value ({row.get('value')!r})", score_id
        )
        return False
    ns = timestamp_ns(row.get("timestamp")) or timestamp_ns(row.get("created_at"))
    at = None if ns is None else _EPOCH + dt.timedelta(microseconds=ns // 1_000)
    source = text_or_none(row.get("source")) or LANGFUSE_FEEDBACK_SOURCE
    result.feedback.append(FeedbackEvent(trace_id, name, value, source, at))
    return True


def _name_and_type(row: dict[str, Any]) -> tuple[str, str]:
    name = text_or_none(row.get("name")) or "score"
    data_type = str(
        row.get("data_type") or ("NUMERIC" if row.get("string_value") in (None, "") else "CATEGORICAL")
    )
    return name, data_type


def _apply_score(
    target: SpanFacts, key: str, score_id: str, row: dict[str, Any], result: ExportRead[SpanFacts]
) -> bool:
    """Put one score on `target`; False when it had to be rejected instead."""
    name, data_type = _name_and_type(row)
    value, comment = as_number(row.get("value")), text_or_none(row.get("comment"))
    note: dict[str, Any] = {"name": name, "data_type": data_type, "source": text_or_none(row.get("source"))}
    if observation := text_or_none(row.get("observation_id")):
        note["observation_id"] = observation
    if data_type.upper() in _NUMERIC_SCORES:
        if value is None:
            result.reject(
                key, f"{data_type} score {name!r} has no numeric value ({row.get('value')!r})", score_id
            )
            return False
        target.feedback = [*(target.feedback or []), FeedbackValue(name, value, note["source"])]
        if comment is None:
            return True
        note["value"] = value
    else:
        note["value"] = text_or_none(row.get("string_value"))
    if comment is not None:
        note["comment"] = comment
    target.metadata.setdefault(SCORE_METADATA, []).append(note)
    return True
