"""Phase one of two-phase sampling: one part (file) of the night reduced to the candidates that could be picked.

Every strategy ranks candidates by a key computed from the trace alone (its hash draw and its own columns), so
a part can rank its own candidates exactly as the whole night would. A part keeps, per strategy (per stratum
for a stratified one), its candidates with the smallest keys, and says the smallest key it left out (the
horizon, `sampling._horizon`). Whether equal inputs compete as one (`competing_groups`) is decided on the whole
night, so a part ranks both ways and the merge keeps the one the night decides.

What a part cannot settle alone is carried as small extra parts: the rows the grouping verdict samples
(`part_sample`); the representatives of each shortlisted input in every strategy, wherever in the night they
are (`part_representatives`: a pick takes its input's group away, and selection examines the group's best row
in each strategy); and each stratified strategy's stratum sizes, which with grouping are counts of distinct
inputs over the whole night, so a part sends one 128-bit hash, key and stratum per distinct input
(`Reach.groups`): a count of distinct values needs them all, 32 bytes each, a fraction of the rows' bytes.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.minhash import MINHASH
from tracewatch.datasets.sampling import Novelty, SamplingSpec, Stratified, rank
from tracewatch.datasets.sampling._horizon import ALL
from tracewatch.datasets.sampling._pool import KEY, POS, STRATUM
from tracewatch.datasets.sampling.engine import Sampler
from tracewatch.datasets.sampling.pipeline import OVERSAMPLE, group_column
from tracewatch.datasets.sampling.stratified import stratum_ids
from tracewatch.frame_memory import owned
from tracewatch.hash_spill import HashRows, Spill
from tracewatch.hashing import stable_hash64

ID = "trace_id"
PART_ROW = "_part_row"
"""A shortlisted candidate's row among its part's candidates: the merge keeps the night's row order."""
IN_GROUPED = "_in_grouped"
IN_SINGLE = "_in_single"
HASH_HI = "_hash_hi"
HASH_LO = "_hash_lo"
SIZE = "size"
_RANK = "_rank"
_DEPTH = "_depth"


@dataclass(frozen=True)
class PartRead:
    """A part's candidates (after the build's filters) and how many rows it had before them."""

    candidates: pl.DataFrame
    rows: int


Reader = Callable[[Any, tuple[str, ...]], PartRead]
"""Reads a part's candidates with the given columns (module-level or a partial: it travels to workers)."""


@dataclass(frozen=True)
class Reach:
    """How far one part's shortlist reaches under one grouping verdict: per (strategy, stratum) the smallest
    key left out (absent: nothing left out); per stratified strategy the competing candidates per stratum
    (`sizes`: `STRATUM`, `SIZE`) and, when equal inputs compete as one, one row per input (`groups`:
    `HASH_HI`, `HASH_LO`, `KEY`, `STRATUM`; the merge keeps each input's best over the night, a range of
    `HASH_HI` at a time when some part's rows went through the store: `hash_spill`)."""

    limits: dict[tuple[str, str], float]
    sizes: dict[str, pl.DataFrame]
    groups: dict[str, HashRows]


@dataclass(frozen=True)
class PartShortlist:
    """One part's phase-one result: its counts, the shortlisted candidates (candidate columns, `PART_ROW`, and
    which verdict's shortlist holds them: `IN_GROUPED`, `IN_SINGLE`) and the reach under each verdict."""

    rows: int
    candidates: int
    shortlist: pl.DataFrame
    grouped: Reach
    single: Reach


@dataclass(frozen=True)
class Depth:
    """How long a part's shortlists are: about twice its share of the picks when the night's `parts` are alike,
    times `factor`, which the caller grows when they prove too short (a skewed split, many duplicates)."""

    parts: int
    factor: int = 1

    def of(self, picks: int, repeats: float = 0.0) -> int:
        """Shortlist length for `picks` picks over the night (and at least a few, so tiny shares are covered).
        `repeats`: the share of the part's rows that repeat an input of the part; such inputs are asked in the
        other parts too, and a part's best of them competes with theirs, so the part's share of the picks
        grows towards all of them."""
        share = picks * max(1 / max(self.parts, 1), repeats)
        return self.factor * (math.ceil(2 * share) + 3 * math.ceil(math.sqrt(share)) + 10)


