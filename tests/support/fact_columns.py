"""Spans as `SpanColumns` and what today's readers make of them: the oracle the columnar readers are tested
against (`tracewatch.importers._fact_frame`'s exactness contract)."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import orjson
import polars as pl
from bench.import_spans import SpanSet, _requests
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tracewatch.importers._dialects import read_span
from tracewatch.importers._fact_frame import facts_to_frame
from tracewatch.importers._otlp_proto_columns import trace_request_columns
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns
from tracewatch.importers._spans import SpanFacts

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "otlp"


def columns_of(request: ExportTraceServiceRequest) -> SpanColumns:
    """The columns of one request (the protobuf decoder; it must not fall back for a test's request)."""
    columns = trace_request_columns(request.SerializeToString())
    assert columns is not None, "the columnar decoder fell back for a request a test built"
    return columns


def fixture_request(name: str) -> ExportTraceServiceRequest:
    """A captured `tests/fixtures/otlp/*.traces.json` file (OTLP JSON, hex ids) as a request."""

    def base64_ids(node: Any) -> Any:
        if isinstance(node, dict):
            return {
                k: base64.b64encode(bytes.fromhex(v)).decode()
                if k in ("traceId", "spanId", "parentSpanId")
                else base64_ids(v)
                for k, v in node.items()
            }
        return [base64_ids(v) for v in node] if isinstance(node, list) else node

    document = base64_ids(orjson.loads((FIXTURES / name).read_bytes()))
    return json_format.ParseDict(document, ExportTraceServiceRequest())


def fixture_names() -> list[str]:
    return sorted(p.name for p in FIXTURES.glob("*.traces.json"))


def bench_requests(traces: int) -> list[ExportTraceServiceRequest]:
    """The import benchmark's requests for `traces` traces of 5 spans (all four dialects)."""
    return [request for _, request, _ in _requests(traces, SpanSet(prefix=""))]


def read_today(columns: SpanColumns, rows: Sequence[int] | None = None) -> list[SpanFacts]:
    """What today's `read_span` gives for the spans (the `rows` of `columns.spans`, in that order)."""
    spans = spans_from_columns(columns)
    chosen = spans if rows is None else [spans[i] for i in rows]
    return [read_span(span) for span in chosen]


def expected_frame(columns: SpanColumns, rows: Sequence[int] | None = None) -> pl.DataFrame:
    """`read_today` as `FACT_SCHEMA` rows: what a columnar reader's exact rows must equal."""
    return facts_to_frame(read_today(columns, rows))
