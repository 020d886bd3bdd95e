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
import re
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import python_values
from tracewatch.importers._fact_frame import FACT_SCHEMA, SpanView
from tracewatch.importers._messages import indexed_messages
from tracewatch.importers._openinference import (
    INVOCATION_PARAMETERS,
    PROJECT,
    SPAN_KIND,
    _invoked_model,
    _metadata,
    _tags,
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

# ---- attribute kinds, as small codes -------------------------------------------------------------------------

STRING, BOOL, INT, DOUBLE, NESTED, BYTES, EMPTY, ABSENT = range(8)
"""`EMPTY`: an `AnyValue` that holds nothing (None in Python); `ABSENT`: the span does not have the key."""
_VALUE_COLUMNS = (
    (STRING, "string_value"),
    (BOOL, "bool_value"),
    (INT, "int_value"),
    (DOUBLE, "double_value"),
    (NESTED, "nested_value"),
    (BYTES, "bytes_value"),
)
"""Which value column holds each kind: exactly one is set on an attribute row (`SpanColumns`); an array and a
key-value list, both `nested_value`, read alike here."""

# ---- the keys read -------------------------------------------------------------------------------------------

_TEXT_KEYS = (
    SPAN_KIND,
    "llm.model_name",
    "llm.request.model_name",
    "llm.response.model_name",
    "llm.provider",
    "llm.system",
    "input.value",
    "output.value",
    "input.mime_type",
    "output.mime_type",
    "session.id",
    "user.id",
)
"""Read with `reader.text` (which warns about any other kind than a string or nothing); they come first."""
_TOKEN_KEYS = ("llm.token_count.prompt", "llm.token_count.completion", "llm.token_count.total")
_TOKEN_FACTS = ("input_tokens", "output_tokens", "total_tokens")
_COST_KEYS = ("llm.cost.total", "llm.cost.prompt", "llm.cost.completion")
_FIXED_KEYS = (*_TEXT_KEYS, INVOCATION_PARAMETERS, *_TOKEN_KEYS, *_COST_KEYS, "tag.tags", "metadata")
_SLOT = {key: slot for slot, key in enumerate(_FIXED_KEYS)}
_TEXT_SLOTS = len(_TEXT_KEYS) + 1  # the text keys and the invocation parameters
_NUMBER_SLOTS = slice(_TEXT_SLOTS, _TEXT_SLOTS + 6)

_INPUT, _OUTPUT, _PROMPTS, _CHOICES, _DOCUMENTS = range(5)
_PREFIXES = ("llm.input_messages", "llm.output_messages", "llm.prompts", "llm.choices", "retrieval.documents")
"""Flattened groups, as `read_openinference` names them (without the dot: a value under the bare name is a
structured list, Phoenix's form, left to Python)."""
_FIELDS = ("message.role", "message.content", "document.id", "document.content", "document.score")
ROLE, CONTENT, DOC_ID, DOC_TEXT, DOC_SCORE = range(5)
OTHER = len(_FIELDS)
_PLAIN_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
_PLAIN_INTEGER = re.compile(r"-?(0|[1-9][0-9]{0,17})")
"""Count texts read here; any other text (which `int(s.strip())` may or may not read) is left to Python."""
_EXACT_INT_FLOAT = 2**53
"""Ints up to this read as floats (`float(int)`) the same way in NumPy and Python."""


@dataclass(frozen=True, slots=True)
class _KeyClass:
    """What each distinct key is: a fixed key's slot (-1: none), or a group's prefix (-1: none), index and field
    code; `odd` when `AttributeReader.indexed` would treat it in a way these columns do not follow."""

    slot: np.ndarray
    prefix: np.ndarray
    index: np.ndarray
    field: np.ndarray
    odd: np.ndarray


def _classify(keys: list[str]) -> _KeyClass:
    n = len(keys)
    slot = np.full(n, -1, np.int16)
    prefix = np.full(n, -1, np.int8)
    index = np.zeros(n, np.int64)
    field = np.full(n, OTHER, np.int8)
    odd = np.zeros(n, np.bool_)
    fields = {name: code for code, name in enumerate(_FIELDS)}
    for i, key in enumerate(keys):
        found = _SLOT.get(key)
        if found is not None:
            slot[i] = found
            continue
        if key in _PREFIXES:
            odd[i] = True  # a structured value: `_group_structured`, left to Python
            continue
        for p, name in enumerate(_PREFIXES):
            if key.startswith(name) and key[len(name) : len(name) + 1] == ".":
                head, dot, rest = key[len(name) + 1 :].partition(".")
                if _PLAIN_INDEX.fullmatch(head) and dot:
                    prefix[i], index[i], field[i] = p, int(head), fields.get(rest, OTHER)
                elif head.isdigit() or not head.isascii():
                    odd[i] = True  # grouped by today's reader in a way not followed here (or not at all)
                break
    return _KeyClass(slot, prefix, index, field, odd)


# ---- the object's attribute rows as arrays -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Rows:
    """The view's span attributes as arrays: per row its span's position in `view.spans`, kind code, key class,
    position, and the values (ints and doubles zero where another kind is set). `kind`, `ints` and `doubles`
    have one more entry (`ABSENT`, 0) which row -1 reads."""

    frame: pl.DataFrame
    strings: pa.Array
    ints: np.ndarray
    doubles: np.ndarray
    span: np.ndarray
    kind: np.ndarray
    slot: np.ndarray
    prefix: np.ndarray
    index: np.ndarray
    field: np.ndarray
    position: np.ndarray
    spans: int

    def texts(self, rows: np.ndarray) -> pa.Array:
        """The string values of attribute rows `rows` (null for -1 and for other kinds)."""
        return self.strings.take(pa.array(rows, pa.int64(), mask=rows < 0))


def _rows(view: SpanView) -> tuple[_Rows, np.ndarray]:
    """The arrays, and per span whether a key of it rules it out (repeated, or grouped oddly)."""
    a = view.attributes
    n = view.spans.height
    height = a.height
    span_index = view.spans["span_index"].to_numpy()
    lookup = np.full(int(span_index.max()) + 1, n, np.int64)
    lookup[span_index] = np.arange(n)
    span = lookup[a["span_index"].to_numpy()]
    keys = pc.dictionary_encode(a["key"].to_arrow())
    codes = keys.indices.to_numpy(zero_copy_only=False)
    classes = _classify(keys.dictionary.to_pylist())
    kind = np.full(height + 1, ABSENT, np.int8)
    kind[:height] = EMPTY
    arrays: dict[str, pa.Array] = {}
    for code, name in _VALUE_COLUMNS:
        column = a[name]
        if column.null_count() < height:  # Arrow's validity bitmaps: cheaper than a polars call each here
            arrays[name] = column.to_arrow()
            kind[:height][arrays[name].is_valid().to_numpy(zero_copy_only=False)] = code
    ints = np.zeros(height + 1, np.int64)
    doubles = np.zeros(height + 1, np.float64)
    if "int_value" in arrays:
        ints[:height] = pc.fill_null(arrays["int_value"], 0).to_numpy()
    if "double_value" in arrays:
        doubles[:height] = pc.fill_null(arrays["double_value"], 0.0).to_numpy()
    ruled_out = a["repeated"].to_numpy() | classes.odd[codes]
    bad = np.bincount(span[ruled_out], minlength=n)[:n] > 0
    rows = _Rows(
        frame=a,
        strings=arrays.get("string_value", pa.nulls(height, pa.large_string())),
        ints=ints,
        doubles=doubles,
        span=span,
        kind=kind,
        slot=classes.slot[codes],
        prefix=classes.prefix[codes],
        index=classes.index[codes],
        field=classes.field[codes],
        position=a["position"].to_numpy(),
        spans=n,
    )
    return rows, bad


# ---- fixed keys ------------------------------------------------------------------------------------------------


def _nonempty(texts: pa.Array) -> np.ndarray:
    """`bool(text)` of each text (False for null)."""
    with np.errstate(invalid="ignore"):  # a null length comes as NaN, which is not > 0
        return np.asarray(pc.binary_length(texts).to_numpy(zero_copy_only=False) > 0)


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


# ---- flattened groups: messages, prompts, choices, documents ---------------------------------------------------


def _lists(values: pa.Array, owners: np.ndarray, spans: int) -> pa.Array:
    """`values` (sorted by owner span) as one list per span, null for a span without any."""
    counts = np.bincount(owners, minlength=spans)[:spans]
    offsets = np.zeros(spans + 1, np.int64)
    np.cumsum(counts, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), values, mask=pa.array(counts == 0))


