"""The demo's days as the objects a Collector's `awss3exporter` uploads, with planted bad input (issue 19, item
10): what `make demo` imports before its nightly runs.

Batching: a day's traces (sorted by start) are cut into objects of about `TRACES_PER_OBJECT` traces, at least
`MIN_OBJECTS_PER_DAY`, each uploaded a few seconds after its last span ended; the last trace of the first few
objects sends its root in a small object uploaded `SPLIT_ROOT_DELAY` later (its batch was flushed before the
root ended), which the importer's grace window joins back.

Planted bad input, each recorded in the summary so tests and the demo can check where it ended up:
- on days `BAD_ROW_DAYS`, an object of traces broken one way each (`SPAN_DEFECTS`), readable OTLP whose values
  the trace suite rejects at ingest (negative or absurd token counts, a week-long request, NaN feedback), as
  the Parquet demo plants malformed rows;
- objects the importer itself quarantines (`OBJECT_DEFECTS`): invalid JSON, a truncated gzip, random bytes named
  `.binpb` (unreadable, whole object), and a span without a trace id (that record only).
"""

from __future__ import annotations

import datetime as dt
import gzip
import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import polars as pl

from devtools.demo_otlp import DEMO_LAYOUT, Row, ScopedSpan, trace_request, trace_spans, upload_time
from devtools.otlp_layout import AwsS3Layout, collector_unique_key, otlp_json, write_awss3_objects
from tracewatch.errors import ConfigError
from tracewatch.store import Store
from tracewatch.traces import BAD_ROW_DAYS, CORRUPT_FILE_DAY, DEFAULT_DRIFT, DriftSpec, generate_day

TRACES_PER_OBJECT = 500
MIN_OBJECTS_PER_DAY = 4
SPLIT_TRACES_PER_DAY = 3
SPLIT_ROOT_DELAY = dt.timedelta(minutes=2)
"""Well within the importer's default grace window (15 minutes), so split traces are joined, never late."""
RANDOM_OBJECT_BYTES = 4096

SPAN_DEFECTS: dict[str, str] = {
    "negative_input_tokens": "input_tokens_non_negative",
    "negative_output_tokens": "output_tokens_non_negative",
    "input_tokens_over_10m": "input_tokens_at_most_10m",
    "output_tokens_over_10m": "output_tokens_at_most_10m",
    "latency_over_7_days": "latency_ms_at_most_7_days",
    "non_finite_feedback": "feedback_values_finite",
}
"""Planted trace defect -> the trace-suite expectation (data/expectations/traces.json) that rejects its row."""

ObjectDefect = Literal["invalid_json", "truncated_gzip", "random_binpb", "span_without_trace_id"]
OBJECT_DEFECTS: dict[int, tuple[ObjectDefect, ...]] = {
    BAD_ROW_DAYS[0]: ("invalid_json",),
    CORRUPT_FILE_DAY: ("truncated_gzip", "random_binpb"),
    BAD_ROW_DAYS[-1]: ("span_without_trace_id",),
}
"""1-based day index -> the bad objects planted that day."""


@dataclass(frozen=True)
class PlantedTrace:
    """A trace broken on purpose: imported as a row that ingest must quarantine under `expectation`."""

    day: dt.date
    key: str
    trace_id: str
    defect: str
    expectation: str


@dataclass(frozen=True)
class PlantedObject:
    """An object the importer must quarantine: whole (`scope` "object") or one record of it ("span")."""

    day: dt.date
    key: str
    defect: ObjectDefect
    scope: Literal["object", "span"]


@dataclass(frozen=True)
class OtlpDemoSummary:
    """What `write_demo_otlp` wrote."""

    start: dt.date
    days: tuple[dt.date, ...]
    rows_per_day: dict[dt.date, int]
    """Good (generated) traces per day; planted ones are not counted here."""
    object_keys: tuple[str, ...]
    """The objects of good traces, in upload order per day."""
    split_trace_ids: tuple[str, ...]
    planted_traces: tuple[PlantedTrace, ...] = ()
    planted_objects: tuple[PlantedObject, ...] = field(default=())

    @property
    def good_rows(self) -> int:
        return sum(self.rows_per_day.values())


