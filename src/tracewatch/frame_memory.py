"""Copies that hold only their own bytes.

Rows filtered, sampled or gathered from a polars frame share its string buffers (string views point into
them), so a 100-row sample of a 100,000-trace file keeps the whole file's texts alive for as long as the
sample lives. A step that keeps small pieces of many files (a sample drawn file by file over a day of 100
files, a split stage's 100 parts) must copy each piece, or it holds most of the day.
"""

from __future__ import annotations

import pickle
from typing import TypeVar

T = TypeVar("T")


def owned(piece: T) -> T:
    """`piece` (a frame, or anything holding frames) copied through pickle, which writes only the bytes its rows
    use, not the buffers they point into. A process or Dask worker pickles a result to send it back anyway; a
    copy of a small piece costs little."""
    copy: T = pickle.loads(pickle.dumps(piece, protocol=pickle.HIGHEST_PROTOCOL))
    return copy
