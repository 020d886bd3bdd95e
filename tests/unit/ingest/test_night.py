"""A night without traces is loud: a warning, and with `require_traces` an error before anything is written."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

import polars as pl
import pytest

from tracewatch.errors import DataContractError
from tracewatch.ingest import ingest_new_traces, load_ledger
from tracewatch.ingest.night import NightTraces, NoTracesError
from tracewatch.store import Store
from tracewatch.traces import TRACE_SCHEMA

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


def night(files: int = 0, rows: int = 0, other_dates: int = 0, latest: dt.date | None = None) -> NightTraces:
    return NightTraces(D2, "file:///srv/tw", files, rows, other_dates, latest)


def test_the_warning_tells_an_empty_store_from_a_quiet_night_from_unreadable_files() -> None:
    assert night(files=1, rows=3, latest=D2).warning is None
    assert night().warning == (
        "no traces for the night 2026-11-02: the store file:///srv/tw has no trace files at all (none under "
        "traces/date=YYYY-MM-DD/); check TRACEWATCH_STORE, and that the application (or the import of "
        "TRACEWATCH_SOURCES) writes its traces there"
    )
    assert night(other_dates=3, latest=D1).warning == (
        "no traces for the night 2026-11-02: no trace file in file:///srv/tw/traces/date=2026-11-02/ (the store "
        "has trace files for 3 other date(s), the latest 2026-11-01)"
    )
    assert night(files=2, latest=D2).warning == (
        "no traces for the night 2026-11-02: its 2 trace file(s) in file:///srv/tw/traces/date=2026-11-02/ hold "
        "no readable row (see the rejected files)"
    )


def test_a_store_without_traces_fails_before_anything_is_written(file_store: Store) -> None:
    with pytest.raises(
        NoTracesError, match=r"has no trace files at all.*fail_on_no_traces=false lets it pass\)$"
    ):
        ingest_new_traces(file_store, up_to=D2, require_traces=True)
    assert file_store.list_objects("") == []  # no ledger, no quarantine: a wrong store URL stays clean


def test_a_night_without_files_fails_before_late_files_of_other_nights_are_taken(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    file_store.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 4))
    with pytest.raises(
        DataContractError, match=r"no trace file in .*date=2026-11-02/ .*the latest 2026-11-01"
    ):
        ingest_new_traces(file_store, up_to=D2, require_traces=True)
    assert load_ledger(file_store).frame.height == 0  # D1's file waits for a night that runs


def test_files_without_a_readable_row_fail_after_they_are_recorded(file_store: Store) -> None:
    file_store.write_parquet(f"traces/date={D2}/empty.parquet", pl.DataFrame(schema=TRACE_SCHEMA))
    with pytest.raises(NoTracesError, match="its 1 trace file"):
        ingest_new_traces(file_store, up_to=D2, require_traces=True)
    assert load_ledger(file_store).for_date(D2).height == 1  # what they were is on record


def test_without_the_rule_the_night_runs_and_warns(
    file_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tracewatch.ingest.run"):
        result = ingest_new_traces(file_store, up_to=D2)
    assert result.night is not None and result.night.empty
    assert [r.getMessage() for r in caplog.records] == [result.night.warning]


def test_a_night_with_traces_counts_its_files_new_or_ingested_before(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    file_store.write_parquet(f"traces/date={D2}/a.parquet", make_traces(D2.isoformat(), 5))
    first = ingest_new_traces(file_store, up_to=D2, require_traces=True)
    again = ingest_new_traces(file_store, up_to=D2, require_traces=True)  # a rerun reads nothing new
    assert first.night == again.night == NightTraces(D2, file_store.url, 1, 5, 0, D2)
    assert ingest_new_traces(file_store).night is None  # no night without `up_to`
