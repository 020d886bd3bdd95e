"""The command line itself (issue 20, item 17): a description for every argument, `--version`, `--help` without
the heavy libraries, and the flow commands' environment (item 13). No store and no server is needed."""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from tests.support.entry_point import tracewatch
from tracewatch.cli._failure import one_line
from tracewatch.cli._flows import _WithoutTraceback
from tracewatch.cli._parser import build_parser
from tracewatch.cli.prefect_env import PREFECT_ENVIRONMENT, prefect_environment

HEAVY = ("polars", "pyarrow", "litellm", "prefect", "great_expectations", "s3fs", "pydantic_settings")


def subcommands() -> dict[str, argparse.ArgumentParser]:
    actions = [a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(actions[0].choices)


def test_every_argument_of_every_command_is_described() -> None:
    parsers = {"tracewatch": build_parser(), **subcommands()}
    undescribed = [
        f"{name} {action.dest}"
        for name, parser in parsers.items()
        for action in parser._actions
        if not isinstance(action, argparse._SubParsersAction) and not action.help
    ]
    assert undescribed == []
    assert {"nightly", "backfill", "build-dataset", "import-traces", "run-experiment"} <= set(parsers)


@pytest.mark.parametrize("command", sorted(subcommands()))
def test_the_installed_command_prints_each_help(command: str, tmp_path: Path) -> None:
    run = tracewatch(command, "--help", cwd=tmp_path)
    assert run.status == 0
    assert run.out[0].startswith(f"usage: tracewatch {command} ")
    assert not run.err


def test_version_is_the_installed_distributions(tmp_path: Path) -> None:
    run = tracewatch("--version", cwd=tmp_path)
    assert (run.status, run.out) == (0, [f"tracewatch {version('tracewatch')}"])


def test_python_dash_m_runs_the_same_command() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tracewatch.cli", "--version"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (0, f"tracewatch {version('tracewatch')}\n")


def test_help_imports_none_of_the_heavy_libraries() -> None:
    """`tracewatch --help` answers at once: importing the command and printing its help loads neither polars
    nor Prefect nor litellm (each command imports what it needs when it runs)."""
    code = (
        "import sys\n"
        "from tracewatch.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print('loaded:', sorted(m for m in {HEAVY!r} if m in sys.modules))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.splitlines()[-1] == "loaded: []"


def test_the_flow_environment_is_a_default_that_keeps_what_the_user_set(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in PREFECT_ENVIRONMENT:
        monkeypatch.setenv(name, "")  # empty counts as unset; monkeypatch restores the real value
    monkeypatch.setenv("PREFECT_LOGGING_EXTRA_LOGGERS", "tracewatch,mine")
    monkeypatch.chdir(tmp_path)
    prefect_environment()
    assert os.environ["PREFECT_HOME"] == str(tmp_path / ".tracewatch" / "prefect")
    assert (tmp_path / ".tracewatch" / "prefect").is_dir()
    assert os.environ["PREFECT_LOGGING_EXTRA_LOGGERS"] == "tracewatch,mine"
    assert os.environ["PREFECT_SERVER_ANALYTICS_ENABLED"] == "false"
    assert os.environ["PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW"] == "ignore"


def test_a_failed_run_is_logged_without_its_traceback_on_the_terminal() -> None:
    try:
        raise ValueError("bad")
    except ValueError:
        record = logging.LogRecord("prefect", logging.ERROR, __file__, 1, "run failed", None, sys.exc_info())
    line = _WithoutTraceback(logging.Formatter("%(levelname)s %(message)s")).format(record)
    assert line == "ERROR run failed"
    assert "Traceback" in logging.Formatter().format(record)  # the record itself keeps it (for the UI)


def test_a_message_of_several_lines_becomes_one() -> None:
    assert one_line("bad settings:\n  - alpha: too big\n\n  - beta: unknown\n") == (
        "bad settings: - alpha: too big - beta: unknown"
    )
