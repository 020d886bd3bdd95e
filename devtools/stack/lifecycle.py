"""What `up` starts and `down` stops, in which order, and whether a stack runs.

`up` starts the Prefect server, the local S3 server and (unless told not to) the local model, seeds demo
traces, creates the work pool, deploys, and starts a worker whose environment points the flows at the store,
the model and the repository's code. Each process is recorded as soon as it starts (`state`), so that a
failed `up` leaves nothing running and `down` is safe to call twice.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devtools.local_model import start_local_model
from devtools.ports import free_ports
from devtools.processes import is_running, stop_tree
from devtools.s3server import start_s3_server
from devtools.stack import prefect_admin as prefect
from devtools.stack.state import (
    Stack,
    forget,
    from_state,
    load_stack,
    new_state,
    open_env_store,
    record_process,
    recorded_processes,
    state_dir,
    store_credentials,
    write_store_env,
)
from tracewatch.traces import DriftSpec, write_demo_traces

BUCKET = "tracewatch"
PREFIX = "stack"
# What each process's command line contains, so that `down` never signals a PID the system gave to another
# program since; and the order `down` stops them in (the worker first, so it starts nothing new).
MARKERS = {
    "worker": prefect.WORKER_MARKER,
    "model": "llama_cpp.server",
    "prefect": prefect.SERVER_MARKER,
    "s3": "weed",
}


@dataclass(frozen=True)
class StackOptions:
    """What `up` starts. `home` is the `.tracewatch` folder that holds the stack's data, state and logs."""

    home: Path = Path(".tracewatch")
    repo: Path = Path()
    model: bool = True
    demo_days: int = 14
    traces_per_day: int = 2000
    timezone: str = "UTC"
    nightly_experiments: str | None = None
    """TRACEWATCH_NIGHTLY_EXPERIMENTS for the worker; default "demo" with the model, none without."""
    worker_poll_s: float = 5.0
    """How often the worker asks for runs to start (Prefect's default is 10 s)."""
    timeout_s: float = 240.0


def up(options: StackOptions) -> Stack:
    """Start everything (see the module docstring) and return the running stack; if the stack of `home`
    is already up, return it as it is. A failure stops whatever this call had started."""
    home = options.home.resolve()
    already = running(home)
    if already is not None:
        return already
    down(home)  # whatever an earlier, broken or unfinished `up` left
    (state_dir(home) / "logs").mkdir(parents=True, exist_ok=True)
    try:
        return _start(options, home)
    except BaseException:
        down(home)
        raise


def down(home: Path, timeout_s: float = 20.0) -> list[str]:
    """Stop every process of the stack of `home` (and the flow runs its worker started); what was stopped.

    Safe to call when nothing runs: the state file is removed once everything is down."""
    home = home.resolve()
    processes = recorded_processes(home)
    if processes is None:
        return []
    stopped = []
    for name in sorted(processes, key=list(MARKERS).index):
        pid = processes[name]
        if is_running(pid, MARKERS[name]):
            stop_tree(pid, timeout_s)
            stopped.append(f"{name} (pid {pid})")
    forget(home)
    return stopped


def running(home: Path) -> Stack | None:
    """The stack of `home` if every one of its processes runs, else None."""
    stack = load_stack(home)
    if stack is None or not_running(stack):
        return None
    return stack


def not_running(stack: Stack) -> list[str]:
    """The names of the stack's processes that no longer run."""
    return [name for name, pid in stack.processes.items() if not is_running(pid, MARKERS[name])]


def process_states(home: Path) -> dict[str, bool]:
    """Whether each process recorded for the stack of `home` still runs; empty when nothing is recorded.

    Unlike `running`, this also sees an `up` that has not finished (or was killed half-way)."""
    processes = recorded_processes(home.resolve()) or {}
    return {name: is_running(pid, MARKERS[name]) for name, pid in processes.items()}


