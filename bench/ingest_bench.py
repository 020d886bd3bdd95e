"""Ingest + validate + monitor one day of traces from the local S3 server, against a bare polars scan.

The requirement: for a million traces, the nightly path (ingest with every row validated against the GX suite
and quarantine, then the monitoring reports) takes at most 3x the wall time of a bare polars scan + group-by of
the same files, measured in the same run, and peaks at no more than 2 GB of memory. GX's own Data Docs of a
sample are rendered after the reports are published (see docs/validation.md); they are timed and reported on
their own line, outside the ratio.

Every repetition runs in a fresh Python process (`python -m bench.ingest_bench <kind> ...`), so its peak RSS
is its own and nothing warm (an imported GX, polars' thread pool, fsspec caches) carries over. The parent
starts the S3 server, writes the traces once, and interleaves baseline and tracewatch repetitions so that
noise on the machine hits both alike. Wall times are measured inside the child around the work only:
interpreter start-up and the imports of polars/tracewatch are left out of both sides, while the GX import,
which happens inside the Data Docs step, is counted, as it is paid every night.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import statistics
import time
from pathlib import Path
from typing import Any

import polars as pl

from bench.common import (
    VERDICT,
    local_s3_store,
    machine_info,
    median_phase,
    spawn,
    timed,
    timing_concurrent,
    write_result,
)
from tracewatch.traces import GROUP_KEYS

log = logging.getLogger(__name__)

DAY = dt.date(2026, 11, 1)
FILES = 10
MAX_RATIO = 3.0
MAX_PEAK_RSS_MB = 2048.0
KINDS = ("baseline", "tracewatch")

# The same per-group metrics as tracewatch.monitoring.metrics.trace_metrics (minus feedback), written out
# here so the baseline is what a person would type into polars, not a call into our code.
BASELINE_METRICS: tuple[pl.Expr, ...] = (
    pl.len().alias("trace_count"),
    (pl.col("status") == "error").sum().alias("error_count"),
    pl.col("input_tokens").sum().alias("input_tokens_sum"),
    pl.col("input_tokens").mean().alias("input_tokens_mean"),
    pl.col("output_tokens").sum().alias("output_tokens_sum"),
    pl.col("output_tokens").mean().alias("output_tokens_mean"),
    pl.col("cost_usd").sum().alias("cost_usd_sum"),
    pl.col("latency_ms").mean().alias("latency_ms_mean"),
    pl.col("latency_ms").quantile(0.50, "linear").alias("latency_ms_p50"),
    pl.col("latency_ms").quantile(0.90, "linear").alias("latency_ms_p90"),
    pl.col("latency_ms").quantile(0.99, "linear").alias("latency_ms_p99"),
)

# Rows of the markdown table: (phase key, label); the first two are whole runs, the rest tracewatch phases.
PHASE_LABELS: tuple[tuple[str, str], ...] = (
    ("ingest", "ingest: read, validate every row, quarantine, ledger"),
    ("rowchecks", "of which validation running (the GX suite compiled to polars; alongside the reads)"),
    ("monitoring", "monitoring reports"),
    ("data_docs", "after the reports, not in the ratio: GX Data Docs of a 5,000-row sample"),
    ("gx_import", "of which importing great_expectations"),
)


# ---- the parent: set up, spawn, summarise ------------------------------------------------------------------


def run_benchmark(*, rows: int, repeats: int, work_dir: Path) -> dict[str, Any]:
    """Start an S3 server, write `rows` traces for one day, run both sides `repeats` times; the summary."""
    from tracewatch.traces import write_demo_traces

    with local_s3_store(work_dir, "ingest") as local:
        started = time.perf_counter()
        demo = write_demo_traces(
            local.store,
            start=DAY,
            days=1,
            traces_per_day=rows,
            files_per_day=FILES,
            plant_bad_input=False,
            drift=None,
        )
        setup_s = time.perf_counter() - started
        log.info("wrote %d traces in %d files in %.1f s", rows, len(demo.trace_keys), setup_s)
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        for repetition in range(1, repeats + 1):
            for kind in KINDS:
                args = ["--day", DAY.isoformat(), *demo.trace_keys]
                run = spawn("bench.ingest_bench", kind, args, local.child_env, local.tmp)
                _check_rows(kind, run, rows)
                runs[kind].append(run)
                log.info(
                    "repetition %d/%d %-10s %6.2f s  peak RSS %5.0f MB",
                    repetition,
                    repeats,
                    kind,
                    run["phases"]["total"],
                    run["peak_rss_mb"],
                )
    return summarise(runs, rows=rows, repeats=repeats, setup_s=setup_s)


def _check_rows(kind: str, run: dict[str, Any], rows: int) -> None:
    """A fast run that skipped work is no result: every trace must have been seen and (being clean) kept."""
    counts = run["counts"]
    expected = {"rows": rows} if kind == "baseline" else {"rows_read": rows, "rows_accepted": rows}
    wrong = {name: counts.get(name) for name, n in expected.items() if counts.get(name) != n}
    if wrong:
        raise RuntimeError(f"the {kind} run saw {wrong}, expected {expected}")


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, rows: int, repeats: int, setup_s: float
) -> dict[str, Any]:
    """Medians per phase, the ratio of the medians, the worst peak RSS and the verdicts."""

    def median(kind: str, phase: str) -> float:
        return median_phase(runs[kind], phase)

    ours = runs["tracewatch"]
    ratio = median("tracewatch", "total") / median("baseline", "total")
    peak_rss_mb = max(r["peak_rss_mb"] for r in ours)
    validation_share = statistics.median(r["phases"]["validation"] / r["phases"]["total"] for r in ours)
    return {
        "benchmark": "ingest",
        "rows": rows,
        "files": FILES,
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "medians_s": {
            "baseline": round(median("baseline", "total"), 3),
            "tracewatch": round(median("tracewatch", "total"), 3),
            **{phase: round(median("tracewatch", phase), 3) for phase, _ in PHASE_LABELS},
            "validation": round(median("tracewatch", "validation"), 3),
        },
        "ratio": round(ratio, 3),
        "peak_rss_mb": {kind: round(max(r["peak_rss_mb"] for r in runs[kind]), 1) for kind in KINDS},
        "validation_share": round(validation_share, 4),
        "targets": {"max_ratio": MAX_RATIO, "max_peak_rss_mb": MAX_PEAK_RSS_MB},
        "passed": {"ratio": ratio <= MAX_RATIO, "peak_rss": peak_rss_mb <= MAX_PEAK_RSS_MB},
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table: medians, the ratio, peak RSS and the verdicts."""
    med, rss, ok = summary["medians_s"], summary["peak_rss_mb"], summary["passed"]
    base = med["baseline"]
    lines = [
        "| ingest benchmark | median wall (s) | x baseline | peak RSS (MB) |",
        "|---|---:|---:|---:|",
        f"| baseline: polars scan + group-by | {base:.2f} | 1.00 | {rss['baseline']:.0f} |",
        f"| **tracewatch: ingest + validate + monitor** | **{med['tracewatch']:.2f}** "
        f"| **{summary['ratio']:.2f}** | **{rss['tracewatch']:.0f}** |",
        *(
            f"| &nbsp;&nbsp;{label} | {med[phase]:.2f} | {med[phase] / base:.2f} | |"
            for phase, label in PHASE_LABELS
        ),
    ]
    m = summary["machine"]
    lines += [
        "",
        f"{summary['rows']:,} traces of one day in {summary['files']} Parquet files on the local S3 server "
        f"(SeaweedFS); median of {summary['repeats']} interleaved runs, each in a fresh process. "
        f"Validation (every row against the suite) is running during {summary['validation_share']:.0%} of the "
        "wall time; files are read and checked in threads, so it overlaps the reads. "
        f"{m['nproc']} CPUs, Python {m['python']}, polars {m['polars']}, pyarrow {m['pyarrow']}, "
        f"{m['date'][:10]}, commit {m['git']}.",
        "",
        f"- wall time <= {MAX_RATIO:.0f}x baseline: {summary['ratio']:.2f}x, {VERDICT[ok['ratio']]}",
        f"- peak RSS <= {MAX_PEAK_RSS_MB:.0f} MB: {rss['tracewatch']:.0f} MB, {VERDICT[ok['peak_rss']]}",
    ]
    return "\n".join(lines) + "\n"


