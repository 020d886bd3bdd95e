"""Appending a version to a dataset: the items checked against the item schema, then written with their
signatures, then the manifest that makes the version exist.

Writers of one dataset take turns: the whole append (reading the latest version, writing N+1) runs holding the
dataset's lease (`tracewatch.lease`, created with the store's conditional create), so a nightly run and a
build-dataset or import-review run on the same dataset write N+1 and N+2, never both N+1. A second writer waits
for the first (`APPEND_WAIT_S`) and then stops naming it. The existence checks before the items, before the
manifest and the manifest read back stay, for writers that bypass the lease (an older tracewatch); the
manifest's sha256 of the items makes `read_version` refuse a version whose items were overwritten.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import uuid
from collections.abc import Mapping
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from tracewatch.datasets.items import DEDUP_KEY, dedup_keys
from tracewatch.datasets.lsh import SLOT_BITS
from tracewatch.datasets.minhash import MINHASH
from tracewatch.datasets.schema import (
    ITEM_SCHEMA,
    ITEM_SCHEMA_VERSION,
    ITEM_SOURCES,
    STORED_SCHEMA,
    with_provenance_columns,
)
from tracewatch.datasets.signatures import (
    SIGNED_TEXT,
    StoredSignatures,
    next_signatures,
    parent_matrix,
    signatures_bytes,
)
from tracewatch.datasets.versions import (
    KINDS,
    VersionManifest,
    canonical_json,
    check_dataset_name,
    check_window,
    find_version,
    items_key,
    latest_version,
    manifest_key,
    read_manifest,
    read_version,
    signatures_key,
    spec_fingerprint,
)
from tracewatch.errors import ConfigError, DataContractError, TracewatchError
from tracewatch.lease import LeaseSettings, held
from tracewatch.runs import utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)

_DType = pl.DataType | DataTypeClass
DERIVED_COLUMNS: tuple[str, ...] = (DEDUP_KEY, "source", "provenance")
"""Item columns a writer may leave out: they derive from the others (or are null, for `provenance`)."""
APPEND_WAIT_S = 300.0
"""How long an append waits for another writer of the same dataset (an append takes seconds to minutes)."""
_NARROW_INTEGERS = (pl.Int8(), pl.Int16(), pl.Int32(), pl.UInt8(), pl.UInt16(), pl.UInt32())


class VersionExistsError(TracewatchError):
    """A dataset version, or the version for a source key, already exists: versions are never overwritten."""


def check_items(frame: pl.DataFrame, *, what: str = "items") -> pl.DataFrame:
    """`frame` conformed to ITEM_SCHEMA, or a DataContractError naming every missing, extra or mistyped column.

    All-null columns (polars type Null, e.g. `[None]` or `[[]]`) and narrower integers are cast; any other type
    must match exactly, so a lossy cast can never change an item. Version bookkeeping columns are accepted and dropped.
    `dedup_key` derives from the input, so it is computed where it is absent or null; `source` is derived where
    absent or null (`schema.derived_source`), and `provenance` is null where absent.
    """
    problems = []
    derive = DEDUP_KEY not in frame.columns
    missing = [c for c in ITEM_SCHEMA if c not in frame.columns and c not in DERIVED_COLUMNS]
    extra = [c for c in frame.columns if c not in STORED_SCHEMA]
    mistyped = [
        f"{c} is {frame.schema[c]} (expected {want})"
        for c, want in ITEM_SCHEMA.items()
        if c in frame.columns and not _castable(frame.schema[c], want)
    ]
    if missing:
        problems.append(f"missing column(s) {missing}")
    if extra:
        problems.append(f"unexpected column(s) {extra}")
    if mistyped:
        problems.append("wrong type(s): " + "; ".join(mistyped))
    if problems:
        raise DataContractError(
            f"{what} break the dataset item schema (datasets.schema.ITEM_SCHEMA): " + ", ".join(problems)
        )
    if derive:
        frame = frame.with_columns(pl.lit(None, pl.UInt64).alias(DEDUP_KEY))
    frame = with_provenance_columns(frame)
    conformed = frame.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)  # type: ignore[arg-type]
    unknown = conformed.filter(~pl.col("source").is_in(ITEM_SOURCES)).get_column("source").unique().sort()
    if unknown.len():
        raise DataContractError(f"{what}: source {unknown.to_list()} is not one of {list(ITEM_SOURCES)}")
    if conformed.get_column(DEDUP_KEY).has_nulls():
        conformed = conformed.with_columns(pl.col(DEDUP_KEY).fill_null(dedup_keys(conformed)))
    for column in ("item_id", "content_hash"):
        nulls = conformed.get_column(column).null_count()
        if nulls:
            raise DataContractError(f"{what}: {nulls} row(s) have a null {column}; every item needs one")
    duplicated = conformed.filter(pl.col("item_id").is_duplicated()).get_column("item_id").unique().sort()
    if duplicated.len():
        raise DataContractError(
            f"{what}: item_id is not unique ({duplicated.len()} repeated, e.g. {duplicated.head(3).to_list()})"
        )
    return conformed


def append_version(
    store: Store,
    name: str,
    added: pl.DataFrame,
    *,
    kind: str,
    run_id: str,
    spec: Mapping[str, Any] | None = None,
    seed: int | None = None,
    window: tuple[dt.date, dt.date] | None = None,
    counts: Mapping[str, Any] | None = None,
    replaced: pl.DataFrame | None = None,
    source_key: str | None = None,
) -> VersionManifest | None:
    """Write version latest+1 = the latest items + `added`, with `replaced` rows swapped in by item_id.

    Returns None, and logs, when there is nothing to write: no item of `added` is new (ids already in the
    dataset are counted, not re-added) and nothing is replaced. An empty night is not an error.
    Raises VersionExistsError when `source_key` was already used (a rerun) or another writer took the version.
    `counts` are the caller's statistics (e.g. redactions per PII kind, skipped rows per reason): a mapping of
    names to integers or to mappings of names to integers.
    """
    check_dataset_name(name)
    if kind not in KINDS:
        raise ConfigError(f"dataset version kind {kind!r} is not one of {list(KINDS)}")
    added = check_items(added, what="added items")
    changes = check_items(replaced, what="replaced items") if replaced is not None else added.clear()
    spec_json: dict[str, Any] = json.loads(canonical_json(spec or {}, "sampling spec"))
    counts = _check_counts(counts or {})
    window = check_window(window) if window is not None else None
    holder = f"run {run_id}" if run_id else "a writer"
    wait_s = max(LeaseSettings().wait_s, APPEND_WAIT_S)
    with held(store, f"dataset-{name}", holder, settings=LeaseSettings(wait_s=wait_s)):
        return _append_next(
            store, name, added, changes, kind, run_id, spec_json, seed, window, counts, source_key
        )


def _append_next(
    store: Store,
    name: str,
    added: pl.DataFrame,
    changes: pl.DataFrame,
    kind: str,
    run_id: str,
    spec_json: dict[str, Any],
    seed: int | None,
    window: tuple[dt.date, dt.date] | None,
    counts: dict[str, Any],
    source_key: str | None,
) -> VersionManifest | None:
    """The append itself, run by one writer of the dataset at a time."""
    if source_key is not None and (done := find_version(store, name, source_key=source_key)) is not None:
        raise VersionExistsError(
            f"dataset {name!r} already has version {done.version} for source key {source_key!r} "
            f"(run {done.run_id}); a rerun must not add the same items again"
        )

    parent = latest_version(store, name)
    parent_manifest = read_manifest(store, name, parent) if parent is not None else None
    base = read_version(store, name, parent) if parent is not None else pl.DataFrame(schema=STORED_SCHEMA)
    new = added.join(base.select("item_id"), on="item_id", how="anti")
    already_present = added.height - new.height
    _check_replacements(changes, base, name)
    if new.is_empty() and changes.is_empty():
        log.info("dataset %s: no new items (%d already present), no version created", name, already_present)
        return None

    version = (parent or 0) + 1
    items = _next_items(base, new, changes, version)
    data = _parquet_bytes(items)
    signed = StoredSignatures(
        signatures_key(name, version), SIGNED_TEXT, MINHASH.name, items.height, slot_bits=SLOT_BITS
    )
    stored = parent_matrix(store, parent_manifest.stored_signatures if parent_manifest else None)
    replaced_rows = (items.get_column("updated_in_version") == version).fill_null(False).to_numpy()
    sidecar = signatures_bytes(next_signatures(items, stored, replaced_rows))
    manifest = VersionManifest(
        dataset=name,
        version=version,
        parent_version=parent,
        kind=kind,
        item_count=items.height,
        added_count=new.height,
        replaced_count=changes.height,
        already_present_count=already_present,
        created_at=utc_now(),
        run_id=run_id,
        source_key=source_key,
        spec=spec_json,
        spec_fingerprint=spec_fingerprint(spec_json),
        seed=seed,
        window_start=window[0] if window else None,
        window_end=window[1] if window else None,
        item_schema_version=ITEM_SCHEMA_VERSION,
        counts=counts,
        items_key=items_key(name, version),
        items_sha256=hashlib.sha256(data).hexdigest(),
        write_id=uuid.uuid4().hex,
        signatures=signed.to_json(),
        sources=source_counts(items),
    )
    _commit(store, manifest, data, sidecar)
    log.info(
        "dataset %s: version %d (%s) written: %d items, %d added, %d replaced",
        name,
        version,
        kind,
        items.height,
        new.height,
        changes.height,
    )
    return manifest


def source_counts(items: pl.DataFrame) -> dict[str, int]:
    """How many items of each source `items` holds (every source named, zero included), for the manifest."""
    found = dict(items.get_column("source").value_counts().iter_rows())
    return {source: int(found.get(source, 0)) for source in ITEM_SOURCES}


# ---- internals -------------------------------------------------------------------------------------------


def _check_replacements(changes: pl.DataFrame, base: pl.DataFrame, name: str) -> None:
    unknown = changes.join(base.select("item_id"), on="item_id", how="anti").get_column("item_id")
    if unknown.len():
        raise DataContractError(
            f"dataset {name!r}: {unknown.len()} replaced item(s) are not in the latest version, "
            f"e.g. {unknown.head(3).to_list()}; only existing items can be replaced"
        )


def _next_items(base: pl.DataFrame, new: pl.DataFrame, changes: pl.DataFrame, version: int) -> pl.DataFrame:
    """The full item set of the next version, keeping the parent's order and appending new items."""
    positioned = base.with_row_index("_pos")
    swapped = changes.join(
        positioned.select("item_id", "added_in_version", "_pos"), on="item_id", how="inner"
    ).with_columns(pl.lit(version, dtype=pl.Int64).alias("updated_in_version"))
    kept = positioned.join(changes.select("item_id"), on="item_id", how="anti")
    merged = pl.concat([kept, swapped.select(kept.columns)]).sort("_pos").drop("_pos")
    appended = new.with_columns(
        pl.lit(version, dtype=pl.Int64).alias("added_in_version"),
        pl.lit(None, dtype=pl.Int64).alias("updated_in_version"),
    )
    return pl.concat([merged.select(list(STORED_SCHEMA)), appended.select(list(STORED_SCHEMA))])


