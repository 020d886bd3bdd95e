"""Run a sampling spec over a frame of traces: hash ids once, run the strategies in order, return the picks."""

from __future__ import annotations

import logging
from concurrent.futures import Future
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.dedup import require_columns
from tracewatch.datasets.distinct import Distinct
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.minhash import MINHASH, MinHashScheme, signature_matrix
from tracewatch.datasets.sampling._horizon import Horizon
from tracewatch.datasets.sampling._pool import (
    HASH,
    PICK_SCHEMA,
    POS,
    ROW,
    STRATUM,
    Availability,
    Pool,
    take_rows,
)
from tracewatch.datasets.sampling.spec import SamplingSpec
from tracewatch.errors import DataContractError
from tracewatch.hashing import U64, stable_hash64

log = logging.getLogger(__name__)

STRATEGY = "strategy"
CHOSEN_SCHEMA: dict[str, pl.DataType] = {ROW: pl.UInt32(), STRATEGY: pl.String(), STRATUM: pl.String()}


def sample(
    traces: pl.DataFrame,
    spec: SamplingSpec,
    *,
    existing_signatures: pl.Series | U64 | SignatureIndex | None = None,
    distinct_on: str | None = None,
    id_column: str = "trace_id",
    scheme: MinHashScheme = MINHASH,
) -> pl.DataFrame:
    """The picked rows of `traces` plus `strategy` and `stratum`, at most `spec.budget` of them, each trace once.

    The picks depend only on the seed, the strategy names and the set of candidate rows (ids and the columns the
    strategies read), never on row order or on how the input was split. `distinct_on` (e.g. `content_hash`)
    makes every pick a different value of that column. `existing_signatures` (the dataset's stored MinHash
    column) is what the novelty strategy compares against.
    """
    candidates = prepare(traces, spec, distinct_on=distinct_on, id_column=id_column)
    sampler = Sampler(
        candidates,
        traces,
        spec,
        existing_signatures=existing_signatures,
        distinct_on=distinct_on,
        id_column=id_column,
        scheme=scheme,
    )
    return materialise(traces, sampler.choose())


def prepare(
    traces: pl.DataFrame,
    spec: SamplingSpec,
    *,
    distinct_on: str | None,
    id_column: str,
    hashes: Future[IdHashes] | None = None,
) -> pl.DataFrame:
    """The columns the strategies read plus the row number and the stable id hash, computed once per night
    (`hashes` is `id_hashes` of the ids when the caller started it already, e.g. in a thread)."""
    distinct = (distinct_on,) if distinct_on else ()
    require_columns((id_column, *spec.columns(), *distinct), traces.columns, "sampling")
    needed = tuple(dict.fromkeys((id_column, *spec.key_columns(), *distinct)))
    ids = traces[id_column]
    if ids.dtype != pl.String:
        raise DataContractError(f"id column {id_column!r} must be String, got {ids.dtype}")
    hashed = hashes.result() if hashes is not None else id_hashes(ids)
    # Not rechunked: strategies take rows by mask (`take_rows`), as fast across the files' chunks, and a
    # contiguous copy of a million rows is some 40 MB of fresh memory.
    frame = traces.select(needed).with_columns(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias(ROW), pl.Series(HASH, hashed.values, dtype=pl.UInt64)
    )
    _check_ids(frame, hashed, id_column)
    return frame


@dataclass(frozen=True)
class IdHashes:
    """`stable_hash64` of the ids, and whether two of them are equal (`repeated`: then `prepare` looks for
    repeated ids)."""

    values: U64
    repeated: bool


def id_hashes(ids: pl.Series) -> IdHashes:
    """The ids' hashes and the check for repeats, which a caller can run in a thread while it ranks."""
    values = stable_hash64(ids)
    ordered = np.sort(values)  # half the time of a hash-set count of a million values
    return IdHashes(values, bool((ordered[1:] == ordered[:-1]).any()))


