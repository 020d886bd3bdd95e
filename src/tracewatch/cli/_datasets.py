"""The dataset chores: list, diff, seed, and the human-review round trip."""

from __future__ import annotations

import argparse
import json
import sys

from tracewatch.cli._table import print_table
from tracewatch.datasets import (
    diff_versions,
    export_for_review,
    import_reviews,
    list_datasets,
    list_versions,
    seed_dataset,
)
from tracewatch.runs import new_run_id
from tracewatch.store import Store

DATASETS_HEADER = ("DATASET", "VERSION", "KIND", "ITEMS", "ADDED", "CREATED")


def list_datasets_command(store: Store, args: argparse.Namespace) -> None:
    """One row per dataset version, oldest first; an empty store says so (on stderr)."""
    rows = [
        (name, m.version, m.kind, m.item_count, m.added_count, f"{m.created_at:%Y-%m-%d}")
        for name in list_datasets(store)
        for m in list_versions(store, name)
    ]
    if not rows:
        print(f"no datasets in {store.url}", file=sys.stderr)
        return
    print_table(DATASETS_HEADER, rows)


def diff_command(store: Store, args: argparse.Namespace) -> None:
    """The counts of items added, removed and changed from version a to version b, as JSON."""
    print(json.dumps(diff_versions(store, args.name, args.a, args.b).counts, indent=2))


def seed_command(store: Store, args: argparse.Namespace) -> None:
    """A new version of the dataset from a curated file."""
    outcome = seed_dataset(store, args.name, args.path, run_id=new_run_id("seed"))
    version = outcome.manifest.version if outcome.manifest else "none (nothing new)"
    print(f"{args.name}: version {version}; rejected rows: {outcome.report.rejected_counts}")


def export_review_command(store: Store, args: argparse.Namespace) -> None:
    """The review sheet of a version, written to the store."""
    done = export_for_review(store, args.name, version=args.version, include_silver=args.include_silver)
    print(f"{done.item_count} item(s) to review: {store.uri(done.csv_key)} and {store.uri(done.parquet_key)}")


def import_review_command(store: Store, args: argparse.Namespace) -> None:
    """Reviewed answers applied as a new version."""
    done = import_reviews(store, args.name, args.path, run_id=new_run_id("review"))
    version = done.manifest.version if done.manifest else "none (nothing applicable)"
    print(f"{done.applied} answer(s) applied, version {version}; skipped: {done.skipped_counts}")
