"""One OTLP/JSON `ExportTraceServiceRequest` document to `SpanColumns`, with no Python work per span or per
common attribute: the JSON twin of `_otlp_proto_columns`.

The document is parsed by Arrow's JSON reader (`pyarrow.json`, RapidJSON) with an explicit schema naming every
field of the OTLP trace messages, and read strictly: a field the schema does not name, a value of another JSON
type than the schema's, or a key given twice makes the reader fail, so nothing is silently ignored or altered
(`polars.read_json` ignores such fields instead, which is why it is not used here). The rows then come from list
flattening and vectorised checks.

`trace_request_columns_json` returns None (decode the object with `orjson` and `_otlp_json.decode_trace_request`
instead) for anything it does not reproduce exactly as today's decoder would: snake_case or legacy keys
(`instrumentationLibrarySpans`), enum names for kind or status code, int64 fields written as JSON numbers or
as decimal text other than plain digits, doubles written as strings ("NaN"), a `null` value of an `AnyValue`
field (today an error, unlike a missing one), a `null` in a list, an `AnyValue` with two value fields, arrays or
key-value lists nested more than one level, ids that are not hex of the right length or all zeros, a status code
outside 0-2, times or kinds that do not fit the columns, several documents in one object, and bytes `orjson`
refuses or reads otherwise than RapidJSON (text that is not UTF-8, a byte-order mark, `NaN`/`Infinity`
literals, the integer -0 as a double). It never returns a row that differs from today's decoder's.

Python work happens only for the rare value kinds: each `bytesValue` is decoded with today's base64 function, and
each `arrayValue` or `kvlistValue` (one level of scalars) is decoded by today's `any_value`, then kept as its
`AnyValue`'s protobuf bytes in `nested_value`, as the protobuf decoder keeps it.
"""

from __future__ import annotations

import io
import re

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from tracewatch.importers._otlp_decoded import RecordError
from tracewatch.importers._otlp_json_nested import any_value_bytes, base64_values
from tracewatch.importers._otlp_json_schema import REQUEST_SCHEMA, VALUE_FIELDS
from tracewatch.importers._span_columns import (
    ATTRIBUTES_SCHEMA,
    EVENTS_SCHEMA,
    OWNERS,
    SPANS_SCHEMA,
    VALUE_KINDS,
    SpanColumns,
)

_START = re.compile(rb"[ \t\n\r]*\{")
# A JSON null as an `AnyValue` field's value, a NaN/Infinity literal (orjson refuses them), or the integer -0 (orjson
# reads 0, Arrow -0.0) as a double. A key ending in `Value"` is a real key (inside a JSON string that quote would be
# escaped), so the first never matches string contents; the second finds the same keys written with `\u` escapes
# (a letter can only be written as itself or so): after the last escape, no quote or backslash up to a real quote.
_AMBIGUOUS_VALUE = rb"[ \t\n\r]*:[ \t\n\r]*(?:null|-?[NI]|-0(?![.eE0-9]))"
_AMBIGUOUS = re.compile(rb'Value"' + _AMBIGUOUS_VALUE)
_AMBIGUOUS_ESCAPED = re.compile(rb'\\u[0-9a-fA-F]{4}[^"\\]*"' + _AMBIGUOUS_VALUE)
_INT32 = (-(2**31), 2**31 - 1)


class _Fallback(Exception):  # noqa: N818 - a signal, not an error: the caller decodes the old way
    """The document is not one this module reproduces exactly: decode it the old way."""


def trace_request_columns_json(data: bytes) -> SpanColumns | None:
    """The spans of one OTLP/JSON request document as columns, or None: decode it with `orjson` and
    `_otlp_json.decode_trace_request` instead (see the module docstring for when)."""
    if (
        not _START.match(data)
        or _AMBIGUOUS.search(data)
        or _AMBIGUOUS_ESCAPED.search(data)
        or not _utf8(data)
    ):
        return None
    try:
        table = pj.read_json(
            io.BytesIO(data),
            read_options=pj.ReadOptions(use_threads=False, block_size=max(len(data) + 1, 1 << 20)),
            parse_options=pj.ParseOptions(
                explicit_schema=REQUEST_SCHEMA,
                unexpected_field_behavior="error",
                newlines_in_values=True,
            ),
        )
    except (
        pa.ArrowException,
        ValueError,
        OverflowError,
    ):  # OverflowError: an object over 2 GB (Arrow's block)
        return None
    if table.num_rows != 1:
        return None
    try:
        return _columns(table)
    except (_Fallback, RecordError, pa.ArrowException, ValueError, OverflowError):
        return None
    except (TypeError, AttributeError, KeyError):  # today's decoder, on a nested value: it rejects the span
        return None


