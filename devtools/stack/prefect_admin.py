"""The stack's Prefect: its server, the process work pool, the deployments and the worker.

Prefect is driven through its CLI (`python -m prefect`, in child processes) and its REST API, never imported:
the library stays free of Prefect. Every Prefect process of the stack gets its own PREFECT_HOME under the
stack's folder, so that neither a developer's profile nor `make demo`'s temporary server gets in the way.
"""

from __future__ import annotations

import json
import logging
import os
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from devtools.processes import is_running, start_logging_process
from tracewatch.cli.prefect_env import quiet_prefect_settings
from tracewatch.errors import ServiceError

log = logging.getLogger(__name__)

WORK_POOL = "tracewatch-local"
PREFECT_FILE = Path("deployments/prefect.yaml")
# What the server's and the worker's command lines contain (see `devtools.processes.is_running`).
SERVER_MARKER = "prefect server start"
WORKER_MARKER = "prefect worker start"
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_BUSY_ATTEMPTS = 5
"""Tries of a Prefect API call the server answers 503 (busy); waits 0.5, 1, 2, 4 s between them."""
# Settings every Prefect process of the stack gets: no analytics, library logs in the UI, offline litellm/GX.
# The flow commands' Prefect settings, and SQLite on a busy machine: wait longer for the database (Prefect's
# default is 10 s).
_QUIET = {**quiet_prefect_settings(), "PREFECT_SERVER_DATABASE_TIMEOUT": "60"}


def prefect_environment(directory: Path, api_url: str) -> dict[str, str]:
    """The environment of every Prefect process of the stack whose folder is `directory`: the caller's,
    without its PREFECT_ settings, plus the stack's own PREFECT_HOME (profiles, SQLite database)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    prefect_home = directory / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    return {**env, **_QUIET, "PREFECT_HOME": str(prefect_home), "PREFECT_API_URL": api_url}


def start_server(port: int, env: Mapping[str, str], directory: Path, log_path: Path) -> int:
    """Start the Prefect server on 127.0.0.1:`port` in the background; its PID (see `wait_for_server`)."""
    return _spawn_prefect(
        ["server", "start", "--host", "127.0.0.1", "--port", str(port)], log_path, env, directory
    )


def create_work_pool(env: Mapping[str, str], repo: Path) -> None:
    """The process work pool the deployments run on (replaced if it exists)."""
    _prefect_cli(["work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], env, repo)


def deploy_all(env: Mapping[str, str], repo: Path, log_path: Path) -> None:
    """Every deployment of the repository's `deployments/prefect.yaml`, from the repository root."""
    deploy = ["--no-prompt", "deploy", "--all", "--prefect-file", str(repo / PREFECT_FILE)]
    _prefect_cli(deploy, env, repo, log_path=log_path)


def start_worker(env: Mapping[str, str], repo: Path, log_path: Path) -> int:
    """Start a process worker on the work pool, in the repository root; its PID (see `wait_for_worker`)."""
    worker = ["worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", "tracewatch-worker"]
    return _spawn_prefect(worker, log_path, env, repo)


def prefect_api(api_url: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """One JSON call to a Prefect server's REST API, never through a proxy taken from the environment."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    for attempt in range(_BUSY_ATTEMPTS):
        try:
            with _NO_PROXY.open(request, timeout=30) as response:
                raw = response.read()
            return json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")[:500]
            # 503: the server refused the request before doing it (its SQLite database busy under a worker's
            # writes), so asking again cannot do it twice.
            if exc.code == 503 and attempt + 1 < _BUSY_ATTEMPTS:
                time.sleep(0.5 * 2**attempt)
                continue
            raise ServiceError(f"Prefect API {method} {path} answered {exc.code}: {detail}") from exc
        except OSError as exc:
            raise ServiceError(f"the Prefect server at {api_url} is unreachable: {exc}") from exc
    raise AssertionError("unreachable: the last attempt returns or raises")


def wait_for_server(api_url: str, pid: int, log_path: Path, timeout_s: float) -> None:
    """Wait until the server started as `pid` answers its health check."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid, SERVER_MARKER):
            break
        with suppress(ServiceError):
            if prefect_api(api_url, "GET", "/health") is True:
                return
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise ServiceError(
        f"the Prefect server did not start within {timeout_s:.0f} s; its log ends with:\n{tail}"
    )


def wait_for_worker(api_url: str, pid: int, log_path: Path, timeout_s: float) -> None:
    """Wait until the worker started as `pid` has registered with the pool, so that a run started right
    after `up` is picked up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(pid, WORKER_MARKER):
            break
        workers = prefect_api(api_url, "POST", f"/work_pools/{WORK_POOL}/workers/filter", {})
        if any(w.get("status") == "ONLINE" for w in workers):
            return
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise ServiceError(f"the worker did not come online within {timeout_s:.0f} s; its log ends with:\n{tail}")


def _spawn_prefect(args: list[str], log_path: Path, env: Mapping[str, str], cwd: Path) -> int:
    """Start `prefect <args>` in a session of its own (so it outlives `make up` and stops as a group)."""
    process = start_logging_process(
        [sys.executable, "-m", "prefect", *args], log_path, False, env=env, cwd=cwd, new_session=True
    )
    log.info("started prefect %s (pid %d), log %s", " ".join(args[:2]), process.pid, log_path)
    return process.pid


def _prefect_cli(args: list[str], env: Mapping[str, str], cwd: Path, log_path: Path | None = None) -> None:
    """Run one `prefect` CLI command to its end; its output goes to `log_path` (or is shown on failure)."""
    result = subprocess.run(
        [sys.executable, "-m", "prefect", *args],
        env=dict(env),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if log_path is not None:
        log_path.write_text(result.stdout + result.stderr)
    if result.returncode != 0:
        tail = (result.stdout + result.stderr)[-3000:]
        raise ServiceError(f"`prefect {shlex.join(args)}` failed ({result.returncode}):\n{tail}")
