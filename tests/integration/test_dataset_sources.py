"""Item provenance in dataset versions: the `source` column, derived for versions written before it existed,
and the manifest's items per source."""

from __future__ import annotations

import hashlib
import io
import json

import polars as pl
import pytest

from tests.support.dataset_items import item_frame, item_row
from tracewatch.datasets.append import append_version
from tracewatch.datasets.schema import ITEM_SCHEMA_VERSION, STORED_SCHEMA
from tracewatch.datasets.versions import manifest_key, read_manifest, read_version
from tracewatch.errors import DataContractError
from tracewatch.store import Store

NAME = "sourced"
PROVENANCE = json.dumps({"model": "m", "template": "paraphrase", "seed": 7, "conditioned_on": ["itm_a"]})


def test_a_version_written_before_sources_reads_them_derived_and_the_next_version_counts_them(
    store: Store,
) -> None:
    curated = item_row("c", source_trace_id=None, source_date=None, strategy="seed", source=None)
    first = append_version(store, NAME, item_frame(item_row("a"), curated), kind="sample", run_id="r1")
    assert first is not None and first.sources == {"production": 1, "seed": 1, "review": 0, "synthetic": 0}
    # Rewrite version 1 as item schema 2 wrote it: no source or provenance column, no sources in the manifest.
    buffer = io.BytesIO()
    read_version(store, NAME, 1).drop("source", "provenance").write_parquet(buffer)
    store.write_bytes(first.items_key, buffer.getvalue())
    old_manifest = first.to_json() | {
        "items_sha256": hashlib.sha256(buffer.getvalue()).hexdigest(),
        "item_schema_version": 2,
    }
    del old_manifest["sources"]
    store.write_json(manifest_key(NAME, 1), old_manifest)

    old = read_version(store, NAME, 1)
    assert old.columns == list(STORED_SCHEMA)
    assert old.select("item_id", "source", "provenance").rows() == [
        ("itm_a", "production", None),
        ("itm_c", "seed", None),
    ]
    assert read_version(store, NAME, 1, columns=["source"]).get_column("source").to_list() == [
        "production",
        "seed",
    ]
    assert read_manifest(store, NAME, 1).sources is None

    synthetic = item_row("s", source_trace_id=None, source="synthetic", provenance=PROVENANCE)
    grown = append_version(store, NAME, item_frame(synthetic), kind="synthetic", run_id="r2")
    assert grown is not None and grown.item_schema_version == ITEM_SCHEMA_VERSION == 3
    assert grown.sources == {"production": 1, "seed": 1, "review": 0, "synthetic": 1}
    stored = read_version(store, NAME).filter(pl.col("item_id") == "itm_s").row(0, named=True)
    assert stored["source"] == "synthetic" and json.loads(stored["provenance"])["conditioned_on"] == ["itm_a"]


def test_an_unknown_source_is_refused_naming_the_allowed_ones(store: Store) -> None:
    with pytest.raises(DataContractError, match=r"source \['scraped'\] is not one of \['production', 'seed'"):
        append_version(store, NAME, item_frame(item_row("x", source="scraped")), kind="sample", run_id="r")
