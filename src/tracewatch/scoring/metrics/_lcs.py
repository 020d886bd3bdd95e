"""Longest common subsequence length, bit-parallel, shared by the Levenshtein (indel) ratio and ROUGE-L."""

from __future__ import annotations

from collections.abc import Hashable, Sequence


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of `a` and `b` (characters of a string, or tokens).

    Allison-Dix / Hyyrö bit-vector algorithm: one Python big integer holds a DP column, so the cost is
    O(len(shorter)) big-integer operations instead of the O(n*m) table, fast enough for 100,000 rows."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[Hashable, int] = {}
    lookup = masks.get  # bound once: this loop is the hot path of two metrics
    for i, symbol in enumerate(a):
        masks[symbol] = lookup(symbol, 0) | (1 << i)
    full = (1 << len(a)) - 1
    column = full
    for symbol in b:
        mask = lookup(symbol)
        if mask:
            matched = column & mask
            column = (column + matched) | (column - matched)
    return len(a) - (column & full).bit_count()
