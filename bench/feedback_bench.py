"""Late feedback: a million events attached to traces spread over 30 days, against a bare polars join.

The requirement (issue 25): attaching 1,000,000 late feedback events to traces spread over 30 days and
rebuilding the affected partitions takes at most 3x a bare polars join of the same events with the traces' ids
and dates, measured in the same run.

- **tracewatch**: `ingest_new_feedback` as the nightly runs it: list and read the feedback files from the local
  S3 server, check every row against the feedback suite (quarantine, ledger), drop duplicates, find each
  event's trace date in the trace id index, keep one value per trace, name and source, rewrite the attached
  feedback partition of each of the 30 trace dates, and write the events whose trace is unknown as pending.
  The index is built beforehand, as the night that ingested those traces left it (its cost is paid once per
  changed trace date, not per event).
- **baseline**: the same feedback files and the traces' ids and dates (their `trace_id` column, the date from
  the path), read with polars from the same server and inner-joined on `trace_id`.

The report partitions of the 30 trace dates (monitoring, trace quality, drift profile) are then rebuilt by their
own stages; that rebuild of the monitoring reports is timed on its own line, outside the ratio, because it reads
every trace of every affected day whether one event or a million arrived (the ingest benchmark measures it).
Both sides run in this process, interleaved, the attachment state reset before each tracewatch run.
"""

from __future__ import annotations

import datetime as dt
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import VERDICT, local_s3_store, machine_info, timed
from tracewatch.store import Store
from tracewatch.traces import TRACE_SCHEMA

log = logging.getLogger(__name__)

START = dt.date(2026, 10, 1)
DAYS = 30
MAX_RATIO = 3.0
UNKNOWN_SHARE = 0.02
DUPLICATE_SHARE = 0.03
STATE_PREFIXES = (
    "warehouse/feedback",
    "warehouse/state/feedback_ledger.parquet",
    "warehouse/quarantine/feedback",
    "reports/feedback_orphans",
)


def run_benchmark(*, events: int, repeats: int, work_dir: Path) -> dict[str, Any]:
    """Write 30 days of traces (one per event, ingested) and the events; time both sides `repeats` times."""
    from tracewatch.ingest import ingest_new_traces, load_ledger
    from tracewatch.ingest.feedback_attach import trace_index

    with local_s3_store(work_dir, "feedback") as local:
        store = local.store
        started = time.perf_counter()
        trace_keys = write_traces(store, events)
        ingest_new_traces(store)
        trace_index(store, load_ledger(store), pl.Series([], dtype=pl.String))
        feedback_keys = write_events(store, events)
        setup_s = time.perf_counter() - started
        log.info("wrote and ingested %d traces, wrote %d events in %.1f s", events, events, setup_s)
        runs: dict[str, list[dict[str, Any]]] = {"baseline": [], "tracewatch": []}
        for repetition in range(1, repeats + 1):
            runs["baseline"].append(run_baseline(store, trace_keys, feedback_keys))
            runs["tracewatch"].append(run_tracewatch(store))
            log.info(
                "repetition %d/%d baseline %.2f s, tracewatch %.2f s",
                repetition,
                repeats,
                runs["baseline"][-1]["total"],
                runs["tracewatch"][-1]["total"],
            )
        rebuild = rebuild_monitoring(store)
    return summarise(runs, events=events, repeats=repeats, setup_s=setup_s, rebuild_s=rebuild)


