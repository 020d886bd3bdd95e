"""The `tracewatch` command: chores people do by hand, on the store named by TRACEWATCH_STORE.

Flows (nightly, backfill, build-dataset, experiment) run under Prefect from `flows/`; this command covers what
needs no orchestration: listing and diffing dataset versions, seeding a dataset from a file, the human-review
round trip, and running an experiment from a terminal with a progress bar.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence

from tracewatch.datasets import (
    diff_versions,
    export_for_review,
    import_reviews,
    list_datasets,
    list_versions,
    seed_dataset,
)
from tracewatch.errors import TracewatchError
from tracewatch.experiments import (
    PROGRESS_LOGGER,
    ExperimentResult,
    RunnerSettings,
    experiment_runtime,
    items_prefix,
    launch,
    list_records,
    run_experiment,
)
from tracewatch.runs import new_run_id
from tracewatch.scoring import experiment_suite, format_leaderboard, score_experiment_answers
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store


def main(argv: Sequence[str] | None = None) -> int:
    """Run one subcommand; a configuration or data problem prints its message and exits with status 2."""
    args = _parser().parse_args(argv)
    # Warnings and errors, plus the progress of a run (its lines every 10% when stderr is not a terminal).
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
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
    experiment = commands.add_parser(
        "run-experiment", help="run every item of a dataset version through every config of an experiment"
    )
    experiment.add_argument("experiment", help="a shipped experiment's name (e.g. demo) or a YAML path")
    experiment.add_argument("--dataset", required=True)
    experiment.add_argument("--version", type=int, help="default: the newest")
    experiment.add_argument("--trials", type=int, default=1)
    experiment.add_argument("--budget-usd", type=float, help="stop starting calls past this spend")
    experiment.add_argument("--id", dest="experiment_id", help="default: <experiment>-<dataset>-v<version>")
    experiment.add_argument("--retry-failed", action="store_true", help="rerun only the items that failed")
    experiment.add_argument("--no-cache", action="store_true", help="ask the model even for cached requests")
    experiment.set_defaults(run=_run_experiment)
    experiments = commands.add_parser("experiments", help="list experiments and their counts")
    experiments.set_defaults(run=_list_experiments)
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


def _run_experiment(store: Store, args: argparse.Namespace) -> None:
    ready = launch(
        store,
        args.experiment,
        args.dataset,
        args.version,
        experiment_id=args.experiment_id,
        trials=args.trials,
        budget_usd=args.budget_usd,
    )
    experiment, source, spec = ready.experiment, ready.source, ready.spec
    experiment_suite(experiment)  # a misconfigured scorer stops the run before any call

    async def run() -> ExperimentResult:
        runtime = experiment_runtime(store, experiment, cache=not args.no_cache)  # progress: a bar on a tty
        try:
            return await run_experiment(
                store,
                spec,
                experiment.configs,
                source.items,
                runtime=runtime,
                settings=RunnerSettings(),
                mode="retry_failed" if args.retry_failed else "resume",
            )
        finally:
            await runtime.aclose()

    result = asyncio.run(run())
    record = result.record
    print(f"{record.experiment_id}: {record.counts}, {record.spent_usd:.4f} USD spent in all")
    print(f"items: {store.uri(items_prefix(record.experiment_id))}")
    today = dt.datetime.now(dt.UTC).date()
    scored = asyncio.run(
        score_experiment_answers(store, record.experiment_id, experiment, today, run_id=result.run_id)
    )
    print(scored.message)
    print(format_leaderboard(scored.leaderboard))


def _list_experiments(store: Store, args: argparse.Namespace) -> None:
    for record in list_records(store):
        counts = " ".join(f"{status}={n}" for status, n in record.counts.items())
        print(
            f"{record.experiment_id}\t{record.dataset} v{record.dataset_version}\t{len(record.configs)} configs"
            f"\t{record.item_count} items x {record.trials}\t{counts}\t{record.spent_usd:.4f} USD"
        )