def part_shortlist(
    read: Reader, columns: tuple[str, ...], spec: SamplingSpec, depth: Depth, spill: Spill | None, part: Any
) -> PartShortlist:
    """Phase one for `part`, with shortlists of `depth`; its inputs' rows for the strata past their share of
    `spill`'s budget go through the store (None: they always come back)."""
    got = read(part, columns)
    frame = got.candidates
    if frame.height == 0:
        empty = Reach({}, {}, {})
        shortlist = frame.with_row_index(PART_ROW).with_columns(
            pl.lit(False).alias(IN_GROUPED), pl.lit(False).alias(IN_SINGLE)
        )
        return PartShortlist(got.rows, 0, shortlist, empty, empty)
    grouped_rows, grouped = _reach(frame, spec, grouped=True, depth=depth, spill=spill)
    single_rows, single = _reach(frame, spec, grouped=False, depth=depth, spill=spill)
    keep = grouped_rows | single_rows
    shortlist = (
        frame.with_row_index(PART_ROW)
        .with_columns(pl.Series(IN_GROUPED, grouped_rows), pl.Series(IN_SINGLE, single_rows))
        .filter(pl.Series(keep))
    )
    # its own copy: a part's shortlist outlives the part it was filtered from (`frame_memory`)
    return owned(PartShortlist(got.rows, frame.height, shortlist, grouped, single))


def part_sample(read: Reader, column: str, positions: NDArray[np.int64], part: Any) -> pl.Series:
    """The values of `column` at `positions` among the part's candidates: its share of the grouping verdict's
    sample (`distinct.sample_positions` of the whole night)."""
    return owned(read(part, (column,)).candidates.get_column(column).gather(positions))


def part_representatives(
    read: Reader, columns: tuple[str, ...], spec: SamplingSpec, values: pl.Series, part: Any
) -> pl.DataFrame:
    """The part's best candidates of each input in `values` in every strategy (exact key ties included), with
    `PART_ROW`: with those of every part, the merged shortlists hold each shortlisted input's representatives
    of the whole night."""
    frame = read(part, columns).candidates.with_row_index(PART_ROW)
    column = group_column(frame.columns, spec)
    if column is None:
        return frame.clear()
    # its own copy: the part's representatives outlive the part they were gathered from (`frame_memory`)
    return owned(representatives(frame.filter(pl.col(column).is_in(values.implode())), spec))


def representatives(rows: pl.DataFrame, spec: SamplingSpec) -> pl.DataFrame:
    """The rows that compete in some strategy: each input's best-keyed rows (exact ties included), in `rows`'
    order. Keys come from each row alone, so the representatives of several parts' representatives are those
    of the parts together: the merge reduces them a few parts at a time and never holds every part's."""
    if rows.height == 0:
        return rows
    ranked = rank(rows, spec, grouped=True)
    pool = _sampler(ranked.frame, ranked.traces, spec, ranked.distinct_on).pool()
    positions = np.unique(
        np.concatenate([pool.competing(s).get_column(POS).to_numpy() for s in spec.strategies])
    )
    return rows[positions]


def _sampler(
    frame: pl.DataFrame, traces: pl.DataFrame, spec: SamplingSpec, distinct_on: str | None
) -> Sampler:
    return Sampler(
        frame, traces, spec, existing_signatures=None, distinct_on=distinct_on, id_column=ID, scheme=MINHASH
    )


