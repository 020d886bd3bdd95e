"""How well a judge agrees with human labels: Cohen's kappa for labels, Spearman's rank correlation for scores."""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tracewatch.scoring.stats import average_ranks, finite_values


@dataclass(frozen=True, slots=True)
class Agreement:
    """Agreement between a judge and human labels, or None with the reason it is undefined."""

    statistic: float | None
    n: int
    method: str
    reason: str | None = None


def cohen_kappa(judge: Sequence[Hashable], human: Sequence[Hashable]) -> Agreement:
    """Unweighted Cohen's kappa between judge and human labels (binary or categorical).

    Kappa corrects the raw agreement for the agreement expected by chance from each rater's label
    frequencies, which matters when one label dominates (a judge saying "pass" to everything agrees a lot).
    Undefined (None) when both raters used one and the same label throughout, since chance agreement is 1.
    """
    if len(judge) != len(human):
        raise ValueError(f"judge and human labels differ in length: {len(judge)} and {len(human)}")
    n = len(judge)
    method = "cohen kappa"
    if n < 2:
        return Agreement(None, n, method, f"needs at least 2 labelled items, got {n}")
    categories = {label: index for index, label in enumerate(dict.fromkeys([*judge, *human]))}
    k = len(categories)
    table = np.zeros((k, k), dtype=np.float64)
    np.add.at(table, ([categories[x] for x in judge], [categories[y] for y in human]), 1.0)
    table /= n
    observed = float(np.trace(table))
    chance = float(table.sum(axis=1) @ table.sum(axis=0))
    if chance >= 1.0:
        return Agreement(None, n, method, "both raters used a single label: chance agreement is 1")
    return Agreement((observed - chance) / (1.0 - chance), n, method)


def spearman(judge: npt.ArrayLike, human: npt.ArrayLike, *, min_n: int = 3) -> Agreement:
    """Spearman rank correlation (average ranks for ties) between judge scores and human scores.

    Rank correlation suits ordinal feedback (thumbs, 1-5 stars) and judge scores on a different scale: it
    asks whether the judge orders items as humans do. Two points always correlate perfectly, hence min_n.
    """
    x = finite_values(judge, "judge")
    y = finite_values(human, "human")
    if x.size != y.size:
        raise ValueError(f"judge and human scores differ in length: {x.size} and {y.size}")
    n = int(x.size)
    method = "spearman"
    if n < min_n:
        return Agreement(None, n, method, f"needs at least {min_n} scored items, got {n}")
    rx = average_ranks(x)[0]
    ry = average_ranks(y)[0]
    rx -= rx.mean()
    ry -= ry.mean()
    norm = math.sqrt(float(rx @ rx) * float(ry @ ry))
    if norm == 0.0:
        return Agreement(None, n, method, "one side is constant: the correlation is undefined")
    return Agreement(max(-1.0, min(1.0, float(rx @ ry) / norm)), n, method)
