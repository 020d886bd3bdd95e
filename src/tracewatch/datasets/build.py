"""Build the next dataset version from a window of accepted traces: candidates -> picks -> redacted items.

The nightly flow and the hand-started "build a dataset" flow both come here. Every candidate trace is
accounted for in the version's counts: filtered out, or among the candidates picked, not sampled, or (among
the shortlist selection examined) without usable input or a duplicate (exact or near).
A rerun of the same window and spec finds the version it made and adds nothing.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import polars as pl

from tracewatch.datasets.append import append_version as write_version
from tracewatch.datasets.candidates import examiner
from tracewatch.datasets.items import (
    DEDUP_KEY,
    ITEM_SOURCE_COLUMNS,
    items_with_redactions,
)
from tracewatch.datasets.lsh import SignatureIndex
from tracewatch.datasets.minhash import MINHASH
from tracewatch.datasets.parts import accepted_parts, as_filters, part_rows, read_part
from tracewatch.datasets.sampling import (
    SamplingSpec,
    Selection,
    needs_signatures,
    rank,
    reference_for,
    select_new_traces,
    similarity_thresholds,
)
from tracewatch.datasets.schema import ITEM_SCHEMA, STORED_SCHEMA
from tracewatch.datasets.signatures import StoredSignatures, stored_slots
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.datasets.two_phase import PartsSelection, select_in_parts
from tracewatch.datasets.versions import (
    VersionManifest,
    list_versions,
    made_for,
    make_source_key,
    read_items,
)
from tracewatch.errors import ConfigError
from tracewatch.ingest import scan_accepted
from tracewatch.part_map import PartMap, in_process
from tracewatch.store import Store
from tracewatch.traces import TRACE_SCHEMA

log = logging.getLogger(__name__)

CANDIDATE_COLUMNS: tuple[str, ...] = ("trace_id", "input_text", "input_messages")
"""What every candidate trace is read with, besides the columns the strategies and filters read: a million
traces are read for the picks' sake, so the rest of a trace (outputs, passages, metadata) is read for the
picks only."""

CONTENT_HASH = "content_hash"
FILTERED_OUT = "filtered out"


@dataclass(frozen=True)
class DatasetBuild:
    """What one build did: the version written (or found, on a rerun), the new items and the accounting."""

    dataset: str
    window: tuple[dt.date, dt.date]
    manifest: VersionManifest | None
    created: bool
    counts: dict[str, int]
    redactions: dict[str, int]
    items: pl.DataFrame
    message: str


def build_dataset_version(
    store: Store,
    spec: DatasetSpec,
    *,
    start: dt.date,
    end: dt.date,
    run_id: str,
    filters: Mapping[str, Sequence[Any]] | None = None,
    part_map: PartMap = in_process,
) -> DatasetBuild:
    """Sample new items from the accepted traces of `start`..`end` into a new version of `spec.name`.

    The window is read file by file (`two_phase`: per-file shortlists, one selection over them, the picks'
    rows read per file), so memory follows the largest file, not the window; `part_map` runs the per-file
    steps (a flow passes one that spreads them over its task runner)."""
    if end < start:
        raise ConfigError(f"dataset window end={end} is before start={start}; expected start <= end")
    window = (start, end)
    spec_dict = spec.to_dict() | {"filters": {k: list(v) for k, v in (filters or {}).items()}}
    source_key = make_source_key(window, spec_dict)
    # Polars reads the candidates through its own client while a background thread lists the versions (and
    # builds the store's S3 client if nothing has yet), then reads and indexes the latest one. A rerun of a
    # night reads its candidates for nothing (the index is skipped); every other night saves the listing's wait.
    background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-reference")
    try:
        versions = background.submit(list_versions, store, spec.name)
        reference = background.submit(
            lambda: (
                None
                if made_for(versions.result(), source_key)
                else latest_items(store, spec, versions.result())
            )
        )
        chosen = select_window(store, spec, start, end, filters or {}, reference, part_map=part_map)
        counts = {"traces": chosen.rows, FILTERED_OUT: chosen.rows - chosen.candidates}
        done = made_for(versions.result(), source_key)
        if done is not None:
            return _built_before(store, spec, window, done)
        if chosen.selection is None:
            message = f"no traces in {start}..{end} for dataset {spec.name!r}: no version created"
            log.info(message)
            return DatasetBuild(spec.name, window, None, False, counts, {}, _no_items(), message)
        selection = chosen.selection
    finally:
        background.shutdown(wait=False, cancel_futures=True)
    counts |= {f"candidates: {k}": v for k, v in selection.counts.items()}
    items, redactions = items_for_picks(store, spec, selection.picked, start, end, part_map=part_map)
    manifest = write_version(
        store,
        spec.name,
        items,
        kind="sample",
        run_id=run_id,
        spec=spec_dict,
        seed=spec.sampling.seed,
        window=window,
        counts={"candidates": counts, "redactions": redactions},
        source_key=source_key,
    )
    if manifest is None:
        message = f"no new items for dataset {spec.name!r} from {start}..{end}: no version created"
    else:
        message = f"dataset {spec.name!r} version {manifest.version}: {manifest.added_count} new item(s)"
    log.info(message)
    return DatasetBuild(spec.name, window, manifest, manifest is not None, counts, redactions, items, message)


def _built_before(
    store: Store, spec: DatasetSpec, window: tuple[dt.date, dt.date], done: VersionManifest
) -> DatasetBuild:
    """What a rerun of a build reports: the version the first run made, nothing added."""
    items = read_items(store, done).filter(pl.col("added_in_version") == done.version)
    message = (
        f"dataset {spec.name!r} version {done.version} already holds this window and spec; nothing added"
    )
    return DatasetBuild(
        spec.name,
        window,
        done,
        False,
        dict(done.counts.get("candidates", {})),
        dict(done.counts.get("redactions", {})),
        items.select(list(ITEM_SCHEMA)),
        message,
    )


def select_window(
    store: Store,
    spec: DatasetSpec,
    start: dt.date,
    end: dt.date,
    filters: Mapping[str, Sequence[Any]],
    reference: LatestItems | Future[LatestItems | None] | None = None,
    *,
    part_map: PartMap = in_process,
) -> PartsSelection:
    """`select_candidates` over the window's candidates (`read_candidates`), file by file: the same picks and
    counts, with memory bounded by the largest file (`two_phase`)."""
    _check_filters(filters)
    dedup = spec.sampling.dedup
    examine = examiner(spec.redaction, text=dedup.text, exact_check=dedup.hash_column != CONTENT_HASH)
    columns = tuple(dict.fromkeys((*CANDIDATE_COLUMNS, *spec.sampling.columns(), *filters)))

    def latest() -> tuple[pl.DataFrame, SignatureIndex | None]:
        found = reference.result() if isinstance(reference, Future) else reference
        found = found or latest_items(store, spec)
        return found.items, found.index

    read = functools.partial(read_part, store, as_filters(filters))
    parts = accepted_parts(store, start, end)
    return select_in_parts(
        read,
        parts,
        columns,
        spec.sampling,
        reference=latest,
        examine=examine,
        part_map=part_map,
        scratch_store=store,
    )


def _check_filters(filters: Mapping[str, Sequence[Any]]) -> None:
    unknown = sorted(set(filters) - set(TRACE_SCHEMA))
    if unknown:
        raise ConfigError(f"dataset filters: unknown column(s) {unknown}; available: {sorted(TRACE_SCHEMA)}")


def read_candidates(
    store: Store, spec: DatasetSpec, start: dt.date, end: dt.date, filters: Mapping[str, Sequence[Any]]
) -> tuple[pl.DataFrame, dict[str, int]]:
    """The accepted traces of `start`..`end` that pass `filters`, with the columns selection reads
    (`CANDIDATE_COLUMNS`, the strategies' and the filters' columns), and the counts `traces` and
    `filtered out`. The one-pass read of the whole window: the nightly build goes file by file
    (`select_window`)."""
    _check_filters(filters)
    traces = _read_window(store, start, end, (*CANDIDATE_COLUMNS, *spec.sampling.columns(), *filters))
    counts = {"traces": traces.height}
    return _apply_filters(traces, filters, counts), counts


@dataclass(frozen=True)
class LatestItems:
    """What selection compares candidates with: the latest version's items (the columns it reads) and their
    MinHash index (None when the spec needs none), from the version's stored signatures when it has them."""

    items: pl.DataFrame
    index: SignatureIndex | None


