"""tracewatch's own small attribute vocabulary, for what an application knows about a request and no
convention names: the feedback a person gave it, its tags and its metadata (docs/importing.md).

The GenAI conventions describe model calls; feedback, tags and metadata have names only in some vendors'
vocabularies (OpenInference's `tag.tags` and `metadata`). So an application instrumented with the GenAI
conventions sets these on any span of the request, usually its root (the request's server span):

- `tracewatch.feedback.<name>`: a number a person gave the request (a boolean counts as 0/1), e.g.
  `tracewatch.feedback.thumbs = 1`, `tracewatch.feedback.rating = 4`;
- `tracewatch.feedback_source`: who gave the span's feedback values (default `user`);
- `tracewatch.tags`: an array of strings (a JSON array in a string is accepted);
- `tracewatch.metadata`: a JSON object in a string (or a key-value list); its keys join the span's metadata,
  and what the dialect already found under a key wins.

They are read after the dialect, for spans of every dialect, and add to what the dialect found. A value of the
wrong type costs that value, with an import warning, never the span.
"""

from __future__ import annotations

import math
from itertools import repeat

from tracewatch.importers._attrs import MISSING, AttributeReader
from tracewatch.importers._spans import FeedbackValue, SpanFacts

PREFIX = "tracewatch."
FEEDBACK_PREFIX = "tracewatch.feedback."
FEEDBACK_SOURCE = "tracewatch.feedback_source"
TAGS = "tracewatch.tags"
METADATA = "tracewatch.metadata"
DEFAULT_FEEDBACK_SOURCE = "user"
_RESERVED_METADATA = frozenset({"import_warnings"})
"""Metadata keys the importer itself fills (`_dialects.IMPORT_WARNINGS`); an application's value cannot take them."""


def read_app_attributes(reader: AttributeReader, facts: SpanFacts) -> None:
    """Add the span's `tracewatch.*` feedback, tags and metadata to `facts` (see the module docstring)."""
    if not any(map(str.startswith, reader.attributes, repeat(PREFIX))):
        return  # most spans carry none: one scan of the keys (in C: `map`, not a generator) and done
    _feedback(reader, facts)
    _tags(reader, facts)
    _metadata(reader, facts)


def _feedback(reader: AttributeReader, facts: SpanFacts) -> None:
    source = reader.text(FEEDBACK_SOURCE) or DEFAULT_FEEDBACK_SOURCE
    found: list[FeedbackValue] = []
    for key, value in reader.attributes.items():
        if not key.startswith(FEEDBACK_PREFIX):
            continue
        reader.used.add(key)
        name = key[len(FEEDBACK_PREFIX) :]
        if not name:
            reader.warn(f"{key}: a feedback attribute needs a name after the prefix; ignored")
            continue
        number = float(value) if isinstance(value, bool) else reader.as_number(key, value)
        if number is None:
            continue  # already warned: not a number
        if not math.isfinite(number):
            # Kept: validation quarantines the row with its reason (feedback_values_finite), nothing is hidden.
            reader.warn(f"{key}: {number} is not a finite number")
        found.append(FeedbackValue(name=name, value=number, source=source))
    if found:
        facts.feedback = [*(facts.feedback or []), *found]


def _tags(reader: AttributeReader, facts: SpanFacts) -> None:
    if TAGS not in reader.attributes:
        return
    reader.used.add(TAGS)
    value = reader.attributes[TAGS]
    if isinstance(value, str) and not value.lstrip().startswith("["):
        tags = [value]  # one tag, not a JSON list
    else:
        decoded = reader.as_decoded(TAGS, value)
        if isinstance(decoded, (list, tuple)):
            tags = [tag if isinstance(tag, str) else str(tag) for tag in decoded if tag is not None]
        else:
            reader.warn(
                f"{TAGS}: expected an array of strings, got {type(decoded).__name__}; kept as one tag"
            )
            tags = [str(decoded)]
    facts.tags = [*(facts.tags or []), *tags]


def _metadata(reader: AttributeReader, facts: SpanFacts) -> None:
    value = reader.decoded(METADATA)
    if value is MISSING or value is None:
        return
    if not isinstance(value, dict):
        reader.warn(
            f"{METADATA}: expected a JSON object, got {type(value).__name__}; kept whole under its name"
        )
        facts.metadata[METADATA] = value
        return
    for key, item in value.items():
        if key in _RESERVED_METADATA:
            reader.warn(f"{METADATA}: key {key!r} is the importer's own; the application's value is ignored")
            continue
        if key in facts.metadata and facts.metadata[key] != item:
            reader.warn(
                f"{METADATA}: key {key!r} is already set by the span's own attributes; theirs is kept"
            )
            continue
        facts.metadata[key] = item
