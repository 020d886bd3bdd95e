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
from collections.abc import Callable

import orjson

from bench.columns_timing import measure
from bench.import_spans import SpanSet, _json_dict, _requests
from tracewatch.importers._otlp_decoded import DecodedTraces
from tracewatch.importers._otlp_json import decode_trace_request
from tracewatch.importers._otlp_json_columns import trace_request_columns_json
from tracewatch.importers._span_columns import spans_from_columns
from tracewatch.importers._spans import Span


def _today_spans(data: bytes) -> list[Span]:
    today = DecodedTraces()
    decode_trace_request(orjson.loads(data), today)
    return today.spans


def _columns_and_spans(data: bytes) -> None:
    columns = trace_request_columns_json(data)
    if columns is not None:
        spans_from_columns(columns)


STEPS: dict[str, Callable[[bytes], object]] = {
    "`orjson.loads` (the floor's parse)": orjson.loads,
    "today: `orjson.loads` + `decode_trace_request` to `Span`s": _today_spans,
    "columns: `trace_request_columns_json`": trace_request_columns_json,
    "columns, then `spans_from_columns`": _columns_and_spans,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spans", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    out = SpanSet(prefix="")
    objects = [orjson.dumps(_json_dict(traces)) for _, traces, _ in _requests(args.spans // 5, out)]
    size = sum(map(len, objects))
    print(f"{out.spans:,} spans in {len(objects)} objects, {size / 1e6:,.0f} MB of JSON")
    measure(
        objects,
        STEPS,
        columns=trace_request_columns_json,
        today=_today_spans,
        runs=args.runs,
        held="the JSON objects",
    )


if __name__ == "__main__":
    main()
