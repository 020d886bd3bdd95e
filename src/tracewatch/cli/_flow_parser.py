"""The arguments of the flow commands: one per parameter of the flow it runs (flows/nightly.py, datasets.py,
imports.py), with the flow's defaults, so the terminal and Prefect's form ask the same questions."""

from __future__ import annotations

import argparse
import datetime as dt
from collections.abc import Callable
from typing import Any

from tracewatch.errors import ConfigError

Command = Callable[..., argparse.ArgumentParser]


def iso_date(text: str) -> dt.date:
    """A YYYY-MM-DD argument."""
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date; expected YYYY-MM-DD") from None


def setting(text: str) -> tuple[str, Any]:
    """A NAME=VALUE argument; VALUE is read as YAML, so `0.01`, `3`, `true` and `[a, b]` keep their types."""
    from tracewatch.config_files import load_config_text

    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not NAME=VALUE")
    try:
        return name.strip(), load_config_text(value, f"the value of {name.strip()}")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def column_value(text: str) -> tuple[str, str]:
    """A COLUMN=VALUE filter argument (the value as text: filters compare text)."""
    column, sep, value = text.partition("=")
    if not sep or not column.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not COLUMN=VALUE, e.g. route=billing")
    return column.strip(), value


def mapping(text: str) -> dict[str, Any]:
    """A YAML (or JSON) mapping argument, e.g. '{kind: uniform, rate: 0.1}'."""
    from tracewatch.config_files import load_config_text

    try:
        value = load_config_text(text, repr(text))
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a mapping; expected e.g. '{{kind: uniform, rate: 0.1}}'"
        )
    return value


def add_flow_commands(command: Command) -> None:
    """`nightly`, `backfill`, `build-dataset` and `import-traces`: the flows run in this process."""
    nightly = command(
        "nightly",
        "_flows:nightly_command",
        "run the nightly flow for one night: import, ingest, reports, dataset, experiments, scores, drift",
        prefect=True,
    )
    nightly.add_argument(
        "--day", type=iso_date, help="the night to process, YYYY-MM-DD (default: yesterday, UTC)"
    )
    nightly.add_argument(
        "--rebaseline-from",
        type=iso_date,
        metavar="DAY",
        help="accept the traffic from this date as the new normal: the drift reference restarts there",
    )
    _add_night_arguments(nightly)

    backfill = command(
        "backfill",
        "_flows:backfill_command",
        "run the nightly flow for every night of a range",
        prefect=True,
    )
    backfill.add_argument(
        "--start", type=iso_date, required=True, help="the first night, YYYY-MM-DD (inclusive)"
    )
    backfill.add_argument(
        "--end", type=iso_date, required=True, help="the last night, YYYY-MM-DD (inclusive)"
    )
    _add_night_arguments(backfill)

    build = command(
        "build-dataset",
        "_flows:build_dataset_command",
        "sample new items from the accepted traces of a date window into a new dataset version",
        prefect=True,
    )
    build.add_argument(
        "name", help="the dataset to grow (letters, digits, '.', '_', '-'); a new name starts one"
    )
    build.add_argument("--start", type=iso_date, required=True, help="the window's first date, YYYY-MM-DD")
    build.add_argument("--end", type=iso_date, required=True, help="the window's last date, YYYY-MM-DD")
    build.add_argument("--budget", type=int, default=100, help="at most this many new items (default: 100)")
    build.add_argument(
        "--strategy",
        type=mapping,
        action="append",
        metavar="YAML",
        help="a sampling strategy, repeatable, in order, e.g. '{kind: uniform, rate: 0.1}' "
        "(docs/datasets-sampling.md; default: stratified by route and model 70%%, failure-seeking 30%%)",
    )
    build.add_argument(
        "--filter",
        type=column_value,
        action="append",
        metavar="COLUMN=VALUE",
        help="keep only traces with this value in the column; repeatable (several values of a column: any)",
    )
    build.add_argument(
        "--seed", type=int, default=0, help="change it to draw a different sample (default: 0)"
    )

    imports = command(
        "import-traces",
        "_flows:import_traces_command",
        "import new production traces from the configured sources into canonical trace files",
        prefect=True,
    )
    imports.add_argument(
        "--sources",
        help="a sources YAML file or a shipped name such as demo (default: TRACEWATCH_SOURCES; docs/importing.md)",
    )
    imports.add_argument(
        "--reimport",
        type=iso_date,
        action="append",
        metavar="DAY",
        help="an upload day (UTC) to import again from scratch; repeatable",
    )


def _add_night_arguments(parser: argparse.ArgumentParser) -> None:
    """What the nightly and backfill flows share."""
    parser.add_argument(
        "--reprocess", action="store_true", help="forget what was ingested for the night and ingest it again"
    )
    parser.add_argument(
        "--allow-no-traces",
        action="store_true",
        help="run a night without traces with a warning instead of failing it (for a range with known gaps)",
    )
    parser.add_argument(
        "--dataset-spec",
        metavar="YAML",
        help="the dataset spec to sample the night with (default: the shipped data/datasets/nightly.yaml)",
    )
    parser.add_argument(
        "--experiment",
        action="append",
        metavar="NAME_OR_PATH",
        help="an experiment to run on the night's dataset version, a shipped name or a YAML path; repeatable "
        "(default: those in TRACEWATCH_NIGHTLY_EXPERIMENTS)",
    )
    parser.add_argument(
        "--drift",
        type=setting,
        action="append",
        metavar="NAME=VALUE",
        help="a drift or alert setting over the defaults, e.g. alpha=0.01; repeatable (docs/drift.md, Settings)",
    )
