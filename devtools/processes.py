"""The child processes that dev services run in: their log files, and stopping them."""

from __future__ import annotations

import os
import subprocess
import tempfile
from pathlib import Path


def log_file_for(log_path: Path | None, prefix: str) -> tuple[Path, bool]:
    """Where a child process logs: `log_path`, or a new temporary file (then owned: removed when it stops)."""
    if log_path is not None:
        return log_path, False
    fd, name = tempfile.mkstemp(prefix=prefix, suffix=".log")
    os.close(fd)
    return Path(name), True


def start_logging_process(
    args: list[str],
    log_path: Path,
    owns_log: bool,
    *,
    env: dict[str, str] | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `args` with stdout and stderr appended to `log_path`; a temporary log goes if it cannot start."""
    try:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                args, stdout=log_file, stderr=subprocess.STDOUT, env=env, start_new_session=new_session
            )
    except OSError:
        if owns_log:
            log_path.unlink(missing_ok=True)
        raise


def stop_logging_process(
    process: subprocess.Popen[bytes], log_path: Path, owns_log: bool, timeout_s: float
) -> None:
    """`terminate` the process, and remove its log file when it was a temporary one (`log_file_for`)."""
    terminate(process, timeout_s)
    if owns_log:
        log_path.unlink(missing_ok=True)


def terminate(process: subprocess.Popen[bytes], timeout_s: float) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout_s`; always reaps it."""
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout_s)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
