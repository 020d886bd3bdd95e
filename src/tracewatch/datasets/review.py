"""Human review round trip: export the items that lack a reference answer, import the answers as a new version.

The export is one sheet in two formats (Parquet for tools, CSV for spreadsheets) under
`warehouse/datasets/<name>/review/version=N/`, with blank `reviewed_expected_output` and `reviewer` columns to
fill in. The import applies answers to the latest version and writes a new one (kind "review") where those
items have `expected_source = "reviewed"`. Rows that cannot be applied (blank answer, unknown item id,
conflicting answers for one item, ...) are counted with their reasons, never applied or dropped silently.
"""

from __future__ import annotations

import io
import json
import logging
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracewatch.datasets.append import append_version
from tracewatch.datasets.pending import read_pending
from tracewatch.datasets.schema import empty_items
from tracewatch.datasets.seed import LoadedFile, RejectedRow, load_file, reason_counts
from tracewatch.datasets.versions import (
    VersionManifest,
    check_dataset_name,
    dataset_prefix,
    read_manifest,
    read_version,
)
from tracewatch.errors import DataContractError
from tracewatch.store import Store

log = logging.getLogger(__name__)

ANSWER = "reviewed_expected_output"
REVIEWER = "reviewer"
REVIEWED = "reviewed"
REVIEWER_METADATA_KEY = "reviewed_by"
"""The key under which an item's metadata records who reviewed it (when the sheet names a reviewer)."""

SHEET_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "input_text": pl.String(),
    "context": pl.String(),
    "current_expected_output": pl.String(),
    "current_expected_source": pl.String(),
    ANSWER: pl.String(),
    REVIEWER: pl.String(),
}
"""Columns of the review sheet; only `item_id`, `reviewed_expected_output` and `reviewer` are read back."""


@dataclass(frozen=True)
class ReviewExport:
    """Where a review sheet was written and how many items it holds (zero is written too, explicitly)."""

    dataset: str
    version: int
    item_count: int
    parquet_key: str
    csv_key: str


@dataclass(frozen=True)
class ReviewChanges:
    """What a review file would change: the replaced items and the rows that cannot be applied."""

    replaced: pl.DataFrame
    added: pl.DataFrame
    """Pending items (`datasets.pending`) the file gives an answer, so accepts into the dataset."""
    skipped: tuple[RejectedRow, ...]
    reviewers: dict[str, int]


@dataclass(frozen=True)
class ReviewImport:
    """The outcome of a review import: the rows read, applied and skipped, and the new version if any."""

    dataset: str
    source: str
    rows_read: int
    applied: int
    skipped: tuple[RejectedRow, ...]
    manifest: VersionManifest | None

    @property
    def skipped_counts(self) -> dict[str, int]:
        return reason_counts(self.skipped)


def review_prefix(name: str, version: int) -> str:
    """Where the review files of a dataset version are exported to and read back from."""
    return f"{dataset_prefix(name)}/review/version={version}"


# ---- export ----------------------------------------------------------------------------------------------


def review_sheet(items: pl.DataFrame, *, include_silver: bool = False) -> pl.DataFrame:
    """The items without a reference answer (and, optionally, with only a silver one) as a review sheet."""
    needs = pl.col("expected_output").is_null()
    if include_silver:
        needs = needs | (pl.col("expected_source") == "silver")
    passage = pl.element().struct
    context = pl.col("retrieved_context").list.eval(
        pl.when(passage.field("document_id").is_not_null())
        .then(pl.format("[{}] {}", passage.field("document_id"), passage.field("text")))
        .otherwise(passage.field("text"))
    )
    return (
        items.filter(needs)
        .select(
            "item_id",
            "input_text",
            pl.when(context.list.len() > 0).then(context.list.join("\n\n")).alias("context"),
            pl.col("expected_output").alias("current_expected_output"),
            pl.col("expected_source").alias("current_expected_source"),
            pl.lit(None, dtype=pl.String).alias(ANSWER),
            pl.lit(None, dtype=pl.String).alias(REVIEWER),
        )
        .cast(SHEET_SCHEMA)  # type: ignore[arg-type]
    )


