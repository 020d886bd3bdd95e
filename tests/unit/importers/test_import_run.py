"""The import run across nights, on local folders: late traces keep their own files, spans of a trace released
on an earlier night are late (not a second trace), and a re-import loses no trace that shared a file."""

from __future__ import annotations

import datetime as dt
import gc
from pathlib import Path

import polars as pl
import pytest

from tests.support.otlp_documents import Uploads, child_span, qa_spans, request, span_id
from tracewatch.importers import SourceConfig, import_traces
from tracewatch.importers._quarantine import IMPORT_QUARANTINE_PREFIX, quarantine_key
from tracewatch.store import Store

T0 = dt.datetime(2026, 12, 6, 10, 0, tzinfo=dt.UTC)
MINUTE = dt.timedelta(minutes=1)


def source_at(folder: Path) -> SourceConfig:
    return SourceConfig(name="otel", kind="otlp", location=f"file://{folder}", grace_minutes=15)


def imported(store: Store) -> pl.DataFrame:
    files = store.list_objects("traces", suffix=".parquet")
    return pl.concat([store.read_parquet(f.key) for f in files]) if files else pl.DataFrame()


def test_a_trace_released_a_night_later_gets_a_file_of_its_own(tmp_path: Path, file_store: Store) -> None:
    source = source_at(tmp_path / "otel")
    uploads = Uploads(Store(source.location))
    root1, chat1 = qa_spans(1)
    root2, chat2 = qa_spans(2)
    uploads.put(request(root1, chat1, root2), T0)
    uploads.put(request(chat2), T0 + 10 * MINUTE)  # trace 2's model call comes in a second object
    first = import_traces(file_store, [source], now=T0 + 20 * MINUTE)  # trace 2 is still within its window
    assert (first.sources[0].traces, first.sources[0].pending_traces) == (1, 1)
    second = import_traces(file_store, [source], now=T0 + 60 * MINUTE)
    assert second.sources[0].traces == 1
    assert set(second.sources[0].outputs).isdisjoint(first.sources[0].outputs)
    assert sorted(imported(file_store)["trace_id"].to_list()) == [f"{1:032x}", f"{2:032x}"]


def test_spans_of_a_trace_released_on_an_earlier_night_are_late(tmp_path: Path, file_store: Store) -> None:
    source = source_at(tmp_path / "otel")
    uploads = Uploads(Store(source.location))
    root, chat = qa_spans(1)
    uploads.put(request(root, chat), T0)
    import_traces(file_store, [source], now=T0 + 60 * MINUTE)
    uploads.put(request(child_span(1, 3, span_id(1, 1))), T0 + 24 * 60 * MINUTE)
    later = import_traces(file_store, [source], now=T0 + 25 * 60 * MINUTE)
    assert (later.sources[0].traces, later.sources[0].records_late) == (0, 1)
    assert imported(file_store).height == 1  # no second row for trace 1


def test_a_reimport_of_one_day_keeps_the_traces_that_shared_its_files(
    tmp_path: Path, file_store: Store
) -> None:
    source = source_at(tmp_path / "otel")
    uploads = Uploads(Store(source.location))
    day1, day2 = T0, T0 + 24 * 60 * MINUTE
    root1, chat1 = qa_spans(1)
    root2, chat2 = qa_spans(2)
    uploads.put(request(root1, chat1), day1)
    uploads.put(request(root2, chat2), day2)
    import_traces(file_store, [source], now=day2 + 60 * MINUTE)  # one run, one file for both upload days
    again = import_traces(file_store, [source], now=day2 + 60 * MINUTE, reimport=[day2.date()])
    assert again.sources[0].objects == 2  # day 1's object shared the removed file: read again too
    assert sorted(imported(file_store)["trace_id"].to_list()) == [f"{1:032x}", f"{2:032x}"]


def test_a_run_pauses_the_cyclic_collector_while_it_assembles_and_leaves_it_as_found(
    tmp_path: Path, file_store: Store
) -> None:
    """Collections over the spans waiting for their trace cost a quarter of an import's time: the run pauses
    the collector (seen here from the pricer, called while assembling), and restores it afterwards."""
    source = source_at(tmp_path / "otel")
    root, chat = qa_spans(1)
    Uploads(Store(source.location)).put(request(root, chat), T0)
    seen: list[bool] = []

    def pricer(model: str, input_tokens: int, output_tokens: int) -> float:
        seen.append(gc.isenabled())
        return 0.001

    assert gc.isenabled()
    done = import_traces(file_store, [source], now=T0 + 60 * MINUTE, pricer=pricer)
    assert (done.sources[0].traces, seen) == (1, [False])
    assert gc.isenabled()


def test_a_clean_new_version_of_a_quarantined_object_removes_its_record_without_asking_per_object(
    tmp_path: Path, file_store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = source_at(tmp_path / "otel")
    uploads = Uploads(Store(source.location))
    bad_key = uploads.put(b"{ not json", T0)
    root, chat = qa_spans(1)
    uploads.put(request(root, chat), T0 + MINUTE)
    first = import_traces(file_store, [source], now=T0 + 60 * MINUTE)
    assert (first.sources[0].objects_rejected, first.sources[0].traces) == (1, 1)
    record = quarantine_key(source.name, T0.date(), bad_key)
    assert file_store.exists(record)

    # The Collector cannot rewrite a key, but a store can hold a new version of one: it is a new object.
    root2, chat2 = qa_spans(2)
    Store(source.location).write_bytes(bad_key, request(root2, chat2))
    asked: list[str] = []
    real_exists = Store.exists
    monkeypatch.setattr(Store, "exists", lambda self, key: asked.append(key) or real_exists(self, key))
    second = import_traces(file_store, [source], now=T0 + 120 * MINUTE)
    assert (second.sources[0].objects, second.sources[0].objects_rejected, second.sources[0].traces) == (
        1,
        0,
        1,
    )
    assert not [key for key in asked if key.startswith(IMPORT_QUARANTINE_PREFIX)]  # one listing instead
    monkeypatch.undo()
    assert not file_store.exists(record)  # the old version's record went with it
