"""Nights that must not pass as quiet ones, under a real Prefect server: a store folder that does not exist or
missing credentials stop the run in one line (no traceback in the run log), and a night without traces fails
unless the rule is turned off, when it runs with a warning in the log and the night's summary."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import polars as pl
import pytest
from flows.common import OneLineErrors
from flows.nightly import nightly
from prefect import get_client
from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterKey
from prefect.client.schemas.sorting import ArtifactSort

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.ingest.night import NoTracesError
from tracewatch.lease import lease_prefix
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

D1, D2 = dt.date(2026, 11, 1), dt.date(2026, 11, 2)


@pytest.fixture
def run_log(caplog: pytest.LogCaptureFixture) -> Iterator[Callable[[], str]]:
    """The flow and task run logs as a console shows them (tracebacks included), read after the run."""
    formatter = logging.Formatter("%(levelname)s %(name)s: %(message)s")
    with caplog.at_level(logging.INFO):
        yield lambda: "\n".join(
            formatter.format(r)
            for r in caplog.records
            if r.name.startswith(("prefect.flow_runs", "prefect.task_runs"))
        )


def test_a_store_folder_that_does_not_exist_fails_the_night_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, run_log: Callable[[], str]
) -> None:
    missing = tmp_path / "nonexistent" / "dir"
    monkeypatch.setenv("TRACEWATCH_STORE", f"file://{missing}")
    message = (
        f"TRACEWATCH_STORE='file://{missing}': the folder {missing} does not exist; create it (mkdir -p {missing}) "
        "or fix TRACEWATCH_STORE"
    )
    with pytest.raises(ConfigError) as raised:
        nightly(day=D1)
    assert str(raised.value) == message
    assert not missing.parent.exists()  # not created, nothing written
    log = run_log()
    assert message in log and "Traceback" not in log
    assert (
        len(log.splitlines()) < 12
    )  # begin, view, the task's failure, the flow's: a few lines, not hundreds


def test_missing_s3_credentials_fail_the_night_naming_the_settings(
    store_env: Store, monkeypatch: pytest.MonkeyPatch, run_log: Callable[[], str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_PROFILE", "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent/config")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    with pytest.raises(
        ConfigError, match=r"^no S3 credentials for TRACEWATCH_STORE='s3://.*': set AWS_ACCESS_KEY_ID"
    ):
        nightly(day=D1)
    log = run_log()
    assert "no S3 credentials" in log and "Traceback" not in log
    assert "TRACEWATCH_S3_ENDPOINT_URL" not in log  # the endpoint is not blamed


def test_a_night_without_traces_fails_before_anything_is_published(
    store_env: Store, make_traces: Callable[..., pl.DataFrame], run_log: Callable[[], str]
) -> None:
    store_env.write_parquet(f"traces/date={D1}/a.parquet", make_traces(D1.isoformat(), 5))
    with pytest.raises(NoTracesError) as raised:
        nightly(day=D2)
    assert str(raised.value).startswith(
        f"no traces for the night {D2}: no trace file in {store_env.url}/traces/date={D2}/ (the store has trace "
        f"files for 1 other date(s), the latest {D1}); a night without traces fails"
    )
    # the night's lease record (which run last held the night, released) is the only object written
    assert store_env.list_objects("reports") == []
    assert [o.key for o in store_env.list_objects("warehouse")] == [
        o.key for o in store_env.list_objects(lease_prefix(f"nightly-{D2}"))
    ]
    assert "Traceback" not in run_log()


def test_with_the_rule_off_a_night_without_traces_runs_with_a_warning(
    store_env: Store, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="tracewatch"):
        published = nightly(day=D2, fail_on_no_traces=False)
    warning = (
        f"no traces for the night {D2}: the store {store_env.url} has no trace files at all (none under "
        "traces/date=YYYY-MM-DD/); check TRACEWATCH_STORE"
    )
    assert any(r.getMessage().startswith(warning) for r in caplog.records if r.name.startswith("tracewatch"))
    assert ("ingest_daily", D2.isoformat()) in {(p.table, p.date) for p in published}
    assert store_env.read_parquet(partition_key("ingest_daily", D2)).height == 0  # on record: nothing came
    summary = asyncio.run(newest_artifact("nightly-summary"))
    assert f"## No traces\n\n**Warning:** {warning}" in summary


@pytest.mark.parametrize(
    ("error", "keeps_traceback"), [(DataContractError("bad"), False), (KeyError("x"), True)]
)
def test_only_tracewatchs_own_errors_lose_their_traceback(error: Exception, keeps_traceback: bool) -> None:
    try:
        raise error
    except Exception:
        record = logging.getLogger("prefect.task_runs").makeRecord(
            "prefect.task_runs", logging.ERROR, __file__, 1, "Task run failed", (), exc_info=sys.exc_info()
        )
    assert OneLineErrors().filter(record)  # the record is kept either way
    assert (record.exc_info is not None) == keeps_traceback  # a bug keeps its traceback


async def newest_artifact(key: str) -> str:
    async with get_client() as client:
        found = await client.read_artifacts(
            artifact_filter=ArtifactFilter(key=ArtifactFilterKey(any_=[key])),
            sort=ArtifactSort.CREATED_DESC,
            limit=1,
        )
    return str(found[0].data)
