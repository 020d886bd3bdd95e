"""The seam through which a later stage reduces accepted rows while ingest has them in memory.

A nightly run reads each new file once: ingest checks the rows and, in the same pass and the same worker
thread, hands the rows that passed to a reducer (monitoring's aggregation, say) whose small parts come back
with the result. Ingest knows nothing of what the parts mean: the stage that wants them passes the reducer,
so ingest does not import the stages downstream of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol, TypeVar

import polars as pl

Part = TypeVar("Part")


class AcceptedRowsReducer(Protocol[Part]):
    """Reduces a file's accepted rows to a part; the parts of a date's files combine into the date's."""

    @property
    def columns(self) -> tuple[str, ...]:
        """The trace columns `reduce` needs (read together with the ones the checks need)."""
        ...

    @property
    def max_rows(self) -> int:
        """The most accepted rows of a date whose parts are made (each file's within its share of it): parts
        that grow with their rows stay bounded, and a larger date gets no part (its stage reads it again)."""
        ...

    def reduce(self, accepted: pl.DataFrame) -> Part:
        """The part of some accepted rows (with `columns`)."""
        ...

    def combine(self, parts: Sequence[Part]) -> Part:
        """The part of a date from its files' parts, in file order."""
        ...

    def rows(self, part: Part) -> int:
        """The rows a part was made from (ingest keeps parts for a bounded number of rows)."""
        ...
