"""OpenInference attributes read in columns: `read_openinference` for all of an object's OpenInference spans at
once (the columnar path of issue 19; the contract is `_fact_frame`'s).

`openinference_facts` gives one row per span of the view: `exact` and the facts `read_openinference` alone would
set on a fresh `SpanFacts`. An object's attribute keys are few and repeat on every span, so each distinct key is
classified once in Python (a fixed key's slot, or the prefix, index and field of a flattened
`llm.{input,output}_messages.{i}.message.*`, `llm.prompts.{i}.*`, `llm.choices.{i}.*` or
`retrieval.documents.{i}.document.*` key, cut as `AttributeReader.indexed` cuts it) and every attribute row gets
its class by array lookups. Values are then gathered per span and key (Arrow `take`), messages and documents
sorted by (prefix, span, index) and made into lists by offsets, and `read_openinference`'s rules applied with
array operations: an object of 1,000-5,000 spans costs a few dozen Arrow and NumPy calls, since on frames this
small each polars operation's fixed cost is what counts. Python runs only over one column's distinct values where
no array operation states a rule exactly: each span kind's `str.upper`, each `llm.invocation_parameters` text
(`_invoked_model` itself), `tag.tags` and `metadata` values (`_tags` / `_metadata` themselves), and the messages
of spans with more than role and content (tool calls, content parts), which `indexed_messages` reads as today.

A span is not exact (left to `read_span`), rather than guessed at, when today's reader would warn about it or
when its shape is one these rules do not reproduce: a value of another type than the key's (a number as text, a
bool, bytes, an array), a count given as a string that is not a plain integer, a cost given as a string, an int
beyond 2**53 where a float is wanted, a structured `llm.input_messages` (or other bare-prefix) value, an index
that is not plain ASCII digits (leading zeros, other digits, more than 9 digits, no field after it), a message
without a text role, JSON content parts (text starting `[{`), a document id that is neither text nor an int,
a key repeated on the span, or metadata that `facts_to_frame` could not write. The values of a row that is not
exact mean nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import python_values
from tracewatch.importers._fact_frame import FACT_SCHEMA, SpanView
from tracewatch.importers._openinference import (
    INVOCATION_PARAMETERS,
    PROJECT,
    SPAN_KIND,
    _invoked_model,
    _metadata,
    _tags,
)
from tracewatch.importers._openinference_lists import _documents, _groups, _messages
from tracewatch.importers._openinference_rows import (
    _CHOICES,
    _EXACT_INT_FLOAT,
    _FIXED_KEYS,
    _INPUT,
    _NUMBER_SLOTS,
    _OUTPUT,
    _PLAIN_INTEGER,
    _PROMPTS,
    _SLOT,
    _TEXT_KEYS,
    _TEXT_SLOTS,
    _TOKEN_FACTS,
    ABSENT,
    DOUBLE,
    EMPTY,
    INT,
    STRING,
    _nonempty,
    _Rows,
    _rows,
)
from tracewatch.importers._spans import AttributeValue, SpanFacts

FACT_COLUMNS = (
    "role",
    "request_model",
    "response_model",
    "provider",
    "input_messages",
    "output_messages",
    "input_text",
    "output_text",
    "input_tokens",
    "output_tokens",
    "total_tokens",
    "cost_usd",
    "retrieved",
    "project",
    "user_id",
    "session_id",
    "tags",
    "metadata",
)
"""The `FACT_SCHEMA` columns `read_openinference` can set, in `FACT_SCHEMA`'s order."""

OUTPUT_SCHEMA = pl.Schema(
    {"span_index": pl.Int32(), "exact": pl.Boolean(), **{c: FACT_SCHEMA[c] for c in FACT_COLUMNS}}
)
"""What `openinference_facts` returns."""


# ---- fixed keys ------------------------------------------------------------------------------------------------


def _first(*choices: tuple[pa.Array, np.ndarray], otherwise: pa.Array) -> pa.Array:
    """Per row, the first array whose mask holds, else `otherwise` (`a or b or c` of texts)."""
    out = otherwise
    for values, mask in reversed(choices):
        out = pc.if_else(pa.array(mask), values, out)
    return out


