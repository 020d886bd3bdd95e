"""The import's worker processes on the local S3 server: each opens the source itself, with the credentials the
sources file names by environment variable, and the import writes what one process writes.

The source is the import benchmark's mixed-dialect spans (`bench.import_spans`) in the Collector's
awss3exporter layout, old GenAI content as log records in `logs_*` objects (docs/importing.md, "Import speed").
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import pytest
from bench.import_spans import write_span_set

import tracewatch.importers._source_run as source_run
from devtools.s3server import S3Server
from tests.support.import_runs import assert_accounted, s3_source
from tests.unit.importers.test_object_reads import store_contents
from tracewatch.importers import import_traces
from tracewatch.importers._object_reads import read_objects
from tracewatch.settings import Settings
from tracewatch.store import Store


def test_workers_read_an_s3_source_with_its_own_credentials_and_write_what_one_process_writes(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source, source_store = s3_source(s3_server, monkeypatch, "otlp")
    spans = write_span_set(source_store, "otel", spans=10_000, marshaler="otlp_json")
    source = source.model_copy(update={"location": f"{source.location}/otel"})
    # The store's own S3 settings name no credentials: the workers can only read with the source's variables.
    settings = {workers: Settings(import_workers=workers, s3_endpoint_url=None) for workers in (1, 2)}
    contents = []
    for workers in (1, 2):
        (tmp_path / str(workers)).mkdir()
        store = Store(f"file://{tmp_path}/{workers}")
        result = import_traces(store, [source], settings=settings[workers], run_id="import-s3", now=spans.now)
        state = assert_accounted(store, result)
        assert state.outcome.traces == spans.traces
        contents.append(store_contents(store))
    assert contents[0] == contents[1]


def test_a_worker_that_cannot_read_the_source_fails_the_import(
    s3_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source, source_store = s3_source(s3_server, monkeypatch, "otlp")
    spans = write_span_set(source_store, "otel", spans=10_000, marshaler="otlp_json")
    source = source.model_copy(update={"location": f"{source.location}/otel"})

    # Objects vanish after the listing: a worker's read fails, and the import with it, naming the object.
    def delete_then_read(reader: Any, store: Store, objects: list[Any], **options: Any) -> Any:
        for obj in objects[-3:]:
            source_store.delete(f"otel/{obj.info.key}")
        return read_objects(reader, store, objects, **options)

    monkeypatch.setattr(source_run, "read_objects", delete_then_read)
    (tmp_path / "store").mkdir()
    with pytest.raises(Exception, match=r"traces_"):
        import_traces(
            Store(f"file://{tmp_path}/store"),
            [source],
            settings=Settings(import_workers=2),
            now=spans.now + dt.timedelta(hours=1),
        )
