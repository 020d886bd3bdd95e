"""Spans from the three real OpenAI instrumentations, written in the Collector's S3 layout to the local S3
server, imported, and compared field by field with what the test model server was asked and answered.

Instrumentations (pinned in pyproject): opentelemetry-instrumentation-openai-v2 (OTel GenAI conventions),
openinference-instrumentation-openai (OpenInference), opentelemetry-instrumentation-openai (Traceloop's
OpenLLMetry). Layout: opentelemetry-collector-contrib exporter/awss3exporter (see test_otel_producers.py).
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections.abc import Iterator

import polars as pl
import pytest

from devtools.instrumented_calls import EXAMPLE_ANSWERS, EXAMPLE_CALLS, INSTRUMENTATIONS, capture_calls
from devtools.model_server import ModelServer
from devtools.otlp_layout import AwsS3Layout, collector_unique_key, write_awss3_objects
from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET, s3_settings
from tracewatch.importers import SourceConfig, import_traces
from tracewatch.reports import IMPORT_DAILY
from tracewatch.store import Store

UPLOADED_AT = dt.datetime(2026, 12, 6, 21, 5, tzinfo=dt.UTC)


@pytest.fixture
def otel_source(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[SourceConfig, Store]]:
    """A source on its own prefix of the test bucket, its credentials named by variable (as a team would)."""
    prefix = f"otel-{uuid.uuid4().hex[:10]}"
    monkeypatch.setenv("OTEL_S3_ENDPOINT", s3_server.endpoint_url)
    monkeypatch.setenv("OTEL_S3_KEY_ID", s3_server.access_key_id)
    monkeypatch.setenv("OTEL_S3_SECRET", s3_server.secret_access_key)
    source = SourceConfig(
        name="prod-otel",
        kind="otlp",
        location=f"s3://{TEST_BUCKET}/{prefix}",
        endpoint_url_env="OTEL_S3_ENDPOINT",
        access_key_id_env="OTEL_S3_KEY_ID",
        secret_access_key_env="OTEL_S3_SECRET",
        project={"default": "unnamed", "rename": {"qa-assistant": "support-bot"}},
    )
    yield source, Store.from_settings(s3_settings(s3_server, prefix))


@pytest.mark.parametrize("instrumentation", INSTRUMENTATIONS)
@pytest.mark.parametrize(("marshaler", "compression"), [("otlp_json", "gzip"), ("otlp_proto", "zstd")])
def test_real_instrumentation_spans_become_the_requests_the_server_saw(
    instrumentation: str,
    marshaler: str,
    compression: str,
    server: ModelServer,
    otel_source: tuple[SourceConfig, Store],
    s3_store: Store,
    s3_server: S3Server,
) -> None:
    server.configure(answers=dict(EXAMPLE_ANSWERS))
    capture = capture_calls(instrumentation, EXAMPLE_CALLS, server)  # type: ignore[arg-type]
    source, source_store = otel_source
    layout = AwsS3Layout(marshaler=marshaler, compression=compression)  # type: ignore[arg-type]
    keys = write_awss3_objects(
        source_store,
        capture.requests(),
        uploaded_at=UPLOADED_AT,
        layout=layout,
        unique_key=collector_unique_key(),
    )

    result = import_traces(s3_store, [source], now=UPLOADED_AT + dt.timedelta(hours=1))

    outcome = result.sources[0]
    assert outcome.objects == len(keys) and outcome.objects_rejected == 0 and outcome.records_rejected == 0
    assert outcome.traces == len(capture.calls) and outcome.pending_traces == 0
    rows = pl.concat([s3_store.read_parquet(key) for key in outcome.outputs]).sort("trace_id")
    by_trace = {row["trace_id"]: row for row in rows.iter_rows(named=True)}
    for call in capture.calls:
        row = by_trace[call.trace_id]
        user_messages = [m["content"] for m in call.messages if m["role"] == "user"]
        assert row["project"] == "support-bot"
        assert row["route"] == call.route
        assert row["status"] == "ok"
        assert row["model"] == call.response_model
        assert row["input_text"] == user_messages[-1]
        assert [(m["role"], m["content"]) for m in row["input_messages"]] == [
            (m["role"], m["content"]) for m in call.messages
        ]
        assert row["output_text"] == call.answer
        assert (row["input_tokens"], row["output_tokens"]) == (call.input_tokens, call.output_tokens)
        assert row["user_id"] == call.user_id
        assert row["session_id"] == call.session_id
        assert row["latency_ms"] is not None and row["latency_ms"] > 0
        assert json.loads(row["metadata"])["source"]["name"] == "prod-otel"

    daily = s3_store.read_parquet(f"reports/{IMPORT_DAILY.name}/date={UPLOADED_AT.date()}/part-0.parquet")
    assert daily.select("source", "objects", "traces").rows() == [
        ("prod-otel", len(keys), len(capture.calls))
    ]


def test_a_rerun_reads_nothing_twice(
    server: ModelServer, otel_source: tuple[SourceConfig, Store], s3_store: Store
) -> None:
    server.configure(answers=dict(EXAMPLE_ANSWERS))
    capture = capture_calls("openinference", EXAMPLE_CALLS, server)
    source, source_store = otel_source
    write_awss3_objects(source_store, capture.requests(), uploaded_at=UPLOADED_AT)
    now = UPLOADED_AT + dt.timedelta(hours=1)
    first = import_traces(s3_store, [source], now=now)
    second = import_traces(s3_store, [source], now=now)
    assert first.sources[0].traces == len(capture.calls)
    assert second.sources[0].objects == 0 and second.sources[0].outputs == []
    again = import_traces(s3_store, [source], now=now, reimport=[UPLOADED_AT.date()])
    assert sorted(again.sources[0].outputs) == sorted(first.sources[0].outputs)  # same names: replaced
    files = s3_store.list_objects("traces", suffix=".parquet")
    assert [f.key for f in files] == sorted(first.sources[0].outputs)
