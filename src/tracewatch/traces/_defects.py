"""Known-bad input planted in the demo's traces: malformed rows and an unreadable file that validation and
ingest must quarantine, each recorded so tests and the demo can check it was."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.store import Store

BAD_ROW_DAYS: tuple[int, ...] = (3, 7)
"""1-based day indices that get an extra `part-bad.parquet` of malformed rows (when the run is that long)."""
CORRUPT_FILE_DAY = 5
"""1-based day index that gets an unreadable `part-corrupt.parquet`."""
CORRUPT_FILE_BYTES = 4096

DEFECTS: tuple[str, ...] = (
    "null_trace_id",
    "duplicate_trace_id",
    "negative_latency_ms",
    "negative_output_tokens",
    "start_time_wrong_date",
    "unknown_status",
)
"""One planted row per defect, in this order, in every bad file."""


@dataclass(frozen=True)
class PlantedRow:
    """One malformed row written on purpose: validation must quarantine it for `defect`."""

    day: dt.date
    key: str
    row_index: int
    """Position of the row in the file at `key`."""
    trace_id: str | None
    defect: str
    detail: str


@dataclass(frozen=True)
class PlantedFile:
    """One unreadable file written on purpose: ingestion must quarantine it whole."""

    day: dt.date
    key: str
    defect: str
    size: int


def partition(day: dt.date) -> str:
    return f"traces/date={day.isoformat()}"


def plant_bad_rows(
    store: Store, day: dt.date, good: pl.DataFrame, *, seed: int, first_key: str
) -> list[PlantedRow]:
    """Copies of good rows, each broken in exactly one way, written as `part-bad.parquet`."""
    rng = np.random.default_rng([seed, day.toordinal(), 0xBAD])
    sources = rng.integers(0, good.height, len(DEFECTS))
    fresh_ids = [rng.bytes(16).hex() for _ in DEFECTS]
    duplicated = str(good["trace_id"][0])  # the first row of the day lives in the first part
    breakers: dict[str, Callable[[pl.DataFrame], pl.DataFrame]] = {
        "null_trace_id": lambda r: r.with_columns(trace_id=pl.lit(None, pl.String)),
        "duplicate_trace_id": lambda r: r.with_columns(trace_id=pl.lit(duplicated)),
        "negative_latency_ms": lambda r: r.with_columns(latency_ms=-pl.col("latency_ms").abs() - 1.0),
        "negative_output_tokens": lambda r: r.with_columns(output_tokens=-pl.col("output_tokens").abs() - 1),
        "start_time_wrong_date": lambda r: r.with_columns(
            start_time=pl.col("start_time") - dt.timedelta(days=1)
        ),
        "unknown_status": lambda r: r.with_columns(status=pl.lit("weird")),
    }
    details = {
        "duplicate_trace_id": f"same trace_id as the first row of {first_key}",
        "start_time_wrong_date": f"start_time on {day - dt.timedelta(days=1)}, file partition is {day}",
        "unknown_status": "status 'weird' is not one of the allowed values",
    }
    parts = [
        breakers[defect](good[int(src) : int(src) + 1].with_columns(trace_id=pl.lit(fresh_id)))
        for defect, src, fresh_id in zip(DEFECTS, sources, fresh_ids, strict=True)
    ]
    bad = pl.concat(parts).cast(good.schema)
    key = f"{partition(day)}/part-bad.parquet"
    store.write_parquet(key, bad)
    return [
        PlantedRow(
            day=day,
            key=key,
            row_index=i,
            trace_id=bad["trace_id"][i],
            defect=defect,
            detail=details.get(defect, defect.replace("_", " ")),
        )
        for i, defect in enumerate(DEFECTS)
    ]


def plant_corrupt_file(store: Store, day: dt.date, *, seed: int) -> PlantedFile:
    """Random bytes with a `.parquet` name: what a crashed writer or a bad upload leaves behind."""
    data = bytearray(np.random.default_rng([seed, day.toordinal(), 0xC0]).bytes(CORRUPT_FILE_BYTES))
    data[:4] = b"\x00BAD"  # never the Parquet magic, whatever the seed
    key = f"{partition(day)}/part-corrupt.parquet"
    store.write_bytes(key, bytes(data))
    return PlantedFile(day=day, key=key, defect="unreadable: not a Parquet file", size=len(data))
