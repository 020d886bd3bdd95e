"""Stable 64-bit string hashing, MinHash signatures over word shingles, and LSH candidate pairs.

Everything here must give the same numbers on every machine, Python and polars version, because sampling picks
and stored signatures are compared across nights. So nothing uses `hash()` or polars `.hash()`: strings are
hashed by a fixed algorithm over their UTF-8 bytes in numpy, 8 bytes at a time (a splitmix/murmur-style mix),
fast enough for a million ids per second on one core.
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass
from typing import Final

import numpy as np
import polars as pl
import pyarrow as pa
from numpy.typing import NDArray

from tracewatch.datasets.distinct import Distinct
from tracewatch.errors import ConfigError, DataContractError

log = logging.getLogger(__name__)

U64 = NDArray[np.uint64]

_M1: Final = np.uint64(0xFF51AFD7ED558CCD)
_M2: Final = np.uint64(0xC4CEB9FE1A85EC53)
_P1: Final = np.uint64(0x9E3779B97F4A7C15)
_P2: Final = np.uint64(0xC2B2AE3D27D4EB4F)
_ALL_ONES: Final = np.uint64(0xFFFFFFFFFFFFFFFF)
EMPTY: Final = _ALL_ONES
"""Every slot of the signature of a text without words; such texts are never anybody's near-duplicate."""

_CHUNK_ELEMENTS: Final = 1 << 15
"""Shingles per block of `_min_over_texts` (256 KiB of uint64 per working array: in the CPU cache)."""
_PAIR_CHUNK: Final = 1 << 16
_PAIRS_SCHEMA: Final = {"query": pl.Int64(), "reference": pl.Int64(), "jaccard": pl.Float64()}


# ---- stable hashing -------------------------------------------------------------------------------------------


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
    seed = fmix64(np.array([key], dtype=np.uint64) ^ _P2)[0]
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
        mixed = chunk * _P1
        carry = mixed >> np.uint64(33)
        mixed <<= np.uint64(31)
        mixed |= carry
        mixed *= _P2
        mixed ^= state
        np.right_shift(mixed, np.uint64(37), out=carry)
        mixed <<= np.uint64(27)
        mixed |= carry
        mixed *= np.uint64(5)
        mixed += np.uint64(0x52DCE729)
        return mixed


# ---- MinHash signatures ---------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class MinHashScheme:
    """How signatures are built. Signatures from different schemes cannot be compared, so store `name` with them.

    Texts are lower-cased and split into word tokens (`\\w+`); shingles are runs of `shingle_size` consecutive
    words (a text shorter than that is one shingle). Two word shingles keep a one-word edit of a 25-word text
    above Jaccard 0.8, while unrelated texts that share a few words stay far below.
    """

    num_perm: int = 128
    shingle_size: int = 2
    seed: int = 1

    def __post_init__(self) -> None:
        if not 8 <= self.num_perm <= 1024:
            raise ConfigError(f"minhash num_perm={self.num_perm} must be between 8 and 1024")
        if not 1 <= self.shingle_size <= 8:
            raise ConfigError(f"minhash shingle_size={self.shingle_size} must be between 1 and 8")

    @property
    def name(self) -> str:
        """A label for stored signatures, e.g. `minhash-v1-p128-k2-s1`."""
        return f"minhash-v1-p{self.num_perm}-k{self.shingle_size}-s{self.seed}"

    @property
    def dtype(self) -> pl.DataType:
        """The polars type of a stored signature column."""
        return pl.Array(pl.UInt64, self.num_perm)

    def _permutations(self) -> tuple[U64, U64]:
        rng = np.random.default_rng(np.random.SeedSequence(key64("minhash", self.seed)))
        xor = rng.integers(0, 2**64, size=self.num_perm, dtype=np.uint64, endpoint=False)
        odd = rng.integers(0, 2**64, size=self.num_perm, dtype=np.uint64, endpoint=False) | np.uint64(1)
        return xor, odd


MINHASH = MinHashScheme()
"""The default scheme: 128 permutations over word bigrams."""


