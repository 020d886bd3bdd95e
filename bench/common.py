"""What every benchmark shares: a local S3 store for the parent, fresh child processes, timing, peak RSS, machine.

Each benchmark module is both the parent (`run_benchmark`, `to_markdown`) and the child (`main`, run as
`python -m bench.<module> <kind> ...`), so one repetition of one side runs in a fresh process: its peak RSS is
its own and nothing warm carries over.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracewatch.store import Store

REPO = Path(__file__).resolve().parents[1]
BUCKET = "tracewatch"
CHILD_TIMEOUT_S = 1800
QUIET_ENV = {
    "GX_ANALYTICS_ENABLED": "False",
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
}
VERDICT = {True: "pass", False: "**FAIL**"}


@dataclass(frozen=True)
class LocalStore:
    """A store on a freshly started local S3 server, the environment that points a child at it, a scratch dir."""

    store: Store
    child_env: dict[str, str]
    tmp: Path


@contextmanager
def local_s3_store(work_dir: Path, prefix: str) -> Iterator[LocalStore]:
    """Start SeaweedFS under `work_dir` for the duration of the block; its data is deleted afterwards."""
    from pydantic import SecretStr

    from devtools.s3server import start_s3_server, stop_s3_server
    from tracewatch.settings import Settings

    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"{prefix}-", dir=work_dir) as tmp:
        server = start_s3_server(Path(tmp) / "seaweedfs", buckets=(BUCKET,))
        try:
            env = server.environment(BUCKET, f"bench-{uuid.uuid4().hex[:12]}")
            settings = Settings(
                store=env["TRACEWATCH_STORE"],
                s3_endpoint_url=server.endpoint_url,
                aws_access_key_id=SecretStr(server.access_key_id),
                aws_secret_access_key=SecretStr(server.secret_access_key),
            )
            yield LocalStore(Store.from_settings(settings), {**os.environ, **env, **QUIET_ENV}, Path(tmp))
        finally:
            stop_s3_server(server)


def spawn(module: str, kind: str, args: list[str], env: dict[str, str], tmp: Path) -> dict[str, Any]:
    """Run `python -m <module> <kind> --result <file> <args>` and return the JSON it wrote, plus `process_s`."""
    result_path = tmp / f"result-{uuid.uuid4().hex}.json"
    command = [sys.executable, "-m", module, kind, "--result", str(result_path), *args]
    started = time.perf_counter()
    done = subprocess.run(
        command, check=False, env=env, cwd=REPO, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S
    )
    process_s = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"the {kind} run failed (exit {done.returncode}):\n{done.stderr[-4000:]}")
    run: dict[str, Any] = json.loads(result_path.read_text())
    result_path.unlink()
    run["process_s"] = round(process_s, 3)  # including interpreter start-up and imports
    return run


def write_result(path: Path, kind: str, phases: dict[str, float], counts: dict[str, int]) -> None:
    """What a child reports: its phases (seconds), counts of what it saw, and its peak RSS."""
    result = {
        "kind": kind,
        "phases": {name: round(seconds, 4) for name, seconds in phases.items()},
        "counts": counts,
        "peak_rss_mb": round(peak_rss_mb(), 1),
    }
    path.write_text(json.dumps(result))


def median_phase(runs: list[dict[str, Any]], phase: str) -> float:
    return float(statistics.median(r["phases"][phase] for r in runs))


@contextmanager
def timed(phases: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall time of the block to `phases[name]`."""
    started = time.perf_counter()
    try:
        yield
    finally:
        phases[name] = phases.get(name, 0.0) + time.perf_counter() - started


def timing(function: Callable[..., Any], phases: dict[str, float], name: str) -> Callable[..., Any]:
    """`function`, adding the wall time of each call to `phases[name]` (to patch it where it is called)."""

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        with timed(phases, name):
            return function(*args, **kwargs)

    return timed_call


def timing_concurrent(
    function: Callable[..., Any], phases: dict[str, float], name: str
) -> Callable[..., Any]:
    """`timing` for a function called from several threads at once: `phases[name]` gets the wall time during
    which at least one call was running, so overlapping calls are not counted twice."""
    lock = threading.Lock()
    running = 0
    since = 0.0

    def timed_call(*args: Any, **kwargs: Any) -> Any:
        nonlocal running, since
        with lock:
            if running == 0:
                since = time.perf_counter()
            running += 1
        try:
            return function(*args, **kwargs)
        finally:
            with lock:
                running -= 1
                if running == 0:
                    phases[name] = phases.get(name, 0.0) + time.perf_counter() - since

    return timed_call


def peak_rss_mb() -> float:
    """This process's peak resident set (or any child's), in MB.

    Not `ru_maxrss` of RUSAGE_SELF: Linux keeps it across fork + exec, so a child would report the parent's
    peak (the parent held the whole generated day). VmHWM belongs to this process's own address space.
    """
    scale = 1024 if sys.platform == "darwin" else 1  # ru_maxrss is in bytes on macOS, KiB on Linux
    children_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // scale
    status = Path("/proc/self/status")
    if not status.exists():  # not Linux: the best there is
        return max(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // scale, children_kib) / 1024
    own_kib = next(
        int(line.split()[1]) for line in status.read_text().splitlines() if line.startswith("VmHWM:")
    )
    return max(own_kib, children_kib) / 1024


def machine_info() -> dict[str, Any]:
    import pyarrow

    return {
        "nproc": os.cpu_count(),
        "usable_cpus": len(os.sched_getaffinity(0)),
        "python": platform.python_version(),
        "polars": pl.__version__,
        "pyarrow": pyarrow.__version__,
        "platform": platform.platform(),
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "git": git_revision(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


def git_revision() -> str:
    """The commit measured, with `-dirty` when src/ has uncommitted changes."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], check=False, cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    return git("rev-parse", "--short", "HEAD") + ("-dirty" if git("status", "--porcelain", "src") else "")
