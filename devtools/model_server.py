"""A real-HTTP, OpenAI-compatible fake model server for the tests and benchmarks of LLM experiment runs.

It answers `POST /v1/chat/completions` deterministically (echo, a hash-chosen sentence, or canned answers
keyed by a substring of the last user message), and injects latency and faults (429 with Retry-After,
5xx, hangs, malformed or truncated bodies, empty choices or content) at rates that can be changed while
it runs. It runs in its own process, on a free loopback port, so that neither its event loop nor the
client's limits the other in a benchmark. Start it with `start_model_server`, or by hand with
`python -m devtools.model_server --port 8123` (see docs/test-model-server.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devtools._model_server_app import serve
from devtools.model_server_config import (
    API_KEY_ENV,
    FAULT_KINDS,
    FaultKind,
    Faults,
    Latency,
    ReplyMode,
    ServerConfig,
    request_key,
)
from devtools.ports import free_ports
from devtools.processes import log_file_for, start_logging_process, stop_logging_process
from tracewatch.errors import ConfigError, ServiceError

__all__ = [
    "FAULT_KINDS",
    "FaultKind",
    "Faults",
    "Latency",
    "ModelServer",
    "ModelServerStats",
    "ReplyMode",
    "main",
    "request_key",
    "start_model_server",
    "stop_model_server",
]

log = logging.getLogger(__name__)

# Admin calls must never go through an HTTP proxy taken from the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
_MODULE = "devtools.model_server"
_IMPORT_ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class ModelServerStats:
    """What the server saw since it started or was last reset (admin calls are not counted).

    `by_request` counts chat requests per `request_key`; it is what lets a test assert that a warm cache
    made no call at all, or that a resumed run asked no item twice.
    """

    requests: int
    in_flight: int
    max_in_flight: int
    by_status: dict[int, int]
    by_fault: dict[str, int]
    by_request: dict[str, int]
    answered: dict[str, int] = field(default_factory=dict)
    """Whole answers sent per request key (no fault injected): more than 1 is a paid call repeated."""

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ModelServerStats:
        return cls(
            requests=data["requests"],
            in_flight=data["in_flight"],
            max_in_flight=data["max_in_flight"],
            by_status={int(k): v for k, v in data["by_status"].items()},
            by_fault=dict(data["by_fault"]),
            by_request=dict(data["by_request"]),
            answered=dict(data.get("answered", {})),
        )

    @property
    def max_calls_per_request(self) -> int:
        """1 means no distinct request was sent twice (0: none was sent at all)."""
        return max(self.by_request.values(), default=0)

    def calls_for(
        self,
        messages: Sequence[Mapping[str, Any]],
        model: str,
        temperature: float | None = None,
        seed: int | None = None,
    ) -> int:
        """How many times this exact chat request reached the server."""
        return self.by_request.get(request_key(messages, model, temperature, seed), 0)


@dataclass
class ModelServer:
    """A running model server. `base_url` ends in /v1, as `openai.AsyncOpenAI(base_url=...)` expects."""

    base_url: str
    port: int
    pid: int
    api_key: str | None = field(repr=False)
    log_path: Path
    _process: subprocess.Popen[bytes] = field(repr=False, compare=False)
    _owns_log: bool = field(default=False, repr=False, compare=False)

    @property
    def root_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client_api_key(self) -> str:
        """The key to give a client: the real one, or a placeholder (OpenAI clients refuse an empty key)."""
        return self.api_key or "unused"

    def configure(
        self,
        *,
        latency: Latency | None = None,
        faults: Faults | None = None,
        answers: Mapping[str, str] | None = None,
        reply: ReplyMode | None = None,
        models: Sequence[str] | None = None,
    ) -> None:
        """Replace the given sections of the running server's config; sections not given stay as they are."""
        changes: dict[str, Any] = {}
        if latency is not None:
            changes["latency"] = latency.to_json()
        if faults is not None:
            changes["faults"] = faults.to_json()
        if answers is not None:
            changes["answers"] = dict(answers)
        if reply is not None:
            changes["reply"] = reply
        if models is not None:
            changes["models"] = list(models)
        self._admin("POST", "/admin/config", changes)

    def config(self) -> dict[str, Any]:
        """The running config, as JSON (what `GET /admin/config` returns)."""
        result: dict[str, Any] = self._admin("GET", "/admin/config")
        return result

    def stats(self) -> ModelServerStats:
        return ModelServerStats.from_json(self._admin("GET", "/admin/stats"))

    def reset(self, *, config: bool = False) -> None:
        """Zero the stats, forget attempt counts (fail-first starts over) and reseed the random streams.

        The config stays as it is, unless `config` is true: then it goes back to what the server was started
        with, which is what a shared fixture wants between tests.
        """
        self._admin("POST", "/admin/reset", {"config": config})

    def _admin(self, method: str, path: str, body: Mapping[str, Any] | None = None) -> Any:
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.root_url + path, data=data, headers=headers, method=method)
        try:
            with _OPENER.open(request, timeout=10) as response:
                return json.load(response)
        except urllib.error.HTTPError as exc:
            detail = exc.read().decode(errors="replace")
            if exc.code == 400:
                raise ConfigError(f"the model server refused {path}: {detail}") from exc
            raise ServiceError(f"model server {method} {path} failed with {exc.code}: {detail}") from exc
        except OSError as exc:
            raise ServiceError(f"model server at {self.root_url} is unreachable: {exc}") from exc


