"""`make up` / `make down`: tracewatch under a real Prefect server, in the background, on loopback.

`up` starts the Prefect server (SQLite, in `<home>/stack/prefect`), the local S3 server (SeaweedFS, data in
`<home>/stack/s3`) and, unless told not to, the local model (llama.cpp serving SmolLM2); creates the process
work pool `tracewatch-local`, deploys everything in `deployments/prefect.yaml`, starts a worker whose
environment points the flows at the store and the model, and seeds demo traces so that a run has something
to do. Every process gets its own session; their PIDs, ports and logs are recorded in
`<home>/stack/state.json`, so `down` can stop them (and any flow run a worker started) by process group,
and is safe to call twice.

The S3 credentials are generated once and kept in `<home>/stack/store.env` (mode 0600, for `source`-ing in
a shell); they are never printed. Prefect is driven through its CLI and REST API, never imported: the
library stays free of Prefect.

    python -m devtools.stack up [--no-model] [--home DIR]
    python -m devtools.stack status|down [--home DIR]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import os
import secrets
import shlex
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from devtools.local_model import start_local_model
from devtools.ports import free_ports
from devtools.s3server import start_s3_server
from tracewatch.errors import ServiceError
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store
from tracewatch.traces import DriftSpec, write_demo_traces

log = logging.getLogger(__name__)

WORK_POOL = "tracewatch-local"
PREFECT_FILE = Path("deployments/prefect.yaml")
BUCKET = "tracewatch"
PREFIX = "stack"
# What each process's command line contains, so that `down` never signals a PID the system gave to another
# program since; and the order `down` stops them in (the worker first, so it starts nothing new).
MARKERS = {
    "worker": "prefect worker start",
    "model": "llama_cpp.server",
    "prefect": "prefect server start",
    "s3": "weed",
}
_PROC = Path("/proc")
_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))
# Settings every Prefect process of the stack gets: no analytics, library logs in the UI, offline litellm/GX.
_QUIET = {
    "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
    "PREFECT_LOGGING_EXTRA_LOGGERS": "tracewatch",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": "ignore",
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "GX_ANALYTICS_ENABLED": "False",
    # SQLite on a busy machine: wait longer for the database (Prefect's default is 10 s).
    "PREFECT_SERVER_DATABASE_TIMEOUT": "60",
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


@dataclass
class Stack:
    """A running stack, as recorded in its state file. `store_env` holds the S3 secret: kept out of repr."""

    home: Path
    api_url: str
    ui_url: str
    store_url: str
    model_url: str | None
    processes: dict[str, int]
    demo_window: tuple[dt.date, dt.date]
    store_env: dict[str, str] = field(repr=False)

    @property
    def state_dir(self) -> Path:
        return self.home / "stack"

    def store(self) -> Store:
        """The stack's object store, as the flows see it."""
        return _open_store(self.store_env)

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One call to the Prefect server's REST API (`path` after /api)."""
        return prefect_api(self.api_url, method, path, body)


def state_dir(home: Path) -> Path:
    return home / "stack"


def up(options: StackOptions) -> Stack:
    """Start everything (see the module docstring) and return the running stack; if the stack of `home`
    is already up, return it as it is. A failure stops whatever this call had started."""
    home = options.home.resolve()
    already = running(home)
    if already is not None:
        return already
    down(home)  # whatever an earlier, broken or unfinished `up` left
    directory = state_dir(home)
    (directory / "logs").mkdir(parents=True, exist_ok=True)
    try:
        return _start(options, home)
    except BaseException:
        down(home)
        raise


