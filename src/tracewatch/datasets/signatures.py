"""The MinHash signatures of a dataset version, stored next to its items, so a night reads them instead of signing
every item of the latest version again (about 1.5 s per 100,000 items, every night).

`version=N/minhash.parquet` holds, per item, what the LSH lookup needs: the low 8 bits of each slot
(`lsh.band_slots`, column `minhash`: eight slots packed little-endian per `UInt64`, so
`Array(UInt64, num_perm / 8)`, 128 bytes per item), rows in the order of
`items.parquet`, of the item column and with the scheme that the manifest's `signatures` entry names. The few
items a night finds as candidate pairs get their full signatures computed from their stored text, to check the
similarity exactly. A version is signed when it is written: the parent's slots are reused for the items it
keeps, and only the added and replaced items are signed. Versions written before hold 16-bit slots
(`slot_bits` 16) or full 64-bit signatures (`slot_bits` 64 or missing): they are cut to 8 bits when read. A
version without the entry is signed by its reader, as before.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.dedup import SIGNATURE_COLUMN
from tracewatch.datasets.lsh import SLOT_BITS, Slots, band_slots
from tracewatch.datasets.minhash import MINHASH, MinHashScheme, signatures
from tracewatch.errors import DataContractError
from tracewatch.store import Store

log = logging.getLogger(__name__)

SIGNATURES_NAME = "minhash.parquet"
_SLOTS_16 = 16
"""The slot width versions were stored with before 8 bits (November 2026)."""
SIGNED_TEXT = "input_text"
"""The item column versions are signed on: what near de-duplication and novelty compare by default."""


@dataclass(frozen=True)
class StoredSignatures:
    """The manifest's `signatures` entry: where the signatures are, of which item column, with which scheme."""

    key: str
    text: str
    scheme: str
    rows: int
    slot_bits: int = 64

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredSignatures:
        return cls(
            key=str(data["key"]),
            text=str(data["text"]),
            scheme=str(data["scheme"]),
            rows=int(data["rows"]),
            slot_bits=int(data.get("slot_bits", 64)),
        )

    def matches(self, text: str, scheme: MinHashScheme) -> bool:
        return self.text == text and self.scheme == scheme.name


def next_signatures(items: pl.DataFrame, parent: Slots | None, resign: NDArray[np.bool_]) -> Slots:
    """Stored slots of `items` (a version's full item set): the parent's rows for the items it kept in place (the
    first `len(parent)` rows), freshly signed for the rows `resign` marks and for every row after the parent's."""
    kept = 0 if parent is None else len(parent)
    fresh = resign.copy()
    fresh[kept:] = True
    matrix = np.empty((items.height, MINHASH.num_perm), dtype=np.uint8)
    if kept:
        assert parent is not None
        matrix[:kept] = parent
    rows = np.flatnonzero(fresh)
    if len(rows):
        matrix[rows] = band_slots(signatures(items.get_column(SIGNED_TEXT).gather(rows), MINHASH))
    return matrix


def signatures_bytes(slots: Slots) -> bytes:
    """The sidecar file: uncompressed, since minimum hashes are random bits that no codec shrinks."""
    buffer = io.BytesIO()
    packed = np.ascontiguousarray(slots, dtype=np.uint8).view("<u8")  # Parquet would widen 8-bit ints to 32
    column = pl.Series(SIGNATURE_COLUMN, packed, dtype=pl.Array(pl.UInt64, packed.shape[1]))
    column.to_frame().write_parquet(buffer, compression="uncompressed")
    return buffer.getvalue()


def read_signatures(store: Store, entry: StoredSignatures) -> pl.Series:
    """The stored signature column, checked against the entry's row count."""
    column = pl.read_parquet(
        store.uri(entry.key), columns=[SIGNATURE_COLUMN], storage_options=store.storage_options() or None
    ).get_column(SIGNATURE_COLUMN)
    if column.len() != entry.rows:
        raise DataContractError(
            f"{entry.key} holds {column.len()} signatures for {entry.rows} items; delete the version folder's "
            "signatures (readers then sign the items themselves) or restore the file"
        )
    return column


def stored_slots(store: Store, entry: StoredSignatures) -> Slots:
    """The stored signatures as `band_slots` (the wider slots of older versions are cut)."""
    packed = np.ascontiguousarray(read_signatures(store, entry).to_numpy(), dtype="<u8")
    if entry.slot_bits == SLOT_BITS:
        return packed.view(np.uint8)
    if entry.slot_bits == _SLOTS_16:
        return band_slots(packed.view("<u2").astype(np.uint64))
    return band_slots(packed.astype(np.uint64, copy=False))


def parent_matrix(store: Store, entry: StoredSignatures | None) -> Slots | None:
    """The parent's stored slots, or None when it has none of the default scheme and text."""
    if entry is None or not entry.matches(SIGNED_TEXT, MINHASH):
        return None
    return stored_slots(store, entry)
