"""Frames that hold only their own bytes.

Rows filtered, sampled or gathered from a polars frame share its string buffers (string views point into
them), so a 100-row sample of a 100,000-trace file keeps the whole file's texts alive for as long as the
sample lives. A step that keeps small pieces of many files (a sample drawn file by file over a day of 100
files) must copy each piece, or it holds most of the day.
"""

from __future__ import annotations

import io

import polars as pl


def own_bytes(frame: pl.DataFrame) -> pl.DataFrame:
    """A copy of `frame` that holds only the bytes its rows use (through Arrow IPC, which writes each string's
    bytes, not the buffers they point into)."""
    buffer = io.BytesIO()
    frame.write_ipc(buffer, compression="uncompressed")
    buffer.seek(0)
    return pl.read_ipc(buffer)
