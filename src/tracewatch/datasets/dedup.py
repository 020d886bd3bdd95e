"""De-duplication of new candidates against the existing dataset and within the batch: exact, then near.

Exact duplicates share a normalised content key (the caller's column, e.g. the 64-bit `dedup_key`); the dataset
check is a polars anti-join, so it stays cheap for a million candidates. A key shorter than a cryptographic hash
can collide, so an `ExactCheck` confirms the matches with the items' exact identity (`content_hash`), computed for
one candidate per matched key only. Near duplicates have a MinHash Jaccard estimate >= a threshold; that check
runs only on the few candidates left, against the dataset's stored signatures. Every dropped candidate comes
back with its reason and what it duplicates, so a run can account for each one. Within a batch the candidate
with the smallest id is kept, which makes the result independent of row order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.datasets.lsh import SignatureIndex, similar_pairs
from tracewatch.datasets.minhash import MINHASH, MinHashScheme, signature_matrix, signature_series, signatures
from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

EXACT = "duplicate: exact"
IN_DATASET = "dataset"
IN_BATCH = "batch"
SIGNATURE_COLUMN = "minhash"


def near_reason(threshold: float) -> str:
    """The reason label of a near duplicate, e.g. `duplicate: near (jaccard>=0.8)`."""
    return f"duplicate: near (jaccard>={threshold:g})"


def dropped_schema(id_column: str) -> dict[str, pl.DataType]:
    """Columns of `DedupResult.dropped`: the candidate id, why it went and what it duplicates."""
    return {
        id_column: pl.String(),
        "reason": pl.String(),
        "duplicate_in": pl.String(),
        "duplicate_of": pl.String(),
        "jaccard": pl.Float64(),
    }


@dataclass(frozen=True)
class ExactCheck:
    """Confirms matches on a lossy key against the dataset: `column` of the existing items holds the exact
    identity (e.g. the sha256 `content_hash`) and `of` gives the same value for candidates, by id.

    Only one candidate per matched key is checked, so the key must not collide *within* the candidates
    (`datasets.candidates` ensures that); a key that matches an item with a different identity is no match.
    """

    column: str
    of: Callable[[pl.Series], pl.Series]


@dataclass(frozen=True)
class DedupResult:
    """`kept` candidates (input columns, plus the signature column after a near check), `dropped` ones with
    reasons (`dropped_schema`), and `counts` per reason (every reason checked is present, zero included)."""

    kept: pl.DataFrame
    dropped: pl.DataFrame
    counts: dict[str, int]

    def then(self, later: DedupResult) -> DedupResult:
        """This step followed by `later`, which ran on `self.kept`."""
        counts = dict(self.counts)
        for reason, n in later.counts.items():
            counts[reason] = counts.get(reason, 0) + n
        return DedupResult(later.kept, pl.concat([self.dropped, later.dropped]), counts)


def deduplicate(
    candidates: pl.DataFrame,
    existing: pl.DataFrame,
    *,
    hash_column: str = "content_hash",
    text: str | pl.Expr = "input_text",
    near_threshold: float | None = 0.8,
    id_column: str = "trace_id",
    existing_id_column: str = "item_id",
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
    check: ExactCheck | None = None,
) -> DedupResult:
    """Exact then (unless `near_threshold` is None) near de-duplication, against `existing` and within the batch."""
    result = exact_duplicates(
        candidates,
        existing,
        hash_column=hash_column,
        id_column=id_column,
        existing_id_column=existing_id_column,
        check=check,
    )
    if near_threshold is None:
        return result
    return result.then(
        near_duplicates(
            result.kept,
            existing,
            text=text,
            threshold=near_threshold,
            id_column=id_column,
            existing_id_column=existing_id_column,
            signature_column=signature_column,
            scheme=scheme,
        )
    )


def exact_duplicates(
    candidates: pl.DataFrame,
    existing: pl.DataFrame,
    *,
    hash_column: str = "content_hash",
    id_column: str = "trace_id",
    existing_id_column: str = "item_id",
    within: bool = True,
    check: ExactCheck | None = None,
) -> DedupResult:
    """Drop candidates whose `hash_column` is in `existing` (anti-join) and, with `within`, repeats in the batch.

    Null hashes never match anything. With `check`, a match counts only where the identities agree too.
    """
    require_columns((hash_column, id_column), candidates.columns, "candidates")
    require_columns(
        (hash_column, existing_id_column, *((check.column,) if check else ())),
        existing.columns,
        "existing items",
    )
    known = _known_keys(candidates, existing, hash_column, existing_id_column, id_column, check)
    kept = candidates.join(known, on=hash_column, how="anti")
    in_dataset = candidates.select(id_column, hash_column).join(known, on=hash_column, how="inner")
    dropped = [dropped_rows(in_dataset, id_column, EXACT, IN_DATASET)]
    if within:
        first = pl.col(id_column).min().over(hash_column)
        repeats = pl.col(hash_column).is_not_null() & (pl.col(id_column) != first)
        in_batch = kept.select(id_column, first.alias("duplicate_of"), repeats.alias("_repeat"))
        kept = kept.filter(~in_batch["_repeat"])
        dropped.append(dropped_rows(in_batch.filter("_repeat"), id_column, EXACT, IN_BATCH))
    out = pl.concat(dropped)
    return DedupResult(kept, out, {EXACT: out.height})


def _known_keys(
    candidates: pl.DataFrame,
    existing: pl.DataFrame,
    hash_column: str,
    existing_id_column: str,
    id_column: str,
    check: ExactCheck | None,
) -> pl.DataFrame:
    """`hash_column` -> `duplicate_of` (the smallest matching item id) for the keys candidates match."""
    items = existing.lazy().drop_nulls(hash_column)
    if check is None:
        return (
            items.group_by(hash_column).agg(pl.col(existing_id_column).min().alias("duplicate_of")).collect()
        )
    matched = (
        candidates.lazy()
        .select(id_column, hash_column)
        .join(items.select(hash_column), on=hash_column, how="semi")
        .group_by(hash_column)
        .agg(pl.col(id_column).min())
        .collect()
    )
    exact = matched.with_columns(check.of(matched.get_column(id_column)).alias("_exact"))
    known = (
        items.select(hash_column, check.column, existing_id_column)
        .join(exact.lazy(), left_on=[hash_column, check.column], right_on=[hash_column, "_exact"])
        .group_by(hash_column)
        .agg(pl.col(existing_id_column).min().alias("duplicate_of"))
        .collect()
    )
    if known.height < exact.height:
        log.warning(
            "%d candidate content(s) share a %s with a dataset item but not its %s (a key collision): kept",
            exact.height - known.height,
            hash_column,
            check.column,
        )
    return known


def near_duplicates(
    candidates: pl.DataFrame,
    existing: pl.DataFrame | None,
    *,
    text: str | pl.Expr = "input_text",
    threshold: float = 0.8,
    id_column: str = "trace_id",
    existing_id_column: str = "item_id",
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
    index: SignatureIndex | None = None,
    within: bool = True,
) -> DedupResult:
    """Drop candidates with an estimated Jaccard >= `threshold` to an existing item or to a kept candidate.

    The dataset's signatures come from its `signature_column` (compute and store them with
    `minhash.with_signatures`); without that column they are computed from `text`, which costs a full MinHash
    pass over the dataset. `index` (built from those signatures, rows aligned with `existing`) saves rebuilding
    the LSH tables, and the pairs of texts already asked about, when the same dataset is checked repeatedly.
    `kept` carries the candidates' own signatures in `signature_column` (taken as given when `candidates` has
    that column already), to be stored. `existing=None` checks
    within the batch only; `within=False` against the dataset only (e.g. each candidate on its own, before
    knowing which of them are picked together).
    """
    require_columns((id_column,), candidates.columns, "candidates")
    reason = near_reason(threshold)
    ids = candidates[id_column]
    matrix = (
        signature_matrix(candidates[signature_column], scheme)
        if signature_column in candidates.columns
        else signatures(candidates.select(_expr(text)).to_series(), scheme)
    )
    drop = np.zeros(candidates.height, dtype=bool)
    of = np.full(candidates.height, None, dtype=object)
    jaccard = np.full(candidates.height, np.nan)
    where = np.full(candidates.height, IN_DATASET, dtype=object)
    if existing is not None:
        require_columns((existing_id_column,), existing.columns, "existing items")
        if index is None:
            index = reference_index(existing, text=text, signature_column=signature_column, scheme=scheme)
        if len(index) and candidates.height:
            best = _best_matches(similar_pairs(matrix, index, threshold), existing[existing_id_column])
            rows = best["query"].to_numpy()
            drop[rows], of[rows], jaccard[rows] = (
                True,
                best["duplicate_of"].to_numpy(),
                best["jaccard"].to_numpy(),
            )
    if within:
        id_rank = ids.rank("ordinal").to_numpy()
        for row, partner, value in _greedy_within(similar_pairs(matrix, None, threshold), id_rank, drop):
            drop[row], of[row], jaccard[row], where[row] = True, ids[partner], value, IN_BATCH
    dropped = pl.DataFrame(
        {
            id_column: ids.filter(drop),
            "reason": [reason] * int(drop.sum()),
            "duplicate_in": where[drop].tolist(),
            "duplicate_of": of[drop].tolist(),
            "jaccard": jaccard[drop],
        },
        schema=dropped_schema(id_column),
    )
    kept = candidates.with_columns(signature_series(matrix, scheme, name=signature_column)).filter(
        pl.Series(~drop)
    )
    return DedupResult(kept, dropped, {reason: dropped.height})


def reference_index(
    existing: pl.DataFrame,
    *,
    text: str | pl.Expr = "input_text",
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
) -> SignatureIndex:
    """The dataset's signatures as an LSH index: its stored `signature_column`, or (slow, with a warning)
    computed from `text` when the column is missing."""
    if signature_column in existing.columns:
        return SignatureIndex(signature_matrix(existing[signature_column], scheme))
    if existing.height:
        log.warning(
            "existing items have no %r column: computing %d MinHash signatures now; store them to skip this",
            signature_column,
            existing.height,
        )
    return SignatureIndex(signatures(existing.select(_expr(text)).to_series(), scheme))


def _best_matches(pairs: pl.DataFrame, reference_ids: pl.Series) -> pl.DataFrame:
    """Per candidate, the most similar existing item (ties: the smallest id)."""
    named = pairs.with_columns(duplicate_of=reference_ids.gather(pairs["reference"]))
    return named.sort("query", "jaccard", "duplicate_of", descending=[False, True, False]).unique(
        "query", keep="first", maintain_order=True
    )


def _greedy_within(
    pairs: pl.DataFrame, id_rank: np.ndarray, dropped: np.ndarray
) -> list[tuple[int, int, float]]:
    """(row, kept partner, jaccard) per batch duplicate: walking candidates in id order, one is a duplicate when
    it pairs with an earlier candidate that is kept."""
    a, b = pairs["query"].to_numpy(), pairs["reference"].to_numpy()
    a_first = id_rank[a] < id_rank[b]
    earlier, later = np.where(a_first, a, b), np.where(a_first, b, a)
    order = np.lexsort((id_rank[earlier], id_rank[later]))
    gone = dropped.copy()
    out: list[tuple[int, int, float]] = []
    for first, second, value in zip(
        earlier[order], later[order], pairs["jaccard"].to_numpy()[order], strict=True
    ):
        if not gone[first] and not gone[second]:
            gone[second] = True
            out.append((int(second), int(first), float(value)))
    return out


def dropped_rows(frame: pl.DataFrame, id_column: str, reason: str, where: str) -> pl.DataFrame:
    """`frame` (the id and `duplicate_of`) in `dropped_schema` with a reason and where the original is."""
    return frame.select(
        pl.col(id_column),
        pl.lit(reason).alias("reason"),
        pl.lit(where).alias("duplicate_in"),
        pl.col("duplicate_of"),
        pl.lit(None, dtype=pl.Float64).alias("jaccard"),
    ).cast(dropped_schema(id_column))  # type: ignore[arg-type]


def _expr(text: str | pl.Expr) -> pl.Expr:
    return pl.col(text) if isinstance(text, str) else text


def require_columns(needed: Iterable[str], available: Collection[str], who: str) -> None:
    """ConfigError naming `who`, the unknown columns and the available ones."""
    unknown = [c for c in needed if c not in available]
    if unknown:
        raise ConfigError(
            f"{who}: unknown column(s) {', '.join(map(repr, unknown))}; available: {', '.join(sorted(available))}"
        )
