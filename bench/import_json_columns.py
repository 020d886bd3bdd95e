"""Issue 19's columnar path, step 1 for JSON measured: OTLP/JSON traces objects decoded to Arrow columns, against
today and against the floor's parse.

Not a benchmark of tracewatch's import (that is `bench.import_bench`) and not wired into `make bench`: it builds
the import benchmark's spans (`bench.import_spans`, the same seeded requests, written as OTLP JSON by the
benchmark's own writer), held in memory (so no reading and no gunzip), and times in CPU seconds of this process
(`time.process_time`), the collector paused as the import pauses it, over every object:

- `orjson.loads`: the parse alone, the JSON floor's decoding step;
- today: `orjson.loads`, then `_otlp_json.decode_trace_request` to `Span`s;
- columns: `_otlp_json_columns.trace_request_columns_json`, the bytes to Arrow tables;
- columns + `spans_from_columns`: the same, then back to today's `Span`s (the bridge the tests use).

Each step first runs once, untimed (Arrow's one-time set-up, reported apart), then `--runs` times, interleaved;
the table gives the median and the fastest run. Then it checks, outside the clock, that every object's columns
give today's spans. Run: `python -m bench.import_json_columns --spans 1000000 --runs 3` (a multiple of 5).
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import time
from collections.abc import Callable

import orjson

from bench.import_spans import SpanSet, _json_dict, _requests
from tracewatch.importers._otlp_decoded import DecodedTraces
from tracewatch.importers._otlp_json import decode_trace_request
from tracewatch.importers._otlp_json_columns import trace_request_columns_json
from tracewatch.importers._span_columns import spans_from_columns


def _today(data: bytes) -> None:
    decode_trace_request(orjson.loads(data), DecodedTraces())


def _columns_and_spans(data: bytes) -> None:
    columns = trace_request_columns_json(data)
    if columns is not None:
        spans_from_columns(columns)


STEPS: dict[str, Callable[[bytes], object]] = {
    "`orjson.loads` (the floor's parse)": orjson.loads,
    "today: `orjson.loads` + `decode_trace_request` to `Span`s": _today,
    "columns: `trace_request_columns_json`": trace_request_columns_json,
    "columns, then `spans_from_columns`": _columns_and_spans,
}


def _timed(step: Callable[[bytes], object], objects: list[bytes]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for data in objects:
            step(data)
        return time.process_time() - start
    finally:
        gc.enable()


def _check(objects: list[bytes]) -> int:
    """How many objects fell back; `AssertionError` if the columns of one give other spans than today's."""
    fallbacks = 0
    for number, data in enumerate(objects):
        columns = trace_request_columns_json(data)
        if columns is None:
            fallbacks += 1
            continue
        today = DecodedTraces()
        decode_trace_request(orjson.loads(data), today)
        if spans_from_columns(columns) != today.spans:
            raise AssertionError(f"object {number}: the columns' spans differ from today's")
    return fallbacks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = SpanSet(prefix="")
    objects = [orjson.dumps(_json_dict(traces)) for _, traces, _ in _requests(args.spans // 5, out)]
    size = sum(map(len, objects))
    print(f"{out.spans:,} spans in {len(objects)} objects, {size / 1e6:,.0f} MB of JSON")
    start = time.process_time()
    trace_request_columns_json(
        objects[0]
    )  # the first call in a process loads pyarrow's JSON reader and kernels
    first = time.process_time() - start
    for step in STEPS.values():
        step(objects[0])
    loads = [os.getloadavg()[0]]
    times: dict[str, list[float]] = {name: [] for name in STEPS}
    for _ in range(args.runs):
        for name, step in STEPS.items():
            times[name].append(_timed(step, objects))
            loads.append(os.getloadavg()[0])
    fallbacks = _check(objects)
    floor = statistics.median(times[next(iter(STEPS))])
    print(
        f"\n{args.runs} runs, load average {min(loads):.1f}-{max(loads):.1f}, {fallbacks} objects fell back"
    )
    print(
        f"the first `trace_request_columns_json` call of the process took {first:.2f} CPU s (not in the table)"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process {peak:,.0f} MB (the JSON objects included)\n")
    print("| step | median CPU s (fastest) | / `orjson.loads` |")
    print("|---|---:|---:|")
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"| {name} | {median:.2f} ({min(runs):.2f}) | {median / floor:.1f}x |")


if __name__ == "__main__":
    main()
