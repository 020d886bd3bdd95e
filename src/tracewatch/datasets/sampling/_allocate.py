"""Integer allocation of a budget: across strategies by share, and across strata with a minimum each.

Exact integer arithmetic (no float rounding), ties broken by position, so the same inputs always give the
same allocation on every machine.
"""

from __future__ import annotations

from collections.abc import Sequence


def apportion(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to non-negative integer `weights` (largest remainder; ties to the earlier one).

    Each part is the floor or the ceiling of its exact share, and the parts add up to `total` (when any weight is
    positive).
    """
    weight_sum = sum(weights)
    if total <= 0 or weight_sum <= 0:
        return [0] * len(weights)
    parts = [total * w // weight_sum for w in weights]
    remainders = [total * w % weight_sum for w in weights]
    leftover = total - sum(parts)
    for index in sorted(range(len(weights)), key=lambda i: -remainders[i])[:leftover]:
        parts[index] += 1
    return parts


def allocate_strata(sizes: Sequence[int], budget: int, minimum: int) -> list[int]:
    """Rows to take from each stratum: `minimum` each (or all of a smaller stratum), the rest by remaining size.

    When the minimums alone exceed the budget, strata are filled level by level (everybody gets 1, then 2, ...)
    and a level that cannot be completed goes to the smallest strata first, so rare strata stay represented.
    """
    if budget >= sum(sizes):
        return list(sizes)
    floors = [min(size, minimum) for size in sizes]
    if sum(floors) >= budget:
        return _fill_levels(sizes, floors, budget)
    extra = apportion(budget - sum(floors), [size - floor for size, floor in zip(sizes, floors, strict=True)])
    return [floor + more for floor, more in zip(floors, extra, strict=True)]


def _fill_levels(sizes: Sequence[int], floors: Sequence[int], budget: int) -> list[int]:
    level = 0
    while level < max(floors, default=0) and sum(min(f, level + 1) for f in floors) <= budget:
        level += 1
    parts = [min(f, level) for f in floors]
    leftover = budget - sum(parts)
    hungry = sorted((i for i, f in enumerate(floors) if f > level), key=lambda i: (sizes[i], i))
    for index in hungry[:leftover]:
        parts[index] += 1
    return parts
