"""Versioned datasets: append-only, immutable versions of a dataset's full item set in the object store.

Layout: `warehouse/datasets/<name>/version=N/items.parquet` and `minhash.parquet` (the items' MinHash
signatures, see `datasets.signatures`), then `manifest.json`. Each version holds every item
(the parent's items plus the added ones, with replaced items swapped in), so reading a version is one object
read and old versions stay reproducible forever. The manifest is written last: a version folder without one is
an interrupted write, ignored by readers and overwritten by the next writer.

This module reads versions (listing, manifests, items checked against the manifest's sha256, diffs) and names
their keys; `datasets.append` writes them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from tracewatch.datasets.items import DEDUP_KEY, dedup_keys
from tracewatch.datasets.schema import STORED_SCHEMA, with_provenance_columns
from tracewatch.datasets.signatures import SIGNATURES_NAME, StoredSignatures
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.paths import check_name
from tracewatch.store import Store

DATASETS_PREFIX = "warehouse/datasets"
ITEMS_NAME = "items.parquet"
MANIFEST_NAME = "manifest.json"
MANIFEST_FORMAT = 1

KINDS: tuple[str, ...] = ("sample", "seed", "review", "synthetic")
"""What created a version: the nightly sampler, a curated seed file, an import of human review answers, or
synthetic items added directly, without review (`datasets.synthetic`)."""

_MANIFEST_KEY = re.compile(rf"^{DATASETS_PREFIX}/(?P<name>[^/]+)/version=(?P<version>\d+)/{MANIFEST_NAME}$")
_DIFF_COLUMNS = ("content_hash", "expected_output", "expected_source")


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
    sources: dict[str, int] | None = None
    """Items per source (`schema.ITEM_SOURCES`) in this version; absent in versions written before item schema
    3 (`source_counts` of the items gives them)."""

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
    return check_name(name, "dataset")


def dataset_prefix(name: str) -> str:
    """The prefix of every version of dataset `name` (the name is checked first)."""
    return f"{DATASETS_PREFIX}/{check_dataset_name(name)}"


def version_prefix(name: str, version: int) -> str:
    """The prefix of one version: its items, manifest and signatures."""
    return f"{dataset_prefix(name)}/version={version}"


def items_key(name: str, version: int) -> str:
    """The Parquet object of a version's items."""
    return f"{version_prefix(name, version)}/{ITEMS_NAME}"


def manifest_key(name: str, version: int) -> str:
    """The manifest of a version, written last: a version without one does not exist."""
    return f"{version_prefix(name, version)}/{MANIFEST_NAME}"


def signatures_key(name: str, version: int) -> str:
    """The MinHash signatures of a version's items (near-duplicate checks of later versions read them)."""
    return f"{version_prefix(name, version)}/{SIGNATURES_NAME}"


def spec_fingerprint(spec: Mapping[str, Any]) -> str:
    """A short stable hash of a sampling spec, so equal specs are recognisable across runs."""
    return hashlib.sha256(canonical_json(spec, "sampling spec").encode()).hexdigest()[:16]


def make_source_key(window: tuple[dt.date, dt.date], spec: Mapping[str, Any]) -> str:
    """The run key of a nightly sample (trace window + spec), for `append_version(source_key=...)`."""
    start, end = check_window(window)
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
    `dedup_key` existed (item schema 1) get it computed from their stored, already redacted input; items written
    before `source` existed (item schema < 3) get it derived from `source_trace_id` and a null `provenance`.
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
    present = pl.read_parquet_schema(io.BytesIO(data))
    upgrade = DEDUP_KEY in wanted and DEDUP_KEY not in present
    inputs = ("input_text", "input_messages") if upgrade else ()
    old_source = "source" not in present and ("source" in wanted or "provenance" in wanted)
    derivation = ("source_trace_id",) if old_source else ()
    decoded = [c for c in dict.fromkeys((*wanted, *inputs, *derivation)) if c in present]
    frame = pl.read_parquet(io.BytesIO(data), columns=decoded)
    if upgrade:
        frame = frame.with_columns(dedup_keys(frame))
    if old_source:
        frame = with_provenance_columns(frame)
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
    raise missing_dataset_error(store, name, version)


BUILD_HINT = (
    "the nightly flow samples a version each night; the build-dataset flow or `tracewatch seed` make one "
    "by hand"
)


def missing_dataset_error(store: Store, name: str, version: int | None = None) -> ConfigError:
    """The error for a dataset (or a version of it) that the store does not have, naming what it does have:
    the datasets there (a misspelt name is then one look away), or the dataset's own versions."""
    datasets = list_datasets(store)
    if name not in datasets:
        there = ", ".join(datasets) if datasets else f"none yet ({BUILD_HINT})"
        return ConfigError(f"there is no dataset {name!r} in {store.url}; the datasets there: {there}")
    present = ", ".join(str(v) for v in complete_versions(store, name))
    return ConfigError(f"dataset {name!r} has no version {version} in {store.url}; its versions: {present}")


def check_window(window: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date]:
    """The trace window, refused when it ends before it starts."""
    start, end = window
    if start > end:
        raise ConfigError(f"trace window start {start} is after its end {end}")
    return start, end


def canonical_json(value: Mapping[str, Any], what: str) -> str:
    """`value` as compact JSON with sorted keys (stable, so fingerprints and manifests compare), naming `what` if
    it cannot be written."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"))
    except TypeError as exc:
        raise ConfigError(
            f"the {what} must be JSON-serialisable (str, numbers, lists, dicts): {exc}"
        ) from None


def _iso_or_none(day: dt.date | None) -> str | None:
    return day.isoformat() if day is not None else None