def _texts(rows: _Rows, table: np.ndarray, kinds: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
    """The text facts (`reader.text` is the string value: null when absent or empty) and the invocation
    parameters' text, and whether a text key holds another kind (today's reader warns)."""
    n = rows.spans
    bad = np.asarray(~np.isin(kinds[: len(_TEXT_KEYS)], (STRING, EMPTY, ABSENT)).all(0))
    texts = rows.texts(table[:_TEXT_SLOTS].reshape(-1))
    return {key: texts.slice(i * n, n) for i, key in enumerate(_FIXED_KEYS[:_TEXT_SLOTS])}, bad


def _text_facts(text: dict[str, pa.Array], invoked: pa.Array) -> dict[str, pa.Array]:
    nothing = pa.nulls(len(invoked), pa.large_string())
    model, asked, answered = (
        text["llm.model_name"],
        text["llm.request.model_name"],
        text["llm.response.model_name"],
    )
    provider, system = text["llm.provider"], text["llm.system"]
    return {
        # `request.model_name or _invoked_model(...) or model_name`
        "request_model": _first(
            (asked, _nonempty(asked)),
            (invoked, invoked.is_valid().to_numpy(zero_copy_only=False)),
            otherwise=model,
        ),
        "response_model": _first((answered, _nonempty(answered)), otherwise=model),
        "provider": _first((provider, _nonempty(provider)), (system, _nonempty(system)), otherwise=nothing),
        "session_id": text["session.id"],
        "user_id": text["user.id"],
    }


def _numbers(rows: _Rows, table: np.ndarray, kinds: np.ndarray) -> tuple[dict[str, pa.Array], np.ndarray]:
    """Token counts (`reader.integer`) and the cost (`_cost` over `reader.number`), and whether one warns or
    is a form left to Python: counts as ints, integral floats or plain integer text; costs as floats or ints up
    to 2**53."""
    found = table[_NUMBER_SLOTS]
    kind = kinds[_NUMBER_SLOTS]
    ints, doubles = rows.ints[found], rows.doubles[found]
    facts: dict[str, pa.Array] = {}
    bad = np.zeros(rows.spans, np.bool_)
    for i, name in enumerate(_TOKEN_FACTS):
        k, value, d = kind[i], ints[i].copy(), doubles[i]
        with np.errstate(invalid="ignore"):
            integral = (k == DOUBLE) & np.isfinite(d) & (d == np.floor(d)) & (np.abs(d) < 2.0**63)
        value[integral] = d[integral].astype(np.int64)
        ok = (k == ABSENT) | (k == INT) | integral
        texts = np.flatnonzero(k == STRING)
        if texts.size:  # rare: a count written as text
            for j, text in zip(texts.tolist(), rows.texts(found[i][texts]).to_pylist(), strict=True):
                if _PLAIN_INTEGER.fullmatch(text):
                    value[j], ok[j] = int(text), True
        facts[name] = pa.array(value, pa.int64(), mask=~ok | (k == ABSENT))
        bad |= ~ok
    costs: list[np.ndarray] = []
    known: list[np.ndarray] = []
    for i in range(3, 6):
        k = kind[i]
        small = (k == INT) & (ints[i] >= -_EXACT_INT_FLOAT) & (ints[i] <= _EXACT_INT_FLOAT)
        costs.append(np.where(k == INT, ints[i].astype(np.float64), doubles[i]))
        known.append((k == DOUBLE) | small)
        bad |= ~((k == ABSENT) | (k == DOUBLE) | small)
    total = np.where(known[0], costs[0], costs[1] + costs[2])
    facts["cost_usd"] = pa.array(total, pa.float64(), mask=~(known[0] | (known[1] & known[2])))
    return facts, bad


# ---- values read by today's functions: span kind, invocation parameters, tags, metadata -----------------------


def _distinct(values: pa.Array, read: Callable[[str], Any]) -> tuple[list[Any], np.ndarray]:
    """`read` of each distinct text, and per row the index of its result (one past the last for null): most
    spans repeat the same few texts."""
    encoded = pc.dictionary_encode(values)
    results = [read(text) for text in encoded.dictionary.to_pylist()]
    return results, encoded.indices.fill_null(len(results)).to_numpy(zero_copy_only=False)


def _roles(kind_texts: pa.Array) -> pa.Array:
    """`role` from the span kind, upper-cased by Python's own `str.upper` once per distinct kind."""
    roles = {"LLM": "llm", "RETRIEVER": "retriever"}
    results, at = _distinct(kind_texts, lambda kind: roles.get(kind.upper(), "other"))
    return pa.array([*results, "other"], pa.large_string()).take(pa.array(at))


def _invoked(raw: str) -> tuple[str | None, bool]:
    if '"model"' not in raw:
        return None, False  # `_invoked_model` does not decode it
    reader = AttributeReader({INVOCATION_PARAMETERS: raw})
    return _invoked_model(reader), bool(reader.warnings)


def _invocations(raw: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """`_invoked_model` of each span's `llm.invocation_parameters` text (null when not text: it reads only a
    string), and whether it warned."""
    results, at = _distinct(raw, _invoked)
    models = pa.array([*(r[0] for r in results), None], pa.large_string()).take(pa.array(at))
    warned = np.array([*(r[1] for r in results), False], np.bool_)[at]
    return models, warned


def _cached(function: Callable[[Any], tuple[Any, bool]]) -> Callable[[Any], tuple[Any, bool]]:
    """`function` once per distinct scalar value (the type is part of the key: 1, 1.0 and True read apart)."""
    cache: dict[tuple[type, Hashable], tuple[Any, bool]] = {}

    def call(value: Any) -> tuple[Any, bool]:
        if isinstance(value, (list, dict)) or (isinstance(value, float) and math.isnan(value)):
            return function(value)
        key = (type(value), value)
        if key not in cache:
            cache[key] = function(value)
        return cache[key]

    return call


def _tags_of(value: AttributeValue) -> tuple[list[str] | None, bool]:
    reader = AttributeReader({"tag.tags": value})
    return _tags(reader), bool(reader.warnings)


def _metadata_of(value: AttributeValue) -> tuple[str | None, bool]:
    reader = AttributeReader({"metadata": value})
    facts = SpanFacts("", "", None, "", None, None)
    _metadata(reader, facts)
    try:
        text = orjson.dumps(facts.metadata).decode() if facts.metadata else None
    except TypeError:  # `facts_to_frame` could not write it either: left to Python, which deals with it
        return None, True
    return text, bool(reader.warnings)


def _python_read(rows: _Rows, table: np.ndarray, key: str, read: Callable[[Any], tuple[Any, bool]]) -> Any:
    """`read` of `key`'s value on each span that has it: (span positions, results, warned)."""
    found = table[_SLOT[key]]
    spans = np.flatnonzero(found >= 0)
    if not spans.size:
        return spans, [], []
    reader = _cached(read)
    results = [reader(value) for value in python_values(rows.frame[found[spans]])]
    return spans, [r[0] for r in results], [r[1] for r in results]


def _tags_and_metadata(rows: _Rows, table: np.ndarray) -> tuple[pa.Array, pa.Array, np.ndarray]:
    n = rows.spans
    bad = np.zeros(n, np.bool_)
    tags: list[list[str] | None] = [None] * n
    metadata: list[str | None] = [None] * n
    for key, out in (("tag.tags", tags), ("metadata", metadata)):
        spans, results, warned = _python_read(
            rows, table, key, _tags_of if key == "tag.tags" else _metadata_of
        )
        for span, result in zip(spans.tolist(), results, strict=True):
            out[span] = result
        bad[spans] |= np.asarray(warned, np.bool_)
    return pa.array(tags, pa.large_list(pa.large_string())), pa.array(metadata, pa.large_string()), bad


# ---- the result ------------------------------------------------------------------------------------------------


def _project(view: SpanView) -> pa.Array:
    """`openinference.project.name` of each span's resource when it is non-empty text (else it is not read).
    An object has a few resources of a few attributes each: plain Python over them beats any frame call."""
    r = view.resources
    columns = (r[name].to_list() for name in ("resource_index", "key", "kind", "string_value"))
    found = {
        index: text
        for index, key, kind, text in zip(*columns, strict=True)
        if key == PROJECT and kind == "string" and text
    }
    resources = view.spans["resource_index"].to_numpy()
    if not found:
        return pa.nulls(resources.size, pa.large_string())
    size = max(int(resources.max()), *found) + 1
    return pa.array([found.get(i) for i in range(size)], pa.large_string()).take(pa.array(resources))


def openinference_facts(view: SpanView) -> pl.DataFrame:
    """The facts `read_openinference` sets for each span of `view` (all OpenInference spans), in `view.spans`'
    order, with `exact` False where the span must be read by today's Python instead (see the module docstring)."""
    if not view.spans.height:
        return pl.DataFrame(schema=OUTPUT_SCHEMA)
    rows, bad = _rows(view)
    n = rows.spans
    table = np.full((len(_FIXED_KEYS), n), -1, np.int64)
    where = np.flatnonzero(rows.slot >= 0)
    table[rows.slot[where], rows.span[where]] = where
    kinds = rows.kind[table]
    text, text_bad = _texts(rows, table, kinds)
    invoked, invoked_warned = _invocations(text[INVOCATION_PARAMETERS])
    # `_invoked_model` is only asked (and only warns) when the request's own model name is not there.
    invoked_bad = invoked_warned & ~_nonempty(text["llm.request.model_name"])
    numbers, numbers_bad = _numbers(rows, table, kinds)
    tags, metadata, python_bad = _tags_and_metadata(rows, table)
    groups = _groups(rows)
    input_messages, input_bad = _messages(rows, groups, _INPUT, _PROMPTS, "user")
    output_messages, output_bad = _messages(rows, groups, _OUTPUT, _CHOICES, "assistant")
    retrieved, documents_bad = _documents(rows, groups)
    nothing = pa.nulls(n, pa.large_string())
    facts = {
        **_text_facts(text, invoked),
        **numbers,
        "role": _roles(text[SPAN_KIND]),
        "input_messages": input_messages,
        "output_messages": output_messages,
        "input_text": pc.if_else(input_messages.is_null(), text["input.value"], nothing),
        "output_text": pc.if_else(output_messages.is_null(), text["output.value"], nothing),
        "retrieved": retrieved,
        "project": _project(view),
        "tags": tags,
        "metadata": metadata,
    }
    not_exact = (
        bad | text_bad | invoked_bad | numbers_bad | python_bad | input_bad | output_bad | documents_bad
    )
    table_out = pa.table(
        {
            "span_index": view.spans["span_index"].to_arrow(),
            "exact": pa.array(~not_exact),
            **{c: facts[c] for c in FACT_COLUMNS},
        }
    )
    out = pl.from_arrow(table_out)
    assert isinstance(out, pl.DataFrame)
    return out if out.schema == OUTPUT_SCHEMA else out.cast(dict(OUTPUT_SCHEMA))  # type: ignore[arg-type]
