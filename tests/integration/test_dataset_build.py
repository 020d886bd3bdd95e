"""Building dataset versions from ingested demo traces, on the real stores: picks, reruns, PII, bad input."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import polars as pl
import pytest

from tracewatch.datasets.append import append_version
from tracewatch.datasets.build import build_dataset_version, read_candidates, select_candidates
from tracewatch.datasets.candidates import candidate_inputs
from tracewatch.datasets.items import ITEM_SOURCE_COLUMNS, items_from_traces
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.datasets.versions import list_versions, read_version
from tracewatch.errors import ConfigError
from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.store import Store
from tracewatch.traces import DemoSummary, write_demo_traces

START = dt.date(2026, 3, 1)
SPEC: dict[str, Any] = {
    "name": "support-qa",
    "sampling": {
        "budget": 40,
        "seed": 11,
        "strategies": [
            {"kind": "failure", "share": 0.5, "low_feedback": {"thumbs": 0.5}},
            {"kind": "stratified", "share": 0.5, "by": ["route", "model"], "min_per_stratum": 2},
        ],
    },
}


@pytest.fixture
def demo(file_store: Store) -> DemoSummary:
    summary = write_demo_traces(file_store, start=START, days=2, traces_per_day=300, drift=None)
    ingest_new_traces(file_store, up_to=START + dt.timedelta(days=1))
    return summary


def _all_text(items: pl.DataFrame) -> str:
    return "\n".join(str(row) for row in items.iter_rows())


def test_a_night_makes_a_version_of_new_deduplicated_items(file_store: Store, demo: DemoSummary) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    build = build_dataset_version(file_store, spec, start=START, end=START, run_id="r1")

    assert build.created and build.manifest is not None and build.manifest.version == 1
    items = read_version(file_store, "support-qa", 1)
    assert 0 < items.height <= 40
    assert items["content_hash"].n_unique() == items.height
    assert set(items["strategy"].unique()) == {"failure", "stratified"}
    assert items["source_date"].unique().to_list() == [START]
    counts = build.counts
    accounted = sum(
        v for k, v in counts.items() if k.startswith("candidates: ") and k != "candidates: candidates"
    )
    assert accounted == counts["candidates: candidates"]
    assert counts["traces"] == counts["candidates: candidates"] + counts["filtered out"]
    assert counts["candidates: not sampled"] > 0  # the shortlist examined a fraction of the night


def test_a_rerun_of_the_night_adds_nothing_and_returns_the_same_items(
    file_store: Store, demo: DemoSummary
) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    first = build_dataset_version(file_store, spec, start=START, end=START, run_id="r1")
    again = build_dataset_version(file_store, spec, start=START, end=START, run_id="r2")

    assert not again.created
    assert again.manifest is not None and first.manifest is not None
    assert again.manifest.version == first.manifest.version
    assert sorted(again.items["item_id"]) == sorted(first.items["item_id"])
    assert len(list_versions(file_store, "support-qa")) == 1


def test_the_next_night_adds_a_version_without_repeating_items(file_store: Store, demo: DemoSummary) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    build_dataset_version(file_store, spec, start=START, end=START, run_id="r1")
    second = build_dataset_version(
        file_store, spec, start=START + dt.timedelta(days=1), end=START + dt.timedelta(days=1), run_id="r2"
    )

    assert second.manifest is not None and second.manifest.version == 2
    items = read_version(file_store, "support-qa", 2)
    assert items["item_id"].n_unique() == items.height
    assert items["content_hash"].n_unique() == items.height


def test_planted_pii_never_reaches_a_dataset(file_store: Store, demo: DemoSummary) -> None:
    assert demo.planted_pii, "the demo plants PII; without it this test proves nothing"
    spec = DatasetSpec.from_dict(SPEC | {"sampling": SPEC["sampling"] | {"budget": 600}})
    build = build_dataset_version(
        file_store, spec, start=START, end=START + dt.timedelta(days=1), run_id="r1"
    )

    items = read_version(file_store, "support-qa")
    picked_planted = set(items["source_trace_id"]) & {p.trace_id for p in demo.planted_pii}
    assert picked_planted, "the failure-seeking strategy should pick the planted (thumbs-down) traces"
    text = _all_text(items)
    leaked = [p for p in demo.planted_pii if p.value in text]
    assert leaked == []
    assert sum(build.redactions.values()) > 0
    assert "<EMAIL>" in text


def test_an_empty_window_creates_no_version_and_says_so(file_store: Store, demo: DemoSummary) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    empty_day = START + dt.timedelta(days=30)
    build = build_dataset_version(file_store, spec, start=empty_day, end=empty_day, run_id="r1")

    assert not build.created and build.manifest is None
    assert "no version created" in build.message
    assert list_versions(file_store, "support-qa") == []


def test_bad_specs_and_filters_name_what_is_allowed(file_store: Store, demo: DemoSummary) -> None:
    bad_strategy = SPEC | {"sampling": SPEC["sampling"] | {"strategies": [{"kind": "random"}]}}
    with pytest.raises(ConfigError, match="allowed: failure, novelty, stratified, uniform"):
        DatasetSpec.from_dict(bad_strategy)
    bad_column = SPEC | {
        "sampling": SPEC["sampling"] | {"strategies": [{"kind": "stratified", "by": ["region"]}]}
    }
    with pytest.raises(ConfigError, match="region"):
        DatasetSpec.from_dict(bad_column)
    with pytest.raises(ConfigError, match="unknown column"):
        build_dataset_version(
            file_store,
            DatasetSpec.from_dict(SPEC),
            start=START,
            end=START,
            run_id="r1",
            filters={"region": ["eu"]},
        )


def test_filters_keep_only_the_named_values(file_store: Store, demo: DemoSummary) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    chosen = _routes(file_store)[0]
    build = build_dataset_version(
        file_store, spec, start=START, end=START, run_id="r1", filters={"route": [chosen]}
    )

    assert build.counts["filtered out"] > 0
    assert set(build.items["route"].unique()) == {chosen}


def test_deduplicating_on_the_64_bit_key_or_the_sha256_picks_the_same_traces(
    file_store: Store, demo: DemoSummary
) -> None:
    by_key = DatasetSpec.from_dict(SPEC)
    by_hash = DatasetSpec.from_dict(
        SPEC | {"sampling": SPEC["sampling"] | {"dedup": {"hash_column": "content_hash"}}}
    )
    assert by_key.sampling.dedup.hash_column == "dedup_key"
    build_dataset_version(file_store, by_key, start=START, end=START, run_id="r1")
    # The same night again: the contents just added are exact duplicates of the dataset now.
    traces, _ = read_candidates(file_store, by_key, START, START, {})
    keyed = select_candidates(file_store, by_key, traces)
    hashed = select_candidates(file_store, by_hash, traces)

    assert keyed.counts == hashed.counts and keyed.counts["duplicate: exact"] > 0
    assert keyed.picked["trace_id"].to_list() == hashed.picked["trace_id"].to_list()
    assert keyed.dropped.sort("trace_id").equals(hashed.dropped.sort("trace_id"))


def test_an_item_that_only_shares_the_64_bit_key_drops_nothing(
    file_store: Store, demo: DemoSummary, caplog: pytest.LogCaptureFixture
) -> None:
    # A budget above the night's size: every trace is examined, the victims included.
    sampling = SPEC["sampling"] | {"budget": 1000, "dedup": {"near_threshold": None}}
    spec = DatasetSpec.from_dict(SPEC | {"sampling": sampling})
    traces, _ = read_candidates(file_store, spec, START, START, {})
    inputs = candidate_inputs(traces, spec.redaction)
    keys = traces.select("trace_id").with_columns(inputs.dedup_key)
    victim_key = keys.get_column("dedup_key")[0]
    full = scan_accepted(file_store, START, ITEM_SOURCE_COLUMNS)
    other = full.join(keys.filter(pl.col("dedup_key") != victim_key).head(1), on="trace_id", how="semi")
    forged = items_from_traces(other, strategy="forged").with_columns(
        pl.lit(victim_key, dtype=pl.UInt64).alias("dedup_key")  # a 64-bit collision with other content
    )
    append_version(file_store, spec.name, forged, kind="seed", run_id="forge")

    with caplog.at_level(logging.WARNING):
        selection = select_candidates(file_store, spec, traces)

    victims = set(keys.filter(pl.col("dedup_key") == victim_key).get_column("trace_id"))
    in_dataset = selection.dropped.filter(pl.col("duplicate_in") == "dataset")
    assert victims and not victims & set(in_dataset.get_column("trace_id"))
    assert in_dataset.is_empty()
    assert "share a dedup_key with a dataset item but not its content_hash" in caplog.text


def test_a_build_deduplicates_on_the_key_or_the_sha256_only() -> None:
    bad = SPEC | {"sampling": SPEC["sampling"] | {"dedup": {"hash_column": "trace_id"}}}
    with pytest.raises(ConfigError, match=r"hash_column='trace_id'.*\['dedup_key', 'content_hash'\]"):
        DatasetSpec.from_dict(bad)


def _routes(store: Store) -> list[str]:
    return sorted(scan_accepted(store, START, ("route",))["route"].unique().to_list())