def signatures(texts: pl.Series, scheme: MinHashScheme = MINHASH) -> U64:
    """MinHash signatures, one row of `scheme.num_perm` uint64 per text; texts without words get all `EMPTY`."""
    shingles, per_text = _text_shingles(texts, scheme)
    has_words = np.flatnonzero(per_text > 0)
    if len(has_words) == len(per_text):
        return _min_over_texts(shingles, per_text, scheme)
    out = np.full((len(texts), scheme.num_perm), EMPTY, dtype=np.uint64)
    if len(has_words):
        out[has_words] = _min_over_texts(shingles, per_text[has_words], scheme)
    return out


def _text_shingles(texts: pl.Series, scheme: MinHashScheme) -> tuple[U64, NDArray[np.int64]]:
    """The shingle hashes of every text (flat) and how many each text has (0 for a text without words)."""
    words = texts.cast(pl.String).str.to_lowercase().str.extract_all(r"\w+")
    counts = words.list.len().fill_null(0).to_numpy().astype(np.int64)
    distinct = Distinct.of(words.explode().drop_nulls())  # a language has far fewer words than a corpus
    word_hashes = distinct.rows(stable_hash64(distinct.values))
    return _shingles(word_hashes, counts, scheme.shingle_size)


def with_signatures(
    frame: pl.DataFrame, text: str | pl.Expr, *, scheme: MinHashScheme = MINHASH, name: str = "minhash"
) -> pl.DataFrame:
    """`frame` plus a signature column (`Array(UInt64, num_perm)`), to be stored next to the items it describes."""
    texts = frame.select(pl.col(text) if isinstance(text, str) else text).to_series()
    return frame.with_columns(signature_series(signatures(texts, scheme), scheme, name=name))


def signature_series(matrix: U64, scheme: MinHashScheme = MINHASH, *, name: str = "minhash") -> pl.Series:
    """A signature matrix as a polars column of the stored type."""
    return pl.Series(name, matrix, dtype=scheme.dtype)


def signature_matrix(column: pl.Series, scheme: MinHashScheme = MINHASH) -> U64:
    """A stored signature column (Array or List of UInt64) as an (n, num_perm) matrix, checked against `scheme`."""
    if column.null_count():
        raise DataContractError(f"signature column {column.name!r} has {column.null_count()} null rows")
    if isinstance(column.dtype, pl.List):
        widths = column.list.len().unique().to_list()
        if widths and widths != [scheme.num_perm]:
            raise DataContractError(
                f"signature column {column.name!r} has widths {sorted(widths)}; {scheme.name} needs "
                f"{scheme.num_perm}"
            )
        column = column.cast(scheme.dtype)
    if column.dtype != scheme.dtype:
        raise DataContractError(
            f"signature column {column.name!r} has type {column.dtype}; {scheme.name} needs {scheme.dtype}"
        )
    if column.is_empty():
        return np.zeros((0, scheme.num_perm), dtype=np.uint64)
    return np.ascontiguousarray(column.to_numpy(), dtype=np.uint64)


def _shingles(word_hashes: U64, counts: NDArray[np.int64], size: int) -> tuple[U64, NDArray[np.int64]]:
    """Hash of every run of `size` consecutive words inside each text (the whole text when it is shorter)."""
    per_text = np.where(counts > 0, np.maximum(counts - size + 1, 1), 0)
    first_word = np.cumsum(counts) - counts
    owner = np.repeat(np.arange(len(counts)), per_text)
    position = np.arange(int(per_text.sum())) - np.repeat(np.cumsum(per_text) - per_text, per_text)
    start = first_word[owner] + position
    end = first_word[owner] + counts[owner]
    hashes = np.full(len(start), _P1, dtype=np.uint64)
    for offset in range(size):
        inside = start + offset < end
        word = word_hashes[np.minimum(start + offset, max(len(word_hashes) - 1, 0))]
        with np.errstate(over="ignore"):
            step = fmix64(hashes * _P2 + word, in_place=True)
        hashes = np.where(inside, step, hashes)
    return hashes, per_text