def _commit(store: Store, manifest: VersionManifest, data: bytes, sidecar: bytes) -> None:
    """Items (and their signatures) first, manifest last, refusing to replace a complete version at every step
    we can check."""
    key = manifest_key(manifest.dataset, manifest.version)
    where = f"dataset {manifest.dataset!r} version {manifest.version}"
    if store.exists(key):
        raise VersionExistsError(f"{where} already exists; versions are immutable, append a new one instead")
    store.write_bytes(manifest.items_key, data)
    store.write_bytes(signatures_key(manifest.dataset, manifest.version), sidecar)
    if store.exists(key):
        raise VersionExistsError(
            f"{where} was completed by another writer while this one wrote its items; this write is abandoned "
            "(run one writer per dataset; read_version verifies the other version's items by sha256)"
        )
    store.write_json(key, manifest.to_json())
    winner = store.read_json(key)
    if winner.get("write_id") != manifest.write_id:
        raise VersionExistsError(
            f"{where} was written concurrently by run {winner.get('run_id')!r}; this write is abandoned"
        )


def _parquet_bytes(frame: pl.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


def _castable(actual: _DType, wanted: _DType) -> bool:
    """Whether `actual` equals `wanted` up to casts that lose nothing: all-null parts and narrower integers."""
    if actual == wanted or actual == pl.Null():
        return True
    if wanted == pl.Int64() and actual in _NARROW_INTEGERS:
        return True
    if isinstance(actual, pl.List) and isinstance(wanted, pl.List):
        return _castable(actual.inner, wanted.inner)
    return False


def _check_counts(counts: Mapping[str, Any]) -> dict[str, Any]:
    def is_int(value: object) -> bool:
        return isinstance(value, int) and not isinstance(value, bool)

    for key, value in counts.items():
        nested_ok = isinstance(value, Mapping) and all(
            isinstance(k, str) and is_int(v) for k, v in value.items()
        )
        if not isinstance(key, str) or not (is_int(value) or nested_ok):
            raise ConfigError(
                f"manifest count {key!r}={value!r} is not allowed; counts map names to integers "
                "or to mappings of names to integers (e.g. {'redactions': {'email': 3}})"
            )
    return json.loads(json.dumps(counts, sort_keys=True))  # type: ignore[no-any-return]
