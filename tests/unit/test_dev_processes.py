"""Dev services' child processes: a temporary log file lives exactly as long as its process, and a process tree
started elsewhere (`make up`'s) is found and stopped whole."""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from devtools.processes import (
    descendants,
    is_running,
    log_file_for,
    start_logging_process,
    stop_logging_process,
    stop_tree,
    terminate,
)


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


def test_a_process_tree_is_found_and_stopped_whole(tmp_path: Path) -> None:
    # A parent in its own session whose child starts a session of its own, as a worker's flow run does.
    script = (
        "import subprocess, sys, time\n"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], start_new_session=True)\n"
        "time.sleep(60)\n"
    )
    log_path = tmp_path / "tree.log"
    parent = start_logging_process([sys.executable, "-c", script], log_path, False, new_session=True)
    try:
        deadline = time.monotonic() + 10
        while not descendants(parent.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        (child,) = descendants(parent.pid)
        assert is_running(parent.pid, "time.sleep(60)") and is_running(child, "time.sleep(60)")
        assert not is_running(parent.pid, "not-this-program")
        stop_tree(parent.pid, timeout_s=5)
        assert not is_running(parent.pid, "time.sleep(60)") and not is_running(child, "time.sleep(60)")
    finally:
        terminate(parent, timeout_s=1)


def test_a_process_is_running_from_the_moment_it_is_started(tmp_path: Path) -> None:
    # Popen returns while the child may still be in execve, with an empty /proc/<pid>/cmdline.
    for _ in range(20):
        process = start_logging_process(
            [sys.executable, "-c", "import time; time.sleep(30)"], tmp_path / "p.log", False, new_session=True
        )
        try:
            assert is_running(process.pid, "time.sleep(30)")
        finally:
            terminate(process, timeout_s=5)
        assert not is_running(process.pid, "time.sleep(30)")