def latest_items(
    store: Store, spec: DatasetSpec, versions: Sequence[VersionManifest] | None = None
) -> LatestItems:
    """The latest version of `spec.name` (no items when there is none yet), read and indexed for selection;
    `versions` is `list_versions(store, spec.name)` when the caller has it already."""
    text = spec.sampling.dedup.text
    manifests = list_versions(store, spec.name) if versions is None else versions
    if not manifests:
        return LatestItems(_no_items(), reference_for(_no_items(), spec.sampling))
    latest = manifests[-1]
    wanted = [c for c in dict.fromkeys(("item_id", DEDUP_KEY, CONTENT_HASH, text)) if c in STORED_SCHEMA]
    stored = latest.stored_signatures
    signed = stored if needs_signatures(spec.sampling) and stored and stored.matches(text, MINHASH) else None
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="dataset-lsh") as side:
        indexed = side.submit(_indexed_slots, store, signed, spec.sampling) if signed else None
        items = read_items(store, latest, columns=wanted)
        index = indexed.result() if indexed else None
    if index is not None:
        index.attach_texts(items.get_column(text))
    return LatestItems(items, reference_for(items, spec.sampling, index=index))


def _indexed_slots(store: Store, stored: StoredSignatures, sampling: SamplingSpec) -> SignatureIndex:
    """The stored slots with the spec's LSH tables built, while the items are read (the texts come after)."""
    index = SignatureIndex.from_slots(stored_slots(store, stored), scheme=MINHASH)
    index.prepare(similarity_thresholds(sampling))
    return index


