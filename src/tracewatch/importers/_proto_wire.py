"""The protobuf wire format read with numpy, many messages of one type at once, for the columnar OTLP decoder.

`walk` decodes the fields of N messages in lockstep: arrays of cursors, and each step reads one tag and one value
per message that still has bytes left, so the Python work is one step per field of the longest message, not one
per field of every message. Strings never become Python objects: `strings` hands Arrow the regions of the
original bytes and lets it copy them out (and check their UTF-8, as upb does).

Anything this reader does not reproduce exactly as upb parses it raises `Fallback`, so the caller can hand the
whole object to the upb decoder: malformed or truncated bytes, groups and reserved wire types, varints longer than
10 bytes, a singular field given twice (upb merges messages and keeps the last scalar; this reader does neither),
a known field with another wire type than its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import pyarrow as pa

I64 = npt.NDArray[np.int64]
U64 = npt.NDArray[np.uint64]
U8 = npt.NDArray[np.uint8]

PAD = 16
"""Zero bytes after the data, so that reading a varint or a fixed64 that starts inside the data never indexes
past the array (each read is checked against its message's end before the next one starts)."""

VARINT, FIXED64, LEN, FIXED32 = 0, 1, 2, 5


class Fallback(Exception):  # noqa: N818 - a signal, not an error: the caller decodes the object the other way
    """These bytes are not something the columnar reader reproduces exactly: decode them with upb instead."""


def padded(data: bytes) -> U8:
    """`data` as a uint8 array with `PAD` zero bytes after it (one copy of the object)."""
    return np.frombuffer(data + bytes(PAD), np.uint8)


def varints(buf: U8, at: I64) -> tuple[U64, I64]:
    """The varints that start at positions `at`, and the position after each (at most 10 bytes, as upb reads)."""
    b = buf[at]
    values = (b & 0x7F).astype(np.uint64)
    after = at + 1
    more = np.flatnonzero(b & 0x80)
    shift = 7
    while more.size:
        q = after[more]
        b = buf[q]
        if shift == 63 and np.any(b > 1):
            raise Fallback("a varint longer than 64 bits")
        values[more] |= (b & 0x7F).astype(np.uint64) << np.uint64(shift)
        after[more] = q + 1
        more = more[(b & 0x80) != 0]
        shift += 7
    return values, after


def fixed(buf: U8, at: I64, size: int) -> U64:
    """The little-endian fixed64 (`size` 8) or fixed32 (4) values that start at `at`."""
    raw = np.ascontiguousarray(buf[at[:, None] + np.arange(size)])
    return raw.view("<u8" if size == 8 else "<u4").ravel().astype(np.uint64)


@dataclass(frozen=True, slots=True)
class Fields:
    """Every field of N messages: one entry per field occurrence, sorted by field number, then message, then
    document order. `value` is a varint's or fixed value, or a length-delimited field's length (its bytes start
    at `at`)."""

    msg: I64
    number: I64
    wire: npt.NDArray[np.int8]
    value: U64
    at: I64

    def select(self, number: int, wire: int, *, repeated: bool = False) -> tuple[I64, U64, I64]:
        """The occurrences of field `number` (message, value, start); `Fallback` if one has another wire type, or,
        for a singular field, if a message gives it twice."""
        lo, hi = np.searchsorted(self.number, (number, number + 1))
        if lo == hi:
            return np.empty(0, np.int64), np.empty(0, np.uint64), np.empty(0, np.int64)
        if np.any(self.wire[lo:hi] != wire):
            raise Fallback(f"field {number} with an unexpected wire type")
        msg = self.msg[lo:hi]
        if not repeated and msg.size > 1 and np.any(msg[1:] == msg[:-1]):
            raise Fallback(f"singular field {number} given twice in one message")
        return msg, self.value[lo:hi], self.at[lo:hi]


_WIRE_TYPES = np.uint64(1 << VARINT | 1 << FIXED64 | 1 << LEN | 1 << FIXED32)


def _step(buf: U8, cur: I64, end: I64, size: int) -> tuple[I64, npt.NDArray[np.int8], U64, I64, I64]:
    """One field of each message whose next field starts at `cur`: its number, wire type, value, start (see
    `Fields`), and where the message's next field starts."""
    tag, p = varints(buf, cur)
    if np.any(p > end) or np.any(tag - np.uint64(8) > np.uint64(0xFFFFFFFF - 8)):
        raise Fallback("a tag past its message's end, or a field number of 0 or above 2**29")
    wire64 = tag & np.uint64(7)
    number, wire = (tag >> np.uint64(3)).astype(np.int64), wire64.astype(np.int8)
    is_len = wire == LEN
    if is_len.all():  # the usual step: every message at a repeated key-value, event or string
        value, at = varints(buf, p)
        if np.any(value > np.uint64(size)):
            raise Fallback("a length beyond the data")
        nxt = at + value.astype(np.int64)
        if np.any(nxt > end):
            raise Fallback("a field past its message's end")
        return number, wire, value, at, nxt
    if not np.all((_WIRE_TYPES >> wire64) & np.uint64(1)):
        raise Fallback("a group or a reserved wire type")
    value = np.zeros(cur.size, np.uint64)
    at = p.copy()
    nxt = p + 1
    if is_len.any():
        length, q = varints(buf, p[is_len])
        if np.any(length > np.uint64(size)):
            raise Fallback("a length beyond the data")
        value[is_len], at[is_len], nxt[is_len] = length, q, q + length.astype(np.int64)
    is_varint = wire == VARINT
    if is_varint.any():
        value[is_varint], nxt[is_varint] = varints(buf, p[is_varint])
    for kind, width in ((FIXED64, 8), (FIXED32, 4)):
        is_fixed = wire == kind
        if is_fixed.any():
            nxt[is_fixed] = p[is_fixed] + width
            if np.any(nxt[is_fixed] > end[is_fixed]):
                raise Fallback("a fixed value past its message's end")
            value[is_fixed] = fixed(buf, p[is_fixed], width)
    if np.any(nxt > end):
        raise Fallback("a field past its message's end")
    return number, wire, value, at, nxt


def walk(buf: U8, starts: I64, ends: I64, size: int) -> Fields:
    """The fields of the messages at `[starts, ends)`, read in lockstep; `size` is the data's length (unpadded)."""
    idx = np.flatnonzero(starts < ends)
    cur, end = starts[idx], ends[idx]
    parts: list[tuple[I64, I64, npt.NDArray[np.int8], U64, I64]] = []
    while idx.size:
        number, wire, value, at, nxt = _step(buf, cur, end, size)
        parts.append((idx, number, wire, value, at))
        live = nxt < end
        idx, cur, end = idx[live], nxt[live], end[live]
    if not parts:
        empty = np.empty(0, np.int64)
        return Fields(empty, empty, np.empty(0, np.int8), np.empty(0, np.uint64), empty)
    msg, number = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
    order = np.argsort(number * starts.size + msg, kind="stable")  # parts are in document order already
    return Fields(
        msg[order],
        number[order],
        np.concatenate([p[2] for p in parts])[order],
        np.concatenate([p[3] for p in parts])[order],
        np.concatenate([p[4] for p in parts])[order],
    )


def pairs(buf: U8, at: I64, end: I64, size: int) -> tuple[I64, I64, I64, I64] | None:
    """For messages that are each exactly field 1 then field 2, both length-delimited and given once (key-values
    nearly always are): each field's start and length, with far fewer passes than `walk`; None if any message is
    otherwise (then `walk` reads them)."""
    if not at.size or np.any(buf[at] != (1 << 3 | LEN)):
        return None
    stated, first_at = varints(buf, at + 1)
    first_len = np.minimum(stated, np.uint64(size)).astype(np.int64)
    second = np.minimum(first_at + first_len, size)
    if np.any(second >= end) or np.any(buf[second] != (2 << 3 | LEN)):
        return None
    stated, second_at = varints(buf, second + 1)
    if np.any(stated > np.uint64(size)):
        return None
    second_len = stated.astype(np.int64)
    if np.any(second_at + second_len != end):
        return None
    return first_at, first_len, second_at, second_len


def strings(
    data: pa.Buffer, at: I64, length: I64, *, text: bool = True, null: npt.NDArray[np.bool_] | None = None
) -> pa.Array:
    """The byte regions `[at, at + length)` of `data` as a large string (`text`) or large binary array, copied by
    Arrow; null where `null` is set. `Fallback` on invalid UTF-8 in a string, which upb rejects too.

    Arrow wants contiguous values, so the regions (disjoint, as distinct fields of a message are) become the even
    elements of an array whose odd elements are the gaps between them, and a take picks the even ones."""
    n = at.size
    kind = pa.large_string() if text else pa.large_binary()
    if n == 0:
        return pa.array([], kind)
    order = np.argsort(at, kind="stable") if n > 1 and np.any(at[1:] < at[:-1]) else None
    s, e = (at, at + length) if order is None else (at[order], at[order] + length[order])
    offsets = np.empty(2 * n, np.int64)
    offsets[0::2], offsets[1::2] = s, e
    if np.any(offsets[1:] < offsets[:-1]):
        raise Fallback("overlapping byte regions")
    spread = pa.LargeBinaryArray.from_buffers(
        pa.large_binary(), 2 * n - 1, [None, pa.py_buffer(offsets), data]
    )
    pick = 2 * np.arange(n, dtype=np.int64)
    if order is not None:
        rank = np.empty(n, np.int64)
        rank[order] = np.arange(n, dtype=np.int64)
        pick = 2 * rank
    taken = spread.take(pa.array(pick, mask=null))
    if not text:
        return taken
    try:
        return taken.cast(pa.large_string())
    except pa.ArrowInvalid as exc:
        raise Fallback("a string that is not UTF-8") from exc


_HEX = np.frombuffer("".join(f"{i:02x}" for i in range(256)).encode(), "<u2")
"""Each byte's two hex digits as one uint16 whose bytes in memory are the digits, in order."""


def hex_ids(buf: U8, at: I64, size: int, null: npt.NDArray[np.bool_] | None = None) -> pa.Array:
    """The `size`-byte ids that start at `at` as lower-case hex strings (null where `null` is set)."""
    n = at.size
    raw = buf[at[:, None] + np.arange(size)] if n else np.empty((0, size), np.uint8)
    chars = _HEX[raw]
    offsets = np.arange(n + 1, dtype=np.int64) * (2 * size)
    validity = None
    if null is not None and null.any():
        validity = pa.py_buffer(np.packbits(~null, bitorder="little"))
    return pa.LargeStringArray.from_buffers(n, pa.py_buffer(offsets), pa.py_buffer(chars.tobytes()), validity)
