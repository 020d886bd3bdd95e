"""Stable 64-bit hashing of strings and integers: the same numbers on every machine, Python and polars version.

Sampling picks, trace-score samples, dataset keys and stored MinHash signatures are compared across nights and
machines, so nothing here uses `hash()` or polars `.hash()`: strings are hashed by a fixed algorithm over their
UTF-8 bytes in numpy, 8 bytes at a time (a splitmix/murmur-style mix), fast enough for a million ids per second
on one core. `fmix64` mixes integers, `key64` derives a key from printable parts, `rekey` gives an independent
stream from hashes already computed.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from tracewatch.errors import DataContractError

U64 = NDArray[np.uint64]

_M1: Final = np.uint64(0xFF51AFD7ED558CCD)
_M2: Final = np.uint64(0xC4CEB9FE1A85EC53)
GOLDEN64: Final = np.uint64(0x9E3779B97F4A7C15)
"""2**64 divided by the golden ratio (odd): a multiplier and step that spreads consecutive integers apart."""
PRIME64_2: Final = np.uint64(0xC2B2AE3D27D4EB4F)
"""xxHash64's second prime: the other multiplier of the string mix."""
_ALL_ONES: Final = np.uint64(0xFFFFFFFFFFFFFFFF)


def fmix64(values: U64, *, in_place: bool = False) -> U64:
    """MurmurHash3's 64-bit finaliser: a bijection with full avalanche. Returns a new array unless `in_place`
    (then `values` itself, overwritten). Two arrays in all, whatever the length: a million-row hash is a few
    passes over 8 MB, and fresh memory costs more than the arithmetic."""
    h = values if in_place else values.copy()
    shifted = np.empty_like(h)
    with np.errstate(over="ignore"):
        for multiplier in (_M1, _M2):
            np.right_shift(h, np.uint64(33), out=shifted)
            h ^= shifted
            h *= multiplier
        np.right_shift(h, np.uint64(33), out=shifted)
        h ^= shifted
    return h


def key64(*parts: object) -> int:
    """A 64-bit key from any printable parts (seed, strategy name); blake2b so it never changes."""
    text = "\x1f".join(str(p) for p in parts).encode()
    return int.from_bytes(hashlib.blake2b(text, digest_size=8).digest(), "little")


def rekey(hashes: U64, key: int) -> U64:
    """An independent-looking hash stream for `key` from precomputed hashes (cheaper than rehashing strings)."""
    return fmix64(hashes ^ np.uint64(key), in_place=True)


def stable_hash64(values: pl.Series, *, key: int = 0) -> U64:
    """A 64-bit hash of each string's UTF-8 bytes, identical on every platform and library version.

    Nulls hash like the empty string with a different length tag, so they never collide with it. The cost is
    one pass per 8 bytes of the longest string, over the strings still that long.
    """
    if values.is_empty():
        return np.zeros(0, dtype=np.uint64)
    seed = fmix64(np.array([key], dtype=np.uint64) ^ PRIME64_2)[0]
    stored = _stored_fixed_width(values)
    if stored is not None:  # e.g. a million hex ids as polars holds them: no string copied
        return np.concatenate([_hash_fixed_width(words, seed) for words in stored])
    offsets, raw = _arrow_buffers(values)
    lengths = np.diff(offsets)
    words = _fixed_width_words(offsets, raw, lengths) if not values.has_nulls() else None
    if words is not None:  # every word in place, nothing to gather or mask
        return _hash_fixed_width(words, seed)
    offsets, data = _padded(offsets, raw)
    starts = offsets[:-1]
    nulls = values.is_null().to_numpy()
    state = np.full(len(lengths), seed, dtype=np.uint64)
    longest = int(lengths.max()) if len(lengths) else 0
    for at in range(0, longest, 8):
        remaining = lengths - at
        active = None if int(remaining.min()) >= 8 else np.flatnonzero(remaining > 0)
        chunk = _read_words(data, starts + at if active is None else starts[active] + at)
        if active is not None:
            chunk &= _low_bytes_mask(remaining[active])
        mixed = _absorb(state if active is None else state[active], chunk)
        if active is None:
            state = mixed
        else:
            state[active] = mixed
    state ^= lengths.astype(np.uint64) ^ (nulls.astype(np.uint64) << np.uint64(63))
    return fmix64(state, in_place=True)


def _hash_fixed_width(words: U64, seed: np.uint64) -> U64:
    """`stable_hash64` of strings given as an (n, width / 8) matrix of their little-endian words."""
    state = np.full(len(words), seed, dtype=np.uint64)
    for column in range(words.shape[1]):
        state = _absorb(state, words[:, column])
    state ^= np.uint64(words.shape[1] * 8)
    return fmix64(state, in_place=True)


_VIEW_INLINE: Final = 12
"""Arrow string views hold strings of up to 12 bytes inside the view; longer ones point into a data buffer."""


