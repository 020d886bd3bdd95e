"""Two-phase selection: a night of any size selected part by part (file by file) in bounded memory, with
exactly the picks, counts and duplicates of selecting over all of it at once (`select_new_traces`).

Phase one maps `shortlist.part_shortlist` over the parts: each returns its candidates that could be picked
and how far its shortlists reach. The merge decides what only the whole night can decide (whether equal inputs
compete as one, from the same sample of rows `Distinct.of` looks at, read part by part; each shortlisted
input's representatives in every part; the stratified strategies' stratum sizes), then runs the usual selection
over the merged shortlists with the night's candidate count and the shortlists' horizon. A choice that would
reach past a part's horizon raises `ShortlistTooShort`, and phase one runs again with shortlists four times
longer: a night with unusually many duplicates costs a second pass, never a different result. Once a part's
shortlists hold all of it, nothing is left out, so the loop ends.
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import polars as pl

from tracewatch.datasets.dedup import ExactCheck
from tracewatch.datasets.distinct import repeats_a_lot, sample_positions
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.sampling import SamplingSpec, Selection, Stratified, rank, select_new_traces
from tracewatch.datasets.sampling._horizon import Horizon, ShortlistTooShort, Strata
from tracewatch.datasets.sampling._pool import KEY, STRATUM
from tracewatch.datasets.sampling.examine import Examine
from tracewatch.datasets.sampling.pipeline import competing_groups, group_column
from tracewatch.datasets.shortlist import (
    HASH_HI,
    HASH_LO,
    IN_GROUPED,
    IN_SINGLE,
    PART_ROW,
    SIZE,
    Depth,
    PartRead,
    PartShortlist,
    Reach,
    Reader,
    part_representatives,
    part_sample,
    part_shortlist,
    representatives,
)
from tracewatch.hash_spill import Spill, ranges_of
from tracewatch.part_map import PartMap, in_process
from tracewatch.store import Store

log = logging.getLogger(__name__)

GROWTH = 4
"""How much longer the shortlists get when they proved too short."""
GROUPS_MAX_ROWS = 2_000_000
"""Rows of the stratified strategies' shared inputs (32 bytes each) held at once in the merge."""
PARTS_PER_ROUND = 8
"""Parts whose representatives the merge gathers before reducing them to the night's best so far."""
_PART = "_part"

Reference = Callable[[], tuple[pl.DataFrame, SignatureIndex | None]]
"""The dataset's items and their signature index, when selection needs them (may still be read meanwhile)."""


@dataclass(frozen=True)
class PartsSelection:
    """The night's selection (None: no candidates), its rows before and after the filters, and the shortlist
    scale that sufficed (1 unless a night needed longer shortlists)."""

    selection: Selection | None
    rows: int
    candidates: int
    factor: int


def frame_part(part: pl.DataFrame, columns: tuple[str, ...]) -> PartRead:
    """A `Reader` over parts already in memory (a frame per part): tests and callers that split a frame."""
    return PartRead(part.select(columns), part.height)


def select_in_parts(
    read: Reader,
    parts: Sequence[Any],
    columns: tuple[str, ...],
    spec: SamplingSpec,
    *,
    reference: Reference,
    examine: Examine | None = None,
    check: ExactCheck | None = None,
    part_map: PartMap = in_process,
    scratch_store: Store | None = None,
    groups_max_rows: int = GROUPS_MAX_ROWS,
    parts_per_round: int = PARTS_PER_ROUND,
) -> PartsSelection:
    """`select_new_traces` over the candidates of all `parts` (read with `columns` by `read`), part by part.

    The steps given to `part_map` are partials over `read`, `spec` and plain values, so they pickle when `read`
    does. The flow's process holds the merged shortlists, never a whole part; with a `scratch_store`, the rows of
    the stratified strategies' shared inputs (32 bytes per distinct input) go through its scratch past
    `groups_max_rows` (`hash_spill`), so it never holds the night's either; the representatives of shortlisted
    inputs come back `parts_per_round` parts at a time and are reduced to the best so far after each round."""
    scratch = (
        Spill.under(scratch_store, "dataset_groups", groups_max_rows, len(parts)) if scratch_store else None
    )
    try:
        return _select_in_parts(
            read,
            parts,
            columns,
            spec,
            reference,
            examine,
            check,
            part_map,
            scratch,
            groups_max_rows,
            parts_per_round,
        )
    finally:
        if scratch is not None:
            scratch.store.delete(scratch.prefix)


