"""What every strategy shares: the candidate pool, per-strategy hash streams and deterministic "smallest k" picks.

A strategy turns each candidate into a key (smaller = picked first) that depends only on (seed, strategy name,
trace id) and the row's own columns, then takes the rows with the smallest keys. Ties are broken by the trace
id, so neither row order nor how the input was split into files can change a pick.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, ClassVar, Protocol, TypeVar, cast

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import Strict, model_validator

from tracewatch.datasets.config import Range, SpecModel
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.minhash import MinHashScheme
from tracewatch.datasets.sampling._horizon import Horizon
from tracewatch.hashing import key64, rekey, unit_interval

T = TypeVar("T")

ROW = "_row"
POS = "_pos"
HASH = "_hash"
KEY = "_key"
GROUP = "_group"
QUOTA = "_quota"
STRATUM = "stratum"
PICK_SCHEMA: dict[str, pl.DataType] = {POS: pl.UInt32(), STRATUM: pl.String()}
"""What `Strategy.pick` returns: positions in `Pool.frame` and a stratum label, best pick first."""


class Availability:
    """Which candidates (by `POS`) may still be picked: rows taken one by one and, given each row's group code
    (`-1`: none), every row of a taken group at once. Taking a value repeated on a million rows is then one
    write, and only the rows a strategy looks at are ever checked."""

    def __init__(self, size: int, groups: NDArray[np.int64] | None, group_count: int) -> None:
        """`group_count`: one more than the largest code in `groups` (0 without groups)."""
        self.rows = np.ones(size, dtype=bool)
        self.groups = groups
        self.free_groups = np.ones(group_count, dtype=bool)

    def take(self, positions: NDArray[np.int64]) -> None:
        """Take the rows at `positions` and, with groups, their groups."""
        self.rows[positions] = False
        if self.groups is not None:
            codes = self.groups[positions]
            self.free_groups[codes[codes >= 0]] = False

    def at(self, positions: NDArray[np.int64]) -> NDArray[np.bool_]:
        """Per position: still available?"""
        free = self.rows[positions]
        if self.groups is not None:
            codes = self.groups[positions]
            grouped = np.flatnonzero(codes >= 0)
            free[grouped] &= self.free_groups[codes[grouped]]
        return free

    def any(self) -> bool:
        """False when no row is left. True may still mean every group is taken: a strategy then finds none."""
        return bool(self.rows.any())


@dataclass(frozen=True, kw_only=True)
class Pool:
    """Every candidate (`frame`: `POS`, `ROW`, `HASH`, the id and the strategies' key columns), which of them
    are still available (`availability`, by `POS`), and the full input (`source`, by `ROW`) for what only a
    shortlist needs.

    Strategies compute keys over `frame` and never copy it: taking picks away updates `availability` instead.
    """

    frame: pl.DataFrame
    availability: Availability
    source: pl.DataFrame
    id_column: str
    seed: int
    distinct_on: str | None
    existing_signatures: SignatureIndex | None
    scheme: MinHashScheme
    memo: dict[str, object]
    competing_rows: dict[str, pl.DataFrame]
    """Each strategy's competing candidates (`competing`), by strategy name, kept across `Sampler.choose` calls."""
    horizon: Horizon | None = None
    """When `frame` holds merged per-file shortlists: how far they reach (choices past it raise)."""

    def remember(self, name: str, compute: Callable[[], T]) -> T:
        """`compute()` once per candidate set: per-row keys do not change when candidates are taken away."""
        if name not in self.memo:
            self.memo[name] = compute()
        return cast("T", self.memo[name])

    def unit(self, stream: str) -> pl.Expr:
        """Uniform (0, 1) draws for `stream`, one per row; a function of (seed, stream, trace id) only."""
        values = unit_interval(rekey(self.frame[HASH].to_numpy(), key64(self.seed, stream)))
        return pl.lit(pl.Series(KEY, values))

    def keyed(self, strategy: Strategy) -> pl.DataFrame:
        """`POS`, the id and `KEY` of the available candidates among `competing(strategy)`."""
        competing = self.competing(strategy)
        return competing.filter(pl.Series(self.availability.at(competing[POS].to_numpy())))

    def competing(self, strategy: Strategy) -> pl.DataFrame:
        """`POS`, the id and `KEY` (`strategy.competing_key`) of every candidate that competes for `strategy`,
        computed once per night.

        With `distinct_on`, only the best-keyed row of each value competes (rows without a value compete on
        their own), so no content is picked twice. Availability always changes for whole values (see
        `Availability`), so the best row of a value never changes and is remembered too.
        """
        distinct = [self.distinct_on] if self.distinct_on else []

        def compute() -> pl.DataFrame:
            frame = self.frame.select(POS, self.id_column, *distinct, strategy.competing_key(self).alias(KEY))
            groups = self.availability.groups
            if groups is None:
                return frame
            # Each group's best key by numpy's unbuffered minimum: a tenth of a polars window on a million rows.
            keys = frame.get_column(KEY).to_numpy()
            grouped = groups >= 0
            best = np.full(len(self.availability.free_groups), np.inf)
            np.fmin.at(best, groups[grouped], keys[grouped])
            competes = ~grouped  # a row outside every group competes on its own (possibly every row)
            competes[grouped] = keys[grouped] == best[groups[grouped]]
            return frame.filter(pl.Series(competes))

        if strategy.name not in self.competing_rows:
            self.competing_rows[strategy.name] = compute()
        return self.competing_rows[strategy.name]

    def at(self, positions: pl.Series, *columns: str) -> pl.DataFrame:
        """`columns` of the candidates at `positions`, in that order."""
        return take_rows(self.frame.select(columns), positions)

    def fetch(self, column: str, positions: pl.Series) -> pl.Series:
        """An input column that is not in `frame` (e.g. long text), for the candidates at `positions`."""
        rows = self.frame[ROW].gather(positions)
        # One contiguous copy per night: later rounds gather from it directly.
        values = self.remember(f"{column}/contiguous", lambda: self.source.get_column(column).rechunk())
        return values.gather(rows)

    def smallest(
        self, keyed: pl.DataFrame, quota: int, *, strategy: str | None = None, bound: float = math.inf
    ) -> pl.DataFrame:
        """The `quota` rows of `keyed` with the smallest finite `KEY`, in key order (ties: smaller id first).
        With a `horizon`, the choice is certified for `strategy` (`keyed` holds only keys below `bound`)."""
        eligible = keyed.filter(pl.col(KEY).is_finite())
        if quota <= 0 or eligible.is_empty():
            chosen = eligible.clear()
        else:
            cutoff = eligible[KEY].bottom_k(quota).max()
            near = eligible.filter(pl.col(KEY) <= cutoff).sort(KEY, self.id_column)
            chosen = self._distinct(near).head(quota)
        if self.horizon is not None and strategy is not None:
            self.horizon.certify(strategy, chosen.get_column(KEY), quota, bound=bound)
        return chosen

    def smallest_per_group(
        self, keyed: pl.DataFrame, group: NDArray[np.int64], quotas: NDArray[np.int64]
    ) -> pl.DataFrame:
        """Per group g (`group` is aligned with `keyed`), the `quotas[g]` rows with the smallest `KEY`, grouped
        and in key order, with a `GROUP` column. `quotas[g]` must not exceed the group's size.

        numpy finds each group's boundary key; only rows at or below it (the picks plus exact ties) are sorted
        with the id as tie-breaker, which is far cheaper than ranking a million rows per group in polars.
        """
        keys = keyed[KEY].to_numpy()
        # By group, then key: a stable (radix) sort of small group ids after a key sort; np.lexsort is 10x
        # slower. Equal keys may land in any order, which cannot change a boundary value.
        by_key = np.argsort(keys)
        narrow = group.astype(np.uint16) if len(quotas) <= np.iinfo(np.uint16).max else group
        order = by_key[np.argsort(narrow[by_key], kind="stable")]
        starts = np.searchsorted(group[order], np.arange(len(quotas)))
        wanted = quotas > 0
        boundary = np.full(len(quotas), -np.inf)
        boundary[wanted] = keys[order[starts[wanted] + quotas[wanted] - 1]]
        inside = keys <= boundary[group]
        short = keyed.filter(pl.Series(inside)).with_columns(
            pl.Series(GROUP, group[inside]), pl.Series(QUOTA, quotas[group[inside]])
        )
        ordered = self._distinct(short.sort(GROUP, KEY, self.id_column))
        return ordered.filter(pl.int_range(pl.len()).over(GROUP) < pl.col(QUOTA)).drop(QUOTA)

    def _distinct(self, ordered: pl.DataFrame) -> pl.DataFrame:
        # Two rows of one content can only both survive `keyed` on an exact key tie; keep the first.
        if self.distinct_on is None:
            return ordered
        keep = pl.col(self.distinct_on).is_null() | pl.col(self.distinct_on).is_first_distinct()
        return ordered.filter(keep)


def take_rows(frame: pl.DataFrame, rows: pl.Series) -> pl.DataFrame:
    """Rows `rows` of `frame` in that order. A boolean filter then a small gather: gathering straight from a
    multi-chunk frame first copies all of it (20x slower for a million traces)."""
    positions = rows.to_numpy().astype(np.int64)
    mask = np.zeros(frame.height, dtype=bool)
    mask[positions] = True
    ascending = np.flatnonzero(mask)
    return frame.filter(pl.Series(mask)).rechunk()[np.searchsorted(ascending, positions)]


def picks(frame: pl.DataFrame, stratum: pl.Expr | str | pl.Series) -> pl.DataFrame:
    """A strategy's result in `PICK_SCHEMA`."""
    label = pl.lit(stratum) if isinstance(stratum, str | pl.Series) else stratum
    return frame.select(pl.col(POS), label.cast(pl.String).alias(STRATUM))


class Strategy(Protocol):
    """One way of choosing dataset items; frozen, built from a dict by `SamplingSpec.from_dict`."""

    @property
    def kind(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def share(self) -> float: ...

    def columns(self) -> tuple[str, ...]:
        """Every input column the strategy reads (checked before sampling)."""
        ...

    def key_columns(self) -> tuple[str, ...]:
        """The columns it reads on every candidate row (the rest are fetched for a shortlist only)."""
        ...

    def competing_key(self, pool: Pool) -> pl.Expr:
        """Each candidate's key (smaller: picked first), from its hash stream and its own columns only."""
        ...

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        """At most `quota` rows of `pool`, in `PICK_SCHEMA`, best first."""
        ...


class StrategyBase(SpecModel):
    """The fields every strategy has. `name` (default: the kind) keys its hash stream and labels its picks;
    `share` is its relative slice of the nightly budget."""

    implied: ClassVar[tuple[str, ...]] = ("kind",)

    name: str = ""
    """labels the picks and seeds the draws (default: the kind); two strategies of one kind need different names"""
    share: Annotated[float, Strict(), Range(gt=0)] = 1.0
    """relative slice of the budget: shares 3 and 1 split it 75/25"""

    @model_validator(mode="before")
    @classmethod
    def _named_after_the_kind(cls, data: Any) -> Any:
        if isinstance(data, Mapping) and not data.get("name"):
            return {**data, "name": cls.model_fields["kind"].default}
        return data

    def key_columns(self) -> tuple[str, ...]:
        return ()

    def columns(self) -> tuple[str, ...]:
        return self.key_columns()

    def competing_key(self, pool: Pool) -> pl.Expr:
        """A uniform draw per candidate; strategies that weigh candidates override it."""
        return pool.unit(self.name)
