"""Late feedback: checked by its own suite, attached to its trace by id whatever the dates, one value per key,
waiting for an unknown trace and then orphaned (never dropped), and merged into what the stages read."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable

import polars as pl
import pytest

from tracewatch.ingest import (
    FEEDBACK_EVENT_SCHEMA,
    ingest_new_feedback,
    ingest_new_traces,
    load_ledger,
    merge_feedback,
    read_feedback_quarantine,
    scan_accepted,
)
from tracewatch.ingest.feedback_attach import INDEX_PREFIX, INDEX_STAMPS, trace_index
from tracewatch.ingest.feedback_run import FEEDBACK_LEDGER_KEY
from tracewatch.reports import FEEDBACK_ORPHANS, partition_key
from tracewatch.store import Store

D1, D2, D3, D4 = (dt.date(2026, 11, d) for d in (1, 2, 3, 4))
NOW = dt.datetime(2026, 11, 4, 2, 0, tzinfo=dt.UTC)


def at(day: dt.date, hour: int = 12, minute: int = 0) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(hour, minute), tzinfo=dt.UTC)


def events(*rows: tuple[str, str, float, str, dt.datetime]) -> pl.DataFrame:
    return pl.DataFrame(rows, schema=FEEDBACK_EVENT_SCHEMA, orient="row")


def write_feedback(store: Store, day: dt.date, name: str, frame: pl.DataFrame) -> None:
    store.write_parquet(f"feedback/date={day.isoformat()}/{name}.parquet", frame)


@pytest.fixture
def traced(file_store: Store, make_traces: Callable[..., pl.DataFrame]) -> Store:
    """Three traces on each of D1 and D2, ingested; each has the trace row's own thumbs entry."""
    for day in (D1, D2):
        file_store.write_parquet(f"traces/date={day}/app.parquet", make_traces(day.isoformat(), 3))
    ingest_new_traces(file_store)
    return file_store


def feedback_of(store: Store, day: dt.date, trace_id: str) -> list[dict[str, object]]:
    frame = scan_accepted(store, day, ("trace_id", "feedback"))
    row: list[dict[str, object]] = (
        frame.filter(pl.col("trace_id") == trace_id).get_column("feedback")[0].to_list()
    )
    return sorted(row, key=lambda e: (str(e["name"]), str(e["source"])))


def test_feedback_attaches_to_its_trace_whatever_the_dates_and_says_which_days_to_rebuild(
    traced: Store,
) -> None:
    write_feedback(
        traced,
        D3,
        "late",
        events(
            ("t-2026-11-01-0", "rating", 4.0, "annotator", at(D3)),
            ("t-2026-11-02-1", "thumbs", 0.0, "user", at(D3, 1)),
        ),
    )
    result = ingest_new_feedback(traced, up_to=D3, now=NOW)
    assert result.dates_rebuilt == [D1, D2]
    assert [r.why for r in result.rebuilt] == [
        "1 late feedback event(s) attached (rating 1)",
        "1 late feedback event(s) attached (thumbs 1)",
    ]
    assert "2026-11-01: rebuilt: 1 late feedback event(s) attached (rating 1)" in result.markdown()
    # a new name is added beside the row's own entry; the same name and source replaces the row's own value
    assert feedback_of(traced, D1, "t-2026-11-01-0") == [
        {"name": "rating", "value": 4.0, "source": "annotator"},
        {"name": "thumbs", "value": 0.0, "source": "user"},
    ]
    assert feedback_of(traced, D2, "t-2026-11-02-1") == [{"name": "thumbs", "value": 0.0, "source": "user"}]
    untouched = scan_accepted(traced, D2, ("trace_id", "feedback"))
    assert untouched.get_column("trace_id").to_list() == [f"t-2026-11-02-{i}" for i in range(3)]  # order kept
    assert result.with_feedback == {D1, D2}


def test_duplicates_count_once_and_a_later_value_replaces_the_earlier(traced: Store) -> None:
    first = ("t-2026-11-01-1", "rating", 2.0, "annotator", at(D2))
    write_feedback(traced, D2, "a", events(first, first))
    one = ingest_new_feedback(traced, up_to=D2, now=NOW)
    assert (one.duplicates, one.replaced, one.dates_rebuilt) == (1, 0, [D1])
    later = ("t-2026-11-01-1", "rating", 5.0, "annotator", at(D3))
    write_feedback(traced, D2, "b", events(first))
    write_feedback(traced, D3, "b", events(later))
    two = ingest_new_feedback(traced, up_to=D3, now=NOW)
    assert (two.duplicates, two.replaced, two.dates_rebuilt) == (1, 1, [D1])
    assert {"name": "rating", "value": 5.0, "source": "annotator"} in feedback_of(
        traced, D1, "t-2026-11-01-1"
    )
    # an older value arriving late does not win, and changes no day
    write_feedback(traced, D3, "c", events(("t-2026-11-01-1", "rating", 1.0, "annotator", at(D3, 0))))
    three = ingest_new_feedback(traced, up_to=D3, now=NOW)
    assert three.dates_rebuilt == []
    assert {"name": "rating", "value": 5.0, "source": "annotator"} in feedback_of(
        traced, D1, "t-2026-11-01-1"
    )


