"""The `tracewatch` command: dataset chores that people do by hand, on the store named by TRACEWATCH_STORE.

Flows (nightly, backfill, build-dataset) run under Prefect from `flows/`; this command covers what needs no
orchestration: listing and diffing dataset versions, seeding a dataset from a file, and the human-review round
trip.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from tracewatch.datasets.review import export_for_review, import_reviews
from tracewatch.datasets.seed import seed_dataset
from tracewatch.datasets.versions import diff_versions, list_datasets, list_versions
from tracewatch.errors import TracewatchError
from tracewatch.runs import new_run_id
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a configuration or data problem prints its message and exits with status 2."""
    args = _parser().parse_args(argv)
    try:
        store = open_store(Settings())
        args.run(store, args)
    except TracewatchError as exc:
        print(f"tracewatch: {exc}", file=sys.stderr)
        return 2
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="tracewatch", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(required=True, metavar="command")
    listing = commands.add_parser("datasets", help="list datasets and their versions")
    listing.set_defaults(run=_list)
    diff = commands.add_parser("diff", help="items added, removed and changed between two versions")
    diff.add_argument("name")
    diff.add_argument("a", type=int)
    diff.add_argument("b", type=int)
    diff.set_defaults(run=_diff)
    seed = commands.add_parser("seed", help="seed a dataset from a CSV, JSONL or Parquet file")
    seed.add_argument("name")
    seed.add_argument("path")
    seed.set_defaults(run=_seed)
    export = commands.add_parser("export-review", help="write the items that need a reference answer")
    export.add_argument("name")
    export.add_argument("--version", type=int)
    export.add_argument("--include-silver", action="store_true")
    export.set_defaults(run=_export)
    review = commands.add_parser("import-review", help="apply reviewed answers as a new version")
    review.add_argument("name")
    review.add_argument("path")
    review.set_defaults(run=_import)
    return parser


def _list(store: Store, args: argparse.Namespace) -> None:
    for name in list_datasets(store):
        for m in list_versions(store, name):
            print(
                f"{name}\tv{m.version}\t{m.kind}\t{m.item_count} items\t+{m.added_count}\t{m.created_at:%Y-%m-%d}"
            )


def _diff(store: Store, args: argparse.Namespace) -> None:
    print(json.dumps(diff_versions(store, args.name, args.a, args.b).counts, indent=2))


def _seed(store: Store, args: argparse.Namespace) -> None:
    outcome = seed_dataset(store, args.name, args.path, run_id=new_run_id("seed"))
    version = outcome.manifest.version if outcome.manifest else "none (nothing new)"
    print(f"{args.name}: version {version}; rejected rows: {outcome.report.rejected_counts}")


def _export(store: Store, args: argparse.Namespace) -> None:
    done = export_for_review(store, args.name, version=args.version, include_silver=args.include_silver)
    print(f"{done.item_count} item(s) to review: {store.uri(done.csv_key)} and {store.uri(done.parquet_key)}")


def _import(store: Store, args: argparse.Namespace) -> None:
    done = import_reviews(store, args.name, args.path, run_id=new_run_id("review"))
    version = done.manifest.version if done.manifest else "none (nothing applicable)"
    print(f"{done.applied} answer(s) applied, version {version}; skipped: {done.skipped_counts}")
