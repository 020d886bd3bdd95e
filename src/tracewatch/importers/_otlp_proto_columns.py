"""One serialized `ExportTraceServiceRequest` to `SpanColumns`, with no Python work per span field or attribute.

The few outer levels (request, resource and scope blocks, and the list of span regions) are scanned in Python,
one cheap step per span; spans, their status, events and links, every `KeyValue` and `AnyValue` are decoded with
numpy in lockstep (`_proto_wire.walk`), and strings and ids go to Arrow as regions of the original bytes.

`trace_request_columns` returns None for anything it does not reproduce exactly as `_otlp_proto.decode_trace_request`
would decode it, so the caller decodes that object the old way: a span today's decoder rejects (missing or
wrongly sized or all-zero ids, a status code outside 0-2), fields the outer levels do not define (the older
`instrumentation_library_spans`, field 1000; the resource's `entity_refs`), a string that is not UTF-8, bytes upb
would refuse (see `_proto_wire`), an `AnyValue` with more than one value field or a `string_value_strindex`,
nesting too deep for upb. It never returns a row that differs from the old decoder's.

Fields the old decoder ignores are checked as upb checks them (their UTF-8 and wire types) but not kept: trace
state, links, flags, dropped counts, schema URLs, the scope's version (the scope's attributes are kept).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracewatch.importers._proto_wire import (
    FIXED32,
    FIXED64,
    I64,
    LEN,
    U8,
    VARINT,
    Fallback,
    hex_ids,
    padded,
    pairs,
    strings,
    varints,
    walk,
)
from tracewatch.importers._span_columns import (
    ATTRIBUTES_SCHEMA,
    EVENTS_SCHEMA,
    OWNERS,
    SPANS_SCHEMA,
    VALUE_KINDS,
    SpanColumns,
)

_INT32_MAX = np.uint64(2**31 - 1)


def trace_request_columns(data: bytes) -> SpanColumns | None:
    """The spans of one serialized `ExportTraceServiceRequest` as columns, or None: decode it with
    `_otlp_proto.decode_trace_request` instead (see the module docstring for when)."""
    try:
        return _decode(data)
    except Fallback:
        return None


def _read_varint(data: bytes, p: int, end: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if p >= end or shift > 63:
            raise Fallback("a truncated or overlong varint")
        b = data[p]
        p += 1
        result |= (b & 0x7F) << shift
        if b < 0x80:
            if result >= 1 << 64:
                raise Fallback("a varint longer than 64 bits")
            return result, p
        shift += 7


def _outer_field(data: bytes, p: int, end: int, allowed: dict[int, int]) -> tuple[int, int, int, int]:
    """The field at `p` of an outer message whose only fields may be `allowed` (number -> wire type:
    length-delimited or varint): its number, value or start, length, and where the next field starts."""
    tag = data[p]
    p += 1
    if tag >= 0x80:
        tag, p = _read_varint(data, p - 1, end)
    number, wire = tag >> 3, tag & 7
    if allowed.get(number) != wire:
        raise Fallback(f"field {number} (wire type {wire}) in an outer message")
    if wire == VARINT:
        value, p = _read_varint(data, p, end)
        return number, value, 0, p
    length, p = _length(data, p, end)
    return number, p, length, p + length


def _length(data: bytes, p: int, end: int) -> tuple[int, int]:
    """The length varint at `p` and where its field's bytes start; `Fallback` if they run past `end`."""
    if p < end and data[p] < 0x80:
        length, p = data[p], p + 1
    elif p + 1 < end and data[p + 1] < 0x80:  # most spans: 128 bytes to 16 kB
        length, p = (data[p] & 0x7F) | (data[p + 1] << 7), p + 2
    else:
        length, p = _read_varint(data, p, end)
    if p + length > end:
        raise Fallback("a field past its message's end")
    return length, p


