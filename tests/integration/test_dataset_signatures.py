"""The MinHash signatures stored with each dataset version: written with it (the 8-bit slots LSH needs), reused
by the next version, read by the nightly build, and equal to signing the items on the fly (which versions without
them still get); versions that stored 16-bit slots or full 64-bit signatures stay readable."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import polars as pl
import pytest

from tests.support.dataset_items import item_frame, item_row
from tracewatch.datasets.append import append_version
from tracewatch.datasets.build import latest_items
from tracewatch.datasets.items import dedup_keys
from tracewatch.datasets.lsh import SLOT_BITS, band_slots
from tracewatch.datasets.minhash import MINHASH, signature_series, signatures
from tracewatch.datasets.signatures import signatures_bytes, stored_slots
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.datasets.versions import manifest_key, read_manifest, read_version
from tracewatch.store import Store

NAME = "qa-signed"
SPEC: dict[str, Any] = {
    "name": NAME,
    "sampling": {"budget": 5, "strategies": [{"kind": "novelty", "max_similarity": 0.5}]},
}


def items(
    *keys: str, text: str = "which river flows through the city of {key} and where does it end"
) -> pl.DataFrame:
    frame = item_frame(*(item_row(key, text=text.format(key=key)) for key in keys))
    return frame.with_columns(dedup_keys(frame))


def stored_matrix(store: Store, version: int) -> np.ndarray:
    entry = read_manifest(store, NAME, version).stored_signatures
    assert entry is not None and entry.matches("input_text", MINHASH)
    return stored_slots(store, entry)


def on_the_fly(store: Store, version: int) -> np.ndarray:
    return signatures(read_version(store, NAME, version).get_column("input_text"), MINHASH)


def slots_on_the_fly(store: Store, version: int) -> np.ndarray:
    return band_slots(on_the_fly(store, version))


def test_each_version_stores_the_signatures_of_all_its_items(store: Store) -> None:
    append_version(store, NAME, items("paris", "rome", ""), kind="sample", run_id="r1")
    append_version(store, NAME, items("oslo", "lima"), kind="sample", run_id="r2")
    replaced = items("rome", text="a reviewed question about {key} with other words entirely")
    append_version(store, NAME, items("kyiv"), kind="review", run_id="r3", replaced=replaced)

    for version in (1, 2, 3):
        assert np.array_equal(stored_matrix(store, version), slots_on_the_fly(store, version))
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
    assert stored.index is not None and stored.index.matrix is None  # slots only: 128 bytes per item
    assert np.array_equal(stored.index.full(np.arange(3)), on_the_fly(store, 1))

    # A version written before signatures were stored: no manifest entry, no file.
    store.write_json(manifest_key(NAME, 1), manifest.to_json() | {"signatures": None})
    with caplog.at_level(logging.WARNING):
        signed = latest_items(store, spec)
    assert "computing 3 MinHash signatures now" in caplog.text
    assert signed.index is not None and np.array_equal(signed.index.matrix, on_the_fly(store, 1))
    assert signed.items.equals(stored.items)

    grown = append_version(store, NAME, items("lima"), kind="sample", run_id="r2")
    assert grown is not None and grown.stored_signatures is not None
    assert np.array_equal(stored_matrix(store, 2), slots_on_the_fly(store, 2))


def test_a_version_with_full_64_bit_signatures_stays_readable_and_its_child_stores_slots(
    store: Store,
) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    manifest = append_version(store, NAME, items("paris", "rome"), kind="sample", run_id="r1")
    assert manifest is not None and manifest.stored_signatures is not None
    entry = manifest.stored_signatures
    assert entry.slot_bits == SLOT_BITS
    # Rewrite version 1 as the previous format wrote it: full signatures, no `slot_bits` in the manifest.
    full = signature_series(on_the_fly(store, 1), MINHASH).to_frame()
    store.write_parquet(entry.key, full)
    old = manifest.to_json()
    old["signatures"] = {k: v for k, v in entry.to_json().items() if k != "slot_bits"}
    store.write_json(manifest_key(NAME, 1), old)

    index = latest_items(store, spec).index
    assert index is not None and len(index) == 2
    assert np.array_equal(index.full(np.arange(2)), on_the_fly(store, 1))
    append_version(store, NAME, items("oslo"), kind="sample", run_id="r2")
    assert np.array_equal(stored_matrix(store, 2), slots_on_the_fly(store, 2))


def test_a_version_with_16_bit_slots_stays_readable_and_its_child_stores_8_bit_slots(store: Store) -> None:
    spec = DatasetSpec.from_dict(SPEC)
    manifest = append_version(store, NAME, items("paris", "rome", "oslo"), kind="sample", run_id="r1")
    assert manifest is not None and manifest.stored_signatures is not None
    entry = manifest.stored_signatures
    # Rewrite version 1 as the format before wrote it: the low 16 bits of each slot, four to a UInt64.
    wide = (on_the_fly(store, 1) & np.uint64(0xFFFF)).astype("<u2").view("<u8")
    column = pl.Series("minhash", wide, dtype=pl.Array(pl.UInt64, wide.shape[1]))
    store.write_parquet(entry.key, column.to_frame())
    old = manifest.to_json()
    old["signatures"] = entry.to_json() | {"slot_bits": 16}
    store.write_json(manifest_key(NAME, 1), old)

    assert np.array_equal(stored_matrix(store, 1), slots_on_the_fly(store, 1))
    index = latest_items(store, spec).index
    assert index is not None and np.array_equal(index.full(np.arange(3)), on_the_fly(store, 1))
    child = append_version(store, NAME, items("lima"), kind="sample", run_id="r2")
    assert child is not None and child.stored_signatures is not None
    assert child.stored_signatures.slot_bits == SLOT_BITS
    assert np.array_equal(stored_matrix(store, 2), slots_on_the_fly(store, 2))


def test_stored_slots_are_an_eighth_of_full_signatures(store: Store) -> None:
    manifest = append_version(store, NAME, items(*(f"k{i}" for i in range(200))), kind="sample", run_id="r1")
    assert manifest is not None and manifest.stored_signatures is not None
    size = len(store.read_bytes(manifest.stored_signatures.key))
    assert size < 200 * (MINHASH.num_perm + 64)
    assert size == len(signatures_bytes(band_slots(on_the_fly(store, 1))))
