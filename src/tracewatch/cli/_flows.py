"""The flow commands: a Prefect flow of `flows/` run in this process, with the Makefile's environment.

The library never imports Prefect (ruff and import-linter keep it so); these commands import the `flows`
package, shipped beside it, by name and only when one of them runs.
"""

from __future__ import annotations

import argparse
import importlib
import logging
from typing import Any

from tracewatch.cli._failure import CommandError, describe
from tracewatch.cli.prefect_env import prefect_environment
from tracewatch.store import Store


def nightly_command(store: Store, args: argparse.Namespace) -> None:
    """The nightly flow for one night."""
    published = _run(
        "nightly",
        "nightly",
        args,
        day=args.day,
        rebaseline_from=args.rebaseline_from,
        **_night_parameters(args),
    )
    night = args.day or "yesterday (UTC)"
    print(f"night {night}: {len(published)} report partition(s) published under {store.uri('reports')}")


def backfill_command(store: Store, args: argparse.Namespace) -> None:
    """The nightly flow for every night of a range."""
    published = _run("nightly", "backfill", args, start=args.start, end=args.end, **_night_parameters(args))
    print(
        f"nights {args.start}..{args.end}: {len(published)} report partition(s) published under "
        f"{store.uri('reports')}"
    )


def build_dataset_command(store: Store, args: argparse.Namespace) -> None:
    """A new dataset version sampled from a date window."""
    filters: dict[str, list[str]] = {}
    for column, value in args.filter or []:
        filters.setdefault(column, []).append(value)
    built = _run(
        "datasets",
        "build_dataset",
        args,
        name=args.name,
        start=args.start,
        end=args.end,
        budget=args.budget,
        strategies=args.strategy,
        filters=filters or None,
        seed=args.seed,
    )
    print(built["message"])


def import_traces_command(store: Store, args: argparse.Namespace) -> None:
    """New production traces from the configured sources."""
    imported = _run("imports", "import_traces_flow", args, sources=args.sources, reimport=args.reimport)
    print(imported.message)


def _night_parameters(args: argparse.Namespace) -> dict[str, Any]:
    """The parameters nightly and backfill share, as the flows take them."""
    from tracewatch.datasets import load_dataset_spec

    return {
        "reprocess": args.reprocess,
        "fail_on_no_traces": not args.allow_no_traces,
        "dataset": load_dataset_spec(args.dataset_spec) if args.dataset_spec else None,
        "experiments": args.experiment,
        "drift": dict(args.drift) if args.drift else None,
    }


def _run(module: str, function: str, args: argparse.Namespace, /, **parameters: Any) -> Any:
    """Run the flow `flows.<module>.<function>` with `parameters` and return its result; a failed run raises
    `CommandError` with its reason in one line (the exit status of the error that failed it)."""
    prefect_environment()
    # Importing a flow imports Prefect, which sets up logging: adjust it only after.
    flow = getattr(importlib.import_module(f"flows.{module}"), function)
    verbose = bool(getattr(args, "verbose", False))
    # Prefect gives its extra loggers its handlers but not its level: tracewatch's INFO lines (what a stage
    # read, wrote and decided) would stop at the root logger's WARNING.
    logging.getLogger("tracewatch").setLevel(logging.DEBUG if verbose else logging.INFO)
    if not verbose:
        _tracebacks_off()
    state = flow(**parameters, return_state=True)
    if state.is_completed():
        return state.result()
    error = state.result(raise_on_failure=False)
    if isinstance(error, BaseException):
        message, status = describe(error)
        raise CommandError(f"the {flow.name} flow run failed: {message}", status) from error
    raise CommandError(f"the {flow.name} flow run ended {state.name}: {state.message}", 1)


class _WithoutTraceback(logging.Formatter):
    """Another formatter's lines without the traceback: the terminal shows what failed, `-v` shows where."""

    def __init__(self, inner: logging.Formatter) -> None:
        super().__init__()
        self._inner = inner

    def format(self, record: logging.LogRecord) -> str:
        saved = record.exc_info, record.exc_text, record.stack_info
        record.exc_info, record.exc_text, record.stack_info = None, None, None
        try:
            return self._inner.format(record)
        finally:
            record.exc_info, record.exc_text, record.stack_info = saved


def _tracebacks_off() -> None:
    """Prefect logs every failed task and flow run with its traceback (dozens of lines per failure); on the
    terminal, keep its one-line messages. Prefect's API handler still records the tracebacks for the UI."""
    for handler in logging.getLogger().handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setFormatter(_WithoutTraceback(handler.formatter or logging.Formatter()))