def write_demo_otlp(
    source: Store,
    *,
    start: dt.date,
    days: int,
    traces_per_day: int,
    seed: int = 7,
    drift: DriftSpec | None = DEFAULT_DRIFT,
    plant_bad_input: bool = True,
    layout: AwsS3Layout = DEMO_LAYOUT,
) -> OtlpDemoSummary:
    """Write `days` days of demo traces from `start` (the rows of `generate_day`, PII planted as there) as
    Collector objects in `source`; the same arguments always give the same keys and bytes."""
    if days < 1 or traces_per_day < 1:
        raise ConfigError(f"demo OTLP objects: days={days} and traces_per_day={traces_per_day} must be >= 1")
    dates = tuple(start + dt.timedelta(days=i) for i in range(days))
    rows: dict[dt.date, int] = {}
    keys: list[str] = []
    split: list[str] = []
    planted_traces: list[PlantedTrace] = []
    planted_objects: list[PlantedObject] = []
    for index, day in enumerate(dates, 1):
        frame = generate_day(day, seed=seed, traces=traces_per_day, day_index=index, drift=drift)
        unique = collector_unique_key(random.Random(f"{seed}/{day.isoformat()}/objects"))
        day_keys, day_split = write_day_objects(source, frame, layout=layout, unique=unique)
        keys += day_keys
        split += day_split
        rows[day] = frame.height
        if not plant_bad_input:
            continue
        rng = random.Random(f"{seed}/{day.isoformat()}/planted")
        if index in BAD_ROW_DAYS:
            planted_traces += plant_bad_traces(source, day, frame, rng=rng, layout=layout, unique=unique)
        for defect in OBJECT_DEFECTS.get(index, ()):
            planted_objects.append(plant_bad_object(source, day, frame, defect, rng=rng, unique=unique))
    return OtlpDemoSummary(
        start=start,
        days=dates,
        rows_per_day=rows,
        object_keys=tuple(keys),
        split_trace_ids=tuple(split),
        planted_traces=tuple(planted_traces),
        planted_objects=tuple(planted_objects),
    )


