"""A night's Data Docs in the store: the log names the published copy (not GX's temporary build folder), and the
published pages open offline."""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Callable

import polars as pl
import pytest

from tracewatch.ingest import ingest_new_traces, load_ledger, publish_data_docs
from tracewatch.ingest.data_docs import rows_per_file
from tracewatch.store import Store

D1 = dt.date(2026, 11, 1)
_CSS_OR_JS_URL = re.compile(r"""<(?:link|script)\b[^>]*\b(?:href|src)=["']https?://""")


def test_the_logged_data_docs_location_is_the_published_index_in_the_store(
    store: Store, make_traces: Callable[..., pl.DataFrame], caplog: pytest.LogCaptureFixture
) -> None:
    store.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 12))
    ingest_new_traces(store, up_to=D1)
    with caplog.at_level(logging.INFO):
        url = publish_data_docs(store, D1, run_id="r1")
    assert url is not None
    logged = [r.getMessage() for r in caplog.records if "Data Docs" in r.getMessage()]
    assert logged == [f"Data Docs of {D1} published at {url} (readable offline)"]
    assert (
        "tracewatch-docs-" not in caplog.text
    )  # the temporary build folder is gone by the time anyone reads
    index = store.key_of(url)
    assert store.exists(index) and index == f"warehouse/data_docs/date={D1}/index.html"
    page = store.read_bytes(index).decode("utf-8")
    assert not _CSS_OR_JS_URL.search(page), _CSS_OR_JS_URL.search(page)
    assert f"<td>{D1}</td>" in page  # the run table is in the HTML, not drawn by a CDN script


def test_a_day_without_rows_publishes_no_docs_and_says_so(
    file_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO):
        assert publish_data_docs(file_store, D1, run_id="r1") is None
    assert f"no rows for {D1}: no Data Docs" in caplog.text


def test_a_day_of_many_files_is_sampled_from_a_pool_about_the_sample_s_size(
    file_store: Store, make_traces: Callable[..., pl.DataFrame]
) -> None:
    """Each file gives twice its even share of the sample, not the whole sample: a 100-file day read 500,000
    rows with their texts into the flow's process to document 5,000 of them."""
    for name in ("a", "b", "c", "d", "e"):
        file_store.write_parquet(f"traces/date={D1}/{name}.parquet", make_traces(D1.isoformat(), 40))
    file_store.write_parquet(f"traces/date={D1}/f.parquet", pl.DataFrame({"nonsense": [1]}))  # rejected
    ingest_new_traces(file_store, up_to=D1)
    ledger = load_ledger(file_store)
    assert rows_per_file(ledger, D1, 5_000) == 2_000  # 5 accepted files: twice 1,000 each
    assert rows_per_file(ledger, D1, 7) == 3  # rounded up: 14 over 5 files
    assert rows_per_file(ledger, D1, 1) == 1  # never more than the sample
    assert rows_per_file(ledger, dt.date(2026, 11, 2), 5_000) == 5_000  # no file: the whole sample