def start_model_server(
    *,
    latency: Latency | None = None,
    faults: Faults | None = None,
    api_key: str | None = None,
    answers: Mapping[str, str] | None = None,
    reply: ReplyMode = "echo",
    models: Sequence[str] | None = None,
    log_path: Path | None = None,
    timeout_s: float = 30.0,
) -> ModelServer:
    """Start the server in its own process on a free loopback port and wait until it answers.

    The config is checked here first, so a bad one fails in the caller and not in a child's log. The API
    key travels in the environment, not on the command line, so it never shows in `ps`.
    """
    default = ServerConfig()
    config = ServerConfig(
        latency=latency or default.latency,
        faults=faults or default.faults,
        answers=dict(answers or {}),
        reply=reply,
        models=default.models if models is None else tuple(models),
    )
    (port,) = free_ports(1)
    log_path, owns_log = log_file_for(log_path, f"model-server-{port}-")
    env = {key: value for key, value in os.environ.items() if key != API_KEY_ENV}
    if api_key:
        env[API_KEY_ENV] = api_key
    # `devtools` is not installed: the child finds it where this process did, whatever its directory.
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(_IMPORT_ROOT), env.get("PYTHONPATH")]))
    args = [sys.executable, "-m", _MODULE, "--port", str(port), "--parent-pid", str(os.getpid())]
    args += ["--config", json.dumps(config.to_json())]
    process = start_logging_process(args, log_path, owns_log, env=env)
    server = ModelServer(
        base_url=f"http://127.0.0.1:{port}/v1",
        port=port,
        pid=process.pid,
        api_key=api_key,
        log_path=log_path,
        _process=process,
        _owns_log=owns_log,
    )
    _wait_until_ready(server, timeout_s)
    log.info("test model server at %s (pid %d)", server.base_url, server.pid)
    return server


def stop_model_server(server: ModelServer, timeout_s: float = 10.0) -> None:
    """Stop the server process (SIGTERM, then SIGKILL) and remove the log file it was given by default."""
    stop_logging_process(server._process, server.log_path, server._owns_log, timeout_s)


def _wait_until_ready(server: ModelServer, timeout_s: float) -> None:
    # Polls the health route and checks the pid, so another process that grabbed the port cannot pass.
    deadline = time.monotonic() + timeout_s
    request = urllib.request.Request(server.root_url + "/admin/health")
    while time.monotonic() < deadline:
        if server._process.poll() is not None:
            break
        try:
            with _OPENER.open(request, timeout=1) as response:
                if json.load(response).get("pid") == server.pid:
                    return
        except (OSError, ValueError):
            pass
        time.sleep(0.05)
    exited = server._process.poll() is not None
    tail = server.log_path.read_text(errors="replace")[-2000:]
    stop_model_server(server)
    state = "exited" if exited else f"did not answer within {timeout_s:.0f} s"
    raise ServiceError(f"the test model server {state}; its log ends with:\n{tail}")


def main(argv: list[str] | None = None) -> None:
    """`python -m devtools.model_server --port N [--config JSON]`; the API key, if any, is
    read from $TRACEWATCH_MODEL_SERVER_API_KEY."""
    parser = argparse.ArgumentParser(description="OpenAI-compatible fake model server for tests")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--config", default="{}", help="JSON: latency, faults, answers, reply, models")
    parser.add_argument("--parent-pid", type=int, help="exit when this process is no longer the parent")
    args = parser.parse_args(argv)
    try:
        config = ServerConfig().updated(json.loads(args.config))
    except (ValueError, ConfigError) as exc:
        parser.error(f"--config: {exc}")
    serve(args.host, args.port, config, os.environ.get(API_KEY_ENV) or None, args.parent_pid)


if __name__ == "__main__":
    main()
