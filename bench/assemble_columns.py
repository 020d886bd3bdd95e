"""Issue 19's columnar path, assembly measured: span facts to trace rows in columns (`assemble_columns`) against
today's `group_by_trace` + `assemble_frame` over the same facts.

Not wired into `make bench`. It builds the import benchmark's spans (`bench.import_spans`, 5 spans a trace, four
dialects), reads them with today's `read_span`, and cuts them into batches of `--batch` whole traces (a trace's
spans arrive in several objects; the importer assembles the traces it has released). Each batch is held both as
today's `SpanFacts` and as `FRAME_SCHEMA` rows (`facts_to_frame`), so neither reading nor the frame bridge is
timed. Then, in CPU seconds of this process (`time.process_time`) with the collector paused as the import pauses
it, interleaved over `--runs`:

- today: `assemble_frame(group_by_trace(facts))` per batch, with the sources' `source` mapping;
- columns (per batch): `assemble_columns(frame)` per batch, with a sources frame of the same values;
- columns (all in one call): `assemble_columns` once over every batch's rows (the per-call overhead apart).

The pricer is a plain per-token price (litellm's map is not what is measured). Outside the clock it checks that
every batch's rows are equal (`DataFrame.equals`) and that no trace went to today's code. Run:
`python -m bench.assemble_columns --traces 20000 --runs 3`.
"""

from __future__ import annotations

import argparse
import gc
import os
import resource
import statistics
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from bench.import_spans import SpanSet, _requests
from tracewatch.importers import _assemble_columns
from tracewatch.importers._assemble import IncompletePolicy, assemble_frame, group_by_trace
from tracewatch.importers._assemble_columns import assemble_columns
from tracewatch.importers._dialects import read_span
from tracewatch.importers._fact_frame import facts_to_frame
from tracewatch.importers._otlp_proto_columns import trace_request_columns
from tracewatch.importers._span_columns import spans_from_columns
from tracewatch.importers._spans import SpanFacts

SOURCE = {"name": "bench", "home": "s3://bench/traces"}


def price(model: str, inputs: int, outputs: int) -> float | None:
    return inputs * 1.5e-7 + outputs * 6e-7


def _batches(traces: int, size: int) -> list[tuple[list[SpanFacts], pl.DataFrame, pl.DataFrame]]:
    """The benchmark's facts as batches of `size` whole traces (a trace's spans arrive in several objects; the
    importer assembles the traces it released): each batch's facts, frame and sources."""
    facts: list[SpanFacts] = []
    for _, request, _ in _requests(traces, SpanSet(prefix="")):
        columns = trace_request_columns(request.SerializeToString())
        assert columns is not None
        facts += [read_span(span) for span in spans_from_columns(columns)]
    groups = group_by_trace(facts)
    batches = []
    for first in range(0, len(groups), size):
        batch = [item for group in groups[first : first + size] for item in group]
        frame = facts_to_frame(batch).with_columns(pl.lit(None, pl.Int32()).alias("python_index"))
        ids = frame["trace_id"].unique(maintain_order=True)
        sources = pl.DataFrame({"trace_id": ids, **{k: [v] * len(ids) for k, v in SOURCE.items()}})
        batches.append((batch, frame, sources))
    return batches


def _timed(step: Callable[[], Any]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        step()
        return time.process_time() - start
    finally:
        gc.enable()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--traces", type=int, default=20_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--batch", type=int, default=1000, help="traces a batch (5 spans each)")
    args = parser.parse_args()
    batches = _batches(args.traces, args.batch)
    spans = sum(frame.height for _, frame, _ in batches)
    whole = pl.concat([frame for _, frame, _ in batches])
    whole_sources = pl.concat([sources for _, _, sources in batches])
    flagged = IncompletePolicy.IMPORT_FLAGGED

    def today() -> list[pl.DataFrame]:
        return [
            assemble_frame(group_by_trace(facts), project=None, pricer=price, source=SOURCE).frame
            for facts, _, _ in batches
        ]

    def columns() -> list[pl.DataFrame]:
        return [
            assemble_columns(frame, (), pricer=price, incomplete=flagged, sources=sources).rows
            for _, frame, sources in batches
        ]

    def one_batch() -> pl.DataFrame:
        return assemble_columns(whole, (), pricer=price, incomplete=flagged, sources=whole_sources).rows

    steps = {
        "today (assemble_frame)": today,
        "columns (per batch)": columns,
        "columns (all in one call)": one_batch,
    }
    for step in steps.values():
        step()  # untimed: the first calls load polars' kernels
    times: dict[str, list[float]] = {name: [] for name in steps}
    loads = [os.getloadavg()[0]]
    for _ in range(args.runs):
        for name, step in steps.items():
            times[name].append(_timed(step))
            loads.append(os.getloadavg()[0])

    left: list[str] = []
    original = _assemble_columns.assemble_trace
    _assemble_columns.assemble_trace = lambda facts, **kw: (
        left.append(facts[0].trace_id) or original(facts, **kw)
    )  # type: ignore[assignment]
    try:
        mine = columns()
    finally:
        _assemble_columns.assemble_trace = original
    for number, (got, want) in enumerate(zip(mine, today(), strict=True)):
        assert got.equals(want), f"batch {number}: the columns' rows differ from today's"
    print(
        f"\n{spans:,} spans in {len(batches)} batches of {args.batch} traces, {args.runs} runs, "
        f"load average {min(loads):.1f}-{max(loads):.1f}"
    )
    print(f"rows equal today's for every batch; {len(left)} traces went to today's code")
    print(f"peak RSS of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MB\n")
    print("| step | median CPU s (fastest) | per 1,000,000 spans | / today |")
    print("|---|---:|---:|---:|")
    floor = statistics.median(times["today (assemble_frame)"])
    for name, taken in times.items():
        median = statistics.median(taken)
        print(
            f"| {name} | {median:.2f} ({min(taken):.2f}) | {median * 1_000_000 / spans:.1f} | {median / floor:.2f}x |"
        )


if __name__ == "__main__":
    main()