def _scan(data: bytes, start: int, end: int, allowed: dict[int, int]) -> list[tuple[int, int, int]]:
    """The fields (number, value or start, length) of one outer message (see `_outer_field`)."""
    out = []
    p = start
    while p < end:
        number, value, length, p = _outer_field(data, p, end, allowed)
        out.append((number, value, length))
    return out


def _scope_scan(
    data: bytes, start: int, end: int, span_at: list[int], span_len: list[int]
) -> list[tuple[int, int, int]]:
    """A scope block's fields as `_scan` gives them, but its spans (field 2), whose regions go straight to
    `span_at` and `span_len`: the one Python step per span."""
    out = []
    p = start
    while p < end:
        if data[p] == 0x12:  # `_length`, inlined: this is the step per span
            q = p + 1
            if q < end and data[q] < 0x80:
                length, q = data[q], q + 1
            elif q + 1 < end and data[q + 1] < 0x80:
                length, q = (data[q] & 0x7F) | (data[q + 1] << 7), q + 2
            else:
                length, q = _read_varint(data, q, end)
            p = q + length
            if p > end:
                raise Fallback("a span past its scope block's end")
            span_at.append(q)
            span_len.append(length)
            continue
        number, value, length, p = _outer_field(data, p, end, _SCOPE_SPANS)
        out.append((number, value, length))
    return out


_SCOPE_SPANS = {1: LEN, 3: LEN}
"""A scope block's fields besides its spans: the scope, the schema URL."""


def _once(fields: list[tuple[int, int, int]], *numbers: int) -> None:
    seen = [f[0] for f in fields if f[0] in numbers]
    if len(seen) != len(set(seen)):
        raise Fallback("a singular field given twice in an outer message")


def _text(data: bytes, at: int, length: int) -> str:
    try:
        return data[at : at + length].decode()
    except UnicodeDecodeError:
        raise Fallback("a string that is not UTF-8") from None


class _Outer:
    """What the Python scan of the outer levels finds: span regions, scope names, the resource and scope
    attributes' regions."""

    def __init__(self, data: bytes) -> None:
        self.span_at: list[int] = []
        self.span_len: list[int] = []
        self.span_resource: list[int] = []
        self.span_scope: list[int] = []
        self.scope_names: list[str | None] = []
        self.kv: dict[str, tuple[list[int], list[int], list[int]]] = {
            "resource": ([], [], []),
            "scope": ([], [], []),
        }
        self.resources = 0
        for _, at, length in _scan(data, 0, len(data), {1: LEN}):
            self._resource_spans(data, at, at + length)

    def _kvs(self, owner: str, index: int, at: int, length: int) -> None:
        indexes, lengths, starts = self.kv[owner]  # in the order `Fields.select` gives them
        indexes.append(index)
        lengths.append(length)
        starts.append(at)

    def _resource_spans(self, data: bytes, start: int, end: int) -> None:
        ri = self.resources
        self.resources += 1
        fields = _scan(data, start, end, {1: LEN, 2: LEN, 3: LEN})
        _once(fields, 1, 3)
        for number, at, length in fields:
            if number == 1:
                for n, a, ln in _scan(data, at, at + length, {1: LEN, 2: VARINT}):
                    if n == 1:
                        self._kvs("resource", ri, a, ln)
            elif number == 2:
                self._scope_spans(data, ri, at, at + length)
            else:
                _text(data, at, length)

    def _scope_spans(self, data: bytes, ri: int, start: int, end: int) -> None:
        si = len(self.scope_names)
        name = None
        span_at, span_len = self.span_at, self.span_len
        fields = _scope_scan(data, start, end, span_at, span_len)
        _once(fields, 1, 3)
        for number, at, length in fields:
            if number == 1:
                scope = _scan(data, at, at + length, {1: LEN, 2: LEN, 3: LEN, 4: VARINT})
                _once(scope, 1, 2, 4)
                for n, a, ln in scope:
                    if n == 1:
                        name = _text(data, a, ln) or None
                    elif n == 2:
                        _text(data, a, ln)
                    elif n == 3:
                        self._kvs("scope", si, a, ln)
            else:
                _text(data, at, length)
        self.scope_names.append(name)
        count = len(span_at) - len(self.span_resource)
        self.span_resource += [ri] * count
        self.span_scope += [si] * count


