"""Shared fixtures: a real local S3 server (SeaweedFS) and real stores on it or on a local folder, and the local
OpenAI-compatible test model server."""

from __future__ import annotations

import datetime as dt
import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest

from devtools.model_server import Latency, ModelServer, start_model_server, stop_model_server
from devtools.s3server import S3Server, start_s3_server, stop_s3_server
from tracewatch.settings import Settings
from tracewatch.store import Store
from tracewatch.traces.schema import TRACE_SCHEMA

os.environ.setdefault("PREFECT_SERVER_ANALYTICS_ENABLED", "false")
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")

TEST_BUCKET = "tracewatch-test"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """One SeaweedFS server for the whole test session, on free loopback ports, credentials enforced."""
    server = start_s3_server(tmp_path_factory.mktemp("seaweedfs"), buckets=(TEST_BUCKET,))
    yield server
    stop_s3_server(server)


def s3_settings(server: S3Server, prefix: str) -> Settings:
    env = server.environment(TEST_BUCKET, prefix)
    return Settings(
        store=env["TRACEWATCH_STORE"],
        s3_endpoint_url=server.endpoint_url,
        aws_access_key_id=server.access_key_id,
        aws_secret_access_key=server.secret_access_key,
    )


@pytest.fixture
def s3_store(s3_server: S3Server) -> Store:
    """A fresh prefix on the local S3 server, so tests never see each other's objects."""
    return Store.from_settings(s3_settings(s3_server, f"t-{uuid.uuid4().hex[:12]}"))


@pytest.fixture
def file_store(tmp_path: Path) -> Store:
    """A store in a new local folder (made here: a store's folder is never created on the quiet)."""
    folder = tmp_path / "store"
    folder.mkdir()
    return Store(f"file://{folder}")


@pytest.fixture(params=["file", "s3"])
def store(request: pytest.FixtureRequest) -> Store:
    """The same test against a local folder and against the real local S3 server."""
    name = "file_store" if request.param == "file" else "s3_store"
    result: Store = request.getfixturevalue(name)
    return result


@pytest.fixture
def file_store_env(monkeypatch: pytest.MonkeyPatch, file_store: Store) -> Store:
    """Point the environment (as the CLI, the demo and a flow see it) at `file_store`."""
    monkeypatch.setenv("TRACEWATCH_STORE", file_store.url)
    return file_store


@pytest.fixture
def store_env(monkeypatch: pytest.MonkeyPatch, s3_server: S3Server) -> Store:
    """Point the environment (as a flow sees it) at a fresh S3 prefix."""
    prefix = f"t-{uuid.uuid4().hex[:12]}"
    for name, value in s3_server.environment(TEST_BUCKET, prefix).items():
        monkeypatch.setenv(name, value)
    return Store.from_settings(s3_settings(s3_server, prefix))


def canonical_traces(day: str, n: int, *, prefix: str = "t") -> pl.DataFrame:
    """`n` valid traces on `day` (YYYY-MM-DD) in the canonical schema."""
    start = dt.datetime.fromisoformat(day).replace(tzinfo=dt.UTC)
    rows = [
        {
            "trace_id": f"{prefix}-{day}-{i}",
            "start_time": start + dt.timedelta(seconds=60 * i + 1),
            "project": "qa-assistant",
            "route": ["qa/multi-hop", "qa/single-fact"][i % 2],
            "model": ["gpt-4o-mini", "claude-3-5-haiku"][i % 2],
            "provider_name": ["openai", "anthropic"][i % 2],
            "input_text": f"question {i}?",
            "input_messages": [{"role": "user", "content": f"question {i}?"}],
            "output_text": f"answer {i}",
            "input_tokens": 10 + i,
            "output_tokens": 20 + i,
            "cost_usd": 0.001 * (i + 1),
            "latency_ms": 100.0 + 10 * i,
            "status": "error" if i % 5 == 4 else "ok",
            "error_type": "Timeout" if i % 5 == 4 else None,
            "error_message": None,
            "user_id": f"u{i % 3}",
            "session_id": f"s{i % 4}",
            "tags": ["demo"],
            "metadata": "{}",
            "retrieved_context": [],
            "feedback": [{"name": "thumbs", "value": float(i % 2), "source": "user"}],
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema=TRACE_SCHEMA)


@pytest.fixture
def make_traces() -> Callable[..., pl.DataFrame]:
    return canonical_traces


@pytest.fixture(scope="session")
def model_server_process() -> Iterator[ModelServer]:
    """One test model server process (5 ms per answer) for the session: each start is a Python process
    importing its web stack, a few seconds on a busy 2-core machine, once per module otherwise."""
    server = start_model_server(latency=Latency.fixed(5))
    yield server
    stop_model_server(server)


@pytest.fixture(scope="module")
def model_server(model_server_process: ModelServer) -> ModelServer:
    """The test model server for a test module, as a new one would be: back to its start config, with its stats,
    attempt counts and random streams reset (a module may start its own instead)."""
    model_server_process.reset(config=True)
    return model_server_process


@pytest.fixture
def server(model_server: ModelServer) -> ModelServer:
    """The `model_server` in scope (a module may start its own), back to its start config with its stats and
    attempt counts zeroed, so no test sees another's faults or counts."""
    model_server.reset(config=True)
    return model_server


_FOLDER_MARKERS = {
    "unit": "unit",
    "integration": "integration",
    "orchestration": "flows",
    "browser": "browser",
}
"""Every test is marked by the folder it lives in, so `-m` selects a useful set (`-m unit`: no services;
`-m "not browser"`: everything but the whole-stack UI tests)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark each test with its folder's marker (see `_FOLDER_MARKERS`)."""
    root = Path(__file__).parent
    for item in items:
        parts = Path(str(item.path)).relative_to(root).parts
        marker = _FOLDER_MARKERS.get(parts[0]) if parts else None
        if marker is not None:
            item.add_marker(getattr(pytest.mark, marker))
