"""Near-duplicate pairs among MinHash signatures by banded LSH, and the index a dataset's signatures are looked
up in.

Banding proposes the candidate pairs (signatures that agree on every slot of at least one band), the full
signatures confirm them, so the cost grows with the candidate pairs, not with the product of the two sizes. A
dataset version stores only the low byte of each slot (`band_slots`), which is all banding needs; the few
candidates get their full signatures from their texts.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.minhash import EMPTY, MINHASH, MinHashScheme, signatures
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.hashing import GOLDEN64, U64, fmix64

_PAIR_CHUNK: Final = 1 << 16
_PAIRS_SCHEMA: Final = {"query": pl.Int64(), "reference": pl.Int64(), "jaccard": pl.Float64()}


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
    keys[:] = np.arange(bands, dtype=np.uint64) * GOLDEN64
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
