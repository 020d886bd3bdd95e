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
from tracewatch.ingest.ledger import Ledger, load_ledger
from tracewatch.store import Store
from tracewatch.validation import load_suite, run_suite, sample_for_gx, trace_suite_path

log = logging.getLogger(__name__)

DOCS_PREFIX = "warehouse/data_docs"
RESULTS_PREFIX = "warehouse/validation"
SAMPLE_ROWS = 5_000
FILE_SHARE = 2
"""Each file gives at most this many times its even share of the sample: enough rows to fill the sample when a
few files have fewer, while a day of many files is read as about `FILE_SHARE * sample_rows` rows, not
`sample_rows` per file (at 100 files, 500,000 rows with their texts: 550 MB in the flow's process)."""


def publish_data_docs(
    store: Store, day: dt.date, *, run_id: str, sample_rows: int = SAMPLE_ROWS
) -> str | None:
    """Validate a sample of `day` (quarantined rows first) with GX; return the Data Docs index URL, if any."""
    suite = load_suite(trace_suite_path()).for_gx()  # the part GX runs: no list columns to read
    columns = suite.columns
    rejected = quarantine.read_records(store, day, ["scope", *columns]).filter(pl.col("scope") == "row")
    ledger = load_ledger(store)
    per_file = rows_per_file(ledger, day, sample_rows)
    accepted = scan_accepted(store, day, columns, ledger, max_rows_per_file=per_file)
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


def rows_per_file(ledger: Ledger, day: dt.date, sample_rows: int) -> int:
    """The rows each of `day`'s accepted files contributes to the pool the sample is drawn from: `FILE_SHARE`
    times its even share of `sample_rows` (all of `sample_rows` for a day of one file), so the pool, and the
    flow's memory, stays about the sample's size however many files the day has."""
    entries = ledger.for_date(day).filter(pl.col("status") != "rejected")
    files = max(1, entries.height)
    return min(sample_rows, -(-FILE_SHARE * sample_rows // files))
