"""Probe for issue 19's speed target: what a columnar import's core steps cost, against the floor's own parse.

Not a benchmark of tracewatch's import (that is `bench.import_bench`): a measurement to decide whether a
columnar path (decode each object into column lists, then find roots, dialects, token sums and the model with
polars expressions over whole batches) can meet 3x the floor before anyone builds it. It writes the benchmark's
own spans (`bench.import_spans`, gzipped awss3exporter objects) to a local folder and times, in CPU seconds of
this process (`time.process_time`, which counts polars' threads too and which other load inflates less than
wall time):

- JSON: `orjson.loads` (the floor's parse) against `polars.read_json` with a fixed OTLP schema, then the
  explodes to one row per span and one per attribute, and the per-span and per-trace expressions;
- protobuf: `FromString` (the floor's parse) against the least Python any protobuf path needs (upb has no
  columnar output): walking every span and attribute into column lists, then frames from them.

The per-span and per-trace expressions are a subset (dialect markers, tokens, model, root, sums), enough to
show the cost's order, not tracewatch's full mapping; message parsing and the metadata JSON stay Python work
on the LLM spans and traces and are not in these numbers. Run: `python -m bench.import_columnar_probe --spans
100000` (a multiple of 5).
"""

from __future__ import annotations

import argparse
import gc
import gzip
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import orjson
import polars as pl
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from bench.import_spans import write_span_set
from tracewatch.settings import Settings
from tracewatch.store import Store

T = TypeVar("T")

_ANY_VALUE = pl.Struct(
    {
        "stringValue": pl.String(),
        "intValue": pl.String(),  # OTLP JSON int64s come as strings or numbers: read both as text
        "doubleValue": pl.Float64(),
        "boolValue": pl.Boolean(),
        "arrayValue": pl.Struct({"values": pl.List(pl.Struct({"stringValue": pl.String()}))}),
    }
)
_KEY_VALUES = pl.List(pl.Struct({"key": pl.String(), "value": _ANY_VALUE}))
_SPAN = pl.Struct(
    {
        "traceId": pl.String(),
        "spanId": pl.String(),
        "parentSpanId": pl.String(),
        "name": pl.String(),
        "kind": pl.Int64(),
        "startTimeUnixNano": pl.String(),
        "endTimeUnixNano": pl.String(),
        "attributes": _KEY_VALUES,
        "events": pl.List(
            pl.Struct({"name": pl.String(), "timeUnixNano": pl.String(), "attributes": _KEY_VALUES})
        ),
        "status": pl.Struct({"code": pl.Int64(), "message": pl.String()}),
    }
)
OTLP_JSON_SCHEMA: dict[str, pl.DataType] = {
    "resourceSpans": pl.List(
        pl.Struct(
            {
                "resource": pl.Struct({"attributes": _KEY_VALUES}),
                "scopeSpans": pl.List(
                    pl.Struct({"scope": pl.Struct({"name": pl.String()}), "spans": pl.List(_SPAN)})
                ),
            }
        )
    )
}
"""The part of an `ExportTraceServiceRequest` the probe reads; unknown fields are ignored, as OTLP requires."""

_OPENLLMETRY_KEYS = [
    "llm.request.type",
    "llm.usage.total_tokens",
    "gen_ai.usage.total_tokens",
    "gen_ai.prompt.0.role",
    "gen_ai.prompt.0.content",
    "gen_ai.completion.0.role",
    "gen_ai.completion.0.content",
]
_INPUT_TOKENS = ["gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt"]
_OUTPUT_TOKENS = [
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
]
_MODELS = ["gen_ai.response.model", "gen_ai.request.model", "llm.model_name"]


def cpu(step: Callable[[], T], times: dict[str, float], name: str) -> T:
    """Run `step`, adding its CPU seconds (all threads of this process) to `times[name]`."""
    started = time.process_time()
    result = step()
    times[name] = times.get(name, 0.0) + time.process_time() - started
    return result


def object_bytes(root: Path, encoding: str) -> list[bytes]:
    """The gunzipped traces objects of one encoding, in key order (log objects are not part of the probe)."""
    pattern = "traces_*.json.gz" if encoding == "json" else "traces_*.binpb.gz"
    return [gzip.decompress(path.read_bytes()) for path in sorted(root.rglob(pattern))]


def _floor(parse: Callable[[bytes], Any], datas: list[bytes]) -> None:
    """The floor's parse as the benchmark's floor does it: one object at a time, each result dropped, with the
    cyclic collector paused (orjson's millions of small dicts would set it off)."""
    gc.disable()
    try:
        for data in datas:
            parse(data)
    finally:
        gc.enable()


def probe_json(datas: list[bytes]) -> dict[str, float]:
    """CPU seconds of the floor's parse and of the columnar steps over the same JSON requests."""
    times: dict[str, float] = {}
    cpu(lambda: _floor(orjson.loads, datas), times, "floor parse: orjson.loads")
    frames = cpu(
        lambda: [pl.read_json(io.BytesIO(d), schema=OTLP_JSON_SCHEMA) for d in datas],
        times,
        "polars.read_json, fixed OTLP schema",
    )
    spans = cpu(lambda: _json_span_rows(frames), times, "explode to one row per span")
    attributes = cpu(
        lambda: spans.select("row", "attributes").explode("attributes").unnest("attributes").unnest("value"),
        times,
        "explode to one row per attribute",
    )
    spans = spans.rename({"traceId": "trace_id", "spanId": "span_id", "parentSpanId": "parent"})
    traces = cpu(
        lambda: _traces(spans, attributes, "intValue", "stringValue"), times, "per span and per trace"
    )
    times["spans"], times["attributes"], times["traces"] = spans.height, attributes.height, traces.height
    return times