def select_candidates(
    store: Store,
    spec: DatasetSpec,
    traces: pl.DataFrame,
    reference: LatestItems | Future[LatestItems | None] | None = None,
) -> Selection:
    """Picks among `traces` (from `read_candidates`), compared with the latest version's items on the
    *redacted* input (as items store it): on `dedup_key` with its matches confirmed by sha256, or on
    `content_hash`. Only a shortlist is examined (redacted, keyed, compared), see `sampling.pipeline`.
    `reference` is `latest_items(store, spec)`, read here unless given (or still being read in the background)."""
    dedup = spec.sampling.dedup
    examine = examiner(spec.redaction, text=dedup.text, exact_check=dedup.hash_column != CONTENT_HASH)
    ranked = rank(traces, spec.sampling)  # while the latest version may still be read in the background
    if isinstance(reference, Future):
        reference = reference.result()
    reference = reference or latest_items(store, spec)
    return select_new_traces(ranked, reference.items, spec.sampling, examine=examine, index=reference.index)


def _read_window(store: Store, start: dt.date, end: dt.date, columns: Sequence[str]) -> pl.DataFrame:
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    return pl.concat([scan_accepted(store, day, tuple(dict.fromkeys(columns))) for day in days])


def _apply_filters(
    traces: pl.DataFrame, filters: Mapping[str, Sequence[Any]], counts: dict[str, int]
) -> pl.DataFrame:
    kept = traces
    for column, allowed in filters.items():
        kept = kept.filter(pl.col(column).is_in(list(allowed)))
    counts[FILTERED_OUT] = traces.height - kept.height
    return kept


def items_for_picks(
    store: Store,
    spec: DatasetSpec,
    picked: pl.DataFrame,
    start: dt.date,
    end: dt.date,
    *,
    part_map: PartMap = in_process,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Items for the picked traces: their full rows (read file by file), redacted, with the strategy and
    stratum that chose them."""
    if picked.height == 0:
        return _no_items(), {}
    ids = picked.select("trace_id", "strategy", "stratum")
    step = functools.partial(part_rows, store, ITEM_SOURCE_COLUMNS, ids.get_column("trace_id"))
    rows = part_map(step, accepted_parts(store, start, end))
    found = (
        pl.concat(rows) if rows else pl.DataFrame(schema={c: TRACE_SCHEMA[c] for c in ITEM_SOURCE_COLUMNS})
    )
    full = found.join(ids, on="trace_id", how="inner")
    ordered = ids.select("trace_id").join(full, on="trace_id", how="left", maintain_order="left")
    return items_with_redactions(
        ordered,
        strategy=ordered["strategy"],
        stratum=ordered["stratum"],
        silver_feedback=spec.silver,
        redaction=spec.redaction,
    )


def _no_items() -> pl.DataFrame:
    return pl.DataFrame(schema=ITEM_SCHEMA)