def _start(options: StackOptions, home: Path) -> Stack:
    directory = state_dir(home)
    logs = directory / "logs"
    repo = options.repo.resolve()
    state: dict[str, Any] = {"home": str(home), "repo": str(repo), "processes": {}, "logs": str(logs)}
    (port,) = free_ports(1)
    api_url = f"http://127.0.0.1:{port}/api"
    state["api_url"], state["ui_url"] = api_url, f"http://127.0.0.1:{port}"
    prefect_env = _prefect_environment(directory, api_url)
    # The server takes 7-18 s to start: everything that does not need it happens meanwhile.
    server = ["server", "start", "--host", "127.0.0.1", "--port", str(port)]
    _record(state, "prefect", _spawn_prefect(server, logs / "prefect-server.log", prefect_env, cwd=directory))
    store_env = _start_store(state)
    if options.model:
        model = start_local_model(log_path=logs / "model.log", new_session=True, timeout_s=options.timeout_s)
        state["model_url"] = model.base_url
        _record(state, "model", model.pid)
    first, last = _seed_demo_traces(directory, store_env, options)
    state["demo_window"] = [first.isoformat(), last.isoformat()]

    _wait_for_server(api_url, state["processes"]["prefect"], logs / "prefect-server.log", options.timeout_s)
    _prefect_cli(["work-pool", "create", WORK_POOL, "--type", "process", "--overwrite"], prefect_env, repo)
    deploy_env = {
        **prefect_env,
        "TRACEWATCH_NIGHTLY_TIMEZONE": options.timezone,
        "TRACEWATCH_DEMO_START": first.isoformat(),
        "TRACEWATCH_DEMO_END": last.isoformat(),
    }
    deploy = ["--no-prompt", "deploy", "--all", "--prefect-file", str(repo / PREFECT_FILE)]
    _prefect_cli(deploy, deploy_env, repo, log_path=logs / "deploy.log")

    worker_env = {**prefect_env, **store_env, **_flow_environment(options, repo, state.get("model_url"))}
    worker = ["worker", "start", "--pool", WORK_POOL, "--type", "process", "--name", "tracewatch-worker"]
    _record(state, "worker", _spawn_prefect(worker, logs / "worker.log", worker_env, cwd=repo))
    stack = _from_state(state, store_env)
    _wait_for_worker(stack, options.timeout_s)
    return stack


def _start_store(state: dict[str, Any]) -> dict[str, str]:
    """The local S3 server, with the keys of an earlier `up` if there was one; the store's environment."""
    directory = Path(state["home"]) / "stack"
    access_key, secret_key = _credentials(directory)
    s3 = start_s3_server(
        directory / "s3",
        buckets=(BUCKET,),
        access_key_id=access_key,
        secret_access_key=secret_key,
        log_path=directory / "logs" / "s3.log",
    )
    state["store"] = f"s3://{BUCKET}/{PREFIX}"
    state["s3_endpoint_url"] = s3.endpoint_url
    _record(state, "s3", s3.pid)
    store_env = s3.environment(BUCKET, PREFIX)
    _write_secret_env(directory / "store.env", store_env)
    return store_env


def _flow_environment(options: StackOptions, repo: Path, model_url: str | None) -> dict[str, str]:
    """What the worker passes on to every flow run, besides the store: experiments, the model, the code."""
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


def down(home: Path, timeout_s: float = 20.0) -> list[str]:
    """Stop every process of the stack of `home` (and the flow runs its worker started); what was stopped.

    Safe to call when nothing runs: the state file is removed once everything is down."""
    directory = state_dir(home.resolve())
    path = directory / "state.json"
    if not path.exists():
        return []
    processes: dict[str, int] = json.loads(path.read_text()).get("processes", {})
    stopped = []
    for name in sorted(processes, key=list(MARKERS).index):
        pid = processes[name]
        if not _alive(pid, MARKERS[name]):
            continue
        # Flow runs may sit in sessions of their own: signal their groups too, before their parent goes.
        below = descendants(pid)
        groups = {pid, *(_pgid(child) for child in below)}
        _signal_groups(groups, signal.SIGTERM)
        if not _wait_gone([pid, *below], timeout_s):
            _signal_groups(groups, signal.SIGKILL)
            _wait_gone([pid], 5.0)
        stopped.append(f"{name} (pid {pid})")
    path.unlink(missing_ok=True)
    return stopped


def load_stack(home: Path) -> Stack | None:
    """The stack recorded under `home`, whether or not its processes still run; None if there is none or
    its `up` never finished."""
    directory = state_dir(home.resolve())
    path = directory / "state.json"
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if "worker" not in state["processes"]:
        return None
    return _from_state(state, _read_env(directory / "store.env"))


def running(home: Path) -> Stack | None:
    """The stack of `home` if every one of its processes runs, else None."""
    stack = load_stack(home)
    if stack is None or not all(_alive(pid, MARKERS[name]) for name, pid in stack.processes.items()):
        return None
    return stack


