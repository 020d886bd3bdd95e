"""Longest common subsequence lengths, bit-parallel, shared by the Levenshtein (indel) ratio and ROUGE-L.

Allison-Dix / Hyyrö bit-vector algorithm: a DP column is a bit vector over the shorter sequence, and each symbol of
the longer one updates it with one addition and a few bitwise operations. `lcs_lengths` runs it for many rows at
once in numpy, grouping rows by the 64-bit words their shorter side needs (one, for most references); a group too
small to amortise numpy's per-call cost runs per row over Python big integers (`lcs_length`).
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence

import numpy as np

from tracewatch.scoring.metrics._symbols import Sequences

_WORD = 64
# numpy runs a word-count group when it has at least this many rows per word; else Python big integers per row.
_ROWS_PER_WORD = 32
# Match-mask cells (uint64) per chunk of rows: 32 MB.
_TABLE_CELLS = 1 << 22


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence of `a` and `b`: one Python big integer holds a DP column, so the
    cost is O(len(shorter)) big-integer operations instead of the O(n*m) table."""
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return 0
    masks: dict[Hashable, int] = {}
    lookup = masks.get  # bound once: this loop is the hot path
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


def lcs_lengths(a: Sequences, b: Sequences) -> np.ndarray:
    """Per row, the length of the longest common subsequence of the row's `a` and `b` symbols (int64)."""
    result = np.zeros(a.lengths.size, dtype=np.int64)
    codes = np.concatenate([a.codes, b.codes])
    a_starts, b_starts = a.starts, b.starts + a.codes.size
    a_shorter = a.lengths <= b.lengths
    short_start = np.where(a_shorter, a_starts, b_starts)
    short_len = np.where(a_shorter, a.lengths, b.lengths)
    long_start = np.where(a_shorter, b_starts, a_starts)
    long_len = np.where(a_shorter, b.lengths, a.lengths)
    words = -(-short_len // _WORD)  # 64-bit words of each row's column; 0 for an empty side (LCS 0)
    for count in np.unique(words[words > 0]).tolist():
        rows = np.flatnonzero(words == count)
        if rows.size >= _ROWS_PER_WORD * count:
            result[rows] = _vector_lcs(
                codes, short_start[rows], short_len[rows], long_start[rows], long_len[rows]
            )
            continue
        # Too few rows this long to amortise numpy's per-call cost over: one big integer per row instead.
        for row in rows.tolist():
            short = codes[short_start[row] : short_start[row] + short_len[row]].tolist()
            long = codes[long_start[row] : long_start[row] + long_len[row]].tolist()
            result[row] = lcs_length(long, short)
    return result


def _flat_index(starts: np.ndarray, lengths: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(row, position in row, index into codes) of every symbol of the rows given by `starts` and `lengths`."""
    rows = np.repeat(np.arange(lengths.size, dtype=np.int64), lengths)
    positions = np.arange(rows.size, dtype=np.int64) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    return rows, positions, np.repeat(starts, lengths) + positions


def _vector_lcs(
    codes: np.ndarray,
    short_start: np.ndarray,
    short_len: np.ndarray,
    long_start: np.ndarray,
    long_len: np.ndarray,
) -> np.ndarray:
    """LCS lengths of rows whose shorter sides need the same number of 64-bit words, in chunks of rows whose
    match-mask tables fit `_TABLE_CELLS`. Rows go longest long side first, so the rows of a chunk still going at
    step j are a prefix of it."""
    width = int(-(-short_len.max() // _WORD))
    order = np.argsort(-long_len, kind="stable")
    # symbol -> 1 + its index in the current chunk's short-side alphabet; 0 (an empty mask) for the rest
    alphabet_index = np.zeros(int(codes.max()) + 1, dtype=np.int64)
    alphabet = np.count_nonzero(np.bincount(codes[_flat_index(short_start, short_len)[2]]))
    mean_short = float(short_len.mean())
    chunk = max(
        1,  # one row whose table alone passes the bound (a huge text with a large alphabet) still runs
        _TABLE_CELLS // (width * (int(alphabet) + 1)),
        math.isqrt(int(_TABLE_CELLS / (width * (mean_short + 1)))),
    )
    result = np.empty_like(short_len)
    for begin in range(0, order.size, chunk):
        rows = order[begin : begin + chunk]
        result[rows] = _chunk_lcs(
            codes, alphabet_index, width, short_start[rows], short_len[rows], long_start[rows], long_len[rows]
        )
    return result


def _chunk_lcs(
    codes: np.ndarray,
    alphabet_index: np.ndarray,
    width: int,
    short_start: np.ndarray,
    short_len: np.ndarray,
    long_start: np.ndarray,
    long_len: np.ndarray,
) -> np.ndarray:
    """The bit-parallel LCS of a chunk of rows (sorted by long side, longest first): a (rows, width) uint64
    column per row, updated for every row still going by a few vector operations per long-side symbol."""
    rows, positions, index = _flat_index(short_start, short_len)
    symbols = codes[index]
    alphabet = np.flatnonzero(np.bincount(symbols))
    alphabet_index[alphabet] = np.arange(1, alphabet.size + 1)
    try:
        # Match masks: table[row, symbol] has the bits of the positions of the row's short side holding symbol.
        # The bits of one cell are distinct, so adding them is their union.
        cells = alphabet.size + 1
        flat_table = np.zeros(short_len.size * cells * width, dtype=np.uint64)
        cell = (rows * cells + alphabet_index[symbols]) * width + positions // _WORD
        np.add.at(flat_table, cell, np.left_shift(np.uint64(1), (positions % _WORD).astype(np.uint64)))
        table = flat_table.reshape(-1, width)
        row_cells = np.arange(short_len.size, dtype=np.int64) * cells
        full = np.zeros((short_len.size, width), dtype=np.uint64)
        for word in range(width):
            bits = np.clip(short_len - word * _WORD, 0, _WORD).astype(np.uint64)
            full[:, word] = np.where(
                bits == _WORD, np.uint64(2**64 - 1), (np.uint64(1) << bits) - np.uint64(1)
            )
        column = full.copy()
        going = np.searchsorted(-long_len, -np.arange(int(long_len[0])), side="left")
        for step, active in enumerate(going.tolist()):
            current = column[:active]
            matched = table[row_cells[:active] + alphabet_index[codes[long_start[:active] + step]]]
            matched &= current
            # The update is (column + matched) | (column - matched), and column - matched == column ^ matched as
            # matched is a subset of column. The addition carries from word to word; a carry out of the top
            # word only leaves the column.
            total = current + matched
            if width > 1:
                carry = total < current
                for word in range(1, width):
                    total[:, word] += carry[:, word - 1]
                    carry[:, word] |= carry[:, word - 1] & (total[:, word] == 0)
            np.bitwise_xor(current, matched, out=matched)
            np.bitwise_or(total, matched, out=current)
    finally:
        alphabet_index[alphabet] = 0
    return np.asarray(short_len - np.bitwise_count(column & full).sum(axis=1, dtype=np.int64))
