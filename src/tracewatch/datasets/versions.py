"""Versioned datasets: append-only, immutable versions of a dataset's full item set in the object store.

Layout: `warehouse/datasets/<name>/version=N/items.parquet` and `minhash.parquet` (the items' MinHash
signatures, see `datasets.signatures`), then `manifest.json`. Each version holds every item
(the parent's items plus the added ones, with replaced items swapped in), so reading a version is one object
read and old versions stay reproducible forever. The manifest is written last: a version folder without one is
an interrupted write, ignored by readers and overwritten by the next writer.

The store has no conditional put, so two writers racing for the same N are caught by existence checks (before
the items, again right before the manifest, and by reading the manifest back). A narrow window remains in
which the loser overwrites the winner's `items.parquet`; the manifest's sha256 of the items makes
`read_version` refuse such a version instead of returning the wrong items. Run one writer per dataset.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import logging
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl
from polars.datatypes import DataTypeClass

from tracewatch.datasets.items import DEDUP_KEY, dedup_keys
from tracewatch.datasets.lsh import SLOT_BITS
from tracewatch.datasets.minhash import MINHASH
from tracewatch.datasets.schema import ITEM_SCHEMA, ITEM_SCHEMA_VERSION
from tracewatch.datasets.signatures import (
    SIGNATURES_NAME,
    SIGNED_TEXT,
    StoredSignatures,
    next_signatures,
    parent_matrix,
    signatures_bytes,
)
from tracewatch.errors import ConfigError, DataContractError, TracewatchError
from tracewatch.runs import utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)

DATASETS_PREFIX = "warehouse/datasets"
ITEMS_NAME = "items.parquet"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

KINDS: tuple[str, ...] = ("sample", "seed", "review")
"""What created a version: the nightly sampler, a curated seed file, or an import of human review answers."""

VERSION_COLUMNS: dict[str, pl.DataType] = {
    "added_in_version": pl.Int64(),
    "updated_in_version": pl.Int64(),
}
"""Bookkeeping columns stored beside the item columns: the version that added each item, and the last version
that replaced it (null if never). They replace a list of added ids in the manifest, which would grow without
bound, and let a reader select "what version N changed" with one filter."""

STORED_SCHEMA: dict[str, pl.DataType] = {**ITEM_SCHEMA, **VERSION_COLUMNS}
"""The columns of `items.parquet` and of every frame `read_version` returns."""

_NAME_RULE = "1-64 characters: lowercase letters, digits, '-' and '_', starting with a letter or digit"
_NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,63}")
_MANIFEST_KEY = re.compile(rf"^{DATASETS_PREFIX}/(?P<name>[^/]+)/version=(?P<version>\d+)/{MANIFEST_NAME}$")
_DIFF_COLUMNS = ("content_hash", "expected_output", "expected_source")

_DType = pl.DataType | DataTypeClass
_NARROW_INTEGERS = (pl.Int8(), pl.Int16(), pl.Int32(), pl.UInt8(), pl.UInt16(), pl.UInt32())


class VersionExistsError(TracewatchError):
    """A dataset version, or the version for a source key, already exists: versions are never overwritten."""


@dataclass(frozen=True)
class VersionManifest:
    """What `manifest.json` records about one complete, immutable dataset version."""

    dataset: str
    version: int
    parent_version: int | None
    kind: str
    item_count: int
    added_count: int
    replaced_count: int
    already_present_count: int
    created_at: dt.datetime
    run_id: str
    source_key: str | None
    spec: dict[str, Any]
    spec_fingerprint: str
    seed: int | None
    window_start: dt.date | None
    window_end: dt.date | None
    item_schema_version: int
    counts: dict[str, Any]
    items_key: str
    items_sha256: str
    write_id: str
    manifest_format: int = MANIFEST_FORMAT
    signatures: dict[str, Any] | None = None
    """`StoredSignatures` of the items (`datasets.signatures`); absent in versions written before them."""

    @property
    def stored_signatures(self) -> StoredSignatures | None:
        return StoredSignatures.from_json(self.signatures) if self.signatures else None

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["created_at"] = self.created_at.isoformat()
        data["window_start"] = _iso_or_none(self.window_start)
        data["window_end"] = _iso_or_none(self.window_end)
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> VersionManifest:
        fields = dict(data)
        fields["created_at"] = dt.datetime.fromisoformat(fields["created_at"])
        for name in ("window_start", "window_end"):
            fields[name] = dt.date.fromisoformat(fields[name]) if fields.get(name) else None
        return cls(**fields)


@dataclass(frozen=True)
class VersionDiff:
    """How version `b` differs from version `a`, by `item_id`.

    `added`/`removed` hold full stored rows (from `b` and `a`); `changed` holds the items in both whose content
    hash, expected output or expected source differ, as `item_id` plus `<column>_a` / `<column>_b` pairs.
    """

    dataset: str
    a: int
    b: int
    added: pl.DataFrame
    removed: pl.DataFrame
    changed: pl.DataFrame

    @property
    def counts(self) -> dict[str, int]:
        return {"added": self.added.height, "removed": self.removed.height, "changed": self.changed.height}


# ---- names and keys --------------------------------------------------------------------------------------


def check_dataset_name(name: str) -> str:
    """Refuse names that would make awkward or ambiguous object keys."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ConfigError(f"dataset name {name!r} is not allowed; use {_NAME_RULE}")
    return name


