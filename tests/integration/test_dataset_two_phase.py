"""The nightly dataset step file by file (two-phase selection) on the local S3 server: a night written as many
files builds the version the same night builds as one file, and matches the one-pass selection and item rows.

Three nights of demo traces (the third with planted bad rows, so quarantined rows are left out file by file),
each night sampled with the shipped nightly spec into a dataset that grows night by night, so later nights
de-duplicate against earlier versions."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import polars as pl
import pytest

from devtools.s3server import S3Server
from tests.conftest import s3_settings
from tracewatch.datasets import load_dataset_spec, sample_dataset_items
from tracewatch.datasets.build import (
    CANDIDATE_COLUMNS,
    items_for_picks,
    read_candidates,
    select_candidates,
    select_window,
)
from tracewatch.datasets.distinct import Distinct
from tracewatch.datasets.items import ITEM_SOURCE_COLUMNS, items_with_redactions
from tracewatch.datasets.parts import accepted_parts
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.datasets.versions import list_versions, read_items
from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.reports import DATASET_ITEMS, DATASET_VERSIONS
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store
from tracewatch.traces import write_demo_traces

START = dt.date(2026, 4, 1)
DAYS = 3
TRACES = 3000
FILES = 7
VOLATILE = ("run_id", "created_at", "created", "written_at", "write_id")
"""What differs between two runs of one build by design: the run, its write and when."""


def _store(server: S3Server) -> Store:
    return Store.from_settings(s3_settings(server, f"t-{uuid.uuid4().hex[:12]}"))


def _spec() -> DatasetSpec:
    shipped = load_dataset_spec()
    return DatasetSpec.from_dict(
        shipped.to_dict() | {"sampling": shipped.sampling.to_dict() | {"budget": 60}}
    )


@pytest.fixture(scope="module")
def nights(s3_server: S3Server) -> dict[int, Store]:
    """The same three nights on two fresh S3 prefixes: as one file a night, and as `FILES` files a night."""
    stores = {}
    for files in (1, FILES):
        store = _store(s3_server)
        write_demo_traces(
            store, start=START, days=DAYS, traces_per_day=TRACES, files_per_day=files, drift=None
        )
        ingest_new_traces(store, up_to=START + dt.timedelta(days=DAYS - 1))
        stores[files] = store
    return stores


def _report(store: Store, table: str, day: dt.date) -> pl.DataFrame:
    return store.read_parquet(partition_key(table, day)).drop(VOLATILE, strict=False)


def test_many_files_build_the_versions_and_reports_of_one_file(nights: dict[int, Store]) -> None:
    """Night by night: the same picks, items, counts and redactions, the same version manifest and the same
    `dataset_versions` and `dataset_items` rows, whether the night came as one file or as seven."""
    spec = _spec()
    one, many = nights[1], nights[FILES]
    assert len(accepted_parts(many, START, START)) == FILES
    for offset in range(DAYS):
        day = START + dt.timedelta(days=offset)
        built_one, _ = sample_dataset_items(one, spec, day, run_id=f"one-{offset}")
        built_many, _ = sample_dataset_items(many, spec, day, run_id=f"many-{offset}")
        assert built_many.manifest is not None and built_one.manifest is not None
        assert built_many.items.equals(built_one.items)
        assert (built_many.counts, built_many.redactions) == (built_one.counts, built_one.redactions)
        assert _manifest(built_many.manifest) == _manifest(built_one.manifest)
        for table in (DATASET_VERSIONS.name, DATASET_ITEMS.name):
            assert _report(many, table, day).equals(_report(one, table, day))
    latest = list_versions(many, spec.name)[-1]
    assert read_items(many, latest).equals(read_items(one, list_versions(one, spec.name)[-1]))
    assert latest.version == DAYS


def test_file_by_file_selection_is_the_one_pass_selection(nights: dict[int, Store]) -> None:
    """On the night with quarantined rows, against the dataset of the nights before: `select_window` (file by
    file) against `select_candidates` over `read_candidates` (the whole night in memory), and the picks' item
    rows read file by file against those of the whole night read at once."""
    spec = _spec()
    store = nights[FILES]
    day = START + dt.timedelta(days=DAYS - 1)
    traces, counts = read_candidates(store, spec, day, day, {})
    whole = select_candidates(store, spec, traces)
    split_up = select_window(store, spec, day, day, {})
    assert split_up.selection is not None
    assert split_up.selection.picked.equals(whole.picked)
    assert split_up.selection.counts == whole.counts
    assert (split_up.rows, split_up.candidates) == (counts["traces"], traces.height)
    ids = whole.picked.select("trace_id", "strategy", "stratum")
    night = scan_accepted(store, day, ITEM_SOURCE_COLUMNS).join(ids, on="trace_id", how="inner")
    ordered = ids.select("trace_id").join(night, on="trace_id", how="left", maintain_order="left")
    reference = items_with_redactions(
        ordered,
        strategy=ordered["strategy"],
        stratum=ordered["stratum"],
        silver_feedback=spec.silver,
        redaction=spec.redaction,
    )
    items, redactions = items_for_picks(store, spec, split_up.selection.picked, day, day)
    assert items.equals(reference[0])
    assert redactions == reference[1]
    assert set(CANDIDATE_COLUMNS) <= set(traces.columns)


def _manifest(manifest: Any) -> dict[str, Any]:
    fields = dict(vars(manifest))
    return {k: v for k, v in fields.items() if k not in VOLATILE and k != "stored_signatures"}


def test_filters_are_applied_file_by_file(nights: dict[int, Store]) -> None:
    spec = _spec()
    store = nights[FILES]
    filters = {"route": ["qa/single-fact"]}
    traces, counts = read_candidates(store, spec, START, START, filters)
    split_up = select_window(store, spec, START, START, filters)
    whole = select_candidates(store, spec, traces)
    assert split_up.selection is not None
    assert split_up.selection.picked.equals(whole.picked)
    assert split_up.rows - split_up.candidates == counts["filtered out"] > 0


def test_a_night_past_the_grouping_sample_size_is_grouped_file_by_file(s3_server: S3Server) -> None:
    """24,000 traces in 10 files: past the size where the grouping verdict samples rows, so the verdict comes
    from the files' samples and the shortlisted questions' representatives from every file."""
    store = _store(s3_server)
    write_demo_traces(store, start=START, days=1, traces_per_day=24_000, files_per_day=10, drift=None)
    ingest_new_traces(store, up_to=START)
    spec = _spec()
    traces, _ = read_candidates(store, spec, START, START, {})
    assert Distinct.of(traces.get_column("input_text")).codes is not None  # demo questions repeat: grouped
    whole = select_candidates(store, spec, traces)
    split_up = select_window(store, spec, START, START, {})
    assert split_up.selection is not None
    assert split_up.selection.picked.equals(whole.picked)
    assert split_up.selection.counts == whole.counts
