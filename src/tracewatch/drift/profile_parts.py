"""A day's profile built file by file: each file's tables and its share of the day's text sample as a small part,
merged into exactly the profile of the whole day (the same stored bits).

Why the merge is exact, part by part:
- numeric tables: counts add, and a table that outgrows `counts.MAX_EXACT_VALUES` is binned by a fixed,
  idempotent value -> bin map, so binning the merged distinct values gives the bins of the whole day's values;
  counts stay integers.
- categorical tables and row counts: integers that add.
- the text representation (topic cells and vector moments) is not merged at all. The day's sample positions
  (`features.text_sample`) are drawn over the whole day's rows, so they are fixed here from the ledger's
  accepted rows per file before any file is read; each file returns only its sampled inputs (at most
  `TEXT_SAMPLE` for the day) and their segment labels, and the texts are embedded once, here, in the day's
  row order. Merging per-file moments instead would not be bit-equal: each set's sums are rounded to
  `vectors.GRID`, and rounding does not distribute over addition.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import polars as pl

from tracewatch.drift.features import PROFILE_INPUT_COLUMNS, text_sample
from tracewatch.drift.profile import (
    DayProfile,
    TextSample,
    assemble_profile,
    build_day_profile,
    day_tables,
    merge_tables,
    segment_tables,
    text_sample_of,
)
from tracewatch.drift.segments import SegmentTables
from tracewatch.ingest import AcceptedFile, Ledger, accepted_files, in_threads, read_accepted_file
from tracewatch.part_map import PartMap
from tracewatch.store import Store
from tracewatch.traces import TRACE_SCHEMA

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileProfileJob:
    """One file to profile and the positions (in its accepted rows) of its inputs in the day's text sample."""

    file: AcceptedFile
    sampled: tuple[int, ...]


@dataclass(frozen=True)
class ProfilePart:
    """One file's tables, its segments' tables and its sampled inputs: what the day's profile merges."""

    tables: SegmentTables
    segments: dict[str, SegmentTables]
    sample: TextSample


def profile_from_files(
    store: Store,
    day: dt.date,
    *,
    ledger: Ledger | None = None,
    part_map: PartMap = in_threads,
) -> DayProfile:
    """The profile of `day`'s accepted traces, one file per step of `part_map`: the same profile as
    `build_day_profile` of the whole day read at once (`scan_accepted`), with no process holding the day."""
    files = accepted_files(store, day, ledger)
    if not files:
        return build_day_profile(_no_traces(), day)
    expected = [f.rows_accepted for f in files]
    parts = part_map(functools.partial(profile_file, store), file_jobs(files, expected, day))
    found = [p.tables.rows for p in parts]
    if found != expected:  # a file unreadable now, or a ledger count off: sample again over the rows read
        log.warning(
            "profile of %s: the files hold %s accepted rows, the ledger %s; sampling again",
            day,
            found,
            expected,
        )
        parts = part_map(functools.partial(profile_file, store), file_jobs(files, found, day))
    return merge_parts(day, parts)


def _no_traces() -> pl.DataFrame:
    """No traces, with the profiled columns' types: the profile of a date without an accepted file."""
    return pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in PROFILE_INPUT_COLUMNS})


def profile_file(store: Store, job: FileProfileJob) -> ProfilePart:
    """The part of one file: its tables and segments (no topic cells) and its sampled inputs."""
    traces = read_accepted_file(store, job.file, PROFILE_INPUT_COLUMNS)
    day = job.file.day
    positions = np.asarray(job.sampled, dtype=np.int64)
    return ProfilePart(
        day_tables(traces, day), segment_tables(traces, day), text_sample_of(traces, positions)
    )


def merge_parts(day: dt.date, parts: Sequence[ProfilePart]) -> DayProfile:
    """The day's profile from its files' parts, in the day's file order."""
    labels = [p.sample.labels for p in parts]
    sample = TextSample(
        [text for p in parts for text in p.sample.texts],
        None if any(x is None for x in labels) else [label for x in labels for label in x or ()],
    )
    return assemble_profile(day, merge_tables([p.tables for p in parts]), _merged_segments(parts), sample)


def _merged_segments(parts: Sequence[ProfilePart]) -> dict[str, SegmentTables]:
    names = sorted({label for p in parts for label in p.segments})
    return {name: merge_tables([p.segments[name] for p in parts if name in p.segments]) for name in names}


def file_jobs(files: list[AcceptedFile], rows: list[int], day: dt.date) -> list[FileProfileJob]:
    """Each file with the positions, within it, of the day's sampled rows (rows numbered across the files in
    order, as in the whole day's frame)."""
    positions = text_sample(sum(rows), day)
    starts = np.cumsum([0, *rows])
    jobs = []
    for i, file in enumerate(files):
        lo, hi = np.searchsorted(positions, [starts[i], starts[i + 1]])
        local: npt.NDArray[np.int64] = positions[lo:hi] - starts[i]
        jobs.append(FileProfileJob(file, tuple(int(p) for p in local)))
    return jobs