def _at_len(n: int, msg: I64, value: np.ndarray, at: I64) -> tuple[I64, I64]:
    """Full-length start and length arrays for a length-delimited field present in messages `msg` (0, 0 elsewhere,
    which reads as an empty string)."""
    starts, lengths = np.zeros(n, np.int64), np.zeros(n, np.int64)
    starts[msg], lengths[msg] = at, value.astype(np.int64)
    return starts, lengths


def _scalar(n: int, msg: I64, value: np.ndarray) -> np.ndarray:
    out = np.zeros(n, np.uint64)
    out[msg] = value
    return out


def _ids(buf: U8, found: tuple[I64, np.ndarray, I64], n: int, size: int, *, optional: bool) -> pa.Array:
    """One id column; `Fallback` where today's decoder would reject the span (missing, wrong size, all zeros)."""
    msg, length, at = found
    present = length > 0
    msg, length, at = msg[present], length[present], at[present]
    if np.any(length != size) or (not optional and msg.size != n):
        raise Fallback("an id missing or of the wrong size")
    if msg.size and not np.all(buf[at[:, None] + np.arange(size)].any(axis=1)):
        raise Fallback("an all-zero id")
    starts = np.zeros(n, np.int64)
    starts[msg] = at
    null = np.ones(n, np.bool_)
    null[msg] = False
    return hex_ids(buf, starts, size, null if optional else None)


def _nullable(values: np.ndarray, kind: pa.DataType, null: np.ndarray) -> pa.Array:
    return pa.array(values, kind, mask=null)


def _field(number: int, payload: bytes) -> bytes:
    """`payload` as length-delimited field `number`."""
    size, header = len(payload), bytearray([number << 3 | LEN])
    while size >= 0x80:
        header.append(size & 0x7F | 0x80)
        size >>= 7
    header.append(size)
    return bytes(header) + payload


def _check_nested(buf: U8, blob: pa.Buffer, at: I64, length: I64) -> None:
    """`Fallback` unless upb parses every array and key-value list value, each at `[at, at + length)`: all in one
    parse of their key-value fields (tag and length included, as the request has them) one after the other, as
    one key-value of an event's attributes, the deepest an attribute's value sits in a request, so that upb's depth
    limit cannot pass here and fail on the whole request."""
    header = 2 + sum((length >= 1 << (7 * k)).astype(np.int64) for k in range(1, 9))
    start = at - header
    if np.any(buf[start] != 0x12):
        raise Fallback("a key-value's value field not where its shortest encoding would be")
    stated, after = varints(buf, start + 1)
    if np.any(after != at) or np.any(stated != length.astype(np.uint64)):
        raise Fallback("a key-value's value field not where its shortest encoding would be")
    fields = strings(blob, start, at + length - start, text=False)
    offsets = np.frombuffer(fields.buffers()[1], np.int64, len(fields) + 1, 8 * fields.offset)
    body = fields.buffers()[2].to_pybytes()[offsets[0] : offsets[-1]]
    for number in (
        3,
        11,
        2,
        2,
        1,
    ):  # event.attributes, span.events, scope.spans, resource.scope_spans, request
        body = _field(number, body)
    try:
        ExportTraceServiceRequest.FromString(body)
    except DecodeError:
        raise Fallback("an array or key-value list upb would refuse") from None