def _reach(
    frame: pl.DataFrame, spec: SamplingSpec, *, grouped: bool, depth: Depth, spill: Spill | None
) -> tuple[NDArray[np.bool_], Reach]:
    """Which rows the part's shortlists hold under one grouping verdict, and how far they reach."""
    ranked = rank(frame, spec, grouped=grouped)
    pool = _sampler(ranked.frame, ranked.traces, spec, ranked.distinct_on).pool()
    column = group_column(ranked.traces.columns, spec)
    picked = np.zeros(frame.height, dtype=bool)
    reach = Reach({}, {}, {})
    # Each strategy's share of the first shortlist selection examines; what an earlier strategy leaves unused
    # carries over, and a carry past the depth's margin shows as a choice past the horizon (then: deeper).
    shares = spec.quotas(OVERSAMPLE * max(spec.budget, 1))
    for strategy, picks in zip(spec.strategies, shares, strict=True):
        competing = pool.competing(strategy)
        repeats = 1 - competing.height / frame.height
        if isinstance(strategy, Stratified):
            ids, labels = stratum_ids(pool.at(competing[POS], *strategy.by), strategy.by)
            keyed = competing.with_columns(labels.gather(ids).alias(STRATUM))
            # a stratum's picks follow its size; its minimum may all come from this part
            per_stratum = keyed.group_by(STRATUM).len().iter_rows()
            lengths = {
                stratum: depth.of(picks * size // keyed.height, repeats)
                + depth.factor * strategy.min_per_stratum
                for stratum, size in per_stratum
            }
            wanted = pl.col(STRATUM).replace_strict(lengths, return_dtype=pl.Int64)
            _summarise(strategy.name, keyed, ranked.distinct_on, ranked.traces, column, reach, spill)
        else:
            keyed = competing.with_columns(pl.lit(ALL).alias(STRATUM))
            pool_factor = strategy.pool_factor if isinstance(strategy, Novelty) else 1
            wanted = pl.lit(depth.of(picks * pool_factor, repeats))
        positions, limits = _smallest(keyed, wanted)
        picked[positions] = True
        reach.limits.update({(strategy.name, stratum): limit for stratum, limit in limits.items()})
    return picked, reach


def _smallest(keyed: pl.DataFrame, wanted: pl.Expr) -> tuple[NDArray[np.int64], dict[str, float]]:
    """Per stratum, the positions of the `wanted` candidates with the smallest finite keys (and every exact tie
    of the last), and the smallest key left out where some were."""
    finite = keyed.filter(pl.col(KEY).is_finite()).with_columns(
        pl.col(KEY).rank("min").over(STRATUM).alias(_RANK), wanted.alias(_DEPTH)
    )
    inside = pl.col(_RANK) <= pl.col(_DEPTH)
    positions = finite.filter(inside).get_column(POS).to_numpy().astype(np.int64)
    left = finite.filter(~inside).group_by(STRATUM).agg(pl.col(KEY).min())
    return positions, dict(zip(left[STRATUM].to_list(), left[KEY].to_list(), strict=True))


def _summarise(
    name: str,
    keyed: pl.DataFrame,
    distinct_on: str | None,
    traces: pl.DataFrame,
    column: str | None,
    reach: Reach,
    spill: Spill | None,
) -> None:
    """A stratified strategy's competing candidates per stratum; with grouping, those of a shared input as one
    hashed row each, since the same input in another part may compete in its place."""
    if distinct_on is None or column is None:
        reach.sizes[name] = keyed.group_by(STRATUM).agg(pl.len().cast(pl.Int64).alias(SIZE))
        return
    alone = keyed.get_column(distinct_on).is_null()
    reach.sizes[name] = keyed.filter(alone).group_by(STRATUM).agg(pl.len().cast(pl.Int64).alias(SIZE))
    shared = keyed.filter(~alone)
    values = traces.get_column(column).gather(shared.get_column(POS)).cast(pl.String)
    rows = pl.DataFrame(
        {
            HASH_HI: pl.Series(stable_hash64(values, key=1), dtype=pl.UInt64),
            HASH_LO: pl.Series(stable_hash64(values, key=2), dtype=pl.UInt64),
            KEY: shared.get_column(KEY),
            STRATUM: shared.get_column(STRATUM),
        }
    )
    kept = (
        spill.keep(rows, HASH_HI, f"{name}/{uuid.uuid4().hex}") if spill else HashRows.inline(rows, HASH_HI)
    )
    reach.groups[name] = kept