class Sampler:
    """One night's candidates (from `prepare`, possibly filtered) and the strategies' per-row keys, memoised.

    `choose` can be called again with a few more candidates excluded (the near-duplicate refill) and only the
    selection is redone; the result is the same as sampling the remaining candidates from scratch.
    """

    def __init__(
        self,
        candidates: pl.DataFrame,
        traces: pl.DataFrame,
        spec: SamplingSpec,
        *,
        existing_signatures: pl.Series | U64 | SignatureIndex | None,
        distinct_on: str | None,
        id_column: str,
        scheme: MinHashScheme,
        horizon: Horizon | None = None,
    ) -> None:
        """`horizon`: `candidates` are merged per-file shortlists of a larger night (`_horizon`)."""
        self.horizon = horizon
        self.frame = candidates.with_columns(pl.int_range(pl.len(), dtype=pl.UInt32).alias(POS))
        self.traces = traces
        self.spec = spec
        self.existing = _index(existing_signatures, scheme)
        self.distinct_on = distinct_on
        self.id_column = id_column
        self.scheme = scheme
        self.memo: dict[str, object] = {}
        self.competing_rows: dict[str, pl.DataFrame] = {}
        self.groups = None if distinct_on is None else group_codes(self.frame.get_column(distinct_on))
        self.group_count = 0 if self.groups is None else int(self.groups.max(initial=-1)) + 1

    def with_other_representatives(self, rows: pl.Series) -> pl.Series:
        """`rows` (into `traces`) plus every row that stands for one of their groups in another strategy's
        ranking. Each strategy ranks a group by its own best trace; examining those together with the shortlist
        saves a round when the final picks take a group through another strategy."""
        if self.groups is None or rows.is_empty():
            return rows
        frame_rows = self.frame.get_column(ROW).to_numpy()  # ascending: `frame` keeps the order of `traces`
        codes = self.groups[np.searchsorted(frame_rows, rows.to_numpy())]
        taken = np.zeros(self.group_count, dtype=bool)
        taken[codes[codes >= 0]] = True
        positions = []
        for competing in self.competing_rows.values():
            at = competing.get_column(POS).to_numpy()
            grouped = self.groups[at]
            positions.append(at[(grouped >= 0) & taken[np.maximum(grouped, 0)]])
        more = frame_rows[np.concatenate([np.zeros(0, dtype=np.int64), *positions])]
        return pl.Series(rows.name, np.union1d(rows.to_numpy(), more), dtype=rows.dtype)

    def choose(self, excluded: NDArray[np.bool_] | None = None, budget: int | None = None) -> pl.DataFrame:
        """Row numbers (into `traces`), strategy and stratum of the picks (`CHOSEN_SCHEMA`), strategy by
        strategy; `excluded` (aligned with the candidates) takes candidates out, with `distinct_on` together
        with every candidate sharing their value. `budget` (default: the spec's) sizes a shortlist: the same
        shares and rankings, more picks."""
        available = Availability(self.frame.height, self.groups, self.group_count)
        if excluded is not None:
            available.take(np.flatnonzero(excluded))
        results: list[pl.DataFrame] = []
        carry = 0
        for strategy, share in zip(self.spec.strategies, self.spec.quotas(budget), strict=True):
            quota = share + carry
            pool = self._pool(available)
            if quota > 0 and available.any():
                picked = strategy.pick(pool, quota)
            else:
                if quota > 0 and self.horizon is not None:
                    self.horizon.require_complete(strategy.name)
                picked = pl.DataFrame(schema=PICK_SCHEMA)
            if picked.height > quota:
                raise AssertionError(
                    f"strategy {strategy.name!r} picked {picked.height} rows for a quota of {quota}"
                )
            carry = quota - picked.height
            available.take(picked[POS].to_numpy())
            log.info("sampling: %s picked %d of quota %d", strategy.name, picked.height, quota)
            rows = self.frame[ROW].gather(picked[POS])
            results.append(picked.select(rows.alias(ROW), pl.lit(strategy.name).alias(STRATEGY), STRATUM))
        return pl.concat(results) if results else pl.DataFrame(schema=CHOSEN_SCHEMA)

    def pool(self) -> Pool:
        """Every candidate available: what a per-file shortlist ranks (`datasets.shortlist`)."""
        return self._pool(Availability(self.frame.height, self.groups, self.group_count))

    def _pool(self, available: Availability) -> Pool:
        return Pool(
            frame=self.frame,
            availability=available,
            source=self.traces,
            id_column=self.id_column,
            seed=self.spec.seed,
            distinct_on=self.distinct_on,
            existing_signatures=self.existing,
            scheme=self.scheme,
            memo=self.memo,
            competing_rows=self.competing_rows,
            horizon=self.horizon,
        )


def materialise(traces: pl.DataFrame, chosen: pl.DataFrame) -> pl.DataFrame:
    """The full input rows of `chosen`, in pick order, with `strategy` and `stratum` appended."""
    return take_rows(traces, chosen[ROW]).with_columns(chosen[STRATEGY], chosen[STRATUM])


def group_codes(column: pl.Series) -> NDArray[np.int64]:
    """Per row, a code shared by the rows with the same value (`-1` for null): `competing_groups` codes as they
    are, anything else factorised once."""
    if column.dtype.is_integer() and column.null_count() < column.len():
        low, high = column.min(), column.max()
        if low >= 0 and high < 2 * column.len():  # type: ignore[operator]
            return column.fill_null(-1).to_numpy().astype(np.int64, copy=False)
    distinct = Distinct.factorise(column)
    assert distinct.codes is not None
    codes = distinct.codes.copy()
    codes[distinct.values.is_null().to_numpy()[codes]] = -1
    return codes


def _index(
    signatures: pl.Series | U64 | SignatureIndex | None, scheme: MinHashScheme
) -> SignatureIndex | None:
    if signatures is None or isinstance(signatures, SignatureIndex):
        return signatures
    matrix = signature_matrix(signatures, scheme) if isinstance(signatures, pl.Series) else signatures
    return SignatureIndex(matrix)


def _check_ids(frame: pl.DataFrame, hashes: IdHashes, id_column: str) -> None:
    nulls = frame[id_column].null_count()
    if nulls:
        raise DataContractError(f"{nulls} row(s) have a null {id_column!r}; sampling needs an id per row")
    if hashes.repeated:
        repeated = frame.filter(pl.col(id_column).is_duplicated())[id_column].unique().sort()
        if repeated.len():
            raise DataContractError(
                f"{repeated.len()} {id_column} value(s) occur more than once, e.g. {repeated.head(3).to_list()}; "
                "de-duplicate (validation quarantines repeated ids) before sampling"
            )