def _min_over_texts(shingles: U64, per_text: NDArray[np.int64], scheme: MinHashScheme) -> U64:
    """Per text (each with at least one shingle) and permutation, the minimum permuted shingle hash.

    One permutation at a time over a block of texts whose shingles fit in the CPU cache: twice as fast as
    blocks of a few million shingles, and 4x faster than one (shingles x permutations) matrix.
    """
    xor, odd = scheme._permutations()
    ends = np.cumsum(per_text)
    starts = ends - per_text
    out = np.empty((len(per_text), scheme.num_perm), dtype=np.uint64)
    slots = np.empty((scheme.num_perm, 0), dtype=np.uint64)
    first = 0
    while first < len(per_text):
        last = max(int(np.searchsorted(ends, starts[first] + _CHUNK_ELEMENTS, side="right")), first + 1)
        block = shingles[starts[first] : ends[last - 1]]
        block_starts = starts[first:last] - starts[first]
        permuted = np.empty_like(block)
        shifted = np.empty_like(block)
        if slots.shape[1] != last - first:
            slots = np.empty((scheme.num_perm, last - first), dtype=np.uint64)
        for slot in range(scheme.num_perm):
            _permute(block, xor[slot], odd[slot], permuted, shifted)
            slots[slot] = np.minimum.reduceat(permuted, block_starts)
        out[first:last] = slots.T
        first = last
    return out


def _permute(values: U64, xor: np.uint64, odd: np.uint64, out: U64, scratch: U64) -> None:
    """One permutation of 64-bit values (a bijection: xor, multiply by an odd number, xor-shift) into `out`."""
    np.bitwise_xor(values, xor, out=out)
    np.multiply(out, odd, out=out)
    np.right_shift(out, np.uint64(29), out=scratch)
    np.bitwise_xor(out, scratch, out=out)


# ---- similarity and LSH ---------------------------------------------------------------------------------------


def estimate_jaccard(left: U64, right: U64) -> NDArray[np.float64]:
    """Row-wise Jaccard estimate: the share of slots where two signatures agree (0 when either is empty)."""
    agree = (left == right).mean(axis=1)
    empty = (left == EMPTY).all(axis=1) | (right == EMPTY).all(axis=1)
    return np.where(empty, 0.0, agree)


def lsh_bands(threshold: float, num_perm: int, *, recall: float = 0.9) -> tuple[int, int]:
    """(bands, rows per band) for banded LSH at a Jaccard `threshold`.

    The most rows per band (the fewest false candidates to verify) such that a pair exactly at the threshold
    still becomes a candidate with probability >= `recall`; more similar pairs do so even more often.
    """
    if not 0.0 < threshold <= 1.0:
        raise ConfigError(f"similarity threshold={threshold} must be in (0, 1]")
    best = (num_perm, 1)
    for rows in range(1, num_perm + 1):
        bands = num_perm // rows
        if 1.0 - (1.0 - threshold**rows) ** bands >= recall:
            best = (bands, rows)
    return best


SLOT_BITS: Final = 8
"""Bits of each slot a dataset version stores for LSH (`band_slots`): 128 bytes per item instead of 1 KB."""
_SLOT_MASK: Final = np.uint64((1 << SLOT_BITS) - 1)
Slots = NDArray[np.uint8]
"""`band_slots` of signatures: one row per text, one byte per slot."""


def band_slots(matrix: U64) -> Slots:
    """The low `SLOT_BITS` of every slot: all LSH banding needs. Two slots that agree still agree; unequal ones
    agree by chance once in 256, which only adds candidate pairs that the full signatures then reject: a band
    of three slots (the loosest layout, for a 0.5 threshold) is 24 bits, about one chance pair per four queries
    in a 100,000-item dataset."""
    return (matrix & _SLOT_MASK).astype(np.uint8)


