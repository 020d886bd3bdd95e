"""The child processes that dev services run in: their log files, starting and stopping them, and the
process trees of `make up`'s stack (which outlive the command that started them)."""

from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from contextlib import suppress
from pathlib import Path

_PROC = Path("/proc")


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
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    new_session: bool = False,
) -> subprocess.Popen[bytes]:
    """Start `args` with stdout and stderr appended to `log_path` and no stdin; a temporary log goes if it
    cannot start. `new_session` gives it a session (and process group) of its own, so that it outlives the
    caller's terminal and can be stopped as a group."""
    try:
        with open(log_path, "ab") as log_file:
            return subprocess.Popen(
                args,
                stdout=log_file,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=None if env is None else dict(env),
                cwd=cwd,
                start_new_session=new_session,
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


# ---- processes known only by their PID (another command started them) -----------------------------------


def is_running(pid: int, marker: str) -> bool:
    """True if `pid` runs and is still the program that was started (its command line holds `marker`), so
    that a PID the system has since given to another program is never taken for it."""
    if not _PROC.is_dir():  # no procfs (macOS): the PID is all there is to go by
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    # A process still in execve (just started: Popen returns before the kernel has set up its arguments)
    # shows an empty command line for a moment; wait for it rather than call it gone.
    deadline = time.monotonic() + 1.0
    while True:
        try:
            raw = (_PROC / str(pid) / "cmdline").read_bytes()
        except OSError:
            return False
        if _state(pid) in {"Z", "X"}:
            return False
        if raw or time.monotonic() > deadline:
            return marker in raw.replace(b"\0", b" ").decode(errors="replace")
        time.sleep(0.005)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, their children, ...), from /proc."""
    children: dict[int, list[int]] = {}
    for child, parent in _parents():
        children.setdefault(parent, []).append(child)
    found, todo = [], list(children.get(pid, []))
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(children.get(current, []))
    return found


def stop_tree(pid: int, timeout_s: float) -> None:
    """Stop `pid`, everything below it and their process groups (processes below may sit in sessions of
    their own, e.g. the flow runs of a worker): SIGTERM, then SIGKILL after `timeout_s`."""
    below = descendants(pid)
    groups = {pid, *(_process_group(child) for child in below)}
    _signal_groups(groups, signal.SIGTERM)
    if not _wait_gone([pid, *below], timeout_s):
        _signal_groups(groups, signal.SIGKILL)
        _wait_gone([pid], 5.0)


def _state(pid: int) -> str:
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except OSError:
        return "X"
    return stat.rsplit(")", 1)[1].split()[0]


def _parents() -> Iterator[tuple[int, int]]:
    if not _PROC.is_dir():
        return
    for entry in _PROC.iterdir():
        if entry.name.isdigit():
            with suppress(OSError, IndexError, ValueError):
                yield int(entry.name), int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])


def _process_group(pid: int) -> int:
    try:
        return os.getpgid(pid)
    except ProcessLookupError:
        return pid


def _signal_groups(groups: set[int], sig: signal.Signals) -> None:
    for group in groups:
        with suppress(ProcessLookupError, PermissionError):
            os.killpg(group, sig)


def _wait_gone(pids: list[int], timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for pid in pids:  # reap our own children (a stack started by this process, e.g. in a test)
            with suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if all(_state(pid) in {"X", "Z"} for pid in pids):
            return True
        time.sleep(0.1)
    return False
