"""Secrets never leave the environment (issue 22, item 6): a night with an experiment and an LLM judge runs under
a real Prefect server, on a local S3 server that accepts only a canary secret, against the local test model
server that accepts only a canary API key; then two nights fail on purpose (a store that does not exist, a model
server that refuses the key). Neither canary (nor its first 16 characters) may appear in:

- the log records of every logger at DEBUG, and what the process printed,
- the messages and tracebacks of the forced failures,
- any object of the store: report and warehouse Parquet decoded to text (nested columns as JSON), manifests,
  records, the Great Expectations Data Docs,
- the Prefect artifacts (read through the API) and the Prefect database file itself (SQLite, WAL included).

Each scan is shown to see real content first (a string that must be there is found), so a scan that reads
nothing cannot pass. Both canaries are shown to be used: the S3 server refuses anything else, and the answers
are `ok` only if the model server got the key.
"""

from __future__ import annotations

import datetime as dt
import io
import logging
import secrets
import traceback
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from flows.nightly import nightly
from prefect.client.orchestration import get_client
from prefect.logging.handlers import APILogWorker
from prefect.settings import PREFECT_SERVER_DATABASE_CONNECTION_URL
from prefect.testing.utilities import prefect_test_harness
from prefect.utilities.asyncutils import run_coro_as_sync

from devtools.model_server import ModelServer, start_model_server, stop_model_server
from devtools.s3server import S3Server, start_s3_server, stop_s3_server
from tracewatch.errors import ConfigError
from tracewatch.experiments import read_experiment_items
from tracewatch.settings import Settings
from tracewatch.store import Store

pytestmark = pytest.mark.flows

BUCKET = "canary"
D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)
S3_SECRET = "s3-canary-" + secrets.token_hex(16)
MODEL_KEY = "sk-canary-" + secrets.token_hex(16)
KEY_ENV = "OPENAI_API_KEY"
CANARIES = {"s3 secret": S3_SECRET, "model key": MODEL_KEY}


def _leaks(text: str | bytes) -> list[str]:
    """Where the canaries (whole, or their first 16 characters) are found in `text`: the canary's name and the
    text around it (so a failure shows what leaked where)."""
    data = text.encode("utf-8", "replace") if isinstance(text, str) else text
    found = []
    for name, value in CANARIES.items():
        at = data.find(value[:16].encode())
        if at != -1:
            found.append(f"{name}: ...{data[max(0, at - 300) : at + 60]!r}...")
    return found


class _Everything(logging.Handler):
    """Every record of every logger, formatted with its arguments and traceback."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []
        self.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


@pytest.fixture(scope="module")
def canary_s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A SeaweedFS server whose one identity's secret is the canary."""
    server = start_s3_server(
        tmp_path_factory.mktemp("canary-s3"),
        buckets=(BUCKET,),
        access_key_id="twcanary" + secrets.token_hex(4),
        secret_access_key=S3_SECRET,
    )
    yield server
    stop_s3_server(server)


@pytest.fixture(scope="module")
def canary_model() -> Iterator[ModelServer]:
    """The test model server, answering only requests that carry the canary key."""
    server = start_model_server(api_key=MODEL_KEY)
    yield server
    stop_model_server(server)


@pytest.fixture(scope="module")
def prefect_db() -> Iterator[Path]:
    """A real (temporary, SQLite) Prefect server for this module; its database file."""
    with prefect_test_harness(server_startup_timeout=120):
        url = PREFECT_SERVER_DATABASE_CONNECTION_URL.value()
        yield Path(url.split("///", 1)[1])


def _experiment(model: ModelServer) -> dict[str, object]:
    call = {"api_base": model.base_url, "api_key_env": KEY_ENV, "timeout_s": 5}
    return {
        "name": "canary",
        "defaults": {"model": "openai/tracewatch-echo", "prompt": "{input}", **call},
        "configs": [{"name": "cold", "params": {"temperature": 0.0}}],
        "scorers": [{"metric": "exact_match"}, {"judge": "relevance", "model": "openai/judge", **call}],
    }


def _failure(run: Callable[[], object], expected: type[BaseException]) -> str:
    """The message and whole traceback (causes included) of the failure `run` must end in."""
    with pytest.raises(expected) as caught:
        run()
    return "".join(traceback.format_exception(caught.value))


