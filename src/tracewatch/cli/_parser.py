"""The command line: every subcommand and argument with its description. Only argparse is imported here, so
`--help` and `--version` answer without loading polars, Prefect or litellm."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from tracewatch.cli._flow_parser import add_flow_commands, iso_date
from tracewatch.cli._sql_parser import add_sql_command
from tracewatch.cli._synthesize import add_synthesize_command

_STORE_NOTE = (
    "Every command reads the store named by TRACEWATCH_STORE (file:///abs/dir or s3://bucket/prefix; default "
    ".tracewatch/store under the working directory) and says which on its first line (stderr). Exit status: "
    "0 done, 2 a setting, parameter or input is wrong (one line says what), 1 anything else."
)


class _Version(argparse.Action):
    """`--version`: the installed distribution's version, looked up only when asked."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kwargs)

    def __call__(self, parser: argparse.ArgumentParser, *_: Any) -> None:
        from importlib.metadata import PackageNotFoundError, version

        try:
            found = version("tracewatch")
        except PackageNotFoundError:  # run from a source tree that was never installed
            from tracewatch import __version__ as found
        print(f"tracewatch {found}")
        parser.exit()


def build_parser() -> argparse.ArgumentParser:
    """The `tracewatch` parser; each subcommand's `handler` names the function that runs it (`module:name`)."""
    common = argparse.ArgumentParser(add_help=False)
    # SUPPRESS: `-v` before or after the subcommand, neither default overwriting the other.
    common.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show debug logs and the traceback of a failure",
    )
    parser = argparse.ArgumentParser(
        prog="tracewatch",
        description="Evaluate and watch LLM applications on the store named by TRACEWATCH_STORE.",
        epilog=_STORE_NOTE,
        parents=[common],
    )
    parser.add_argument("--version", action=_Version, help="print the installed version and exit")
    commands = parser.add_subparsers(required=True, metavar="command", title="commands")

    def command(
        name: str, handler: str, summary: str, *, writes: bool = True, prefect: bool = False
    ) -> argparse.ArgumentParser:
        """A subcommand; `writes`: it may write to the store (a command that only reads checks no more)."""
        sub = commands.add_parser(
            name, help=summary, description=summary, parents=[common], epilog=_STORE_NOTE
        )
        sub.set_defaults(handler=handler, writes=writes, prefect=prefect)
        return sub

    command("datasets", "_datasets:list_datasets_command", "list datasets and their versions", writes=False)
    diff = command(
        "diff",
        "_datasets:diff_command",
        "count the items added, removed and changed between versions",
        writes=False,
    )
    diff.add_argument("name", help="the dataset")
    diff.add_argument("a", type=int, help="the older version number")
    diff.add_argument("b", type=int, help="the newer version number")

    seed = command("seed", "_datasets:seed_command", "seed a dataset from a CSV, JSONL or Parquet file")
    seed.add_argument(
        "name", help="the dataset to create or add a version to (letters, digits, '.', '_', '-')"
    )
    seed.add_argument(
        "path",
        help="the file: one item per row with an `input` column (`expected_output`, `tags`, ... optional)",
    )

    export = command(
        "export-review", "_datasets:export_review_command", "write the items that need a reference answer"
    )
    export.add_argument("name", help="the dataset")
    export.add_argument("--version", type=int, help="the dataset version (default: the newest)")
    export.add_argument(
        "--include-silver", action="store_true", help="also the items whose reference answer is a silver one"
    )

    review = command(
        "import-review", "_datasets:import_review_command", "apply reviewed answers as a new version"
    )
    review.add_argument("name", help="the dataset")
    review.add_argument(
        "path",
        help="the sheet export-review wrote, answers filled in (CSV, Parquet or JSONL)",
    )

    add_synthesize_command(command)
    _add_experiment_commands(command)
    add_flow_commands(command)
    add_sql_command(command)
    _add_dashboard_command(command)
    return parser


def _add_dashboard_command(command: Any) -> None:
    board = command(
        "dashboard",
        "_dashboard:dashboard_command",
        "build the static offline dashboard (reports/_site/index.html) from the report tables",
    )
    board.add_argument("--days", type=int, default=28, help="UTC days shown, ending on --end (default: 28)")
    board.add_argument(
        "--end", type=iso_date, help="the last day shown, YYYY-MM-DD (default: the newest report's date)"
    )
    board.add_argument(
        "--project",
        help="build (and --open/--serve) only this project's page; an unknown name lists the projects present",
    )
    board.add_argument("--out", help="also copy the page and its script into this local folder")
    shown = board.add_mutually_exclusive_group()
    shown.add_argument("--open", action="store_true", help="open the page in this machine's browser")
    shown.add_argument("--serve", action="store_true", help="serve the page on 127.0.0.1 until Ctrl-C")
    board.add_argument(
        "--port", type=int, default=0, help="the port --serve listens on (default: a free one)"
    )


def _add_experiment_commands(command: Any) -> None:
    run = command(
        "run-experiment",
        "_experiments:run_experiment_command",
        "run every item of a dataset version through every config of an experiment, then score it",
    )
    run.add_argument("experiment", help="a shipped experiment's name (e.g. demo) or a YAML path")
    run.add_argument("--dataset", required=True, help="the dataset whose items are asked")
    run.add_argument("--version", type=int, help="the dataset version (default: the newest)")
    run.add_argument("--trials", type=int, default=1, help="how many times each item is asked of each config")
    run.add_argument("--budget-usd", type=float, help="stop starting calls past this spend (default: no cap)")
    run.add_argument(
        "--id",
        dest="experiment_id",
        help="the id to record the run under (default: <experiment>-<dataset>-v<N>)",
    )
    run.add_argument(
        "--retry-failed", action="store_true", help="also ask again the items that ended in an error"
    )
    run.add_argument("--no-cache", action="store_true", help="ask the model even for cached requests")
    command(
        "experiments",
        "_experiments:list_experiments_command",
        "list experiments, their counts and cost",
        writes=False,
    )
