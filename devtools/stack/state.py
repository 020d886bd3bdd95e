"""The record of a stack, under `<home>/stack`: `state.json` (PIDs, addresses, logs: written as each process
starts, so that `down` can stop what a failed `up` left) and `store.env` (the store's S3 credentials, mode
0600, for `source`-ing in a shell), and the `Stack` read back from them."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from devtools.stack.prefect_admin import prefect_api
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store

STATE_FILE = "state.json"
STORE_ENV_FILE = "store.env"


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
        return state_dir(self.home)

    def store(self) -> Store:
        """The stack's object store, as the flows see it."""
        return open_env_store(self.store_env)

    def api(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        """One call to the Prefect server's REST API (`path` after /api)."""
        return prefect_api(self.api_url, method, path, body)


def state_dir(home: Path) -> Path:
    return home / "stack"


def new_state(home: Path, repo: Path) -> dict[str, Any]:
    """The state of a stack being started: filled in (and written) as `up` goes."""
    logs = state_dir(home) / "logs"
    return {"home": str(home), "repo": str(repo), "processes": {}, "logs": str(logs)}


def record_process(state: dict[str, Any], name: str, pid: int) -> None:
    """Note a started process in the state file at once, so that `down` can stop what a failed `up` left."""
    state["processes"][name] = pid
    _write_state(state_dir(Path(state["home"])), state)


def recorded_processes(home: Path) -> dict[str, int] | None:
    """The processes recorded for the stack of `home` (name -> PID), or None if there is no state file."""
    path = state_dir(home) / STATE_FILE
    if not path.exists():
        return None
    processes: dict[str, int] = json.loads(path.read_text()).get("processes", {})
    return processes


def forget(home: Path) -> None:
    """Remove the state file (once everything it records is stopped); the store's data and keys stay."""
    (state_dir(home) / STATE_FILE).unlink(missing_ok=True)


def load_stack(home: Path) -> Stack | None:
    """The stack recorded under `home`, whether or not its processes still run; None if there is none or
    its `up` never finished."""
    directory = state_dir(home.resolve())
    path = directory / STATE_FILE
    if not path.exists():
        return None
    state = json.loads(path.read_text())
    if "worker" not in state["processes"]:
        return None
    return from_state(state, _read_env(directory / STORE_ENV_FILE))


def from_state(state: Mapping[str, Any], store_env: dict[str, str]) -> Stack:
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


def _write_state(directory: Path, state: Mapping[str, Any]) -> None:
    path = directory / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2) + "\n")
    tmp.replace(path)


# ---- the store's credentials -----------------------------------------------------------------------------


def store_credentials(home: Path) -> tuple[str, str]:
    """The S3 keys of an earlier `up` (SeaweedFS keeps its data; the keys stay valid), or new ones."""
    env = _read_env(state_dir(home) / STORE_ENV_FILE)
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"]
    return "tw" + secrets.token_hex(8), secrets.token_urlsafe(24)


def write_store_env(home: Path, env: Mapping[str, str]) -> None:
    """Keep the store's environment (with the S3 secret) in `store.env`, readable by its owner only."""
    fd = os.open(state_dir(home) / STORE_ENV_FILE, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
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


def open_env_store(env: Mapping[str, str]) -> Store:
    """The store that `env` (an `S3Server.environment`) points at."""
    return open_store(
        Settings(
            store=env["TRACEWATCH_STORE"],
            s3_endpoint_url=env["TRACEWATCH_S3_ENDPOINT_URL"],
            aws_access_key_id=SecretStr(env["AWS_ACCESS_KEY_ID"]),
            aws_secret_access_key=SecretStr(env["AWS_SECRET_ACCESS_KEY"]),
        )
    )
