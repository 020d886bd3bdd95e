"""The import-traces flow and the nightly flow's import step, under a real Prefect server, on the local S3
server: the committed real OTLP objects (tests/fixtures/otlp/) in the Collector's layout become ingested traces."""

from __future__ import annotations

import datetime as dt
import uuid
from pathlib import Path

import polars as pl
import pytest
import yaml
from flows.imports import import_traces_flow
from flows.nightly import nightly

from devtools.otlp_layout import AwsS3Layout, compress
from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET, s3_settings
from tracewatch.errors import ConfigError
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store

FIXTURES = Path(__file__).parents[1] / "fixtures" / "otlp"
SPAN_DAY = dt.date(2026, 12, 6)  # the fixtures' spans start on this day
UPLOADED_AT = dt.datetime(2026, 12, 6, 21, 47, tzinfo=dt.UTC)


def write_sources(tmp_path: Path, location: str, **extra: object) -> Path:
    """A sources file as a team writes it: the location, credentials by variable name."""
    path = tmp_path / "sources.yaml"
    source = {
        "name": "prod-otel",
        "kind": "otlp",
        "location": location,
        "endpoint_url_env": "TRACEWATCH_S3_ENDPOINT_URL",
        "access_key_id_env": "AWS_ACCESS_KEY_ID",
        "secret_access_key_env": "AWS_SECRET_ACCESS_KEY",
        **extra,
    }
    path.write_text(yaml.safe_dump({"sources": [source]}))
    return path


@pytest.fixture
def otel_objects(s3_server: S3Server) -> str:
    """The genai_latest and openinference fixture objects (2 requests each), gzipped, in the Collector's layout."""
    prefix = f"otel-{uuid.uuid4().hex[:10]}"
    source = Store.from_settings(s3_settings(s3_server, prefix))
    layout = AwsS3Layout(compression="gzip")
    for n, name in enumerate(("genai_latest.traces.json", "openinference.traces.json")):
        key = layout.key("traces", UPLOADED_AT, f"{100000000 + n}")
        source.write_bytes(key, compress((FIXTURES / name).read_bytes(), "gzip"))
    return f"s3://{TEST_BUCKET}/{prefix}"


def test_the_nightly_flow_imports_first_and_ingests_what_it_imported(
    store_env: Store, otel_objects: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEWATCH_SOURCES", str(write_sources(tmp_path, otel_objects)))
    published = nightly(day=SPAN_DAY)
    assert ("import_daily", UPLOADED_AT.date().isoformat()) in {(p.table, p.date) for p in published}
    daily = store_env.read_parquet(partition_key("trace_metrics_daily", SPAN_DAY))
    assert daily.get_column("trace_count").sum() == 4  # 2 requests x 2 instrumentations
    assert set(daily.get_column("route")) == {"/qa", "/chat"}
    imports = store_env.read_parquet(partition_key("import_daily", UPLOADED_AT.date()))
    assert imports.select("source", "objects", "traces").rows() == [("prod-otel", 2, 4)]


def test_the_import_flow_is_incremental(
    store_env: Store, otel_objects: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sources = str(write_sources(tmp_path, otel_objects))
    first = import_traces_flow(sources=sources)
    second = import_traces_flow(sources=sources)
    assert first.sources[0].traces == 4 and second.sources[0].objects == 0
    files = store_env.list_objects(f"traces/date={SPAN_DAY}", suffix=".parquet")
    assert pl.concat([store_env.read_parquet(f.key) for f in files]).height == 4


def test_wrong_source_credentials_stop_the_run_naming_the_source(
    store_env: Store, otel_objects: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OTEL_SECRET", "not-the-secret")
    sources = write_sources(tmp_path, otel_objects, secret_access_key_env="OTEL_SECRET")
    with pytest.raises(ConfigError, match=r"source 'prod-otel'.*credentials"):
        import_traces_flow(sources=str(sources))


def test_an_unset_credentials_variable_is_named(
    store_env: Store, otel_objects: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OTEL_UNSET", raising=False)
    sources = write_sources(tmp_path, otel_objects, access_key_id_env="OTEL_UNSET")
    with pytest.raises(ConfigError, match="access_key_id_env names the environment variable OTEL_UNSET"):
        import_traces_flow(sources=str(sources))