class SignatureIndex:
    """Signatures of a reference set (the dataset) with their LSH band tables, built once per band layout, and
    the pairs found for each query signature so far.

    Querying a 100k-item dataset several times a night (novelty, then near duplicates, over resampling rounds)
    would otherwise rebuild the same tables, and re-verify the same texts' candidates, every time. Built from
    full signatures (`matrix`), or from stored `band_slots` and the texts (`from_slots`): then the full
    signatures of the few items that are candidate pairs are computed from their texts, once each.
    """

    def __init__(self, matrix: U64) -> None:
        self.matrix: U64 | None = matrix
        self._banded: NDArray[np.generic] = matrix
        self._nonempty = matrix[:, 0] != EMPTY if len(matrix) else np.zeros(0, dtype=bool)
        self._texts: pl.Series | None = None
        self._scheme = MINHASH
        self._signed: U64 = np.zeros((0, matrix.shape[1]), dtype=np.uint64)
        self._where: NDArray[np.int64] | None = None
        self._tables: dict[tuple[int, int], pl.DataFrame] = {}
        self._pairs: dict[tuple[float, bytes], tuple[NDArray[np.int64], NDArray[np.float64]]] = {}

    @classmethod
    def from_slots(
        cls, slots: Slots, texts: pl.Series | None = None, scheme: MinHashScheme = MINHASH
    ) -> SignatureIndex:
        """An index of stored `band_slots` of `texts` (signed with `scheme`). The texts may follow
        (`attach_texts`): only candidate pairs need them, so the band tables can be built while they are read."""
        index = cls(np.zeros((0, scheme.num_perm), dtype=np.uint64))
        index.matrix = None
        index._banded = slots
        index._nonempty = ~(slots == np.uint8(0xFF)).all(axis=1)  # `EMPTY` in every slot: no words
        index._scheme = scheme
        index._signed = np.zeros((0, scheme.num_perm), dtype=np.uint64)
        if texts is not None:
            index.attach_texts(texts)
        return index

    def attach_texts(self, texts: pl.Series) -> None:
        """The texts the stored slots were signed from, row for row."""
        if len(self._banded) != texts.len():
            raise DataContractError(f"{len(self._banded)} stored signatures for {texts.len()} texts")
        self._texts = texts

    def __len__(self) -> int:
        return len(self._banded)

    @property
    def width(self) -> int:
        return int(self._banded.shape[1])

    def prepare(self, thresholds: list[float]) -> None:
        """Build the band tables for these similarity thresholds now (e.g. in a background thread)."""
        for threshold in thresholds:
            self.band_table(*lsh_bands(threshold, self.width))

    def band_table(self, bands: int, rows: int) -> pl.DataFrame:
        """Columns `reference` (row number) and `band_key`, one row per non-empty signature and band."""
        if (bands, rows) not in self._tables:
            self._tables[bands, rows] = _band_keys(self._banded, bands, rows, "reference", self._nonempty)
        return self._tables[bands, rows]

    def query_keys(self, query: U64, bands: int, rows: int) -> pl.DataFrame:
        """`band_table` of `query` (full signatures), banded as this index's signatures are."""
        banded = query if self.matrix is not None else band_slots(query).astype(np.uint64)
        return _band_keys(banded, bands, rows, "query", query[:, 0] != EMPTY)

    def similarity(
        self, query: U64, pairs: NDArray[np.int64], rows: NDArray[np.int64], threshold: float
    ) -> NDArray[np.float64]:
        """Estimated Jaccard of signature `query[pairs[i]]` with reference row `rows[i]`, exact (full signatures)
        for every pair that may reach `threshold`. With slots only, slot agreement bounds it from above, so only
        the pairs at or above the threshold by their slots are checked on full signatures. The query is cut to
        slots once, not once per pair: a loose threshold proposes a hundred pairs per query."""
        if self.matrix is not None:
            return _agreement(query[pairs], self.matrix[rows])
        estimate = _agreement(band_slots(query)[pairs], self._banded[rows])
        check = np.flatnonzero(estimate >= threshold)
        if len(check):
            estimate[check] = _agreement(query[pairs[check]], self.full(rows[check]))
        return estimate

    def full(self, rows: NDArray[np.int64]) -> U64:
        """The full signatures of reference `rows` (signed from their texts the first time, with slots only)."""
        if self.matrix is not None:
            return self.matrix[rows]
        if self._texts is None:
            raise DataContractError(
                "an index of stored slots needs their texts (attach_texts) to check pairs"
            )
        if self._where is None:
            self._where = np.full(len(self), -1, dtype=np.int64)
        missing = np.unique(rows[self._where[rows] < 0])
        if len(missing):
            self._where[missing] = len(self._signed) + np.arange(len(missing))
            self._signed = np.concatenate(
                [self._signed, signatures(self._texts.gather(missing), self._scheme)]
            )
        return self._signed[self._where[rows]]

    def pairs(self, query: U64, threshold: float) -> pl.DataFrame:
        """`similar_pairs(query, self, threshold)`; a signature's pairs are found once and remembered."""
        keys = [(threshold, row.tobytes()) for row in query]
        new = np.array([i for i, key in enumerate(keys) if key not in self._pairs], dtype=np.int64)
        if len(new):
            found = _banded_pairs(query[new], self, threshold, within=False)
            rows = found.get_column("query").to_numpy()
            references = found.get_column("reference").to_numpy()
            jaccard = found.get_column("jaccard").to_numpy()
            bounds = np.searchsorted(rows, np.arange(len(new) + 1))
            for at, i in enumerate(new):
                part = slice(bounds[at], bounds[at + 1])
                self._pairs.setdefault(keys[i], (references[part], jaccard[part]))
        known = [self._pairs[key] for key in keys]
        return pl.DataFrame(
            {
                "query": np.repeat(np.arange(len(keys), dtype=np.int64), [len(r) for r, _ in known]),
                "reference": np.concatenate([np.zeros(0, dtype=np.int64), *(r for r, _ in known)]),
                "jaccard": np.concatenate([np.zeros(0), *(j for _, j in known)]),
            },
            schema=_PAIRS_SCHEMA,
        )