def _struct(**columns: pa.Array) -> pa.Array:
    return pa.StructArray.from_arrays(list(columns.values()), names=list(columns))


@dataclass(frozen=True, slots=True)
class _Groups:
    """The grouped attribute rows sorted by (prefix, span, index, position), one entry per group: its prefix,
    span and (per field) attribute row, -1 when the group has no such field; `first` is the group's first
    attribute by position, `others` counts its fields that are none of `_FIELDS`."""

    prefix: np.ndarray
    span: np.ndarray
    rows: np.ndarray  # (len(_FIELDS), groups)
    first: np.ndarray
    others: np.ndarray


def _groups(rows: _Rows) -> _Groups:
    where = np.flatnonzero(rows.prefix >= 0)
    order = np.lexsort((rows.position[where], rows.index[where], rows.span[where], rows.prefix[where]))
    where = where[order]
    prefix, span, index = rows.prefix[where], rows.span[where], rows.index[where]
    new = np.ones(where.size, np.bool_)
    new[1:] = (prefix[1:] != prefix[:-1]) | (span[1:] != span[:-1]) | (index[1:] != index[:-1])
    group = np.cumsum(new) - 1
    count = int(new.sum())
    field = rows.field[where]
    table = np.full((OTHER + 1, count), -1, np.int64)
    table[field, group] = where
    return _Groups(
        prefix=prefix[new],
        span=span[new],
        rows=table[:OTHER],
        first=where[new],
        others=np.bincount(group[field == OTHER], minlength=count),
    )


