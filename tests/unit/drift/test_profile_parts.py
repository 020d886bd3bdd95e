"""A day profiled file by file (`profile_parts`) is the day profiled whole, to the stored bit, over random splits
into files: the numeric tables (exact and binned past `MAX_EXACT_VALUES`), categorical and segment tables, and
the text representation (topic cells, vector moments) drawn from the day's sample across the files."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from tests.conftest import canonical_traces
from tracewatch.drift.counts import MAX_EXACT_VALUES
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS, TEXT_SAMPLE
from tracewatch.drift.profile import (
    build_day_profile,
    day_tables,
    merge_profiles,
    segment_tables,
    text_sample_of,
)
from tracewatch.drift.profile_parts import ProfilePart, file_jobs, merge_parts, profile_from_files
from tracewatch.drift.profile_store import profile_frame
from tracewatch.ingest import AcceptedFile, ingest_new_traces, load_ledger, scan_accepted
from tracewatch.part_map import in_process
from tracewatch.store import Store

DAY = dt.date(2026, 11, 20)
WORDS = ["refund", "ticket", "пароль", "票", "invoice", "what", "how", "is", "the", "order", "delivery"]


def _day(rows: int, seed: int) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    base = canonical_traces(DAY.isoformat(), rows)
    words = rng.choice(WORDS, size=(rows, 4))
    texts = [" ".join(w) if rng.random() > 0.05 else None for w in words]
    return base.with_columns(
        pl.Series("latency_ms", rng.lognormal(5, 1, rows)),  # distinct floats: binned past MAX_EXACT_VALUES
        pl.Series("cost_usd", np.where(rng.random(rows) < 0.02, np.nan, rng.random(rows))),
        pl.Series("route", rng.choice(["a", "b|c", "d=e", None], rows).tolist(), dtype=pl.String),
        pl.Series("model", rng.choice(["m1", "m2"], rows)),
        pl.Series("input_text", texts, dtype=pl.String),
        pl.Series("input_tokens", rng.integers(1, 3000, rows)),
    )


def _parts(traces: pl.DataFrame, sizes: list[int]) -> list[ProfilePart]:
    files = [AcceptedFile(DAY, f"traces/date={DAY}/{i}.parquet", n, ()) for i, n in enumerate(sizes)]
    jobs = file_jobs(files, sizes, DAY)
    parts, start = [], 0
    for job, n in zip(jobs, sizes, strict=True):
        chunk = traces.slice(start, n)
        positions = np.asarray(job.sampled, dtype=np.int64)
        parts.append(
            ProfilePart(day_tables(chunk, DAY), segment_tables(chunk, DAY), text_sample_of(chunk, positions))
        )
        start += n
    return parts


def _random_sizes(rows: int, files: int, rng: np.random.Generator) -> list[int]:
    cuts = sorted(rng.choice(np.arange(rows + 1), files - 1, replace=True).tolist())
    return [b - a for a, b in zip([0, *cuts], [*cuts, rows], strict=True)]  # empty files included


@pytest.mark.parametrize(("rows", "files", "seed"), [(9000, 5, 1), (9000, 13, 2), (3000, 4, 3), (700, 1, 4)])
def test_a_day_profiled_file_by_file_is_the_day_profiled_whole(rows: int, files: int, seed: int) -> None:
    traces = _day(rows, seed)
    sizes = _random_sizes(rows, files, np.random.default_rng(seed))
    whole = build_day_profile(traces, DAY)

    merged = merge_parts(DAY, _parts(traces, sizes))

    assert merged == whole
    assert profile_frame(merged).equals(profile_frame(whole))
    if rows > TEXT_SAMPLE:  # the split cases cover sampling across files and binned numeric tables
        assert not whole.numeric["latency_ms"].exact and whole.vectors["input_vector"].n == TEXT_SAMPLE
        assert traces.get_column("latency_ms").n_unique() > MAX_EXACT_VALUES


def test_merging_each_files_own_profile_is_not_the_day() -> None:
    """The check above can fail: profiles of the files, each with its own text sample, merge to other text
    moments and topic cells than the day's (the tables do agree: they are counts)."""
    traces = _day(12000, 5)
    whole = build_day_profile(traces, DAY)

    merged = merge_profiles(build_day_profile(traces.slice(6000 * i, 6000), DAY) for i in range(2))

    assert merged.vectors["input_vector"].n == 2 * TEXT_SAMPLE != whole.vectors["input_vector"].n
    assert merged.categorical["input_topic"] != whole.categorical["input_topic"]
    assert merged.numeric == whole.numeric


def test_a_ledger_count_off_is_sampled_again_over_the_rows_read(
    file_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    """The sample positions come from the ledger's accepted rows; when a file holds other rows than it says
    (unreadable now, a count off), the day is sampled again over the rows read, so the profile stays the day's."""
    traces = _day(7000, 9)
    for i, (start, rows) in enumerate(((0, 2500), (2500, 4500))):
        file_store.write_parquet(f"traces/date={DAY}/{i}.parquet", traces.slice(start, rows))
    ingest_new_traces(file_store, up_to=DAY)
    ledger = load_ledger(file_store)
    ledger.frame = ledger.frame.with_columns(pl.col("rows_accepted") + pl.Series([1, -1]))
    whole = build_day_profile(scan_accepted(file_store, DAY, PROFILE_INPUT_COLUMNS), DAY)

    split = profile_from_files(file_store, DAY, ledger=ledger, part_map=in_process)

    assert profile_frame(split).equals(profile_frame(whole))
    assert "sampling again" in caplog.text