def export_for_review(
    store: Store, name: str, *, version: int | None = None, include_silver: bool = False
) -> ReviewExport:
    """Write the review sheet of `version` (default: latest) as Parquet and CSV; a rerun replaces it."""
    version = read_manifest(store, name, version).version
    items = read_version(store, name, version)
    return _write_sheet(
        store, name, version, review_prefix(name, version), review_sheet(items, include_silver=include_silver)
    )


def export_pending_for_review(store: Store, name: str, run_id: str, items: pl.DataFrame) -> ReviewExport:
    """The review sheet of items pending review (`datasets.pending`, e.g. synthetic ones) of run `run_id`.

    A reviewer accepts an item by writing its reference answer; `import_reviews` then adds it to the dataset.
    `version` in the export is the dataset's latest version, which the items were checked against.
    """
    version = read_manifest(store, name).version
    prefix = f"{dataset_prefix(name)}/review/pending/run={run_id}"
    return _write_sheet(store, name, version, prefix, review_sheet(items))


def _write_sheet(store: Store, name: str, version: int, prefix: str, sheet: pl.DataFrame) -> ReviewExport:
    parquet_key, csv_key = f"{prefix}/needs_review.parquet", f"{prefix}/needs_review.csv"
    store.write_parquet(parquet_key, sheet)
    buffer = io.BytesIO()
    sheet.write_csv(buffer)
    store.write_bytes(csv_key, buffer.getvalue())
    log.info("dataset %s: %d item(s) exported for review to %s", name, sheet.height, prefix)
    return ReviewExport(
        dataset=name, version=version, item_count=sheet.height, parquet_key=parquet_key, csv_key=csv_key
    )


# ---- import ----------------------------------------------------------------------------------------------


def review_changes(
    items: pl.DataFrame, loaded: LoadedFile, pending: pl.DataFrame | None = None
) -> ReviewChanges:
    """Match a review file's answers to `items` (a stored version) without writing anything.

    An item with two different answers in one file gets neither. An answer equal to an already reviewed
    expected output is skipped as "unchanged", so importing the same file twice creates no second version.
    An answer for an item of `pending` (items waiting for review, not yet in the dataset) adds that item.
    """
    pending = (
        empty_items() if pending is None else pending.join(items.select("item_id"), on="item_id", how="anti")
    )
    waiting = set(pending.get_column("item_id").to_list())
    missing = [c for c in ("item_id", ANSWER) if c not in loaded.columns]
    if missing:
        raise DataContractError(
            f"{loaded.source} lacks column(s) {missing}; a review file needs item_id and {ANSWER} "
            "(start from the sheet export_for_review writes)"
        )
    current = {
        r["item_id"]: r for r in items.select("item_id", "expected_output", "expected_source").to_dicts()
    }
    skipped = list(loaded.unreadable)
    by_item: dict[str, list[tuple[int, str, str | None]]] = {}
    for number, record in loaded.records:
        item_id, answer = _clean(record.get("item_id")), _clean(record.get(ANSWER))
        if item_id is None:
            skipped.append(RejectedRow(number, "missing_item_id", "the row has no item_id"))
        elif answer is None:
            skipped.append(RejectedRow(number, "blank_answer", f"no reviewed answer for {item_id}"))
        elif item_id not in current and item_id not in waiting:
            skipped.append(RejectedRow(number, "unknown_item_id", f"{item_id} is not in the dataset"))
        else:
            by_item.setdefault(item_id, []).append((number, answer, _clean(record.get(REVIEWER))))
    answers: dict[str, tuple[str, str | None]] = {}
    for item_id, rows in by_item.items():
        (first, answer, reviewer), *repeats = rows
        if len({a for _, a, _ in rows}) > 1:
            detail = f"{item_id} has {len(rows)} rows with different answers"
            skipped.extend(RejectedRow(n, "conflicting_answers", detail) for n, _, _ in rows)
            continue
        skipped.extend(RejectedRow(n, "duplicate_row", f"same answer as row {first}") for n, _, _ in repeats)
        now = current.get(item_id, {"expected_source": None, "expected_output": None})
        if now["expected_source"] == REVIEWED and now["expected_output"] == answer:
            skipped.append(RejectedRow(first, "unchanged", f"{item_id} already has this reviewed answer"))
        else:
            answers[item_id] = (answer, reviewer)
    return ReviewChanges(
        replaced=_replaced_items(items, answers),
        added=_replaced_items(pending, answers),
        skipped=tuple(sorted(skipped, key=lambda r: r.row)),
        reviewers=dict(sorted(Counter(r for _, r in answers.values() if r is not None).items())),
    )