def write_traces(store: Store, total: int) -> list[str]:
    """`total` valid traces over `DAYS` days, one file a day; the keys."""
    per_day = -(-total // DAYS)
    keys = []
    for n in range(DAYS):
        day = START + dt.timedelta(days=n)
        count = min(per_day, total - n * per_day)
        i = pl.int_range(0, count, dtype=pl.Int64)
        midnight = dt.datetime.combine(day, dt.time(), dt.UTC)
        frame = pl.select(
            trace_id=pl.concat_str(pl.lit(f"t-{day}-"), i.cast(pl.String)),
            start_time=pl.lit(midnight, pl.Datetime("us", "UTC"))
            + pl.duration(microseconds=i * (86_000_000_000 // count)),
            project=pl.lit("bench"),
            route=pl.concat_str(pl.lit("r"), (i % 4).cast(pl.String)),
            model=pl.lit("m"),
            input_text=pl.lit("q"),
            output_text=pl.lit("a"),
            input_tokens=pl.lit(10, pl.Int64),
            output_tokens=pl.lit(20, pl.Int64),
            latency_ms=pl.lit(100.0),
            status=pl.lit("ok"),
        )
        full = frame.with_columns(
            pl.lit(None, dtype=t).alias(c) for c, t in TRACE_SCHEMA.items() if c not in frame.columns
        ).select(list(TRACE_SCHEMA))
        key = f"traces/date={day}/app.parquet"
        store.write_parquet(key, full)
        keys.append(key)
    return keys


def write_events(store: Store, total: int) -> list[str]:
    """`total` events: most for a known trace 0-3 days earlier, some repeated, some for unknown traces."""
    rng = np.random.default_rng(25)
    per_day = -(-total // DAYS)
    trace_n = rng.integers(0, total, total)
    draws = pl.DataFrame(
        {
            "trace_day": trace_n // per_day,
            "n": trace_n % per_day,
            "late": rng.integers(0, 4, total),
            "unknown": rng.random(total) < UNKNOWN_SHARE,
            "second": rng.integers(0, 86_400, total),
            "rating": rng.random(total) < 0.4,
            "value": rng.integers(0, 5, total).astype(float),
        }
    )
    trace_date = pl.lit(START) + pl.duration(days=pl.col("trace_day"))
    feedback_date = trace_date + pl.duration(days=pl.col("late"))
    frame = draws.select(
        trace_id=pl.concat_str(
            pl.when(pl.col("unknown")).then(pl.lit("gone-t-")).otherwise(pl.lit("t-")),
            trace_date.cast(pl.Date).cast(pl.String),
            pl.lit("-"),
            pl.col("n").cast(pl.String),
        ),
        name=pl.when(pl.col("rating")).then(pl.lit("rating")).otherwise(pl.lit("thumbs")),
        value=pl.col("value"),
        source=pl.lit("user"),
        created_at=feedback_date.cast(pl.Datetime("us", "UTC")) + pl.duration(seconds=pl.col("second")),
        feedback_day=feedback_date.cast(pl.Date),
    )
    repeated = frame.sample(fraction=DUPLICATE_SHARE, seed=25)
    frame = pl.concat([frame.head(total - repeated.height), repeated])
    keys = []
    for (day,), part in frame.partition_by("feedback_day", as_dict=True).items():
        key = f"feedback/date={day}/events.parquet"
        store.write_parquet(key, part.drop("feedback_day"))
        keys.append(key)
    return sorted(keys)


def run_baseline(store: Store, trace_keys: list[str], feedback_keys: list[str]) -> dict[str, float]:
    """A person's polars: the events joined with the traces' ids and dates, both read from the store."""
    phases: dict[str, float] = {}
    options = store.storage_options() or None
    with timed(phases, "total"):
        events = pl.scan_parquet([store.uri(k) for k in feedback_keys], storage_options=options)
        traces = pl.scan_parquet(
            [store.uri(k) for k in trace_keys], storage_options=options, hive_partitioning=True
        ).select("trace_id", "date")
        joined = events.join(traces, on="trace_id", how="inner").collect()
    phases["rows"] = float(joined.height)
    return phases


def run_tracewatch(store: Store) -> dict[str, float]:
    """`ingest_new_feedback` from a clean attachment state (the trace id index kept)."""
    from tracewatch.ingest import ingest_new_feedback

    for prefix in STATE_PREFIXES:
        store.delete(prefix)
    phases: dict[str, float] = {}
    with timed(phases, "total"):
        result = ingest_new_feedback(store, up_to=START + dt.timedelta(days=DAYS + 3))
    phases["rows"] = float(result.rows_read)
    phases["dates_rebuilt"] = float(len(result.rebuilt))
    phases["waiting"] = float(result.waiting)
    return phases


def rebuild_monitoring(store: Store) -> float:
    """The monitoring reports of the 30 trace dates, rebuilt with their late feedback (outside the ratio)."""
    from tracewatch.monitoring import build_monitoring_reports

    started = time.perf_counter()
    for n in range(DAYS):
        build_monitoring_reports(store, START + dt.timedelta(days=n), run_id="bench")
    return time.perf_counter() - started


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, events: int, repeats: int, setup_s: float, rebuild_s: float
) -> dict[str, Any]:
    base = statistics.median(r["total"] for r in runs["baseline"])
    ours = statistics.median(r["total"] for r in runs["tracewatch"])
    ratio = ours / base
    last = runs["tracewatch"][-1]
    return {
        "benchmark": "feedback",
        "events": events,
        "days": DAYS,
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "medians_s": {"baseline": round(base, 3), "tracewatch": round(ours, 3)},
        "rebuild_monitoring_s": round(rebuild_s, 3),
        "ratio": round(ratio, 3),
        "dates_rebuilt": int(last["dates_rebuilt"]),
        "waiting": int(last["waiting"]),
        "targets": {"max_ratio": MAX_RATIO},
        "passed": {"ratio": ratio <= MAX_RATIO},
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table."""
    med, base = summary["medians_s"], summary["medians_s"]["baseline"]
    m = summary["machine"]
    lines = [
        "| late feedback benchmark | median wall (s) | x baseline |",
        "|---|---:|---:|",
        f"| baseline: polars join of the events with the traces' ids and dates | {base:.2f} | 1.00 |",
        f"| **tracewatch: check, attach, rewrite the affected dates' feedback partitions** "
        f"| **{med['tracewatch']:.2f}** | **{summary['ratio']:.2f}** |",
        f"| &nbsp;&nbsp;not in the ratio: the {summary['days']} dates' monitoring reports rebuilt "
        f"| {summary['rebuild_monitoring_s']:.2f} | {summary['rebuild_monitoring_s'] / base:.2f} |",
        "",
        f"{summary['events']:,} events ({DUPLICATE_SHARE:.0%} repeated, {UNKNOWN_SHARE:.0%} for unknown traces) "
        f"for traces over {summary['days']} days, on the local S3 server (SeaweedFS); {summary['dates_rebuilt']} "
        f"trace dates rebuilt, {summary['waiting']:,} events waiting for their trace; median of "
        f"{summary['repeats']} interleaved runs in one process. {m['nproc']} CPUs, Python {m['python']}, "
        f"polars {m['polars']}, {m['date'][:10]}, commit {m['git']}.",
        "",
        f"- wall time <= {MAX_RATIO:.0f}x baseline: {summary['ratio']:.2f}x, {VERDICT[summary['passed']['ratio']]}",
    ]
    return "\n".join(lines) + "\n"
