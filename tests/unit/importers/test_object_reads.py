"""Objects read in worker processes import exactly as objects read in the importing process.

The corpus is the import benchmark's (`bench.import_spans`: the four dialects' real span shapes, old GenAI with
its content as log records, 1% of traces split over two objects) plus what makes the order of reads matter: a
Collector retry re-sending a batch whose spans had log records joined, log records of a span no object
holds, a trace with no LLM call, an object of random bytes and a truncated gzip. Every file the import
writes (canonical traces, ledger, quarantine, pending traces, `import_daily`) must be the same, byte for byte in
content, with one process or two workers; only the wall-clock columns (`imported_at`, `quarantined_at`,
`written_at`) differ.
"""

from __future__ import annotations

import datetime as dt
import gzip
from pathlib import Path
from typing import Any

import orjson
import polars as pl
import pytest
from bench.import_spans import FIRST_UPLOAD, SpanSet, write_span_set

import tracewatch.importers._object_reads as object_reads
from tests.support.otlp_documents import Uploads, child_span, qa_spans, request, span_id
from tests.support.otlp_requests import log_record, logs_request, otlp_json
from tracewatch.importers import ImportResult, SourceConfig, import_traces
from tracewatch.settings import Settings
from tracewatch.store import Store

WALL_CLOCK = ("imported_at", "quarantined_at", "written_at")
MINUTE = dt.timedelta(minutes=1)


def write_corpus(folder: Path) -> SpanSet:
    """The benchmark's spans and the extras that make cross-object order matter, under `folder`/otel."""
    root = Store(f"file://{folder}")
    spans = write_span_set(root, "otel", spans=10_000, marshaler="otlp_json")
    source = Store(f"file://{folder}/otel")
    uploads = Uploads(source, seed=7)
    keys = sorted(info.key for info in source.list_objects(""))
    traces_keys = [k for k in keys if "/traces_" in k]
    assert len(traces_keys) >= 3, "the corpus needs several objects of spans"
    last = spans.now - dt.timedelta(hours=1)  # the benchmark's last upload
    late = last + MINUTE  # still in its grace window when the import runs: these traces wait
    # A retry re-sends a whole batch: its old-GenAI spans had log records joined the first time.
    uploads.put(source.read_bytes(traces_keys[1]), FIRST_UPLOAD + MINUTE, already_compressed=True)
    uploads.put(source.read_bytes(traces_keys[2]), late, already_compressed=True)
    # Log records of a span no object holds: quarantined as unjoined, whichever process read them.
    orphan = log_record(event_name="gen_ai.user.message", body={"content": "hi"}, span_id=b"\x07" * 8)
    uploads.put(otlp_json(logs_request(orphan)), late, signal="logs")
    root_span, _ = qa_spans(900_001)
    no_llm_call = request(root_span, child_span(900_001, 3, span_id(900_001, 1)))
    uploads.put(no_llm_call, FIRST_UPLOAD + MINUTE)
    uploads.put(request(*qa_spans(900_003)), late)
    uploads.put(b"\x00not otlp at all\xff" * 50, late)
    uploads.put(gzip.compress(request(*qa_spans(900_002)))[:40], late, already_compressed=True)
    return spans


def run_import(folder: Path, store: Store, spans: SpanSet, workers: int) -> ImportResult:
    source = SourceConfig(name="otel", kind="otlp", location=f"file://{folder}/otel", grace_minutes=1)
    return import_traces(
        store,
        [source],
        settings=Settings(import_workers=workers),
        run_id="import-test",
        now=spans.now - dt.timedelta(seconds=3_600 - 90),  # the extras' traces still wait for their window
    )


def store_contents(store: Store) -> dict[str, Any]:
    """Every file the import wrote, Parquet as rows (wall-clock columns dropped), JSON as data."""
    contents: dict[str, Any] = {}
    for info in store.list_objects(""):
        if info.key.endswith(".parquet"):
            frame = store.read_parquet(info.key)
            contents[info.key] = frame.drop([c for c in WALL_CLOCK if c in frame.columns]).rows()
        else:
            data = orjson.loads(store.read_bytes(info.key))
            contents[info.key] = {k: v for k, v in data.items() if k not in WALL_CLOCK}
    return contents


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, SpanSet]:
    folder = tmp_path_factory.mktemp("sources")
    return folder, write_corpus(folder)


def test_two_workers_write_what_one_process_writes(
    corpus: tuple[Path, SpanSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder, spans = corpus
    pooled: list[int] = []
    in_workers = object_reads._read_in_workers

    def spy(*args: Any) -> Any:
        pooled.append(args[-1])
        return in_workers(*args)

    monkeypatch.setattr(object_reads, "_read_in_workers", spy)
    results, contents = [], []
    for workers in (1, 2):
        (tmp_path / f"store-{workers}").mkdir()
        store = Store(f"file://{tmp_path}/store-{workers}")
        results.append(run_import(folder, store, spans, workers))
        contents.append(store_contents(store))
    assert pooled == [2], "the second import read its objects in two worker processes"
    one, two = results
    assert one.sources == two.sources
    outcome = one.sources[0]
    # The corpus exercises what crosses objects: joined log records, re-sent spans and logs, waiting traces.
    assert outcome.traces > 1_000 and outcome.records_duplicate > 0 and outcome.records_late > 0
    assert outcome.records_rejected > 0
    assert outcome.objects_rejected == 2 and outcome.traces_skipped == 1 and outcome.pending_traces > 0
    assert contents[0].keys() == contents[1].keys()
    for key in contents[0]:
        assert contents[0][key] == contents[1][key], f"{key} differs between one process and two workers"
    rows = pl.concat(
        [Store(f"file://{tmp_path}/store-2").read_parquet(k) for k in outcome.outputs], how="vertical"
    )
    joined = sum(orjson.loads(m).get("log_record_count", 0) for m in rows["metadata"])
    assert joined == spans.log_records, "every log record joined its span, in the workers' reads as well"
    assert rows["input_text"].null_count() == 0, "old GenAI rows got their input from the joined log records"


def test_a_source_of_few_objects_is_read_in_the_importing_process(
    corpus: tuple[Path, SpanSet], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(object_reads, "MIN_OBJECTS_FOR_WORKERS", 10_000)

    def refuse(*args: Any) -> Any:
        raise AssertionError("a pool was started for a handful of objects")

    monkeypatch.setattr(object_reads, "_read_in_workers", refuse)
    folder, spans = corpus
    (tmp_path / "store").mkdir()
    result = run_import(folder, Store(f"file://{tmp_path}/store"), spans, workers=2)
    assert result.sources[0].traces > 1_000


@pytest.mark.parametrize(
    ("setting", "cpus", "expected"), [(0, 2, 1), (0, 4, 3), (0, 16, 4), (0, None, 1), (3, 2, 3)]
)
def test_the_worker_setting_leaves_a_cpu_to_the_importing_process_unless_given(
    setting: int, cpus: int | None, expected: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(object_reads.os, "cpu_count", lambda: cpus)
    assert object_reads.resolve_workers(setting) == expected


def test_a_negative_worker_setting_is_refused_by_the_settings() -> None:
    with pytest.raises(ValueError, match="import_workers"):
        Settings(import_workers=-1)