def _store_text(store: Store) -> tuple[str, int]:
    """Every object of the store as text (Parquet decoded, nested columns as JSON) and the number of objects."""
    parts: list[str] = []
    objects = store.list_objects("")
    for obj in objects:
        data = store.read_bytes(obj.key)
        parts.append(f"== {obj.key}\n")
        if obj.key.endswith(".parquet"):
            parts.append(pl.read_parquet(io.BytesIO(data)).write_ndjson())
        parts.append(data.decode("utf-8", "replace"))
    return "".join(parts), len(objects)


def _artifacts_text() -> str:
    async def read() -> str:
        async with get_client() as client:
            found = await client.read_artifacts()
            return "\n".join(f"{a.key} {a.description} {a.data}" for a in found)

    return run_coro_as_sync(read())


def test_no_secret_reaches_logs_errors_objects_artifacts_or_the_prefect_database(
    canary_s3: S3Server,
    canary_model: ModelServer,
    prefect_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    make_traces: Callable[..., pl.DataFrame],
    capfd: pytest.CaptureFixture[str],
) -> None:
    for name, value in canary_s3.environment(BUCKET, f"t-{uuid.uuid4().hex[:8]}").items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv(KEY_ENV, MODEL_KEY)
    store = Store.from_settings(Settings())
    store.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 30))
    handler = _Everything()
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        state = nightly(day=D1, experiments=[_experiment(canary_model)], return_state=True)
        assert state.is_completed()
        errors = [
            _failure(
                lambda: nightly(day=D2, experiments=[]), Exception
            ),  # no traces that night: a loud failure
            _failure(_night_on_a_missing_bucket(monkeypatch), Exception),
            _failure(_night_refused_by_the_model(store, canary_model, make_traces), ConfigError),
        ]
        APILogWorker.drain_all()  # the run logs reach the database before it is read
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)

    answers = read_experiment_items(store, "canary-production-samples-v1")
    assert answers.height > 0 and (answers["status"] == "ok").all(), "the model server got the canary key"
    printed = capfd.readouterr()
    logs = "\n".join(handler.lines) + printed.out + printed.err
    assert "tracewatch" in logs
    assert _leaks(logs) == []
    assert "authentication" in errors[2] and _leaks("\n".join(errors)) == []

    objects, count = _store_text(store)
    assert count > 20 and "warehouse/data_docs/" in objects and "trace_metrics_daily" in objects
    assert _leaks(objects) == []
    # the scan would see a secret inside compressed Parquet: the decoding is what finds it
    store.write_parquet("warehouse/probe/p.parquet", pl.DataFrame({"x": [f"key={S3_SECRET}"] * 50}))
    assert [found.split(":")[0] for found in _leaks(_store_text(store)[0])] == ["s3 secret"]

    artifacts = _artifacts_text()
    assert "nightly" in artifacts and _leaks(artifacts) == []

    database = b"".join(p.read_bytes() for p in prefect_db.parent.glob(prefect_db.name + "*"))
    assert KEY_ENV.encode() in database, "the flow parameters (naming the key's variable) are in the database"
    assert _leaks(database) == []


def _night_on_a_missing_bucket(monkeypatch: pytest.MonkeyPatch) -> Callable[[], object]:
    def run() -> object:
        with monkeypatch.context() as patch:
            patch.setenv("TRACEWATCH_STORE", f"s3://no-such-bucket-{uuid.uuid4().hex[:6]}/x")
            return nightly(day=D1)

    return run


def _night_refused_by_the_model(
    store: Store, model: ModelServer, make_traces: Callable[..., pl.DataFrame]
) -> Callable[[], object]:
    """A night whose model server wants another key: the canary is sent, refused, and the night fails."""

    def run() -> object:
        store.write_parquet(f"traces/date={D2}/a.parquet", make_traces(D2.isoformat(), 30, prefix="u"))
        locked = start_model_server(api_key="sk-other-" + secrets.token_hex(8))
        try:
            return nightly(day=D2, experiments=[_experiment(locked)])
        finally:
            stop_model_server(locked)

    return run