def _attributes(buf: U8, blob: pa.Buffer, size: int, owner: I64, index: I64, at: I64, end: I64) -> pa.Table:
    """The attribute rows of the `KeyValue`s at `[at, end)`, owned by `OWNERS[owner]` row `index`."""
    n = at.size
    fast = pairs(buf, at, end, size)  # a key, then a value: nearly every key-value
    if fast is not None:
        key_at, key_len, av_at, av_len = fast
        kv_msg = np.arange(n, dtype=np.int64)
    else:
        kvs = walk(buf, at, end, size)
        key_at, key_len = _at_len(n, *kvs.select(1, LEN))
        kvs.select(3, VARINT)  # key_strindex: not kept, but upb would refuse another wire type
        kv_msg, stated, av_at = kvs.select(2, LEN)
        av_len = stated.astype(np.int64)
    values = walk(buf, av_at, av_at + av_len, size)
    known = (values.number >= 1) & (values.number <= 8)
    if np.any(np.bincount(values.msg[known], minlength=kv_msg.size) > 1):
        raise Fallback("an AnyValue with more than one value field")
    if values.select(8, VARINT)[0].size:
        raise Fallback("an AnyValue with a string_value_strindex")
    kind = np.full(n, -1, np.int8)
    wires = (LEN, VARINT, VARINT, FIXED64, LEN, LEN, LEN)
    found = {f: values.select(f, wire) for f, wire in enumerate(wires, start=1)}
    for f, (msg, _, _) in found.items():
        kind[kv_msg[msg]] = f - 1
    text_at, text_len = _at_len(n, kv_msg[found[1][0]], found[1][1], found[1][2])
    bytes_at, bytes_len = _at_len(n, kv_msg[found[7][0]], found[7][1], found[7][2])
    nested = (kind == 4) | (kind == 5)
    nested_at, nested_len = _at_len(n, kv_msg, av_len.astype(np.uint64), av_at)
    nested_values = strings(blob, nested_at, nested_len, text=False, null=~nested)
    if nested.any():
        _check_nested(buf, blob, av_at[nested[kv_msg]], av_len[nested[kv_msg]])
    ints = {f: _scalar(n, kv_msg[found[f][0]], found[f][1]) for f in (2, 3, 4)}
    return pa.table(
        [
            # links' rows (code 4) have no owner here: they are checked, then cut off
            pa.DictionaryArray.from_arrays(
                pa.array(owner.astype(np.int8), mask=owner >= len(OWNERS)), pa.array(OWNERS)
            ),
            pa.array(index.astype(np.int32)),
            strings(blob, key_at, key_len),
            pa.DictionaryArray.from_arrays(pa.array(kind, mask=kind < 0), pa.array(VALUE_KINDS)),
            strings(blob, text_at, text_len, null=kind != 0),
            _nullable(ints[2] != 0, pa.bool_(), kind != 1),
            _nullable(ints[3].view(np.int64), pa.int64(), kind != 2),
            _nullable(ints[4].view(np.float64), pa.float64(), kind != 3),
            strings(blob, bytes_at, bytes_len, text=False, null=kind != 6),
            nested_values,
        ],
        schema=ATTRIBUTES_SCHEMA,
    )


