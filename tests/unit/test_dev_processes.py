"""Dev services' child processes: a temporary log file lives exactly as long as its process."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from devtools.processes import log_file_for, start_logging_process, stop_logging_process


def test_a_temporary_log_is_removed_when_its_process_stops() -> None:
    log_path, owned = log_file_for(None, "dev-test-")
    process = start_logging_process([sys.executable, "-c", "print('hello')"], log_path, owned)
    process.wait(30)
    assert owned and "hello" in log_path.read_text()
    stop_logging_process(process, log_path, owned, timeout_s=5)
    assert not log_path.exists()


def test_a_given_log_is_kept(tmp_path: Path) -> None:
    log_path, owned = log_file_for(tmp_path / "server.log", "dev-test-")
    process = start_logging_process([sys.executable, "-c", "print('kept')"], log_path, owned)
    stop_logging_process(process, log_path, owned, timeout_s=5)
    assert not owned and log_path.exists()


def test_a_temporary_log_goes_when_the_process_cannot_start() -> None:
    log_path, owned = log_file_for(None, "dev-test-")
    with pytest.raises(OSError):
        start_logging_process(["/nonexistent/tracewatch-no-such-binary"], log_path, owned)
    assert not log_path.exists()