def test_files_are_read_once_by_the_ledger_and_rewritten_files_again(traced: Store) -> None:
    write_feedback(traced, D2, "a", events(("t-2026-11-01-0", "rating", 3.0, "annotator", at(D2))))
    assert ingest_new_feedback(traced, up_to=D2, now=NOW).files == 1
    assert ingest_new_feedback(traced, up_to=D2, now=NOW).files == 0
    ledger = load_ledger(traced, FEEDBACK_LEDGER_KEY).frame
    assert ledger.select("status", "rows_read", "rows_accepted").rows() == [("accepted", 1, 1)]
    write_feedback(traced, D2, "a", events(("t-2026-11-01-0", "rating", 1.0, "annotator", at(D2, 13))))
    again = ingest_new_feedback(traced, up_to=D2, now=NOW)
    assert (again.files, again.replaced, again.dates_rebuilt) == (1, 1, [D1])
    # a partition after up_to waits for its night
    write_feedback(traced, D3, "later", events(("t-2026-11-01-0", "x", 1.0, "user", at(D3))))
    assert ingest_new_feedback(traced, up_to=D2, now=NOW).files == 0


def test_bad_rows_and_files_are_quarantined_with_reasons(traced: Store) -> None:
    good = ("t-2026-11-01-0", "rating", 3.0, "annotator", at(D2))
    bad = pl.DataFrame(
        {
            "trace_id": ["t-2026-11-01-0", None, "t-2026-11-01-1", "t-2026-11-01-2"],
            "name": ["rating", "thumbs", "", "thumbs"],
            "value": [float("nan"), 1.0, 1.0, 1.0],
            "source": ["user", "user", "user", "user"],
            "created_at": [at(D2), at(D2), at(D2), at(D1)],
        },
        schema=FEEDBACK_EVENT_SCHEMA,
    )
    write_feedback(traced, D2, "good", events(good))
    write_feedback(traced, D2, "bad", bad)
    write_feedback(traced, D2, "no-source", events(good).drop("source"))
    traced.write_bytes(f"feedback/date={D2}/broken.parquet", b"not parquet")
    text_value = io.BytesIO()
    events(good).with_columns(pl.lit("five").alias("value")).write_parquet(text_value)
    traced.write_bytes(f"feedback/date={D2}/text.parquet", text_value.getvalue())
    result = ingest_new_feedback(traced, up_to=D2, now=NOW)
    assert (result.files, result.files_rejected, result.rows_read) == (5, 2, 7)
    assert result.rows_quarantined == 4 + 1 + 1  # the bad file's rows, no-source's one row, text's one row
    records = read_feedback_quarantine(traced, D2)
    reasons = {
        (key.rsplit("/", 1)[-1], row): tuple(found)
        for key, row, found in records.select("source_key", "row_nr", "reasons").iter_rows()
    }
    assert reasons[("bad.parquet", 0)][-1] == (
        "value must be a finite number (not NaN or infinite): got NaN [feedback_value_finite]"
    )
    assert reasons[("bad.parquet", 1)] == (
        "trace_id must not be null: feedback is attached to its trace by id: trace_id is null "
        "[feedback_trace_id_not_null]",
    )
    assert reasons[("bad.parquet", 2)] == (
        "name must not be empty: name length 0 is below the minimum 1 [feedback_name_not_empty]",
    )
    assert reasons[("bad.parquet", 3)] == (
        "created_at must fall within the partition day [day_start, day_end) in UTC: "
        "created_at=2026-11-01T12:00:00+00:00 is below the minimum 2026-11-02T00:00:00+00:00 "
        "[feedback_created_at_in_day]",
    )
    assert reasons[("text.parquet", 0)][-1] == "value: five is not a Float64"
    assert reasons[("no-source.parquet", None)][0].startswith(
        "missing column(s) source; a feedback file needs"
    )
    assert reasons[("broken.parquet", None)][0].startswith("unreadable Parquet file")
    assert result.dates_rebuilt == [D1]