def write_day_objects(
    source: Store, frame: pl.DataFrame, *, layout: AwsS3Layout, unique: Callable[[], str]
) -> tuple[list[str], list[str]]:
    """One day's rows (sorted by start time) as Collector objects: (keys written, ids of the split traces)."""
    rows = frame.to_dicts()
    if not rows:
        return [], []
    count = min(len(rows), max(MIN_OBJECTS_PER_DAY, math.ceil(len(rows) / TRACES_PER_OBJECT)))
    bounds = [i * len(rows) // count for i in range(count + 1)]
    split = {rows[bounds[i + 1] - 1]["trace_id"] for i in range(min(count - 1, SPLIT_TRACES_PER_DAY))}
    keys: list[str] = []
    for part in range(count):
        members = rows[bounds[part] : bounds[part + 1]]
        projects = _projects(members)
        early: list[ScopedSpan] = []
        late_roots: list[ScopedSpan] = []
        for scoped in (s for row in members for s in trace_spans(row)):
            span = scoped[1]
            is_late = not span.parent_span_id and span.trace_id.hex() in split
            (late_roots if is_late else early).append(scoped)
        uploaded = upload_time(early, delay_s=2 + part % 5)
        keys += write_awss3_objects(
            source, [trace_request(early, projects)], uploaded_at=uploaded, layout=layout, unique_key=unique
        )
        if late_roots:
            keys += write_awss3_objects(
                source,
                [trace_request(late_roots, projects)],
                uploaded_at=uploaded + SPLIT_ROOT_DELAY,
                layout=layout,
                unique_key=unique,
            )
    return keys, sorted(split)


def plant_bad_traces(
    source: Store,
    day: dt.date,
    frame: pl.DataFrame,
    *,
    rng: random.Random,
    layout: AwsS3Layout,
    unique: Callable[[], str],
) -> list[PlantedTrace]:
    """One object of copies of the day's successful traces (fresh ids), each broken one way (`SPAN_DEFECTS`)."""
    rows = [_copy(row, rng) for row in _ok_rows(frame, rng, len(SPAN_DEFECTS))]
    for row, defect in zip(rows, SPAN_DEFECTS, strict=True):
        _break(row, defect)
    spans = [s for row in rows for s in trace_spans(row)]
    (key,) = write_awss3_objects(
        source,
        [trace_request(spans, _projects(rows))],
        uploaded_at=upload_time(spans, delay_s=3),
        layout=layout,
        unique_key=unique,
    )
    return [
        PlantedTrace(day, key, row["trace_id"], defect, expectation)
        for row, (defect, expectation) in zip(rows, SPAN_DEFECTS.items(), strict=True)
    ]


def plant_bad_object(
    source: Store,
    day: dt.date,
    frame: pl.DataFrame,
    defect: ObjectDefect,
    *,
    rng: random.Random,
    unique: Callable[[], str],
) -> PlantedObject:
    """One object the importer must quarantine, uploaded during `day`, holding copies of the day's traces."""
    rows = [_copy(row, rng) for row in _ok_rows(frame, rng, 3)]
    spans = [s for row in rows for s in trace_spans(row)]
    uploaded = upload_time(spans, delay_s=4)
    json_layout = AwsS3Layout(marshaler="otlp_json")
    scope: Literal["object", "span"] = "object"
    if defect == "invalid_json":  # an upload cut off mid-document
        body = otlp_json(trace_request(spans, _projects(rows)))
        key, data = json_layout.key("traces", uploaded, unique()), body[: len(body) // 2]
    elif defect == "truncated_gzip":
        body = gzip.compress(otlp_json(trace_request(spans, _projects(rows))), mtime=0)
        gz = AwsS3Layout(marshaler="otlp_json", compression="gzip")
        key, data = gz.key("traces", uploaded, unique()), body[: len(body) // 2]
    elif defect == "random_binpb":
        # 0x07 opens with field 0 and wire type 7, which no protobuf parser accepts, whatever follows.
        data = b"\x07" + rng.randbytes(RANDOM_OBJECT_BYTES - 1)
        key = AwsS3Layout(marshaler="otlp_proto").key("traces", uploaded, unique())
    elif defect == "span_without_trace_id":
        lone = spans[-1]  # a chat span, as a buggy exporter sends it: everything but its trace id
        lone[1].trace_id = b""
        body = otlp_json(trace_request([lone], {b"": rows[-1]["project"]}))
        key, data, scope = json_layout.key("traces", uploaded, unique()), body, "span"
    else:
        raise ValueError(f"unknown object defect {defect!r}; expected one of {sorted(_ALL_OBJECT_DEFECTS)}")
    source.write_bytes(key, data)
    return PlantedObject(day, key, defect, scope)


_ALL_OBJECT_DEFECTS = {d for defects in OBJECT_DEFECTS.values() for d in defects}


def _ok_rows(frame: pl.DataFrame, rng: random.Random, n: int) -> list[dict[str, Any]]:
    ok = frame.filter(pl.col("status") == "ok")
    return [ok.row(rng.randrange(ok.height), named=True) for _ in range(n)]


def _copy(row: Row, rng: random.Random) -> dict[str, Any]:
    return {**row, "trace_id": rng.randbytes(16).hex()}


def _break(row: dict[str, Any], defect: str) -> None:
    if defect == "negative_input_tokens":
        row["input_tokens"] = -abs(row["input_tokens"]) - 1
    elif defect == "negative_output_tokens":
        row["output_tokens"] = -abs(row["output_tokens"]) - 1
    elif defect == "input_tokens_over_10m":
        row["input_tokens"] = 10_000_001 + row["input_tokens"]
    elif defect == "output_tokens_over_10m":
        row["output_tokens"] = 10_000_001 + row["output_tokens"]
    elif defect == "latency_over_7_days":
        row["latency_ms"] = dt.timedelta(days=8).total_seconds() * 1000
    elif defect == "non_finite_feedback":
        row["feedback"] = [{"name": "thumbs", "value": math.nan, "source": "user"}]
    else:
        raise ValueError(f"unknown trace defect {defect!r}; expected one of {sorted(SPAN_DEFECTS)}")


def _projects(rows: list[dict[str, Any]]) -> dict[bytes, str]:
    return {bytes.fromhex(r["trace_id"]): r["project"] for r in rows}
