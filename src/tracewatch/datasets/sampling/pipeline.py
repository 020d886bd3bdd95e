"""The nightly selection: new traces -> de-duplicated picks, with every candidate accounted for.

Order matters for cost: the exact check against the dataset is one anti-join over all candidates (on a 64-bit
key, its matches confirmed once per key); sampling picks at most one trace per content key; MinHash then runs
only on the picks. A pick that turns out to be a near duplicate is removed from the candidates and the sampling
is rerun (at most `max_rounds` times), so the budget is still filled and the result is still a function of the
candidate set alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.datasets.dedup import (
    EXACT,
    IN_BATCH,
    SIGNATURE_COLUMN,
    ExactCheck,
    dropped_rows,
    exact_duplicates,
    near_duplicates,
    near_reason,
    reference_index,
    require_columns,
)
from tracewatch.datasets.minhash import MINHASH, MinHashScheme, SignatureIndex
from tracewatch.datasets.sampling.engine import Sampler, materialise, prepare
from tracewatch.datasets.sampling.novelty import Novelty
from tracewatch.datasets.sampling.spec import SamplingSpec
from tracewatch.errors import ConfigError

log = logging.getLogger(__name__)

CANDIDATES = "candidates"
PICKED = "picked"
NOT_PICKED = "not picked"


@dataclass(frozen=True)
class Selection:
    """`picked` traces (input columns + `strategy`, `stratum`, and `minhash` when near de-duplication ran),
    `dropped` duplicates (`dedup.dropped_schema`), and `counts`: candidates = picked + each duplicate reason +
    not picked."""

    picked: pl.DataFrame
    dropped: pl.DataFrame
    counts: dict[str, int]


def select_new_traces(
    traces: pl.DataFrame,
    existing: pl.DataFrame,
    spec: SamplingSpec,
    *,
    id_column: str = "trace_id",
    existing_id_column: str = "item_id",
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
    max_rounds: int = 3,
    check: ExactCheck | None = None,
    index: SignatureIndex | None = None,
) -> Selection:
    """Pick up to `spec.budget` traces that are new to `existing` (the dataset's items) and to each other.

    `traces` needs `spec.dedup.hash_column` (the normalised content key, as the items have it; equal values must
    mean equal content among `traces`) and, for near de-duplication or novelty, the text column; `existing`
    needs the hash column, `existing_id_column` and ideally stored signatures in `signature_column`. `check`
    confirms key matches against the dataset when the key is lossy (see `dedup.ExactCheck`). `index` is
    `reference_for(existing, spec)` when the caller built it already (e.g. while reading the candidates).
    """
    if max_rounds < 1:
        raise ConfigError(f"max_rounds={max_rounds} must be >= 1")
    dedup = spec.dedup
    require_columns((id_column, *dedup.columns()), traces.columns, "traces")
    candidates = prepare(traces, spec, distinct_on=dedup.hash_column, id_column=id_column)
    exact = exact_duplicates(
        candidates,
        existing,
        hash_column=dedup.hash_column,
        id_column=id_column,
        existing_id_column=existing_id_column,
        within=False,
        check=check,
    )
    if index is None:
        index = reference_for(existing, spec, signature_column=signature_column, scheme=scheme)
    sampler = Sampler(
        exact.kept,
        traces,
        spec,
        existing_signatures=index,
        distinct_on=dedup.hash_column,
        id_column=id_column,
        scheme=scheme,
    )
    excluded = np.zeros(exact.kept.height, dtype=bool)
    near_dropped: list[pl.DataFrame] = []
    near_picks: list[pl.DataFrame] = []
    for round_number in range(1, max_rounds + 1):
        chosen = materialise(traces, sampler.choose(excluded))
        if dedup.near_threshold is None:
            picked = chosen
            break
        near = near_duplicates(
            chosen,
            existing,
            text=dedup.text,
            threshold=dedup.near_threshold,
            id_column=id_column,
            existing_id_column=existing_id_column,
            scheme=scheme,
            index=index,
        )
        picked = near.kept
        if near.dropped.is_empty():
            break
        near_dropped.append(near.dropped)
        log.info("selection round %d: %d near duplicates, resampling", round_number, near.dropped.height)
        # The sampler takes out every trace with a dropped pick's content: it is the same near duplicate.
        gone = chosen.filter(pl.col(id_column).is_in(near.dropped[id_column].implode()))
        excluded |= exact.kept[id_column].is_in(gone[id_column].implode()).to_numpy()
        near_picks.append(gone.select(id_column, dedup.hash_column))
    taken = pl.concat([picked.select(id_column, dedup.hash_column), *near_picks])
    repeats = _repeats_of_picks(exact.kept, taken, dedup.hash_column, id_column)
    dropped = pl.concat([exact.dropped, repeats, *near_dropped], how="vertical")
    return Selection(picked, dropped, _counts(traces.height, picked.height, dropped, dedup.near_threshold))


def reference_for(
    existing: pl.DataFrame,
    spec: SamplingSpec,
    *,
    signature_column: str = SIGNATURE_COLUMN,
    scheme: MinHashScheme = MINHASH,
) -> SignatureIndex | None:
    """The dataset's signatures, indexed once for novelty and every near-duplicate round (the LSH tables of the
    spec's thresholds built here, so a caller can build them in the background); None if unused."""
    if not needs_signatures(spec):
        return None
    index = reference_index(existing, text=spec.dedup.text, signature_column=signature_column, scheme=scheme)
    thresholds = [s.max_similarity for s in spec.strategies if isinstance(s, Novelty)]
    index.prepare([*thresholds, *([spec.dedup.near_threshold] if spec.dedup.near_threshold else [])])
    return index


def needs_signatures(spec: SamplingSpec) -> bool:
    """Whether selection compares texts with the dataset's MinHash signatures (near duplicates or novelty)."""
    return spec.dedup.near_threshold is not None or any(isinstance(s, Novelty) for s in spec.strategies)


def _repeats_of_picks(
    pool: pl.DataFrame, picked: pl.DataFrame, hash_column: str, id_column: str
) -> pl.DataFrame:
    """Candidates that were not picked but have the content of a pick (kept, or dropped as a near duplicate):
    exact duplicates within the batch."""
    twins = picked.select(hash_column, pl.col(id_column).alias("duplicate_of")).drop_nulls(hash_column)
    repeats = pool.select(id_column, hash_column).join(twins, on=hash_column, how="inner")
    return dropped_rows(
        repeats.filter(pl.col(id_column) != pl.col("duplicate_of")), id_column, EXACT, IN_BATCH
    )


def _counts(
    candidates: int, picked: int, dropped: pl.DataFrame, near_threshold: float | None
) -> dict[str, int]:
    reasons = [EXACT, *((near_reason(near_threshold),) if near_threshold is not None else ())]
    per_reason = dict(dropped.group_by("reason").len().iter_rows())
    counts = {CANDIDATES: candidates, PICKED: picked, **{r: int(per_reason.get(r, 0)) for r in reasons}}
    counts[NOT_PICKED] = candidates - picked - sum(counts[r] for r in reasons)
    return counts
