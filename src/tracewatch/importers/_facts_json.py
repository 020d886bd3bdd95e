"""`SpanFacts` as JSON text and back, and the JSON fallback every importer's metadata is written with.

Traces still waiting for late spans at the end of a run are kept for the next run as one JSON text per span in a
Parquet column: the facts are nested (messages, passages, feedback) and their `metadata` has per-span keys, which
a columnar encoding would widen into a column per key. orjson writes the dataclasses natively and fast.
"""

from __future__ import annotations

import base64
import dataclasses
from typing import Any

import orjson

from tracewatch.importers._spans import ChatMessage, FeedbackValue, Passage, SpanFacts

_FIELDS = frozenset(f.name for f in dataclasses.fields(SpanFacts))
_WRITTEN = tuple(f.name for f in dataclasses.fields(SpanFacts) if f.name != "attributes_used")
_NESTED: dict[str, type[ChatMessage] | type[Passage] | type[FeedbackValue]] = {
    "input_messages": ChatMessage,
    "output_messages": ChatMessage,
    "retrieved": Passage,
    "feedback": FeedbackValue,
}


def json_default(value: Any) -> Any:
    """JSON for what orjson cannot write: sets as sorted lists, bytes as base64 text, anything else as its repr.

    Metadata is free-form (a decoded OTLP `AnyValue` may hold bytes), and a value orjson refuses must not cost
    the trace, so it is kept as text rather than dropped.
    """
    if isinstance(value, set | frozenset):
        return sorted(value, key=str)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return repr(value)


def facts_to_json(facts: SpanFacts) -> str:
    """One span's facts as JSON text; bytes in `metadata` become base64 text (see `json_default`).

    `attributes_used` is left out: only the Python readers track it (the columnar ones do not), nothing after
    reading uses it, and the pending state must not depend on which path read a span."""
    data = {name: getattr(facts, name) for name in _WRITTEN}
    return orjson.dumps(data, default=json_default).decode()


def facts_from_json(text: str) -> SpanFacts:
    """The facts `facts_to_json` wrote; ValueError naming the problem for text that is not such a JSON object.

    A key `SpanFacts` no longer has is an error (the pending state was written by another version and would
    lose data); a field added since takes its default.
    """
    try:
        data = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise ValueError(f"pending span facts are not valid JSON ({exc}): {text[:80]!r}") from None
    if not isinstance(data, dict):
        raise ValueError(
            f"pending span facts must be a JSON object, got {type(data).__name__}: {text[:80]!r}"
        )
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(
            f"pending span facts have keys SpanFacts does not know: {', '.join(unknown)} "
            f"(expected a subset of {', '.join(sorted(_FIELDS))})"
        )
    try:
        for name, kind in _NESTED.items():
            items = data.get(name)
            if items is not None:
                data[name] = [kind(**item) for item in items]
        data["attributes_used"] = frozenset(data.get("attributes_used") or ())
        return SpanFacts(**data)
    except TypeError as exc:  # a required field (trace_id, span_id, ...) or a nested one is missing
        raise ValueError(f"pending span facts are incomplete: {exc}: {text[:80]!r}") from None