def prefect_api(api_url: str, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
    """One JSON call to a Prefect server's REST API, never through a proxy taken from the environment."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        api_url + path, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    try:
        with _NO_PROXY.open(request, timeout=30) as response:
            raw = response.read()
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ServiceError(f"Prefect API {method} {path} answered {exc.code}: {detail}") from exc
    except OSError as exc:
        raise ServiceError(f"the Prefect server at {api_url} is unreachable: {exc}") from exc
    return json.loads(raw) if raw else None


def describe(stack: Stack) -> str:
    """What `up` and `status` print: addresses, deployments, where the logs are. No secret."""
    deployments = stack.api("POST", "/deployments/filter", {"sort": "NAME_ASC"})
    flows = {f["id"]: f["name"] for f in stack.api("POST", "/flows/filter", {})}
    lines = [
        f"Prefect UI:   {stack.ui_url}/  (the new UI: {stack.ui_url}/v2/)",
        f"Prefect API:  {stack.api_url}  (export PREFECT_API_URL={stack.api_url} for the prefect CLI)",
        f"store:        {stack.store_url} (local S3 server; `source {stack.state_dir}/store.env` to use it)",
        f"model:        {stack.model_url or 'not started (--no-model)'}",
        f"demo traces:  {stack.demo_window[0]}..{stack.demo_window[1]}",
        f"work pool:    {WORK_POOL} (process worker, pid {stack.processes.get('worker')})",
        "deployments:",
    ]
    for deployment in deployments:
        schedules = ", ".join(
            f"cron '{s['schedule'].get('cron')}' {s['schedule'].get('timezone') or 'UTC'}"
            for s in deployment.get("schedules", [])
            if s.get("active")
        )
        name = f"{flows.get(deployment['flow_id'], '?')}/{deployment['name']}"
        lines.append(f"  {name:<34} {schedules}".rstrip())
    lines.append(f"logs:         {stack.state_dir / 'logs'}")
    return "\n".join(lines)


# ---- processes ---------------------------------------------------------------------------------------------


def _spawn_prefect(args: list[str], log_path: Path, env: Mapping[str, str], *, cwd: Path) -> int:
    """Start `prefect <args>` in a session of its own (so it outlives `make up` and stops as a group)."""
    with open(log_path, "ab") as log_file:
        process = subprocess.Popen(
            [sys.executable, "-m", "prefect", *args],
            stdout=log_file,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
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


def _alive(pid: int, marker: str) -> bool:
    """True if `pid` runs and is still the program we started (its command line holds `marker`)."""
    if not _PROC.is_dir():  # no procfs (macOS): the PID is all there is to go by
        try:
            os.kill(pid, 0)
        except OSError:
            return False
        return True
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return False
    return marker in cmdline and _state(pid) != "Z"


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
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


def _pgid(pid: int) -> int:
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
        for pid in pids:  # reap our own children (the stack started by this process, e.g. in a test)
            with suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
        if all(_state(pid) in {"X", "Z"} for pid in pids):
            return True
        time.sleep(0.1)
    return False


# ---- Prefect ---------------------------------------------------------------------------------------------


def _prefect_environment(directory: Path, api_url: str) -> dict[str, str]:
    """The environment of every Prefect process of the stack: its own PREFECT_HOME (profiles, SQLite
    database), so that neither a developer's profile nor `make demo`'s temporary server gets in the way."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    prefect_home = directory / "prefect"
    prefect_home.mkdir(parents=True, exist_ok=True)
    return {**env, **_QUIET, "PREFECT_HOME": str(prefect_home), "PREFECT_API_URL": api_url}


def _wait_for_server(api_url: str, pid: int, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(pid, MARKERS["prefect"]):
            break
        with suppress(ServiceError):
            if prefect_api(api_url, "GET", "/health") is True:
                return
        time.sleep(0.5)
    tail = log_path.read_text(errors="replace")[-2000:]
    raise ServiceError(
        f"the Prefect server did not start within {timeout_s:.0f} s; its log ends with:\n{tail}"
    )


def _wait_for_worker(stack: Stack, timeout_s: float) -> None:
    """Wait until the worker has registered with the pool, so a run started right after `up` is picked up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not _alive(stack.processes["worker"], MARKERS["worker"]):
            break
        workers = stack.api("POST", f"/work_pools/{WORK_POOL}/workers/filter", {})
        if any(w.get("status") == "ONLINE" for w in workers):
            return
        time.sleep(0.5)
    tail = (stack.state_dir / "logs" / "worker.log").read_text(errors="replace")[-2000:]
    raise ServiceError(f"the worker did not come online within {timeout_s:.0f} s; its log ends with:\n{tail}")


# ---- state, store, demo traces ---------------------------------------------------------------------------


def _record(state: dict[str, Any], name: str, pid: int) -> None:
    """Note a started process in the state file at once, so that `down` can stop what a failed `up` left."""
    state["processes"][name] = pid
    _write_state(Path(state["home"]) / "stack", state)


def _write_state(directory: Path, state: Mapping[str, Any]) -> None:
    path = directory / "state.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


def _from_state(state: Mapping[str, Any], store_env: dict[str, str]) -> Stack:
    first, last = (dt.date.fromisoformat(d) for d in state["demo_window"])
    return Stack(
        home=Path(state["home"]),
        api_url=state["api_url"],
        ui_url=state["ui_url"],
        store_url=state["store"],
        model_url=state.get("model_url"),
        processes=dict(state["processes"]),
        demo_window=(first, last),
        store_env=store_env,
    )


def _credentials(directory: Path) -> tuple[str, str]:
    """The S3 keys of an earlier `up` (SeaweedFS keeps its data; the keys stay valid), or new ones."""
    env = _read_env(directory / "store.env")
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    return "tw" + secrets.token_hex(8), secrets.token_urlsafe(24)


def _write_secret_env(path: Path, env: Mapping[str, str]) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write("# The stack's store (written by `make up`; holds the S3 secret: keep it private)\n")
        out.writelines(f"export {key}={shlex.quote(value)}\n" for key, value in env.items())


def _read_env(path: Path) -> dict[str, str]:
    if not path.exists():
        return {}
    env = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line.removeprefix("export ").split("=", 1)
            env[key] = shlex.split(value)[0] if value else ""
    return env


def _open_store(env: Mapping[str, str]) -> Store:
    """The store that `env` (an `S3Server.environment`) points at."""
    return open_store(
        Settings(
            store=env["TRACEWATCH_STORE"],
            s3_endpoint_url=env["TRACEWATCH_S3_ENDPOINT_URL"],
            aws_access_key_id=SecretStr(env["AWS_ACCESS_KEY_ID"]),
            aws_secret_access_key=SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
        )
    )


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
    store = _open_store(store_env)
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


# ---- CLI -------------------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devtools.stack", description=__doc__)
    parser.add_argument("command", choices=["up", "down", "status"])
    parser.add_argument("--home", type=Path, default=Path(".tracewatch"), help="default: ./.tracewatch")
    parser.add_argument("--no-model", action="store_true", help="do not start the local model (llama.cpp)")
    parser.add_argument("--days", type=int, default=14, help="days of demo traces to seed (default 14)")
    parser.add_argument("--traces-per-day", type=int, default=2000)
    parser.add_argument(
        "--timezone",
        default=os.environ.get("TRACEWATCH_NIGHTLY_TIMEZONE", "UTC"),
        help="the nightly schedule's timezone (IANA name; default $TRACEWATCH_NIGHTLY_TIMEZONE or UTC)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    home: Path = args.home
    if args.command == "down":
        stopped = down(home)
        print("stopped: " + ", ".join(stopped) if stopped else "the stack was not running")
        return 0
    if args.command == "status":
        stack = load_stack(home)
        if stack is None:
            print("the stack is not running (make up)")
            return 1
        dead = [name for name, pid in stack.processes.items() if not _alive(pid, MARKERS[name])]
        if dead:
            print(f"the stack is broken: not running: {', '.join(dead)} (make down; make up)")
            return 1
        print(describe(stack))
        return 0
    options = StackOptions(
        home=home,
        model=not args.no_model,
        demo_days=args.days,
        traces_per_day=args.traces_per_day,
        timezone=args.timezone,
    )
    started = time.monotonic()
    already = running(home) is not None
    stack = up(options)
    took = "was already up" if already else f"is up in {time.monotonic() - started:.0f} s"
    print(f"\nthe tracewatch stack {took} (stop it with `make down`)\n")
    print(describe(stack))
    return 0


if __name__ == "__main__":
    sys.exit(main())