def similar_pairs(query: U64, reference: U64 | SignatureIndex | None, threshold: float) -> pl.DataFrame:
    """Pairs whose estimated Jaccard is >= `threshold`: columns `query`, `reference` (row numbers), `jaccard`.

    With `reference=None` the pairs are within `query` (query < reference). LSH banding proposes the candidates
    and the full signatures confirm them, so the cost grows with the candidate pairs, not with the product of
    the two sizes. Empty signatures never pair. Sorted by query, then reference.
    """
    if reference is None:
        return _banded_pairs(query, SignatureIndex(query), threshold, within=True)
    return _as_index(reference).pairs(query, threshold)


def _banded_pairs(query: U64, index: SignatureIndex, threshold: float, *, within: bool) -> pl.DataFrame:
    bands, rows = lsh_bands(threshold, query.shape[1])
    query_keys = index.query_keys(query, bands, rows)
    candidates = query_keys.join(index.band_table(bands, rows), on="band_key", how="inner").select(
        "query", "reference"
    )
    if within:
        candidates = candidates.filter(pl.col("query") < pl.col("reference"))
    candidates = candidates.unique().sort("query", "reference")
    q = candidates["query"].to_numpy()
    r = candidates["reference"].to_numpy()
    jaccard = np.empty(len(q), dtype=np.float64)
    for at in range(0, len(q), _PAIR_CHUNK):
        part = slice(at, at + _PAIR_CHUNK)
        jaccard[part] = index.similarity(query, q[part], r[part], threshold)
    found = candidates.with_columns(jaccard=pl.Series(jaccard)).filter(pl.col("jaccard") >= threshold)
    return found.cast(_PAIRS_SCHEMA)  # type: ignore[arg-type]


def _agreement(left: NDArray[np.generic], right: NDArray[np.generic]) -> NDArray[np.float64]:
    """Row-wise share of equal slots."""
    return np.asarray(np.count_nonzero(left == right, axis=1) / left.shape[1], dtype=np.float64)


def _as_index(reference: U64 | SignatureIndex) -> SignatureIndex:
    return reference if isinstance(reference, SignatureIndex) else SignatureIndex(reference)


def _band_keys(
    matrix: NDArray[np.generic],
    bands: int,
    rows: int,
    name: str,
    nonempty: NDArray[np.bool_],
) -> pl.DataFrame:
    """One row per (non-empty signature, band): the row number (32 bits: a table of a 100k-item dataset has
    millions of rows) and a hash of that band's slots.

    A random linear combination is enough: a collision only adds a candidate that verification rejects. Slots
    are widened one column at a time into one reused buffer: widening a 100k-item matrix of 8-bit slots at
    once writes 100 MB, and fresh memory costs more to touch than the arithmetic on it.
    """
    keep = np.flatnonzero(nonempty)
    banded = (matrix if len(keep) == len(matrix) else matrix[keep])[:, : bands * rows].reshape(
        -1, bands, rows
    )
    weights = fmix64(np.arange(1, rows + 1, dtype=np.uint64)) | np.uint64(1)
    keys = np.empty((len(keep), bands), dtype=np.uint64)
    keys[:] = np.arange(bands, dtype=np.uint64) * _P1
    term = np.empty_like(keys)
    with np.errstate(over="ignore"):
        for slot in range(rows):
            np.multiply(banded[:, :, slot], weights[slot], out=term, dtype=np.uint64, casting="unsafe")
            keys += term
    return pl.DataFrame(
        {
            name: pl.Series(np.repeat(keep.astype(np.uint32), bands), dtype=pl.UInt32),
            "band_key": pl.Series(keys.reshape(-1), dtype=pl.UInt64),
        }
    )
