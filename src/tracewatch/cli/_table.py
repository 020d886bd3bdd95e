"""Tabular output: a header row, then one row per line, columns aligned for a terminal."""

from __future__ import annotations

import sys
from collections.abc import Sequence


def print_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """`header` and `rows` on stdout, each column as wide as its widest cell; the last column is not padded,
    so a long last cell (a cost with its explanation) does not widen every line."""
    lines = [[str(cell) for cell in row] for row in (header, *rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(header) - 1)]
    for line in lines:
        padded = [cell.ljust(width) for cell, width in zip(line, widths, strict=False)]
        print("  ".join([*padded, line[-1]]).rstrip(), file=sys.stdout)