def _utf8(data: bytes) -> bool:
    """Whether `data` is UTF-8 as `orjson` requires (RapidJSON, as Arrow runs it, does not check), checked by
    Arrow without a copy."""
    offsets = pa.py_buffer(np.array([0, len(data)], np.int64))
    whole = pa.Array.from_buffers(pa.large_binary(), 1, [None, offsets, pa.py_buffer(data)])
    try:
        whole.cast(pa.large_string())
    except pa.ArrowInvalid:
        return False
    return True


def _fields(structs: pa.Array) -> dict[str, pa.Array]:
    """A struct array's children, null wherever the struct itself is null."""
    return dict(zip((f.name for f in structs.type), structs.flatten(), strict=True))


def _children(lists: pa.Array) -> tuple[pa.Array, np.ndarray]:
    """The elements of every list, in order, and the row of the list each came from; `_Fallback` for a null
    element (today an error where a message is expected)."""
    values = lists.flatten()
    if values.null_count:
        raise _Fallback("a null where a message is expected")
    parents = pc.list_parent_indices(lists).to_numpy(zero_copy_only=False).astype(np.int32)
    return values, parents


def _all(mask: pa.Array) -> bool:
    """Whether no row of `mask` is false (nulls and no rows at all pass)."""
    return bool(pc.all(mask, min_count=0).as_py())


def _ids(values: pa.Array, size: int, *, optional: bool) -> pa.Array:
    """Lower-case hex ids; `_Fallback` where today's decoder would reject the span (missing, not hex of `size`
    bytes, all zeros)."""
    if optional:
        values = pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    present = pc.is_valid(values)
    if not optional and not _all(present):
        raise _Fallback("a missing id")
    good = pc.match_substring_regex(values, f"^[0-9a-fA-F]{{{2 * size}}}$")
    zero = pc.match_substring_regex(values, f"^0{{{2 * size}}}$")
    if not _all(pc.and_not(good, zero)):  # nulls are skipped
        raise _Fallback("an id that is not hex of its size, or all zeros")
    return pc.utf8_lower(values).cast(pa.large_string())


def _digits(values: pa.Array, pattern: str, kind: pa.DataType) -> pa.Array:
    """Decimal text (null or "" for none) as `kind`; `_Fallback` for text today's `int` might read otherwise
    or that does not fit."""
    values = pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values)
    if not _all(pc.match_substring_regex(values, pattern)):
        raise _Fallback("an integer that is not plain decimal digits")
    return pc.cast(values, kind)


def _time(values: pa.Array) -> pa.Array:
    """A `...TimeUnixNano` column: 0 and none are null, as today."""
    times = _digits(values, "^[0-9]+$", pa.uint64())
    return pc.if_else(pc.equal(times, pa.scalar(0, pa.uint64())), pa.scalar(None, pa.uint64()), times)


def _text(values: pa.Array) -> pa.Array:
    return pc.fill_null(values, "").cast(pa.large_string())


def _none_if_empty(values: pa.Array) -> pa.Array:
    return pc.if_else(pc.equal(values, ""), pa.scalar(None, values.type), values).cast(pa.large_string())


def _small_int(values: pa.Array, low: int, high: int, kind: pa.DataType) -> pa.Array:
    values = pc.fill_null(values, 0)
    if not _all(pc.and_(pc.greater_equal(values, low), pc.less_equal(values, high))):
        raise _Fallback("an enum outside the range the columns hold")
    return values.cast(kind)


