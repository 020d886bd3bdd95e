"""The MinHash signatures of a dataset version, stored next to its items, so a night reads them instead of signing
every item of the latest version again (about 1.5 s per 100,000 items, every night).

`version=N/minhash.parquet` holds one signature per item (column `minhash`, `MinHashScheme.dtype`), rows in the
order of `items.parquet`, of the item column and with the scheme that the manifest's `signatures` entry names.
A version is signed when it is written: the parent's signatures are reused for the items it keeps, and only the
added and replaced items are signed. A version without the entry (written before signatures were stored, or
signed with another scheme or text) is signed by its reader, as before.
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
from tracewatch.datasets.minhash import MINHASH, U64, MinHashScheme, signature_series, signatures
from tracewatch.errors import DataContractError
from tracewatch.store import Store

log = logging.getLogger(__name__)

SIGNATURES_NAME = "minhash.parquet"
SIGNED_TEXT = "input_text"
"""The item column versions are signed on: what near de-duplication and novelty compare by default."""


@dataclass(frozen=True)
class StoredSignatures:
    """The manifest's `signatures` entry: where the signatures are, of which item column, with which scheme."""

    key: str
    text: str
    scheme: str
    rows: int

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StoredSignatures:
        return cls(
            key=str(data["key"]), text=str(data["text"]), scheme=str(data["scheme"]), rows=int(data["rows"])
        )

    def matches(self, text: str, scheme: MinHashScheme) -> bool:
        return self.text == text and self.scheme == scheme.name


def next_signatures(items: pl.DataFrame, parent: U64 | None, resign: NDArray[np.bool_]) -> U64:
    """Signatures of `items` (a version's full item set): the parent's rows for the items it kept in place (the
    first `len(parent)` rows), freshly signed for the rows `resign` marks and for every row after the parent's."""
    kept = 0 if parent is None else len(parent)
    fresh = resign.copy()
    fresh[kept:] = True
    matrix = np.empty((items.height, MINHASH.num_perm), dtype=np.uint64)
    if kept:
        assert parent is not None
        matrix[:kept] = parent
    rows = np.flatnonzero(fresh)
    if len(rows):
        matrix[rows] = signatures(items.get_column(SIGNED_TEXT).gather(rows), MINHASH)
    return matrix


def signatures_bytes(matrix: U64) -> bytes:
    """The sidecar file: uncompressed, since minimum hashes are random bits that no codec shrinks."""
    buffer = io.BytesIO()
    signature_series(matrix, MINHASH, name=SIGNATURE_COLUMN).to_frame().write_parquet(
        buffer, compression="uncompressed"
    )
    return buffer.getvalue()


def read_signatures(store: Store, entry: StoredSignatures) -> pl.Series:
    """The stored signature column (`MinHashScheme.dtype`), checked against the entry's row count."""
    column = pl.read_parquet(
        store.uri(entry.key), columns=[SIGNATURE_COLUMN], storage_options=store.storage_options() or None
    ).get_column(SIGNATURE_COLUMN)
    if column.len() != entry.rows:
        raise DataContractError(
            f"{entry.key} holds {column.len()} signatures for {entry.rows} items; delete the version folder's "
            "signatures (readers then sign the items themselves) or restore the file"
        )
    return column


def parent_matrix(store: Store, entry: StoredSignatures | None) -> U64 | None:
    """The parent's stored signatures as a matrix, or None when it has none of the default scheme and text."""
    if entry is None or not entry.matches(SIGNED_TEXT, MINHASH):
        return None
    return np.ascontiguousarray(read_signatures(store, entry).to_numpy(), dtype=np.uint64)
