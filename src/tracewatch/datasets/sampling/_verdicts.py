"""Per candidate: examined or not, and rejected or not (no usable input, an exact or near duplicate), with why.

Whether an examined trace duplicates the dataset, or has no usable input, depends on the trace alone, so it is
decided once, when the trace is examined. Duplicates within the night are decided among everything examined so
far: of a group of exact or near duplicates, the trace with the smallest id stays in the running. So the
examined traces still in the running never duplicate each other, and any picks among them are clean.

Candidates that compete as one (the same input asked many times, `groups`) are one candidate here too: each
group is represented by its examined trace with the smallest id, and a group is dropped or kept as a whole.
Several traces of one group may be examined (each strategy ranks a group by its own best trace), but only one
of them is ever picked, so they are never each other's duplicates.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import polars as pl
from numpy.typing import NDArray

from tracewatch.datasets.dedup import exact_duplicates, near_duplicates
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.minhash import MinHashScheme
from tracewatch.datasets.sampling._pool import ROW, take_rows
from tracewatch.datasets.sampling.examine import USABLE, Examine
from tracewatch.datasets.sampling.spec import SamplingSpec

_GROUP = "_group"


@dataclass
class Verdicts:
    """The candidates (`traces`, by row) compared with `existing` items (and their signature `index`)."""

    traces: pl.DataFrame
    existing: pl.DataFrame
    spec: SamplingSpec
    examine: Examine
    index: SignatureIndex | None
    scheme: MinHashScheme
    id_column: str
    existing_id_column: str
    groups: NDArray[np.int64] | None = None
    """Per candidate row, the code of the group it competes in (`-1`: on its own); None: all on their own."""
    examined: np.ndarray = field(init=False)
    rejected: np.ndarray = field(init=False)
    unusable: int = field(init=False, default=0)
    seen: list[pl.DataFrame] = field(init=False, default_factory=list)
    dropped: list[pl.DataFrame] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.examined = np.zeros(self.traces.height, dtype=bool)
        self.rejected = np.zeros(self.traces.height, dtype=bool)

    def look_at(self, rows: pl.Series) -> bool:
        """Examine the rows not examined yet; reject the unusable ones and the dataset's duplicates among them.
        False when every row was examined before."""
        positions = rows.to_numpy().astype(np.int64)
        fresh = np.unique(positions[~self.examined[positions]])
        if not len(fresh):
            return False
        self.examined[fresh] = True
        result = self.examine(take_rows(self.traces, pl.Series(fresh)))
        frame = result.frame.with_columns(pl.Series(ROW, fresh, dtype=pl.UInt32))
        usable = frame.get_column(USABLE).fill_null(False)
        self._reject(frame.filter(~usable).get_column(ROW))
        self.unusable += int((~usable).sum())
        dedup = self.spec.dedup
        exact = exact_duplicates(
            frame.filter(usable),
            self.existing,
            hash_column=dedup.hash_column,
            id_column=self.id_column,
            existing_id_column=self.existing_id_column,
            within=False,
            check=result.check,
        )
        kept, dropped = exact.kept, [exact.dropped]
        if dedup.near_threshold is not None:
            near = near_duplicates(
                kept,
                self.existing,
                text=dedup.text,
                threshold=dedup.near_threshold,
                id_column=self.id_column,
                existing_id_column=self.existing_id_column,
                scheme=self.scheme,
                index=self.index,
                within=False,
            )
            kept = near.kept
            dropped.append(near.dropped)
        self._drop(pl.concat(dropped), frame)
        self._keep_one_of_each(kept.drop(USABLE))
        return True

    def _keep_one_of_each(self, fresh: pl.DataFrame) -> None:
        """Add `fresh` to the examined traces still in the running, keeping one group (that of the smallest id) of
        each set of exact, then near duplicates among all of them: the others are rejected as duplicates within
        the night at once, so a popular question (or its rewordings) costs one round, not one round per repeat."""
        dedup = self.spec.dedup
        together = pl.concat([*self.seen, fresh]) if self.seen else fresh
        delegates, group = self._delegates(together)
        result = exact_duplicates(
            delegates,
            self.existing.clear(),
            hash_column=dedup.hash_column,
            id_column=self.id_column,
            existing_id_column=self.existing_id_column,
        )
        if dedup.near_threshold is not None:
            result = result.then(
                near_duplicates(
                    result.kept,
                    None,
                    text=dedup.text,
                    threshold=dedup.near_threshold,
                    id_column=self.id_column,
                    scheme=self.scheme,
                )
            )
        self._drop(result.dropped, delegates)
        # A dropped delegate takes its group with it; rows on their own go alone.
        gone = together.get_column(self.id_column).is_in(result.dropped.get_column(self.id_column).implode())
        gone_rows = gone.to_numpy()
        gone_groups = group[gone_rows & (group >= 0)]
        self.seen = [together.filter(pl.Series(~gone_rows & ~np.isin(group, gone_groups)))]

    def _delegates(self, examined: pl.DataFrame) -> tuple[pl.DataFrame, NDArray[np.int64]]:
        """The examined traces that stand for their group (the smallest id of each), and every examined trace's
        group code (`-1`: on its own)."""
        rows = examined.get_column(ROW).to_numpy()
        group = np.full(len(rows), -1, dtype=np.int64) if self.groups is None else self.groups[rows]
        if (group < 0).all():
            return examined, group
        smallest = pl.col(self.id_column) == pl.col(self.id_column).min().over(_GROUP)
        delegates = examined.with_columns(pl.Series(_GROUP, group)).filter((pl.col(_GROUP) < 0) | smallest)
        return delegates.drop(_GROUP), group

    def picked(self, chosen: pl.DataFrame) -> pl.DataFrame:
        """What examining found of the `chosen` rows (`ROW`, in pick order): key, text and signature."""
        known = pl.concat(self.seen) if self.seen else pl.DataFrame(schema={ROW: pl.UInt32})
        return chosen.select(ROW).join(known, on=ROW, how="left", maintain_order="left")

    def _drop(self, dropped: pl.DataFrame, rows: pl.DataFrame) -> None:
        """Reject the `dropped` duplicates; `rows` maps their ids to `ROW`."""
        if dropped.height:
            gone = rows.filter(pl.col(self.id_column).is_in(dropped.get_column(self.id_column).implode()))
            self._reject(gone.get_column(ROW))
            self.dropped.append(dropped)

    def _reject(self, rows: pl.Series) -> None:
        self.rejected[rows.to_numpy().astype(np.int64)] = True