def import_reviews(
    store: Store,
    name: str,
    source: str | Path,
    *,
    run_id: str,
    fmt: str | None = None,
    from_store: bool = False,
) -> ReviewImport:
    """Apply a reviewed sheet (CSV, Parquet or JSONL) to the latest version as a new "review" version.

    `source` is a local path, or a key in `store` when `from_store`. No version is created when no row
    applies. The file's sha256 is the version's source key, so one file cannot be applied twice.
    """
    check_dataset_name(name)
    loaded = load_file(source, store=store if from_store else None, fmt=fmt)
    changes = review_changes(read_version(store, name), loaded, read_pending(store, name))
    manifest = None
    if changes.replaced.is_empty() and changes.added.is_empty():
        log.info("dataset %s: no applicable review answers in %s, no version created", name, loaded.source)
    else:
        manifest = append_version(
            store,
            name,
            changes.added,
            kind="review",
            run_id=run_id,
            replaced=changes.replaced,
            spec={"source": loaded.source, "format": loaded.fmt, "sha256": loaded.sha256},
            counts={
                "rows_read": loaded.rows_read,
                "skipped": reason_counts(changes.skipped),
                "reviewers": changes.reviewers,
            },
            source_key=f"review:{loaded.sha256}",
        )
    if changes.skipped:
        log.warning(
            "review file %s: %d row(s) not applied %s",
            loaded.source,
            len(changes.skipped),
            reason_counts(changes.skipped),
        )
    return ReviewImport(
        dataset=name,
        source=loaded.source,
        rows_read=loaded.rows_read,
        applied=changes.replaced.height + changes.added.height,
        skipped=changes.skipped,
        manifest=manifest,
    )


def _replaced_items(items: pl.DataFrame, answers: dict[str, tuple[str, str | None]]) -> pl.DataFrame:
    chosen = items.filter(pl.col("item_id").is_in(list(answers)))
    metadata = [
        _with_reviewer(meta, answers[item_id][1])
        for item_id, meta in zip(chosen.get_column("item_id"), chosen.get_column("metadata"), strict=True)
    ]
    return chosen.with_columns(
        pl.col("item_id").replace_strict({k: v[0] for k, v in answers.items()}).alias("expected_output"),
        pl.lit(REVIEWED).alias("expected_source"),
        pl.Series("metadata", metadata, dtype=pl.String),
    )


def _with_reviewer(metadata: str | None, reviewer: str | None) -> str | None:
    """Record the reviewer in the item's metadata; metadata that is not a JSON object is left as it is."""
    if reviewer is None:
        return metadata
    try:
        parsed: Any = json.loads(metadata) if metadata else {}
    except json.JSONDecodeError:
        return metadata
    if not isinstance(parsed, dict):
        return metadata
    return json.dumps({**parsed, REVIEWER_METADATA_KEY: reviewer}, sort_keys=True)


def _clean(value: Any) -> str | None:
    """A sheet cell as trimmed text; blank cells (spreadsheets leave "" or whitespace) become None."""
    if value is None:
        return None
    text = value.strip() if isinstance(value, str) else str(value)
    return text or None