def _messages(
    rows: _Rows, groups: _Groups, side: int, legacy: int, legacy_role: str
) -> tuple[pa.Array, np.ndarray]:
    """One side's `*_messages` per span (flattened messages when the span has any, else the legacy prompts or
    choices, else null) and whether it is not exact."""
    n = rows.spans
    bad = np.zeros(n, np.bool_)
    mine = groups.prefix == side
    role_rows, content_rows = groups.rows[ROLE][mine], groups.rows[CONTENT][mine]
    owners = groups.span[mine]
    roles, contents = rows.texts(role_rows), pc.fill_null(rows.texts(content_rows), "")
    content_kind = rows.kind[content_rows]
    starts = pc.starts_with(contents, "[{").to_numpy(zero_copy_only=False)
    plain = (
        (rows.kind[role_rows] == STRING)
        & _nonempty(roles)
        & ((content_kind == ABSENT) | (content_kind == EMPTY) | ((content_kind == STRING) & ~starts))
        & (groups.others[mine] == 0)
    )
    column = _lists(_struct(role=roles, content=contents), owners, n)
    odd = np.bincount(owners[~plain], minlength=n)[:n] > 0
    if odd.any():
        column, bad = _python_messages(rows, side, odd, column)
    theirs = groups.prefix == legacy
    if not theirs.any():
        return column, bad
    has_messages = np.bincount(owners, minlength=n)[:n] > 0
    first = groups.first[theirs]
    first_kind = rows.kind[first]
    legacy_owners = groups.span[theirs]
    texts = pc.fill_null(rows.texts(first), "")  # `as_text(first value) or ""`
    roles = pa.array([legacy_role] * first.size, pa.large_string())
    prompts = _lists(_struct(role=roles, content=texts), legacy_owners, n)
    legacy_bad = (
        np.bincount(legacy_owners[(first_kind != STRING) & (first_kind != EMPTY)], minlength=n)[:n] > 0
    )
    return pc.if_else(pa.array(has_messages), column, prompts), np.where(has_messages, bad, legacy_bad)


def _python_messages(
    rows: _Rows, side: int, odd: np.ndarray, column: pa.Array
) -> tuple[pa.Array, np.ndarray]:
    """`indexed_messages` itself for the spans `odd` of one side, in place of their columnar lists."""
    n = rows.spans
    where = np.flatnonzero((rows.prefix == side) & odd[rows.span])
    where = where[np.lexsort((rows.position[where], rows.span[where]))]
    picked = rows.frame[where]
    groups: dict[int, dict[int, dict[str, AttributeValue]]] = {}
    keys = picked["key"].to_list()
    for span, index, key, value in zip(
        rows.span[where].tolist(), rows.index[where].tolist(), keys, python_values(picked), strict=True
    ):
        field = key[len(_PREFIXES[side]) + 1 :].partition(".")[2]  # what follows `{prefix}.{i}.`
        groups.setdefault(span, {}).setdefault(index, {})[field] = value
    bad = np.zeros(n, np.bool_)
    read: list[list[dict[str, str]] | None] = [None] * n
    for span, fields in groups.items():
        reader = AttributeReader({})
        read[span] = [
            {"role": m.role, "content": m.content}
            for m in indexed_messages(fields, _PREFIXES[side], reader, prefix="message.")
        ]
        bad[span] = bool(reader.warnings)
    python = pa.array(read, column.type)
    return pc.if_else(pa.array(odd), python, column), bad


def _documents(rows: _Rows, groups: _Groups) -> tuple[pa.Array, np.ndarray]:
    """`retrieved` per span (null without documents) and whether it is not exact."""
    n = rows.spans
    mine = groups.prefix == _DOCUMENTS
    id_rows, text_rows, score_rows = (groups.rows[f][mine] for f in (DOC_ID, DOC_TEXT, DOC_SCORE))
    owners = groups.span[mine]
    id_kind, text_kind, score_kind = rows.kind[id_rows], rows.kind[text_rows], rows.kind[score_rows]
    score_ints = rows.ints[score_rows]
    small = (score_kind == INT) & (score_ints >= -_EXACT_INT_FLOAT) & (score_ints <= _EXACT_INT_FLOAT)
    ok = (
        np.isin(id_kind, (STRING, INT, EMPTY, ABSENT))
        & np.isin(text_kind, (STRING, EMPTY, ABSENT))
        & (np.isin(score_kind, (DOUBLE, EMPTY, ABSENT)) | small)
    )
    id_ints = pa.array(rows.ints[id_rows], pa.int64(), mask=id_kind != INT)
    document_id = pc.if_else(
        pa.array(id_kind == INT), pc.cast(id_ints, pa.large_string()), rows.texts(id_rows)
    )
    score = np.where(score_kind == INT, score_ints.astype(np.float64), rows.doubles[score_rows])
    passages = _struct(
        document_id=document_id,
        text=rows.texts(text_rows),
        score=pa.array(score, pa.float64(), mask=(score_kind != INT) & (score_kind != DOUBLE)),
    )
    return _lists(passages, owners, n), np.bincount(owners[~ok], minlength=n)[:n] > 0


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