def dataset_prefix(name: str) -> str:
    return f"{DATASETS_PREFIX}/{check_dataset_name(name)}"


def version_prefix(name: str, version: int) -> str:
    return f"{dataset_prefix(name)}/version={version}"


def items_key(name: str, version: int) -> str:
    return f"{version_prefix(name, version)}/{ITEMS_NAME}"


def manifest_key(name: str, version: int) -> str:
    return f"{version_prefix(name, version)}/{MANIFEST_NAME}"


def signatures_key(name: str, version: int) -> str:
    return f"{version_prefix(name, version)}/{SIGNATURES_NAME}"


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a sampling spec, so equal specs are recognisable across runs."""
    return hashlib.sha256(_canonical_json(spec, "sampling spec").encode()).hexdigest()[:16]


def make_source_key(window: tuple[dt.date, dt.date], spec: Mapping[str, Any]) -> str:
    """The run key of a nightly sample (trace window + spec), for `append_version(source_key=...)`."""
    start, end = _check_window(window)
    return f"window={start.isoformat()}..{end.isoformat()};spec={spec_fingerprint(spec)}"


# ---- reading ---------------------------------------------------------------------------------------------


def list_datasets(store: Store) -> list[str]:
    """Names of the datasets that have at least one complete version, sorted."""
    names = set()
    for obj in store.list_objects(DATASETS_PREFIX, suffix=f"/{MANIFEST_NAME}"):
        match = _MANIFEST_KEY.match(obj.key)
        if match:
            names.add(match["name"])
    return sorted(names)


def complete_versions(store: Store, name: str) -> list[int]:
    """Version numbers that have a manifest, ascending; version folders without one are ignored."""
    return [v for v in _version_folders(store, name) if store.exists(manifest_key(name, v))]


def latest_version(store: Store, name: str) -> int | None:
    """The highest complete version, or None when the dataset has none."""
    for version in reversed(_version_folders(store, name)):
        if store.exists(manifest_key(name, version)):
            return version
    return None


def read_manifest(store: Store, name: str, version: int | None = None) -> VersionManifest:
    """The manifest of `version` (default: the latest); a missing version is a ConfigError naming those present."""
    key = manifest_key(name, _resolve_version(store, name, version))
    return _parse_manifest(key, store.read_bytes(key))


def list_versions(store: Store, name: str) -> list[VersionManifest]:
    """Manifests of every complete version, oldest first: one listing, then the manifests fetched together
    (a dataset grows by a version a night, and one request after another would add up)."""
    keys = [manifest_key(name, v) for v in _version_folders(store, name)]
    found = store.read_many(keys)
    return [_parse_manifest(key, found[key]) for key in keys if key in found]


def _parse_manifest(key: str, data: bytes) -> VersionManifest:
    try:
        return VersionManifest.from_json(json.loads(data))
    except (TypeError, KeyError, ValueError) as exc:
        raise DataContractError(f"{key} is not a valid dataset manifest: {exc}") from None


def find_version(store: Store, name: str, *, source_key: str) -> VersionManifest | None:
    """The version created for `source_key` (e.g. a night's window + spec), so a rerun can skip its work."""
    return made_for(list_versions(store, name), source_key)


def made_for(manifests: Sequence[VersionManifest], source_key: str) -> VersionManifest | None:
    """`find_version` among manifests the caller listed already (`list_versions`)."""
    return next((m for m in reversed(manifests) if m.source_key == source_key), None)


def read_version(
    store: Store, name: str, version: int | None = None, *, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """All items of `version` (default: the latest), in STORED_SCHEMA, checked against the manifest's sha256.

    `columns` decodes only those (the nightly selection needs four of them). Items written before
    `dedup_key` existed (item schema 1) get it computed from their stored, already redacted input.
    """
    return read_items(store, read_manifest(store, name, version), columns=columns)


def read_items(
    store: Store, manifest: VersionManifest, *, columns: Sequence[str] | None = None
) -> pl.DataFrame:
    """`read_version` of the version `manifest` describes, for a caller that holds its manifest already."""
    data = store.read_bytes(manifest.items_key)
    if hashlib.sha256(data).hexdigest() != manifest.items_sha256:
        raise DataContractError(
            f"{manifest.items_key} does not match the sha256 in its manifest; it was changed after the version "
            "was written (a concurrent writer or a manual edit). Restore it or delete this version folder."
        )
    wanted = list(STORED_SCHEMA) if columns is None else list(columns)
    unknown = [c for c in wanted if c not in STORED_SCHEMA]
    if unknown:
        raise ConfigError(f"read_version: unknown column(s) {unknown}; stored columns: {list(STORED_SCHEMA)}")
    upgrade = DEDUP_KEY in wanted and DEDUP_KEY not in pl.read_parquet_schema(io.BytesIO(data))
    inputs = ("input_text", "input_messages") if upgrade else ()
    decoded = [c for c in dict.fromkeys((*wanted, *inputs)) if c != DEDUP_KEY or not upgrade]
    frame = pl.read_parquet(io.BytesIO(data), columns=decoded)
    if upgrade:
        frame = frame.with_columns(dedup_keys(frame))
    return frame.select(wanted)


def diff_versions(store: Store, name: str, a: int, b: int) -> VersionDiff:
    """Items added, removed and changed between versions `a` and `b` (e.g. what a review import changed)."""
    left, right = read_version(store, name, a), read_version(store, name, b)
    pairs = left.select("item_id", *[pl.col(c).alias(f"{c}_a") for c in _DIFF_COLUMNS]).join(
        right.select("item_id", *[pl.col(c).alias(f"{c}_b") for c in _DIFF_COLUMNS]),
        on="item_id",
        how="inner",
    )
    differs = pl.any_horizontal(pl.col(f"{c}_a").ne_missing(pl.col(f"{c}_b")) for c in _DIFF_COLUMNS)
    return VersionDiff(
        dataset=name,
        a=a,
        b=b,
        added=right.join(left.select("item_id"), on="item_id", how="anti"),
        removed=left.join(right.select("item_id"), on="item_id", how="anti"),
        changed=pairs.filter(differs),
    )


# ---- writing ---------------------------------------------------------------------------------------------


def check_items(frame: pl.DataFrame, *, what: str = "items") -> pl.DataFrame:
    """`frame` conformed to ITEM_SCHEMA, or a DataContractError naming every missing, extra or mistyped column.

    All-null columns (polars type Null, e.g. `[None]` or `[[]]`) and narrower integers are cast; any other type
    must match exactly, so a lossy cast can never change an item. Version bookkeeping columns are accepted and dropped.
    `dedup_key` derives from the input, so it is computed where it is absent or null.
    """
    problems = []
    derive = DEDUP_KEY not in frame.columns
    missing = [c for c in ITEM_SCHEMA if c not in frame.columns and c != DEDUP_KEY]
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
    conformed = frame.select(list(ITEM_SCHEMA)).cast(ITEM_SCHEMA)  # type: ignore[arg-type]
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
    spec_json: dict[str, Any] = json.loads(_canonical_json(spec or {}, "sampling spec"))
    counts = _check_counts(counts or {})
    window = _check_window(window) if window is not None else None
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


# ---- internals -------------------------------------------------------------------------------------------


def _version_folders(store: Store, name: str) -> list[int]:
    values = store.partitions(dataset_prefix(name), name="version")
    return sorted(int(v) for v in values if v.isdigit())


def _resolve_version(store: Store, name: str, version: int | None) -> int:
    if version is None:
        version = latest_version(store, name)
        if version is not None:
            return version
    elif store.exists(manifest_key(name, version)):
        return version
    present = complete_versions(store, name)
    wanted = "any version" if version is None else f"version {version}"
    raise ConfigError(
        f"dataset {name!r} has no {wanted} in {store.url}; its versions: {present}, "
        f"datasets there: {list_datasets(store)}"
    )


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


def _check_window(window: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    start, end = window
    if start > end:
        raise ConfigError(f"trace window start {start} is after its end {end}")
    return start, end


def _canonical_json(value: Mapping[str, Any], what: str) -> str:
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        raise ConfigError(
            f"the {what} must be JSON-serialisable (str, numbers, lists, dicts): {exc}"
        ) from None


def _iso_or_none(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None