def _json_span_rows(frames: list[pl.DataFrame]) -> pl.DataFrame:
    parts = [
        frame.explode("resourceSpans")
        .unnest("resourceSpans")
        .drop("resource")
        .explode("scopeSpans")
        .unnest("scopeSpans")
        .drop("scope")
        .explode("spans")
        .unnest("spans")
        for frame in frames
    ]
    return pl.concat(parts, how="vertical_relaxed").with_row_index("row")


def probe_proto(datas: list[bytes]) -> dict[str, float]:
    """CPU seconds of the floor's parse and of the least Python walk into columns over the same requests."""
    times: dict[str, float] = {}
    cpu(lambda: _floor(ExportTraceServiceRequest.FromString, datas), times, "floor parse: FromString")
    requests = [ExportTraceServiceRequest.FromString(d) for d in datas]
    columns = cpu(lambda: _walk(requests), times, "walk every span and attribute into column lists")
    spans, attributes = cpu(lambda: _proto_frames(*columns), times, "frames from the column lists, hex ids")
    traces = cpu(lambda: _traces(spans, attributes, "int", "text"), times, "per span and per trace")
    times["spans"], times["attributes"], times["traces"] = spans.height, attributes.height, traces.height
    return times


def _walk(requests: list[Any]) -> tuple[dict[str, list[Any]], dict[str, list[Any]]]:
    spans: dict[str, list[Any]] = {n: [] for n in ("trace_id", "span_id", "parent", "name", "start", "end")}
    attributes: dict[str, list[Any]] = {n: [] for n in ("row", "key", "text", "int")}
    trace_ids, span_ids, parents, names, starts, ends = spans.values()
    rows, keys, texts, ints = attributes.values()
    row = 0
    for request in requests:
        for block in request.resource_spans:
            for scope in block.scope_spans:
                for m in scope.spans:
                    trace_ids.append(m.trace_id)
                    span_ids.append(m.span_id)
                    parents.append(m.parent_span_id)
                    names.append(m.name)
                    starts.append(m.start_time_unix_nano)
                    ends.append(m.end_time_unix_nano)
                    for kv in m.attributes:
                        value = kv.value
                        which = value.WhichOneof("value")
                        rows.append(row)
                        keys.append(kv.key)
                        texts.append(value.string_value if which == "string_value" else None)
                        ints.append(value.int_value if which == "int_value" else None)
                    row += 1
    return spans, attributes


def _proto_frames(
    spans: dict[str, list[Any]], attributes: dict[str, list[Any]]
) -> tuple[pl.DataFrame, pl.DataFrame]:
    ids = ("trace_id", "span_id", "parent")
    span_frame = pl.DataFrame(
        spans,
        schema={
            "trace_id": pl.Binary(),
            "span_id": pl.Binary(),
            "parent": pl.Binary(),
            "name": pl.String(),
            "start": pl.UInt64(),
            "end": pl.UInt64(),
        },
    ).with_row_index("row")
    span_frame = span_frame.with_columns(pl.col(name).bin.encode("hex") for name in ids).with_columns(
        pl.when(pl.col("parent") != "").then(pl.col("parent")).alias("parent")
    )
    attribute_frame = pl.DataFrame(
        attributes, schema={"row": pl.UInt32(), "key": pl.String(), "text": pl.String(), "int": pl.Int64()}
    )
    return span_frame, attribute_frame


def _traces(spans: pl.DataFrame, attributes: pl.DataFrame, int_column: str, text_column: str) -> pl.DataFrame:
    """Dialect markers, tokens and model per span, then root, token sums and the model per trace."""
    key = pl.col("key")
    per_span = attributes.group_by("row").agg(
        openinference=(key == "openinference.span.kind").any(),
        openllmetry=key.str.starts_with("traceloop.").any() | key.is_in(_OPENLLMETRY_KEYS).any(),
        genai=key.str.starts_with("gen_ai.").any(),
        input_tokens=pl.col(int_column).filter(key.is_in(_INPUT_TOKENS)).first().cast(pl.Int64),
        output_tokens=pl.col(int_column).filter(key.is_in(_OUTPUT_TOKENS)).first().cast(pl.Int64),
        model=pl.col(text_column).filter(key.is_in(_MODELS)).first(),
    )
    is_root = pl.col("parent").is_null() | (pl.col("parent") == "")
    tokens = pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0)
    llm = pl.col("model").is_not_null()
    return (
        spans.select("row", "trace_id", "span_id", "parent", "name")
        .join(per_span, on="row", how="left")
        .group_by("trace_id")
        .agg(
            root=pl.col("span_id").filter(is_root).first(),
            route=pl.col("name").filter(is_root).first(),
            input_tokens=pl.col("input_tokens").filter(llm).sum(),
            output_tokens=pl.col("output_tokens").filter(llm).sum(),
            model=pl.col("model").sort_by(tokens * llm.cast(pl.Int64), descending=True).first(),
            spans=pl.len(),
        )
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--spans", type=int, default=100_000, help="spans per encoding (a multiple of 5)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="columnar-probe-") as tmp:
        store = Store.from_settings(Settings(store=f"file://{tmp}"))
        for encoding, probe in (("json", probe_json), ("proto", probe_proto)):
            write_span_set(store, f"sources/{encoding}", spans=args.spans, marshaler=f"otlp_{encoding}")
            datas = object_bytes(Path(tmp) / "sources" / encoding, encoding)
            times = probe(datas)
            print(
                f"{encoding}: {len(datas)} traces objects, {int(times.pop('spans')):,} spans, "
                f"{int(times.pop('attributes')):,} attributes, {int(times.pop('traces')):,} traces"
            )
            for name, seconds in times.items():
                print(f"  {name:50s} {seconds:7.2f} s CPU")


if __name__ == "__main__":
    main()