# ---- the child: one repetition of one side -----------------------------------------------------------------


def run_baseline(keys: list[str]) -> tuple[dict[str, float], dict[str, int]]:
    """The bare polars query: scan the day's files from S3 and aggregate them per group."""
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    store = Store.from_settings(Settings())
    phases: dict[str, float] = {}
    with timed(phases, "total"):
        metrics = (
            pl.scan_parquet([store.uri(k) for k in keys], storage_options=store.storage_options())
            .group_by(GROUP_KEYS)
            .agg(*BASELINE_METRICS)
            .collect()
        )
    return phases, {"rows": int(metrics.get_column("trace_count").sum()), "groups": metrics.height}


def run_tracewatch(day: dt.date) -> tuple[dict[str, float], dict[str, int]]:
    """The nightly path for one date: a full re-ingest, GX Data Docs and the monitoring reports."""
    import tracewatch.ingest.file_checks as ingest_checks
    import tracewatch.ingest.run as ingest_run
    from tracewatch.ingest.data_docs import publish_data_docs
    from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
    from tracewatch.runs import new_run_id
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    store = Store.from_settings(Settings())
    phases: dict[str, float] = {"rowchecks": 0.0}
    # Patch the name file_checks.py calls, so the row checks are timed where ingest really uses them.
    # Files are checked in threads: count the wall time during which any file's checks were running.
    ingest_checks.failing_rows = timing_concurrent(ingest_checks.failing_rows, phases, "rowchecks")  # type: ignore[attr-defined]
    run_id = new_run_id("bench")
    with timed(phases, "total"):
        with timed(phases, "ingest"):
            result = ingest_run.ingest_new_traces(
                store, up_to=day, reprocess=(day,), run_id=run_id, reducer=METRIC_REDUCER
            )
        with timed(phases, "monitoring"):
            build_monitoring_reports(store, day, run_id=run_id, parts=result.parts.get(day))
    phases["validation"] = phases["rowchecks"]
    # Off the critical path: the nightly flow publishes the reports first and renders Data Docs afterwards.
    with timed(phases, "data_docs"):
        # run_suite imports GX lazily; importing it here first only splits that cost out of the phase.
        with timed(phases, "gx_import"):
            import great_expectations  # noqa: F401
        publish_data_docs(store, day, run_id=run_id)
    counts = {
        "rows_read": result.rows_read,
        "rows_accepted": result.rows_accepted,
        "rows_quarantined": result.rows_quarantined,
        "files": len(result.files),
    }
    return phases, counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the ingest benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--day", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("keys", nargs="+", help="the day's trace files, relative to TRACEWATCH_STORE")
    args = parser.parse_args(argv)
    if args.kind == "baseline":
        phases, counts = run_baseline(args.keys)
    else:
        phases, counts = run_tracewatch(args.day)
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()
