"""The demo's OTLP objects (devtools/demo_otlp_writer.py) imported by the real importer give back the demo's rows.

The spans follow the GenAI conventions as opentelemetry-instrumentation-openai-v2 writes them in its latest mode
(https://opentelemetry.io/docs/specs/semconv/gen-ai/gen-ai-spans/), with tracewatch's own attributes for
feedback, tags and metadata, in the Collector's awss3exporter layout
(https://github.com/open-telemetry/opentelemetry-collector-contrib/tree/main/exporter/awss3exporter).
"""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import polars as pl
import pytest

from devtools.demo_otlp import register_demo_prices
from devtools.demo_otlp_writer import SPAN_DEFECTS, OtlpDemoSummary, write_demo_otlp
from tracewatch.importers import ImportResult, SourceConfig, import_traces
from tracewatch.llm import litellm_cost
from tracewatch.store import Store
from tracewatch.traces import DriftSpec, generate_day

START = dt.date(2026, 3, 1)
DAYS = 7
TRACES = 60
DRIFT = DriftSpec(from_day=6)
AFTER = dt.datetime(2026, 3, 10, tzinfo=dt.UTC)
SAME_AS_GENERATED = [
    "start_time",
    "project",
    "route",
    "model",
    "provider_name",
    "input_text",
    "input_messages",
    "input_tokens",
    "output_tokens",
    "latency_ms",
    "status",
    "error_type",
    "error_message",
    "user_id",
    "session_id",
    "tags",
    "retrieved_context",
]


def _import(store: Store, *, plant: bool) -> tuple[OtlpDemoSummary, ImportResult, pl.DataFrame]:
    location = store.uri("otel/demo")
    summary = write_demo_otlp(
        Store(location), start=START, days=DAYS, traces_per_day=TRACES, drift=DRIFT, plant_bad_input=plant
    )
    register_demo_prices()
    source = SourceConfig(name="demo", kind="otlp", location=location)
    result = import_traces(store, [source], now=AFTER, pricer=litellm_cost)
    rows = pl.concat(store.read_parquet(o.key) for o in store.list_objects("traces", ".parquet"))
    return summary, result, rows


def _generated() -> pl.DataFrame:
    return pl.concat(
        generate_day(START + dt.timedelta(days=i), seed=7, traces=TRACES, day_index=i + 1, drift=DRIFT)
        for i in range(DAYS)
    )


def test_every_demo_row_comes_back_from_its_spans(file_store: Store) -> None:
    summary, result, rows = _import(file_store, plant=False)
    generated = _generated()
    assert summary.good_rows == rows.height == generated.height
    assert result.sources[0].traces == rows.height and result.sources[0].traces_incomplete == 0
    both = generated.join(rows, on="trace_id", suffix="_imported", validate="1:1")
    for column in SAME_AS_GENERATED:
        differ = both.filter(pl.col(column).ne_missing(pl.col(f"{column}_imported")))
        assert differ.height == 0, (column, differ.select(column, f"{column}_imported").head(2).to_dicts())
    ok = both.filter(pl.col("status") == "ok")
    # The answer, feedback and metadata of a request that succeeded; a failed call has no answer to send.
    assert (ok["output_text"] == ok["output_text_imported"]).all()
    assert both.filter(pl.col("status") == "error")["output_text_imported"].null_count() > 0
    assert ok["feedback"].list.len().sum() > 0
    assert (ok["feedback"].list.len() == ok["feedback_imported"].fill_null([]).list.len()).all()
    assert (
        ok.filter(pl.col("feedback").list.len() > 0)
        .select((pl.col("feedback") == pl.col("feedback_imported")).all())
        .item()
    )
    # GenAI states no cost: the import prices every call at the demo's registered prices. The generator prices
    # most rows from the same tokens; on some rows its cost does not follow from their final token counts.
    assert ok["cost_usd_imported"].null_count() == 0
    same = ok.filter((pl.col("cost_usd") - pl.col("cost_usd_imported")).abs() < 1e-9).height
    assert same >= 0.8 * ok.height
    assert ok["cost_usd_imported"].sum() == pytest.approx(ok["cost_usd"].sum(), rel=0.02)
    for original, imported in zip(both["metadata"], both["metadata_imported"], strict=True):
        assert json.loads(imported)["span_metadata"].items() >= json.loads(original).items()


def test_split_traces_are_joined_across_their_two_objects(file_store: Store) -> None:
    summary, _, rows = _import(file_store, plant=False)
    assert len(summary.split_trace_ids) == 3 * DAYS
    split = rows.filter(pl.col("trace_id").is_in(list(summary.split_trace_ids)))
    assert split.height == len(summary.split_trace_ids)
    for metadata in split["metadata"]:
        meta = json.loads(metadata)
        assert "incomplete" not in meta and meta["span_count"] >= 2
        assert meta["source"]["first_uploaded"] < meta["source"]["last_uploaded"]


def test_planted_objects_are_quarantined_by_the_import_and_planted_traces_keep_their_defects(
    file_store: Store,
) -> None:
    summary, result, rows = _import(file_store, plant=True)
    outcome = result.sources[0]
    scopes = [o.scope for o in summary.planted_objects]
    assert sorted(o.defect for o in summary.planted_objects) == [
        "invalid_json",
        "random_binpb",
        "span_without_trace_id",
        "truncated_gzip",
    ]
    assert outcome.objects_rejected == scopes.count("object") == 3
    assert outcome.records_rejected == scopes.count("span") == 1
    assert (
        rows.height
        == summary.good_rows + len(summary.planted_traces)
        == summary.good_rows + 2 * len(SPAN_DEFECTS)
    )
    planted = rows.join(
        pl.DataFrame(
            {
                "trace_id": [p.trace_id for p in summary.planted_traces],
                "defect": [p.defect for p in summary.planted_traces],
            }
        ),
        on="trace_id",
    )
    broken = {
        "negative_input_tokens": pl.col("input_tokens") < 0,
        "negative_output_tokens": pl.col("output_tokens") < 0,
        "input_tokens_over_10m": pl.col("input_tokens") > 10_000_000,
        "output_tokens_over_10m": pl.col("output_tokens") > 10_000_000,
        "latency_over_7_days": pl.col("latency_ms") > 7 * 86_400_000,
        "non_finite_feedback": pl.col("feedback")
        .list.eval(pl.element().struct.field("value").is_nan())
        .list.any(),
    }
    for defect, broken_value in broken.items():
        assert planted.filter((pl.col("defect") == defect) & broken_value).height == 2, defect


@pytest.mark.parametrize("plant", [True, False])
def test_a_rerun_writes_the_same_objects(tmp_path: Path, plant: bool) -> None:
    first, second = Store(f"file://{tmp_path}/a"), Store(f"file://{tmp_path}/b")
    one = write_demo_otlp(first, start=START, days=3, traces_per_day=20, drift=None, plant_bad_input=plant)
    two = write_demo_otlp(second, start=START, days=3, traces_per_day=20, drift=None, plant_bad_input=plant)
    assert one == two
    keys = [o.key for o in first.list_objects("")]
    assert keys == [o.key for o in second.list_objects("")]
    assert all(first.read_bytes(k) == second.read_bytes(k) for k in keys)
