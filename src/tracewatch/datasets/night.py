"""The nightly dataset step: sample the night's accepted traces into the next dataset version
(`sample_dataset_items`), and publish the build as BI tables, `dataset_versions` and `dataset_items`,
partitioned by the night (`publish_dataset_reports`)."""

from __future__ import annotations

import datetime as dt

import polars as pl

from tracewatch.datasets.build import DatasetBuild, build_dataset_version
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.part_map import PartMap, in_process
from tracewatch.reports import DATASET_ITEMS, DATASET_VERSIONS, PublishedPartition, publish_partition
from tracewatch.store import Store


def publish_dataset_reports(
    store: Store, build: DatasetBuild, day: dt.date, *, run_id: str
) -> list[PublishedPartition]:
    """Replace the night's partitions of both tables; a night without a version writes explicit empty ones."""
    return [
        publish_partition(store, DATASET_VERSIONS, day, _version_rows(build), run_id=run_id),
        publish_partition(store, DATASET_ITEMS, day, _item_rows(build), run_id=run_id),
    ]


def _version_rows(build: DatasetBuild) -> pl.DataFrame:
    m = build.manifest
    if m is None:
        return pl.DataFrame(schema={c: t for c, t in DATASET_VERSIONS.schema.items() if c != "run_id"})
    counts = build.counts
    row = {
        "dataset": m.dataset,
        "version": m.version,
        "parent_version": m.parent_version,
        "kind": m.kind,
        "created": build.created,
        "item_count": m.item_count,
        "added_count": m.added_count,
        "window_start": m.window_start,
        "window_end": m.window_end,
        "spec_fingerprint": m.spec_fingerprint,
        "seed": m.seed,
        "candidates": counts.get("candidates: candidates"),
        "no_usable_input": counts.get("no usable input"),
        "duplicates_exact": counts.get("candidates: duplicate: exact"),
        "duplicates_near": sum(v for k, v in counts.items() if k.startswith("candidates: duplicate: near")),
        "redactions": sum(build.redactions.values()),
        "created_at": m.created_at,
    }
    return pl.DataFrame([row], schema={c: t for c, t in DATASET_VERSIONS.schema.items() if c != "run_id"})


def _item_rows(build: DatasetBuild) -> pl.DataFrame:
    version = build.manifest.version if build.manifest else None
    columns = [c for c in DATASET_ITEMS.schema if c not in ("dataset", "version", "run_id")]
    return build.items.select(columns).with_columns(
        dataset=pl.lit(build.dataset), version=pl.lit(version, dtype=pl.Int64)
    )


def sample_dataset_items(
    store: Store, spec: DatasetSpec, day: dt.date, *, run_id: str, part_map: PartMap = in_process
) -> tuple[DatasetBuild, list[PublishedPartition]]:
    """The nightly dataset step: sample `day`'s accepted traces into the next version, then report it. The
    night is read file by file; `part_map` runs those steps (the nightly flow: on its task runner)."""
    build = build_dataset_version(store, spec, start=day, end=day, run_id=run_id, part_map=part_map)
    return build, publish_dataset_reports(store, build, day, run_id=run_id)
