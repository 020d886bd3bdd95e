"""OpenInference's flattened groups in columns (`_openinference_columns`): messages, prompts, choices and
documents of an object's spans as list columns, from the sorted attribute rows (`_openinference_rows`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import python_values
from tracewatch.importers._messages import indexed_messages
from tracewatch.importers._openinference_rows import (
    _DOCUMENTS,
    _EXACT_INT_FLOAT,
    _PREFIXES,
    ABSENT,
    CONTENT,
    DOC_ID,
    DOC_SCORE,
    DOC_TEXT,
    DOUBLE,
    EMPTY,
    INT,
    OTHER,
    ROLE,
    STRING,
    _nonempty,
    _Rows,
)
from tracewatch.importers._spans import AttributeValue

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