def _decode(data: bytes) -> SpanColumns:
    outer = _Outer(data)
    size, buf, blob = len(data), padded(data), pa.py_buffer(data)
    n = len(outer.span_at)
    span_at = np.array(outer.span_at, np.int64)
    spans = walk(buf, span_at, span_at + np.array(outer.span_len, np.int64), size)
    trace_id = _ids(buf, spans.select(1, LEN), n, 16, optional=False)
    span_id = _ids(buf, spans.select(2, LEN), n, 8, optional=False)
    parent_id = _ids(buf, spans.select(4, LEN), n, 8, optional=True)
    strings(blob, *_at_len(n, *spans.select(3, LEN)))  # trace state: checked, not kept
    name = strings(blob, *_at_len(n, *spans.select(5, LEN)))
    kind_msg, kind_value, _ = spans.select(6, VARINT)
    if np.any(kind_value > _INT32_MAX):
        raise Fallback("a span kind outside int32's positive range")
    times = [_scalar(n, *spans.select(f, FIXED64)[:2]) for f in (7, 8)]
    for number, wire in ((10, VARINT), (12, VARINT), (14, VARINT), (16, FIXED32)):
        spans.select(number, wire)
    status_msg, status_len, status_at = spans.select(15, LEN)
    status = walk(buf, status_at, status_at + status_len.astype(np.int64), size)
    code_msg, code, _ = status.select(3, VARINT)
    if np.any(code > 2):
        raise Fallback("a status code outside 0-2")
    message_at, message_len = _at_len(n, *_lift(status_msg, status.select(2, LEN)))

    event_span, event_len, event_at = spans.select(11, LEN, repeated=True)
    events = walk(buf, event_at, event_at + event_len.astype(np.int64), size)
    events.select(4, VARINT)
    event_kv = events.select(3, LEN, repeated=True)
    link_msg, link_len, link_at = spans.select(13, LEN, repeated=True)
    links = walk(buf, link_at, link_at + link_len.astype(np.int64), size)
    for number, wire in ((1, LEN), (2, LEN), (5, VARINT), (6, FIXED32)):
        links.select(number, wire)
    strings(blob, *_at_len(link_msg.size, *links.select(3, LEN)))
    link_kv = links.select(4, LEN, repeated=True)
    span_kv = spans.select(9, LEN, repeated=True)

    outer_kv = {o: tuple(np.array(v, np.int64) for v in outer.kv[o]) for o in ("resource", "scope")}
    groups: list[tuple[int, I64, I64, I64]] = [
        (0, *outer_kv["resource"]),  # type: ignore[list-item]
        (1, *outer_kv["scope"]),  # type: ignore[list-item]
        (2, span_kv[0], span_kv[1].astype(np.int64), span_kv[2]),
        (3, event_kv[0], event_kv[1].astype(np.int64), event_kv[2]),
        (4, link_kv[0], link_kv[1].astype(np.int64), link_kv[2]),  # checked, then cut off
    ]
    owner = np.concatenate([np.full(g[1].size, g[0], np.int64) for g in groups])
    index, length, at = (np.concatenate([g[i] for g in groups]) for i in (1, 2, 3))
    attributes = _attributes(buf, blob, size, owner, index, at, at + length)
    attributes = attributes.slice(0, attributes.num_rows - link_kv[0].size)

    scope_index = np.array(outer.span_scope, np.int32)
    event_time = _scalar(event_at.size, *events.select(1, FIXED64)[:2])
    return SpanColumns(
        spans=pa.table(
            [
                trace_id,
                span_id,
                parent_id,
                name,
                pa.array(_scalar(n, kind_msg, kind_value).astype(np.int32)),
                *(_nullable(t, pa.uint64(), t == 0) for t in times),
                pa.array(_scalar(n, status_msg[code_msg], code).astype(np.int8)),
                strings(blob, message_at, message_len, null=message_len == 0),
                pa.array(np.array(outer.span_resource, np.int32)),
                pa.array(scope_index),
                pa.array(outer.scope_names, pa.large_string()).take(pa.array(scope_index)),
            ],
            schema=SPANS_SCHEMA,
        ),
        attributes=attributes,
        events=pa.table(
            [
                pa.array(event_span.astype(np.int32)),
                strings(blob, *_at_len(event_at.size, *events.select(2, LEN))),
                _nullable(event_time, pa.uint64(), event_time == 0),
            ],
            schema=EVENTS_SCHEMA,
        ),
        resources=outer.resources,
        scopes=len(outer.scope_names),
    )


def _lift(parent: I64, found: tuple[I64, np.ndarray, I64]) -> tuple[I64, np.ndarray, I64]:
    """A child message's field occurrences re-addressed to the parents the children belong to."""
    msg, value, at = found
    return parent[msg], value, at