def _start(options: StackOptions, home: Path) -> Stack:
    directory = state_dir(home)
    logs = directory / "logs"
    repo = options.repo.resolve()
    state = new_state(home, repo)
    (port,) = free_ports(1)
    api_url = f"http://127.0.0.1:{port}/api"
    state["api_url"], state["ui_url"] = api_url, f"http://127.0.0.1:{port}"
    prefect_env = prefect.prefect_environment(directory, api_url)
    # The server takes 7-18 s to start: everything that does not need it happens meanwhile.
    server_log = logs / "prefect-server.log"
    record_process(state, "prefect", prefect.start_server(port, prefect_env, directory, server_log))
    store_env = _start_store(state, home)
    if options.model:
        model = start_local_model(log_path=logs / "model.log", new_session=True, timeout_s=options.timeout_s)
        state["model_url"] = model.base_url
        record_process(state, "model", model.pid)
    first, last = _seed_demo_traces(directory, store_env, options)
    state["demo_window"] = [first.isoformat(), last.isoformat()]

    prefect.wait_for_server(api_url, state["processes"]["prefect"], server_log, options.timeout_s)
    prefect.create_work_pool(prefect_env, repo)
    deploy_env = {
        **prefect_env,
        "TRACEWATCH_NIGHTLY_TIMEZONE": options.timezone,
        "TRACEWATCH_DEMO_START": first.isoformat(),
        "TRACEWATCH_DEMO_END": last.isoformat(),
    }
    prefect.deploy_all(deploy_env, repo, logs / "deploy.log")

    worker_env = {**prefect_env, **store_env, **_flow_environment(options, repo, state.get("model_url"))}
    worker_log = logs / "worker.log"
    record_process(state, "worker", prefect.start_worker(worker_env, repo, worker_log))
    prefect.wait_for_worker(api_url, state["processes"]["worker"], worker_log, options.timeout_s)
    return from_state(state, store_env)


def _start_store(state: dict[str, Any], home: Path) -> dict[str, str]:
    """The local S3 server, with the keys of an earlier `up` if there was one; the store's environment."""
    directory = state_dir(home)
    access_key, secret_key = store_credentials(home)
    s3 = start_s3_server(
        directory / "s3",
        buckets=(BUCKET,),
        access_key_id=access_key,
        secret_access_key=secret_key,
        log_path=directory / "logs" / "s3.log",
    )
    state["store"] = f"s3://{BUCKET}/{PREFIX}"
    state["s3_endpoint_url"] = s3.endpoint_url
    record_process(state, "s3", s3.pid)
    store_env = s3.environment(BUCKET, PREFIX)
    write_store_env(home, store_env)
    return store_env


def _flow_environment(options: StackOptions, repo: Path, model_url: str | None) -> dict[str, str]:
    """What the worker passes on to every flow run, besides the store: experiments, the model, the code
    (the repository root on PYTHONPATH, so that `flows` and `devtools` import whatever the run's folder)."""
    experiments = options.nightly_experiments
    if experiments is None:
        experiments = "demo" if model_url else ""
    env = {
        "TRACEWATCH_NIGHTLY_EXPERIMENTS": experiments,
        "PREFECT_WORKER_QUERY_SECONDS": str(options.worker_poll_s),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(repo), os.environ.get("PYTHONPATH")])),
    }
    if model_url:
        env["TRACEWATCH_DEMO_MODEL_URL"] = model_url
    return env


def _seed_demo_traces(
    directory: Path, store_env: Mapping[str, str], options: StackOptions
) -> tuple[dt.date, dt.date]:
    """Demo traces for the `demo_days` days up to yesterday (UTC). The first day is remembered, so a later
    `up` extends the same demo (same objects for the days already written) instead of shifting it."""
    yesterday = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    marker = directory / "demo.json"
    start = yesterday - dt.timedelta(days=options.demo_days - 1)
    if marker.exists():
        start = min(start, dt.date.fromisoformat(json.loads(marker.read_text())["start"]))
    store = open_env_store(store_env)
    store.check()
    days = (yesterday - start).days + 1
    if not store.list_objects(f"traces/date={yesterday}/"):  # else an earlier `up` wrote them all
        write_demo_traces(
            store,
            start=start,
            days=days,
            traces_per_day=options.traces_per_day,
            drift=DriftSpec(from_day=min(10, days)),
        )
    marker.write_text(json.dumps({"start": start.isoformat()}) + "\n")
    return start, yesterday
