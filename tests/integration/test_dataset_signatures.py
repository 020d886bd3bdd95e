"""The MinHash signatures stored with each dataset version: written with it, reused by the next version, read
by the nightly build, and equal to signing the items on the fly (which versions without them still get)."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl
import pytest

from tracewatch.datasets.build import DatasetSpec, latest_items
from tracewatch.datasets.items import dedup_keys
from tracewatch.datasets.minhash import MINHASH, signatures
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.datasets.signatures import read_signatures
from tracewatch.datasets.versions import append_version, manifest_key, read_manifest, read_version
from tracewatch.store import Store

NAME = "qa-signed"
SPEC: dict[str, Any] = {
    "name": NAME,
    "sampling": {"budget": 5, "strategies": [{"kind": "novelty", "max_similarity": 0.5}]},
}


def items(
    *keys: str, text: str = "which river flows through the city of {key} and where does it end"
) -> pl.DataFrame:
    rows = [
        {
            "item_id": f"itm_{key}",
            "content_hash": f"hash-{key}",
            "input_text": text.format(key=key),
            "input_messages": [{"role": "user", "content": text.format(key=key)}],
            "retrieved_context": [],
            "tags": [],
            "feedback": [],
            "metadata": "{}",
            "source_trace_id": f"t-{key}",
        }
        for key in keys
    ]
    frame = pl.DataFrame(rows).with_columns(
        [pl.lit(None, dtype=t).alias(c) for c, t in ITEM_SCHEMA.items() if c not in rows[0]]
    )
    frame = frame.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)  # type: ignore[arg-type]
    return frame.with_columns(dedup_keys(frame))


def stored_matrix(store: Store, version: int) -> np.ndarray:
    entry = read_manifest(store, NAME, version).stored_signatures
    assert entry is not None and entry.matches("input_text", MINHASH)
    return np.asarray(read_signatures(store, entry).to_numpy(), dtype=np.uint64)


def on_the_fly(store: Store, version: int) -> np.ndarray:
    return signatures(read_version(store, NAME, version).get_column("input_text"), MINHASH)


def test_each_version_stores_the_signatures_of_all_its_items(store: Store) -> None:
    append_version(store, NAME, items("paris", "rome", ""), kind="sample", run_id="r1")
    append_version(store, NAME, items("oslo", "lima"), kind="sample", run_id="r2")
    replaced = items("rome", text="a reviewed question about {key} with other words entirely")
    append_version(store, NAME, items("kyiv"), kind="review", run_id="r3", replaced=replaced)

    for version in (1, 2, 3):
        assert np.array_equal(stored_matrix(store, version), on_the_fly(store, version))
    assert read_version(store, NAME, 3).get_column("item_id").to_list()[:2] == ["itm_paris", "itm_rome"]


def test_the_nightly_build_reads_stored_signatures_and_signs_versions_without_them(
    store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    manifest = append_version(store, NAME, items("paris", "rome", "oslo"), kind="sample", run_id="r1")
    assert manifest is not None

    with caplog.at_level(logging.WARNING):
        stored = latest_items(store, spec)
    assert "computing" not in caplog.text
    assert stored.index is not None
    assert np.array_equal(stored.index.matrix, on_the_fly(store, 1))

    # A version written before signatures were stored: no manifest entry, no file.
    store.write_json(manifest_key(NAME, 1), manifest.to_json() | {"signatures": None})
    with caplog.at_level(logging.WARNING):
        signed = latest_items(store, spec)
    assert "computing 3 MinHash signatures now" in caplog.text
    assert signed.index is not None and np.array_equal(signed.index.matrix, stored.index.matrix)
    assert signed.items.equals(stored.items.drop("minhash"))

    grown = append_version(store, NAME, items("lima"), kind="sample", run_id="r2")
    assert grown is not None and grown.stored_signatures is not None
    assert np.array_equal(stored_matrix(store, 2), on_the_fly(store, 2))