def _select_in_parts(
    read: Reader,
    parts: Sequence[Any],
    columns: tuple[str, ...],
    spec: SamplingSpec,
    reference: Reference,
    examine: Examine | None,
    check: ExactCheck | None,
    part_map: PartMap,
    spill: Spill | None,
    groups_max_rows: int,
    parts_per_round: int,
) -> PartsSelection:
    """`select_in_parts` with its scratch made."""
    factor, grouped = 1, None
    while True:
        depth = Depth(len(parts), factor)
        shortlists = part_map(functools.partial(part_shortlist, read, columns, spec, depth, spill), parts)
        rows = sum(s.rows for s in shortlists)
        candidates = sum(s.candidates for s in shortlists)
        if candidates == 0:
            return PartsSelection(None, rows, 0, factor)
        if grouped is None:
            grouped = _grouping_verdict(read, parts, shortlists, spec, columns, part_map)
        night = _merged(read, parts, shortlists, spec, columns, grouped, part_map, parts_per_round)
        horizon = _horizon(shortlists, spec, grouped, groups_max_rows)
        log.info(
            "two-phase selection: %d of %d candidates in %d parts shortlisted (grouped: %s, shortlists x%d)",
            night.height,
            candidates,
            len(parts),
            grouped,
            factor,
        )
        existing, index = reference()
        try:
            selection = select_new_traces(
                rank(night, spec, grouped=grouped),
                existing,
                spec,
                examine=examine,
                check=check,
                index=index,
                candidate_count=candidates,
                horizon=horizon,
            )
        except ShortlistTooShort as reason:
            if all(math.isinf(limit) for limit in horizon.limits.values()):
                raise AssertionError(f"every candidate was shortlisted, yet: {reason}") from reason
            log.info("two-phase selection: %s; shortlists x%d", reason, factor * GROWTH)
            factor *= GROWTH
            continue
        return PartsSelection(selection, rows, candidates, factor)


def _grouping_verdict(
    read: Reader,
    parts: Sequence[Any],
    shortlists: Sequence[PartShortlist],
    spec: SamplingSpec,
    columns: tuple[str, ...],
    part_map: PartMap,
) -> bool:
    """`Distinct.of`'s verdict on the whole night's grouping column, from the same rows, read part by part."""
    column = group_column(columns, spec)
    positions = sample_positions(sum(s.candidates for s in shortlists))
    if column is None or positions is None:
        return False
    ends = np.cumsum([s.candidates for s in shortlists])
    starts = ends - [s.candidates for s in shortlists]
    jobs = []
    for part, start, end in zip(parts, starts, ends, strict=True):
        mine = positions[(positions >= start) & (positions < end)] - start
        if len(mine):
            jobs.append((part, mine))
    samples = part_map(functools.partial(_sample_job, read, column), jobs)
    return repeats_a_lot(pl.concat(samples))


def _sample_job(read: Reader, column: str, job: tuple[Any, np.ndarray]) -> pl.Series:
    part, positions = job
    return part_sample(read, column, positions, part)