def test_feedback_for_an_unknown_trace_waits_then_is_orphaned_never_dropped(
    traced: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    write_feedback(
        traced,
        D3,
        "f",
        events(("t-2026-11-03-0", "thumbs", 1.0, "user", at(D3)), ("ghost", "thumbs", 0.0, "user", at(D3))),
    )
    wait = dt.timedelta(hours=24)
    first = ingest_new_feedback(traced, up_to=D3, now=NOW, orphan_after=wait)
    assert (first.waiting, first.orphaned, first.dates_rebuilt) == (2, 0, [])
    # the trace arrives late: its waiting feedback attaches and its date is rebuilt
    traced.write_parquet(f"traces/date={D3}/app.parquet", make_traces(D3.isoformat(), 1))
    ingest_new_traces(traced)
    second = ingest_new_feedback(traced, up_to=D3, now=NOW + dt.timedelta(hours=1), orphan_after=wait)
    assert (second.waiting, second.orphaned, second.dates_rebuilt) == (1, 0, [D3])
    # the wait is read on the nights' clock (the end of each night), not the wall clock: by the end of D4 the
    # ghost's feedback, given at noon on D3, has waited 36 h
    third = ingest_new_feedback(traced, up_to=D4, now=NOW + dt.timedelta(days=30), orphan_after=wait)
    assert (third.waiting, third.orphaned) == (0, 1)
    orphans = traced.read_parquet(partition_key(FEEDBACK_ORPHANS.name, D4))
    assert orphans.select("trace_id", "reason", "waited_hours").rows() == [
        (
            "ghost",
            "no trace with id ghost by the end of the night, 36.0 h after the feedback was given (it waits 24.0 h)",
            36.0,
        )
    ]
    # a rerun of the night keeps the night's orphans in its report
    ingest_new_feedback(traced, up_to=D4, now=NOW + dt.timedelta(days=31), orphan_after=wait)
    assert traced.read_parquet(partition_key(FEEDBACK_ORPHANS.name, D4)).height == 1


def test_merge_keeps_rows_without_late_feedback_bit_for_bit(make_traces: Callable[..., pl.DataFrame]) -> None:
    traces = make_traces("2026-11-01", 4).select("trace_id", "feedback")
    late = events(
        ("t-2026-11-01-3", "thumbs", 1.0, "user", at(D1)), ("t-2026-11-01-3", "r", 2.0, "user", at(D1))
    )
    merged = merge_feedback(traces, late)
    assert merged.slice(0, 3).equals(traces.slice(0, 3))
    assert sorted(merged.get_column("feedback")[3].to_list(), key=str) == sorted(
        [{"name": "thumbs", "value": 1.0, "source": "user"}, {"name": "r", "value": 2.0, "source": "user"}],
        key=str,
    )
    assert merged.schema == traces.schema


def test_a_stage_that_reads_feedback_without_trace_ids_gets_the_merged_lists(traced: Store) -> None:
    write_feedback(traced, D2, "a", events(("t-2026-11-01-2", "rating", 2.0, "annotator", at(D2))))
    ingest_new_feedback(traced, up_to=D2, now=NOW)
    frame = scan_accepted(traced, D1, ("route", "feedback"))
    assert frame.columns == ["route", "feedback"]
    assert {"name": "rating", "value": 2.0, "source": "annotator"} in frame.get_column("feedback")[
        2
    ].to_list()
    assert frame.height == 3


def test_the_trace_index_is_one_object_per_trace_file_and_follows_late_files(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """A date is indexed one trace file at a time (no read of the whole date), again when a late file arrives,
    and a store indexed in the earlier layout (one object per date) is indexed again in this one."""
    for name in ("a", "b", "c"):
        file_store.write_parquet(
            f"traces/date={D1}/{name}.parquet", make_traces(D1.isoformat(), 4, prefix=name)
        )
    ingest_new_traces(file_store, up_to=D1)
    wanted = pl.Series(["a-2026-11-01-0", "c-2026-11-01-3", "late-2026-11-01-1", "nowhere"])
    found = trace_index(file_store, load_ledger(file_store), wanted)
    assert sorted(found.get_column("trace_id").to_list()) == ["a-2026-11-01-0", "c-2026-11-01-3"]
    assert len(_index_objects(file_store)) == 3

    file_store.write_parquet(f"traces/date={D1}/late.parquet", make_traces(D1.isoformat(), 2, prefix="late"))
    ingest_new_traces(file_store, up_to=D1)
    found = trace_index(file_store, load_ledger(file_store), wanted)
    assert found.height == 3 and set(found.get_column("date").to_list()) == {D1}
    assert len(_index_objects(file_store)) == 4

    file_store.delete(f"{INDEX_PREFIX}/date={D1}")  # as an earlier version left it: one object for the date
    file_store.write_parquet(
        f"{INDEX_PREFIX}/date={D1}.parquet", pl.DataFrame({"trace_id": ["x"], "date": [D1]})
    )
    stamps = file_store.read_json(INDEX_STAMPS)
    file_store.write_json(INDEX_STAMPS, {day: "from-the-earlier-layout" for day in stamps})
    assert trace_index(file_store, load_ledger(file_store), wanted).height == 3
    assert len(_index_objects(file_store)) == 4


def _index_objects(store: Store) -> list[str]:
    return [o.key for o in store.list_objects(INDEX_PREFIX, suffix=".parquet")]
