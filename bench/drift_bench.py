"""Drift from daily profiles: a 28-day reference and one current day at 1,000,000 traces per day, and the
same decisions as Evidently's DataDriftPreset on a pair of 1,000,000-row tables, at a fraction of its time.

Two requirements: (1) reading 29 stored daily profiles, merging the 28 reference days and running every
drift test takes under 10 s; (2) on the same 1,000,000-row reference and current tables, tracewatch (build
both profiles from the rows, then test) is at least 10x faster than Evidently's preset, with the same
drift decision on every column.

The tables are numeric and categorical trace columns drawn with numpy (`bench/drift_cases.py`): latency,
input/output tokens, cost, model, route, status; the current day shifts latency, output tokens and the
model mix (so cost too). Text columns are left out: Evidently would switch to its text-drift classifier,
which is not what is compared. The parent builds the 29 daily profiles once, each from its own
1,000,000-row table, and writes them to the local S3 server (setup, not timed). Each repetition of each side
runs in a fresh process; what is timed is said per side: reading + merging + testing for `profiles`,
profiling both tables + testing for `tables`, `Report.run` for `evidently` (its import, ~20 s without a
bytecode cache, and the pandas conversion are left out).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl

from bench.common import VERDICT, local_s3_store, machine_info, median_phase, spawn, timed, write_result
from bench.drift_cases import evidently_decisions, traces_table

log = logging.getLogger(__name__)

DAY = dt.date(2026, 11, 29)
REFERENCE_DAYS = 28
MAX_PROFILES_S = 10.0
MIN_SPEEDUP = 10.0
KINDS = ("profiles", "tables", "evidently")


def _reference_table(index: int, rows: int) -> pl.DataFrame:
    """Reference day `index` (1 = the day before the current one), the same rows in every process."""
    return traces_table(np.random.default_rng(1000 + index), rows, drift=False)


def _current_table(rows: int) -> pl.DataFrame:
    return traces_table(np.random.default_rng(2000), rows, drift=True)


# ---- the parent: set up, spawn, summarise ------------------------------------------------------------------


def run_benchmark(*, rows: int, repeats: int, work_dir: Path) -> dict[str, Any]:
    """Write 29 daily profiles to a local S3 server, then run each side `repeats` times; the summary."""
    from tracewatch.drift import build_day_profile, write_profile

    with local_s3_store(work_dir, "drift") as local:
        started = time.perf_counter()
        for index in range(1, REFERENCE_DAYS + 1):
            day = DAY - dt.timedelta(days=index)
            write_profile(local.store, build_day_profile(_reference_table(index, rows), day))
        write_profile(local.store, build_day_profile(_current_table(rows), DAY))
        setup_s = time.perf_counter() - started
        log.info("wrote %d daily profiles of %d traces in %.1f s", REFERENCE_DAYS + 1, rows, setup_s)
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        for repetition in range(1, repeats + 1):
            for kind in KINDS:
                run = spawn("bench.drift_bench", kind, ["--rows", str(rows)], local.child_env, local.tmp)
                runs[kind].append(run)
                log.info("repetition %d/%d %s: %.2f s", repetition, repeats, kind, run["phases"]["total"])
    return summarise(runs, rows=rows, repeats=repeats, setup_s=setup_s)


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, rows: int, repeats: int, setup_s: float
) -> dict[str, Any]:
    """Medians, the speed-up over Evidently, decision agreement and the verdicts."""
    medians = {kind: round(median_phase(runs[kind], "total"), 3) for kind in KINDS}
    phases = {p: round(median_phase(runs["profiles"], p), 3) for p in ("read", "merge", "checks")}
    tables_phases = {p: round(median_phase(runs["tables"], p), 3) for p in ("profile", "checks")}
    speedup = medians["evidently"] / medians["tables"]
    theirs = runs["evidently"][-1]["decisions"]
    ours = runs["tables"][-1]["decisions"]
    agree = {column: ours.get(column) == drifted for column, drifted in theirs.items()}
    stable = all(r["decisions"] == ours for r in runs["tables"]) and all(
        r["decisions"] == theirs for r in runs["evidently"]
    )
    return {
        "benchmark": "drift",
        "rows_per_day": rows,
        "reference_days": REFERENCE_DAYS,
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "medians_s": medians,
        "profiles_phases_s": phases,
        "tables_phases_s": tables_phases,
        "speedup_vs_evidently": round(speedup, 2),
        "decisions": {"tracewatch": ours, "evidently": theirs, "agree": agree, "stable_across_runs": stable},
        "profiles_drifted": runs["profiles"][-1]["decisions"],
        "peak_rss_mb": {kind: round(max(r["peak_rss_mb"] for r in runs[kind]), 1) for kind in KINDS},
        "targets": {"max_profiles_s": MAX_PROFILES_S, "min_speedup": MIN_SPEEDUP},
        "passed": {
            "profiles": medians["profiles"] < MAX_PROFILES_S,
            "speedup": speedup >= MIN_SPEEDUP,
            "same_decisions": all(agree.values()) and stable,
        },
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table: medians, the speed-up, decisions and the verdicts."""
    med, rss, ok = summary["medians_s"], summary["peak_rss_mb"], summary["passed"]
    ph, tph = summary["profiles_phases_s"], summary["tables_phases_s"]
    rows = summary["rows_per_day"]
    decisions = summary["decisions"]
    drifted = sorted(c for c, d in decisions["evidently"].items() if d)
    lines = [
        "| drift benchmark | median wall (s) | peak RSS (MB) |",
        "|---|---:|---:|",
        f"| **28-day reference + 1 day from stored profiles** ({rows:,} traces/day) | **{med['profiles']:.2f}** "
        f"| {rss['profiles']:.0f} |",
        f"| &nbsp;&nbsp;read 29 profiles from S3 | {ph['read']:.2f} | |",
        f"| &nbsp;&nbsp;merge 28 reference profiles | {ph['merge']:.2f} | |",
        f"| &nbsp;&nbsp;run every test (+ PSI, drift share) | {ph['checks']:.2f} | |",
        f"| tracewatch on two {rows:,}-row tables: profile both, test | {med['tables']:.2f} | {rss['tables']:.0f} |",
        f"| &nbsp;&nbsp;of which profiling | {tph['profile']:.2f} | |",
        f"| Evidently 0.7 DataDriftPreset on the same tables (`Report.run`) | {med['evidently']:.2f} "
        f"| {rss['evidently']:.0f} |",
    ]
    m = summary["machine"]
    lines += [
        "",
        f"Median of {summary['repeats']} runs per side, each in a fresh process; profiles on the local S3 "
        f"server (SeaweedFS). Columns: latency, input/output tokens, cost, model, route, status; the current "
        f"day drifts on latency, output tokens and model mix. {m['nproc']} CPUs, Python {m['python']}, "
        f"polars {m['polars']}, {m['date'][:10]}, commit {m['git']}.",
        "",
        f"- from profiles < {MAX_PROFILES_S:.0f} s: {med['profiles']:.2f} s, {VERDICT[ok['profiles']]}",
        f"- >= {MIN_SPEEDUP:.0f}x faster than Evidently on the same tables: "
        f"{summary['speedup_vs_evidently']:.1f}x, {VERDICT[ok['speedup']]}",
        f"- same decisions as Evidently on every column ({len(decisions['agree'])} columns; drifted: "
        f"{', '.join(drifted) or 'none'}): {VERDICT[ok['same_decisions']]}",
    ]
    return "\n".join(lines) + "\n"


