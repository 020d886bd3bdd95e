"""The production-scoring sample of a day, picked file by file so memory depends on the largest file, not the day.

The sample is the `size` traces with the smallest stable hash of (seed, trace id), and the agreement traces are
the `agreement_size` traces with feedback outside the sample with the smallest hash (`trace_scores`). Both are
"smallest hashes" selections, so each file can shortlist its own candidates and a merge over the shortlists picks
the same rows, in the same order, as one selection over the whole day:
- a row among the day's `size` smallest (hash, position) is among its file's `size` smallest (positions order
  files as the day's reader does: ledger order, then row order);
- the agreement traces exclude the sample's trace ids, at most `size` distinct hashes, so every one of them is in
  its file's feedback rows with the `agreement_size + size` smallest distinct hashes (all rows of a duplicated
  trace id share its hash, so they stay together).
A file's part is at most `2 * size + agreement_size` rows (plus counts), read once.
"""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.frame_memory import owned
from tracewatch.hashing import key64, stable_hash64
from tracewatch.ingest import load_ledger, scan_accepted
from tracewatch.part_map import PartMap, in_process
from tracewatch.store import Store

TRACE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "route",
    "model",
    "input_text",
    "output_text",
    "retrieved_context",
    "latency_ms",
    "cost_usd",
    "status",
    "error_message",
    "feedback",
)
"""What trace scoring reads of each trace."""
_DRAW, _FILE, _ROW, _SAMPLEABLE, _FEEDBACK = "_draw", "_file", "_row", "_sampleable", "_feedback"


def has_feedback() -> pl.Expr:
    """Whether a trace carries at least one finite human feedback value (what agreement can be measured on)."""
    return (
        pl.col("feedback")
        .list.eval(pl.element().struct.field("value").is_finite())
        .list.any()
        .fill_null(False)
    )


@dataclass(frozen=True)
class Shortlist:
    """One file's part: its accepted rows and rows with feedback, and its candidates (`TRACE_COLUMNS` plus the
    hash, the file's index and the row's position, and which selection each candidate is for)."""

    rows: int
    feedback_rows: int
    candidates: pl.DataFrame


@dataclass(frozen=True)
class DaySample:
    """What is scored of a day: the uniform sample, the feedback traces judged for agreement only, and how many
    accepted traces the day had."""

    traces: int
    sample: pl.DataFrame
    extra: pl.DataFrame


def check_sizes(size: int, agreement_size: int) -> None:
    """Stop on a negative size before any file is read."""
    if size < 0:
        raise ConfigError(f"trace scoring sample size {size} must be >= 0")
    if agreement_size < 0:
        raise ConfigError(f"trace scoring agreement size {agreement_size} must be >= 0")


def shortlist(frame: pl.DataFrame, index: int, size: int, agreement_size: int, seed: int) -> Shortlist:
    """File number `index`'s candidates: its `size` smallest (hash, row) rows and its feedback rows with the
    `size + agreement_size` smallest distinct hashes."""
    ranked = frame.select(TRACE_COLUMNS).with_columns(
        pl.Series(_DRAW, stable_hash64(frame["trace_id"], key=key64(seed, "trace-scoring")), pl.UInt64),
        pl.lit(index, pl.Int64).alias(_FILE),
        pl.int_range(pl.len(), dtype=pl.Int64).alias(_ROW),
        has_feedback().alias(_FEEDBACK),
    )
    first = ranked.sort(_DRAW, _ROW).head(size).get_column(_ROW)
    sampleable = pl.col(_ROW).is_in(first.implode())
    feedback_rank = pl.when(_FEEDBACK).then(pl.col(_DRAW)).rank("dense")
    candidates = ranked.with_columns(
        sampleable.alias(_SAMPLEABLE),
        (pl.col(_FEEDBACK) & (feedback_rank <= size + agreement_size)).alias(_FEEDBACK),
    ).filter(pl.col(_SAMPLEABLE) | pl.col(_FEEDBACK))
    feedback_rows = int(ranked[_FEEDBACK].sum())
    return Shortlist(frame.height, feedback_rows, candidates)


def pick(parts: Sequence[Shortlist], size: int, agreement_size: int) -> DaySample:
    """The day's sample and agreement traces from its files' shortlists (in the files' order): the same rows,
    in the same order, as `trace_scores.sample_traces` and `feedback_traces` over the whole day."""
    check_sizes(size, agreement_size)
    candidates = pl.concat([part.candidates for part in parts])
    traces = sum(part.rows for part in parts)
    sample = _smallest(candidates.filter(_SAMPLEABLE), size, traces)
    taken = pl.col("trace_id").is_in(sample["trace_id"].implode())
    with_feedback = candidates.filter(_FEEDBACK)
    rest_rows = sum(part.feedback_rows for part in parts) - with_feedback.filter(taken).height
    extra = _smallest(with_feedback.filter(~taken), agreement_size, rest_rows)
    return DaySample(traces, sample, extra)


def _smallest(candidates: pl.DataFrame, size: int, rows: int) -> pl.DataFrame:
    """The `size` candidates with the smallest (hash, file, row), in the day's order; when the day had no more
    than `size` such rows (all of them are candidates), all of them by trace id, as the whole-day selection."""
    if rows <= size:
        return candidates.select(TRACE_COLUMNS).sort("trace_id")
    return candidates.sort(_DRAW, _FILE, _ROW).head(size).sort(_FILE, _ROW).select(TRACE_COLUMNS)


def sample_frame(traces: pl.DataFrame, size: int, agreement_size: int, seed: int) -> DaySample:
    """A given frame's sample and agreement traces (the frame as one file)."""
    check_sizes(size, agreement_size)
    return pick([shortlist(traces, 0, size, agreement_size, seed)], size, agreement_size)


def day_sample(
    store: Store,
    day: dt.date,
    *,
    size: int,
    agreement_size: int,
    seed: int,
    part_map: PartMap = in_process,
) -> DaySample:
    """`day`'s sample and agreement traces read file by file (through `part_map`); the merge runs here."""
    check_sizes(size, agreement_size)
    entries = load_ledger(store).for_date(day).filter(pl.col("status") != "rejected")
    keys = tuple(entries.get_column("source_key").to_list())
    if not keys:
        return sample_frame(scan_accepted(store, day, TRACE_COLUMNS), size, agreement_size, seed)
    step = functools.partial(file_shortlist, store, day, keys, size, agreement_size, seed)
    return pick(part_map(step, range(len(keys))), size, agreement_size)


def file_shortlist(
    store: Store, day: dt.date, keys: tuple[str, ...], size: int, agreement_size: int, seed: int, index: int
) -> Shortlist:
    """The shortlist of `keys[index]`: its accepted rows (quarantined rows left out, late feedback merged in)."""
    others = frozenset(keys[:index] + keys[index + 1 :])
    frame = scan_accepted(store, day, TRACE_COLUMNS, exclude=others)
    return owned(shortlist(frame, index, size, agreement_size, seed))