def _attributes(groups: list[tuple[pa.Array, np.ndarray]]) -> pa.Table:
    """The attribute rows of each owner's key-value lists (`groups`, in `OWNERS` order: the flattened key-values
    and each one's owner row)."""
    kvs = pa.concat_arrays([g[0] for g in groups])
    owner = np.concatenate([np.full(len(g[0]), code, np.int8) for code, g in enumerate(groups)])
    index = np.concatenate([g[1] for g in groups])
    kv = _fields(kvs)
    if kv["key"].null_count:
        raise _Fallback("a key-value without a key")
    value = _fields(kv["value"])
    present = np.stack([value[f].is_valid().to_numpy(zero_copy_only=False) for f in VALUE_FIELDS])
    if np.any(present.sum(axis=0) > 1):
        raise _Fallback("an AnyValue with more than one value field")
    kind = np.where(present.any(axis=0), present.argmax(axis=0), -1).astype(np.int8)
    n = len(kvs)
    ints = _digits(value["intValue"], "^-?[0-9]+$", pa.int64())
    doubles = value["doubleValue"]
    nested = []
    for name in ("arrayValue", "kvlistValue"):
        rows = np.flatnonzero(kind == VALUE_FIELDS.index(name))
        found = value[name].take(pa.array(rows)).to_pylist() if rows.size else []
        nested.append((rows, _nested_bytes(name, found)))
    byte_rows = np.flatnonzero(kind == VALUE_FIELDS.index("bytesValue"))
    found = value["bytesValue"].take(pa.array(byte_rows)).to_pylist() if byte_rows.size else []
    return pa.table(
        [
            pa.DictionaryArray.from_arrays(pa.array(owner), pa.array(OWNERS)),
            pa.array(index, pa.int32()),
            kv["key"].cast(pa.large_string()),
            pa.DictionaryArray.from_arrays(pa.array(kind, mask=kind < 0), pa.array(VALUE_KINDS)),
            value["stringValue"].cast(pa.large_string()),
            value["boolValue"],
            ints,
            doubles,
            _scatter(n, [(byte_rows, base64_values(found))]),
            _scatter(n, nested),
        ],
        schema=ATTRIBUTES_SCHEMA,
    )


def _nested_bytes(name: str, found: list[object]) -> list[bytes]:
    """`any_value_bytes` of each value, once per distinct value (the same few arrays and lists recur across a
    request's spans)."""
    seen: dict[bytes, bytes] = {}
    out = []
    for value in found:
        key = orjson.dumps(value)
        done = seen.get(key)
        if done is None:
            done = seen[key] = any_value_bytes({name: value})
        out.append(done)
    return out


def _scatter(n: int, parts: list[tuple[np.ndarray, list[bytes]]]) -> pa.Array:
    """A binary column of `n` rows holding each part's values at its rows, null elsewhere: one `take`, not a
    Python step per row."""
    values = [v for _, found in parts for v in found]
    where = np.full(n, len(values), np.int64)
    at = 0
    for rows, found in parts:
        where[rows] = np.arange(at, at + len(found))
        at += len(found)
    return pa.array([*values, None], pa.large_binary()).take(pa.array(where))


def _columns(table: pa.Table) -> SpanColumns:
    blocks, _ = _children(table.column("resourceSpans").combine_chunks())
    block = _fields(blocks)
    resource_kv = _children(_fields(block["resource"])["attributes"])
    scope_blocks, scope_resource = _children(block["scopeSpans"])
    sb = _fields(scope_blocks)
    scope = _fields(sb["scope"])
    scope_kv = _children(scope["attributes"])
    span_rows, span_scope = _children(sb["spans"])
    s = _fields(span_rows)
    event_rows, event_span = _children(s["events"])
    e = _fields(event_rows)
    _children(s["links"])  # read and checked by the reader, not kept: today's decoder ignores links
    status = _fields(s["status"])
    attributes = _attributes([resource_kv, scope_kv, _children(s["attributes"]), _children(e["attributes"])])
    scope_names = _none_if_empty(scope["name"])
    span_scope_arr = pa.array(span_scope, pa.int32())
    return SpanColumns(
        spans=pa.table(
            [
                _ids(s["traceId"], 16, optional=False),
                _ids(s["spanId"], 8, optional=False),
                _ids(s["parentSpanId"], 8, optional=True),
                _text(s["name"]),
                _small_int(s["kind"], *_INT32, pa.int32()),
                _time(s["startTimeUnixNano"]),
                _time(s["endTimeUnixNano"]),
                _small_int(status["code"], 0, 2, pa.int8()),
                _none_if_empty(status["message"]),
                pa.array(scope_resource.astype(np.int32)[span_scope], pa.int32()),
                span_scope_arr,
                scope_names.take(span_scope_arr),
            ],
            schema=SPANS_SCHEMA,
        ),
        attributes=attributes,
        events=pa.table(
            [pa.array(event_span, pa.int32()), _text(e["name"]), _time(e["timeUnixNano"])],
            schema=EVENTS_SCHEMA,
        ),
        resources=len(blocks),
        scopes=len(scope_blocks),
    )
