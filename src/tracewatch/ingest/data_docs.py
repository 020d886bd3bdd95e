"""Run real Great Expectations on a bounded sample of a day and publish its Data Docs and result to the store.

Every row was already checked by the polars compile of the suite during ingest; this step gives people GX's
own view (Data Docs) of the day, with the quarantined rows in it so the failures show, and cross-checks that
GX agrees with the row checks on that sample. The site is built in a temporary folder, made readable offline
(`tracewatch.validation.offline_docs`) and copied to the store; the log names the store copy, the one that lasts.
"""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path

import polars as pl

from tracewatch.ingest import quarantine
from tracewatch.ingest.accepted import scan_accepted
from tracewatch.store import Store
from tracewatch.validation import load_suite, run_suite, sample_for_gx, trace_suite_path

log = logging.getLogger(__name__)

DOCS_PREFIX = "warehouse/data_docs"
RESULTS_PREFIX = "warehouse/validation"
SAMPLE_ROWS = 5_000


def publish_data_docs(
    store: Store, day: dt.date, *, run_id: str, sample_rows: int = SAMPLE_ROWS
) -> str | None:
    """Validate a sample of `day` (quarantined rows first) with GX; return the Data Docs index URL, if any."""
    suite = load_suite(trace_suite_path()).for_gx()  # the part GX runs: no list columns to read
    columns = suite.columns
    rejected = quarantine.read_records(store, day, ["scope", *columns]).filter(pl.col("scope") == "row")
    accepted = scan_accepted(store, day, columns, max_rows_per_file=sample_rows)
    frame = pl.concat([rejected.select(columns), accepted.select(columns)])
    if frame.height == 0:
        log.info("no rows for %s: no Data Docs", day)
        return None
    sample = sample_for_gx(
        frame, range(rejected.height), max_rows=sample_rows, seed=0, unique_columns=("trace_id",)
    )
    prefix = f"{DOCS_PREFIX}/date={day.isoformat()}"
    with tempfile.TemporaryDirectory(prefix="tracewatch-docs-") as tmp:
        result = run_suite(sample, suite, day=day, docs_dir=Path(tmp))
        store.delete(prefix)
        for path in sorted(Path(tmp).rglob("*")):
            if path.is_file():
                store.write_bytes(f"{prefix}/{path.relative_to(tmp).as_posix()}", path.read_bytes())
        index = result.docs_index.relative_to(tmp).as_posix() if result.docs_index else None
    summary = result.to_json_dict() | {"docs_index": index, "run_id": run_id, "date": day.isoformat()}
    store.write_json(f"{RESULTS_PREFIX}/date={day.isoformat()}/gx_result.json", summary)
    if index is None:
        return None
    url = store.uri(f"{prefix}/{index}")
    log.info("Data Docs of %s published at %s (readable offline)", day, url)
    return url
