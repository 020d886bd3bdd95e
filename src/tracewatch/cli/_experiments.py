"""Experiments from a terminal: run one (with a progress bar, then its scores) and list them all."""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import sys

from tracewatch.cli._failure import USAGE_ERROR, CommandError
from tracewatch.cli._table import print_table
from tracewatch.experiments import (
    PROGRESS_LOGGER,
    ExperimentRecord,
    ExperimentResult,
    RunnerSettings,
    experiment_runtime,
    items_prefix,
    launch,
    list_records,
    run_experiment,
)
from tracewatch.scoring import experiment_suite, format_leaderboard, score_experiment_answers
from tracewatch.store import Store

EXPERIMENTS_HEADER = ("EXPERIMENT", "DATASET", "VERSION", "CONFIGS", "ITEMS", "TRIALS", "STATUS", "SPENT")


def format_spend(record: ExperimentRecord) -> str:
    """What an experiment cost, as every line of this command shows it: "unknown" (and how many answers have
    no price) when nobody knows, never a made-up 0 USD (the one place to change it)."""
    return record.spend_text()


def run_experiment_command(store: Store, args: argparse.Namespace) -> None:
    """Every check before the first call, the run (resumable), its record, then its scores and leaderboard;
    a config that stopped after repeated terminal errors (a wrong key, an unknown model) fails the command."""
    # The progress of a run: a bar on a terminal, a line every 10% otherwise.
    logging.getLogger(PROGRESS_LOGGER).setLevel(logging.INFO)
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
        runtime = experiment_runtime(store, experiment, cache=not args.no_cache)
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
    print(f"{record.experiment_id}: {record.counts}, spent in all: {format_spend(record)}")
    print(f"items: {store.uri(items_prefix(record.experiment_id))}")
    today = dt.datetime.now(dt.UTC).date()
    scored = asyncio.run(
        score_experiment_answers(store, record.experiment_id, experiment, today, run_id=result.run_id)
    )
    print(scored.message)
    print(format_leaderboard(scored.leaderboard))
    if result.stopped_reason:  # the other configs' answers are kept and scored above; the run still failed
        raise CommandError(f"the run stopped early: {result.stopped_reason}", USAGE_ERROR)


def list_experiments_command(store: Store, args: argparse.Namespace) -> None:
    """One row per experiment, oldest first; an empty store says so (on stderr)."""
    records = list_records(store)
    if not records:
        print(f"no experiments in {store.url}", file=sys.stderr)
        return
    print_table(EXPERIMENTS_HEADER, [_row(record) for record in records])


def _row(record: ExperimentRecord) -> tuple[object, ...]:
    counts = ",".join(f"{status}={n}" for status, n in record.counts.items()) or "-"
    return (
        record.experiment_id,
        record.dataset,
        record.dataset_version,
        len(record.configs),
        record.item_count,
        record.trials,
        counts,
        format_spend(record),
    )
