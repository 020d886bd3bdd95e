"""OpenInference attribute rows for the columnar reader (`_openinference_columns`): which of an object's span
attributes it reads, each key classified once, and the rows sorted for the per-span and per-group reads."""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from tracewatch.importers._fact_frame import SpanView
from tracewatch.importers._openinference import (
    INVOCATION_PARAMETERS,
    SPAN_KIND,
)

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


def _nonempty(texts: pa.Array) -> np.ndarray:
    """`bool(text)` of each text (False for null)."""
    with np.errstate(invalid="ignore"):  # a null length comes as NaN, which is not > 0
        return np.asarray(pc.binary_length(texts).to_numpy(zero_copy_only=False) > 0)