# ---- the child: one repetition of one side -----------------------------------------------------------------


def run_profiles() -> tuple[dict[str, float], dict[str, int], dict[str, bool]]:
    """Read the 29 stored profiles, merge the reference, run every test."""
    from tracewatch.drift import DriftConfig, merge_profiles, run_checks
    from tracewatch.drift.profile_store import read_profiles
    from tracewatch.settings import Settings
    from tracewatch.store import Store

    store = Store.from_settings(Settings())
    days = [DAY - dt.timedelta(days=i) for i in range(REFERENCE_DAYS, 0, -1)]
    phases: dict[str, float] = {}
    with timed(phases, "total"):
        with timed(phases, "read"):
            profiles = read_profiles(store, [*days, DAY])
        with timed(phases, "merge"):
            reference = merge_profiles(profiles[d] for d in days)
        with timed(phases, "checks"):
            report = run_checks(reference, profiles[DAY], DriftConfig())
    counts = {
        "reference_rows": reference.rows,
        "current_rows": profiles[DAY].rows,
        "results": len(report.results),
    }
    return phases, counts, _decisions(report)


def run_tables(rows: int) -> tuple[dict[str, float], dict[str, int], dict[str, bool]]:
    """Profile the 1M-row reference and current tables and test them."""
    from tracewatch.drift import DriftConfig, build_day_profile, run_checks

    reference, current = _reference_table(1, rows), _current_table(rows)
    phases: dict[str, float] = {}
    with timed(phases, "total"):
        with timed(phases, "profile"):
            ref = build_day_profile(reference, DAY - dt.timedelta(days=1))
            cur = build_day_profile(current, DAY)
        with timed(phases, "checks"):
            report = run_checks(ref, cur, DriftConfig())
    return phases, {"reference_rows": ref.rows, "current_rows": cur.rows}, _decisions(report)


def run_evidently(rows: int) -> tuple[dict[str, float], dict[str, int], dict[str, bool]]:
    """Evidently's preset on the same tables (as pandas, which is what it takes)."""
    reference, current = _reference_table(1, rows).to_pandas(), _current_table(rows).to_pandas()
    phases: dict[str, float] = {}
    with timed(phases, "import"):
        import evidently.presets  # noqa: F401
    with timed(phases, "total"):
        decisions = evidently_decisions(reference, current)
    return (
        phases,
        {"reference_rows": len(reference), "current_rows": len(current)},
        {column: drifted for column, (_, _, drifted) in decisions.items()},
    )


def _decisions(report: Any) -> dict[str, bool]:
    """Each column's Evidently-style decision (the rows comparable with Evidently's preset)."""
    return {r.feature: r.drifted for r in report.results if r.role == "evidently"}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the drift benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--rows", type=int, required=True)
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    if args.kind == "profiles":
        phases, counts, decisions = run_profiles()
    elif args.kind == "tables":
        phases, counts, decisions = run_tables(args.rows)
    else:
        phases, counts, decisions = run_evidently(args.rows)
    write_result(args.result, args.kind, phases, counts)
    # The shared result plus this benchmark's own field: every column's drift decision.
    args.result.write_text(json.dumps({**json.loads(args.result.read_text()), "decisions": decisions}))


if __name__ == "__main__":
    main()