def _merged(
    read: Reader,
    parts: Sequence[Any],
    shortlists: Sequence[PartShortlist],
    spec: SamplingSpec,
    columns: tuple[str, ...],
    grouped: bool,
    part_map: PartMap,
    parts_per_round: int,
) -> pl.DataFrame:
    """The shortlisted candidates of the verdict, in the night's row order; with grouping, together with the
    night's representatives of the shortlisted inputs."""
    chosen = [s.shortlist.filter(pl.col(IN_GROUPED if grouped else IN_SINGLE)) for s in shortlists]
    chosen = [c.drop(IN_GROUPED, IN_SINGLE) for c in chosen]
    if grouped:
        night = pl.concat(chosen).drop(PART_ROW)
        codes = competing_groups(night, spec, grouped=True)
        column = group_column(columns, spec)
        if codes is not None and column is not None:
            values = night.get_column(column).filter(codes.is_not_null()).unique()
            step = functools.partial(part_representatives, read, columns, spec, values)
            more = night_representatives(step, parts, spec, part_map, parts_per_round)
            chosen = [
                pl.concat([mine, theirs]).unique(PART_ROW, keep="first").sort(PART_ROW)
                for mine, theirs in zip(chosen, more, strict=True)
            ]
    return pl.concat(chosen).drop(PART_ROW)


def night_representatives(
    step: Callable[[Any], pl.DataFrame],
    parts: Sequence[Any],
    spec: SamplingSpec,
    part_map: PartMap,
    parts_per_round: int,
) -> list[pl.DataFrame]:
    """Each part's rows among the night's representatives (`step` gives a part's own), gathered a round of
    parts at a time and reduced to the best so far after each, so the merge holds about one round's worth
    however many parts the night has."""
    best: pl.DataFrame | None = None
    for start in range(0, len(parts), max(parts_per_round, 1)):
        found = part_map(step, parts[start : start + parts_per_round])
        tagged = [f.with_columns(pl.lit(start + i, pl.UInt32).alias(_PART)) for i, f in enumerate(found)]
        best = representatives(pl.concat([*([best] if best is not None else []), *tagged]), spec)
    assert best is not None, "a night with shortlisted inputs has parts"
    by_part = {key[0]: rows.drop(_PART) for key, rows in best.partition_by(_PART, as_dict=True).items()}
    empty = best.clear().drop(_PART)
    return [by_part.get(i, empty) for i in range(len(parts))]


def _horizon(
    shortlists: Sequence[PartShortlist], spec: SamplingSpec, grouped: bool, max_rows: int
) -> Horizon:
    reaches = [s.grouped if grouped else s.single for s in shortlists if s.candidates]
    limits: dict[tuple[str, str], float] = {}
    for reach in reaches:
        for key, limit in reach.limits.items():
            limits[key] = min(limits.get(key, math.inf), limit)
    strata = {
        s.name: _strata(s.name, reaches, max_rows) for s in spec.strategies if isinstance(s, Stratified)
    }
    return Horizon(limits, strata)


def _strata(name: str, reaches: Sequence[Reach], max_rows: int) -> Strata:
    """A stratified strategy's strata over the night: candidates on their own counted per part; an input shared
    between parts counted once, in the stratum of its best row (every row tied for best, as `Pool.competing`)."""
    schema = {STRATUM: pl.String(), SIZE: pl.Int64()}
    counted = [r.sizes[name] for r in reaches if name in r.sizes]
    shared = [r.groups[name] for r in reaches if name in r.groups]
    for low, high in ranges_of(shared, max_rows) if shared else ():  # an input's rows are all in one range
        together = pl.concat([rows.in_range(low, high) for rows in shared])
        best = together.filter(pl.col(KEY) == pl.col(KEY).min().over(HASH_HI, HASH_LO))
        counted.append(best.group_by(STRATUM).agg(pl.len().cast(pl.Int64).alias(SIZE)))
    sizes = (
        pl.concat([pl.DataFrame(schema=schema), *counted])
        .group_by(STRATUM)
        .agg(pl.col(SIZE).sum())
        .filter(pl.col(SIZE) > 0)
        .sort(STRATUM)
    )
    return Strata(sizes.get_column(STRATUM), sizes.get_column(SIZE).to_numpy().astype(np.int64))
