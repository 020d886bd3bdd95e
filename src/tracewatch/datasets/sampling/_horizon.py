"""How far the merged per-file shortlists can be trusted: selection over them is the whole night's selection
as long as every pick lies below the horizon (see `datasets.two_phase`).

A file's shortlist for a strategy (and stratum) is its candidates with the smallest keys; the file's horizon
is the smallest key it left out. Every candidate of the night whose key is below the smallest horizon of all
files is in the merged shortlists, so a smallest-k choice that stays below it is the choice over every
candidate. When a choice reaches past it, `ShortlistTooShort` says so and the caller makes longer shortlists.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import polars as pl
from numpy.typing import NDArray

ALL = ""
"""The stratum label of a strategy that does not stratify."""


class ShortlistTooShort(Exception):  # noqa: N818 (a signal to the caller, caught and acted on, not an error)
    """Selection over the merged shortlists reached past a file's horizon: longer shortlists are needed."""


@dataclass(frozen=True)
class Strata:
    """Every stratum of one stratified strategy in the whole night (`labels`, sorted) and its number of
    competing candidates (`sizes`): the shortlists hold only some of them, and the allocation needs all."""

    labels: pl.Series
    sizes: NDArray[np.int64]


@dataclass(frozen=True)
class Horizon:
    """Per (strategy, stratum) the smallest key some file left out of its shortlist (absent: none left out),
    and the whole night's strata of each stratified strategy."""

    limits: Mapping[tuple[str, str], float]
    strata: Mapping[str, Strata]

    def limit(self, strategy: str, stratum: str = ALL) -> float:
        """Keys below this are all in the shortlists (infinity: every candidate is)."""
        return self.limits.get((strategy, stratum), math.inf)

    def certify(
        self, strategy: str, keys: pl.Series, quota: int, *, stratum: str = ALL, bound: float = math.inf
    ) -> None:
        """Raise `ShortlistTooShort` unless `keys` (the smallest-k choice of `quota` among candidates whose keys
        are below `bound`) is what every candidate would give: complete below the horizon, or all the horizon
        reaches past."""
        limit = self.limit(strategy, stratum)
        if quota <= 0 or math.isinf(limit) or bound <= limit:
            return
        if keys.len() == quota and float(keys.max()) < limit:  # type: ignore[arg-type]
            return
        raise ShortlistTooShort(
            f"strategy {strategy!r}{f' stratum {stratum!r}' if stratum else ''}: {keys.len()} of {quota} "
            f"pick(s) below the shortlists' horizon {limit:.6g}"
        )

    def require_complete(self, strategy: str) -> None:
        """No candidate left for `strategy` in the shortlists: fine only if no file left any out."""
        left_out = [
            s for (name, s), limit in self.limits.items() if name == strategy and not math.isinf(limit)
        ]
        if left_out:
            raise ShortlistTooShort(f"strategy {strategy!r} ran out of shortlisted candidates")