def _stored_fixed_width(values: pl.Series) -> list[U64] | None:
    """The strings as word matrices read in place from polars' string views (Arrow `string_view`), when they
    have no nulls, are all `width` bytes long (a multiple of 8, over 12) and lie evenly spaced in each data
    buffer: the usual layout of ids as read from Parquet. Else None, and the general path copies them."""
    if values.dtype != pl.String or values.has_nulls():
        return None
    matrices: list[U64] = []
    for part in values.get_chunks():  # one by one: `to_arrow` of several chunks would copy their views
        chunk = part.to_arrow(compat_level=pl.CompatLevel.newest())
        if not pa.types.is_string_view(chunk.type) or chunk.null_count:
            return None
        buffers = chunk.buffers()
        views = np.frombuffer(buffers[1], dtype="<u4").reshape(-1, 4)[
            chunk.offset : chunk.offset + len(chunk)
        ]
        if not len(views):
            continue
        width = int(views[0, 0])
        if width <= _VIEW_INLINE or width % 8 or (views[:, 0] != width).any():
            return None
        buffer_index, offsets = views[:, 2].astype(np.int64), views[:, 3].astype(np.int64)
        runs = np.flatnonzero(np.diff(buffer_index)) + 1
        for start, end in zip(np.r_[0, runs], np.r_[runs, len(views)], strict=True):
            first, steps = int(offsets[start]), np.diff(offsets[start:end])
            stride = int(steps[0]) if len(steps) else width  # Parquet pages put a 4-byte length before each
            if stride < width or (steps != stride).any():
                return None
            data = buffers[2 + int(buffer_index[start])]
            if first + (end - start - 1) * stride + width > data.size:
                return None
            matrices.append(
                np.ndarray(
                    (end - start, width // 8), dtype="<u8", buffer=data, offset=first, strides=(stride, 8)
                )
            )
    return matrices


def _fixed_width_words(
    offsets: NDArray[np.int64], raw: NDArray[np.uint8], lengths: NDArray[np.int64]
) -> U64 | None:
    """The strings as an (n, width / 8) matrix of little-endian words, a view of the buffer, when every string is
    `width` bytes long and `width` is a multiple of 8; else None. The general path gathers each word."""
    width = int(lengths[0])
    if width == 0 or width % 8 or int(lengths.min()) != width or int(lengths.max()) != width:
        return None
    return np.ndarray(
        (len(lengths), width // 8), dtype="<u8", buffer=raw, offset=int(offsets[0]), strides=(width, 8)
    )


def unit_interval(hashes: U64) -> NDArray[np.float64]:
    """Map hashes to floats strictly inside (0, 1) using their top 53 bits."""
    return ((hashes >> np.uint64(11)).astype(np.float64) + 0.5) * 2.0**-53


def _arrow_buffers(values: pl.Series) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """The Arrow offsets (one more than the strings) and the raw UTF-8 bytes of a String column."""
    if values.dtype != pl.String:
        raise DataContractError(
            f"expected a String column to hash, got {values.name!r} of type {values.dtype}"
        )
    array = values.rechunk().to_arrow(compat_level=pl.CompatLevel.oldest())
    _, offset_buffer, data_buffer = array.buffers()
    assert offset_buffer is not None
    offsets = np.frombuffer(offset_buffer, dtype=np.int64)[array.offset : array.offset + len(array) + 1]
    raw = np.frombuffer(data_buffer, dtype=np.uint8) if data_buffer is not None else np.zeros(0, np.uint8)
    return offsets, raw


def _padded(
    offsets: NDArray[np.int64], raw: NDArray[np.uint8]
) -> tuple[NDArray[np.int64], NDArray[np.uint8]]:
    """The strings' bytes with 8 zero bytes of padding, so that every 8-byte read can start at any string start,
    and offsets into them."""
    data = np.zeros(int(offsets[-1] - offsets[0]) + 8, dtype=np.uint8)
    data[: len(data) - 8] = raw[offsets[0] : offsets[-1]]
    return offsets - offsets[0], data


def _read_words(data: NDArray[np.uint8], positions: NDArray[np.int64]) -> U64:
    """Little-endian uint64 starting at each byte position (an unaligned strided view, then a gather)."""
    words = np.ndarray((len(data) - 7,), dtype="<u8", buffer=data, strides=(1,))
    return words[positions].astype(np.uint64, copy=False)


def _low_bytes_mask(remaining: NDArray[np.int64]) -> U64:
    keep = np.minimum(remaining, 8).astype(np.uint64)
    with np.errstate(over="ignore"):
        shifted = (np.uint64(1) << (keep * np.uint64(8)) % np.uint64(64)) - np.uint64(1)
    return np.where(keep >= 8, _ALL_ONES, shifted)


def _absorb(state: U64, chunk: U64) -> U64:
    """The next state after one word per row (a new array; two allocations, as in `fmix64`)."""
    with np.errstate(over="ignore"):
        mixed = chunk * GOLDEN64
        carry = mixed >> np.uint64(33)
        mixed <<= np.uint64(31)
        mixed |= carry
        mixed *= PRIME64_2
        mixed ^= state
        np.right_shift(mixed, np.uint64(37), out=carry)
        mixed <<= np.uint64(27)
        mixed |= carry
        mixed *= np.uint64(5)
        mixed += np.uint64(0x52DCE729)
        return mixed
