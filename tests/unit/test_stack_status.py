"""`make status` / `python -m devtools.stack status`: "not running" is an answer, not an error (exit 0), whether
no stack was ever started or the processes of an earlier `make up` have all stopped; a stack of which only part
runs is a problem to fix (exit 1)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _status(home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "devtools.stack", "status", "--home", str(home)],
        cwd=REPO,
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _write_state(home: Path, processes: dict[str, int]) -> None:
    """A state file as `up` writes it (devtools.stack.state)."""
    directory = home / "stack"
    directory.mkdir(parents=True)
    state = {
        "home": str(home),
        "repo": str(REPO),
        "processes": processes,
        "logs": str(directory / "logs"),
        "api_url": "http://127.0.0.1:9/api",
        "ui_url": "http://127.0.0.1:9",
        "store": "s3://tracewatch/stack",
        "demo_window": ["2026-11-01", "2026-11-14"],
    }
    (directory / "state.json").write_text(json.dumps(state))


def _finished_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait(30)
    return process.pid


@pytest.fixture
def weed_lookalike() -> Iterator[int]:
    """A live process whose command line holds the S3 server's marker ("weed"), as a running stack's would."""
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)", "weed"])
    yield process.pid
    process.kill()
    process.wait(30)


def test_no_stack_is_not_running_and_exits_0(tmp_path: Path) -> None:
    result = _status(tmp_path / ".tracewatch")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == "the tracewatch stack is not running; start it with `make up`"


def test_a_stack_whose_processes_all_stopped_is_not_running(tmp_path: Path) -> None:
    home = tmp_path / ".tracewatch"
    gone = _finished_pid()
    _write_state(home, {"prefect": gone, "s3": gone, "worker": gone})
    result = _status(home)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(
        "the tracewatch stack is not running (the processes of an earlier `make up`"
    )


def test_a_stack_of_which_part_runs_is_broken(tmp_path: Path, weed_lookalike: int) -> None:
    home = tmp_path / ".tracewatch"
    _write_state(home, {"prefect": _finished_pid(), "s3": weed_lookalike, "worker": _finished_pid()})
    result = _status(home)
    assert result.returncode == 1
    assert (
        result.stdout.splitlines()[0]
        == "the stack is broken: not running: prefect, worker (make down; make up)"
    )


def test_an_unfinished_up_is_not_up(tmp_path: Path, weed_lookalike: int) -> None:
    home = tmp_path / ".tracewatch"
    _write_state(home, {"s3": weed_lookalike})  # `up` records the worker last
    result = _status(home)
    assert result.returncode == 1
    assert "`make up` is still starting it or stopped half-way (running: s3)" in result.stdout


def test_make_status_without_a_stack_says_so_and_installs_nothing(tmp_path: Path) -> None:
    """The Makefile's own answer when no state file exists: no install, no make error."""
    result = subprocess.run(
        ["make", "--no-print-directory", "-f", str(REPO / "Makefile"), "-C", str(tmp_path), "status"],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAKEFLAGS": ""},
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "the tracewatch stack is not running; start it with `make up`\n"
    assert not (tmp_path / ".venv").exists()
