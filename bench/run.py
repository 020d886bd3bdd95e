"""Run the benchmarks and publish their results: `python -m bench.run [--only NAME ...] [--repeats N] [--rows N]
[--items N] [--calls N] [--seeds N] [--spans N]`
(`make bench` runs them all).

Each benchmark writes bench/results/<name>.json (every raw timing, the medians, ratio, peak RSS and the machine)
and bench/results/<name>.md (its table), puts the table between its markers in docs/benchmarks.md and rebuilds
the README's one-line summaries (bench/publish.py). A new benchmark is one more `Benchmark` in `BENCHMARKS`: a
module with `run_benchmark` and `to_markdown`, and a section with its marker pair in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import (
    alerts_bench,
    alerts_sustained,
    dashboard_bench,
    datasets_bench,
    demo_alerts_bench,
    drift_bench,
    experiments_bench,
    feedback_bench,
    import_bench,
    ingest_bench,
    orchestration_bench,
    scaling_bench,
    scoring_bench,
)
from bench.common import REPO
from bench.publish import Entry, publish

RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / "work"  # git-ignored: the S3 server's data while a run lasts
README = REPO / "README.md"
DOC = REPO / "docs" / "benchmarks.md"

log = logging.getLogger("bench")


@dataclass(frozen=True)
class Benchmark:
    """One benchmark: `run(args, work_dir)` returns its summary, `to_markdown` its table, which goes between
    `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in docs/benchmarks.md; `title` is what the
    README's summary line says it measures."""

    name: str
    title: str
    run: Callable[[argparse.Namespace, Path], dict[str, Any]]
    to_markdown: Callable[[dict[str, Any]], str]

    @property
    def entry(self) -> Entry:
        return Entry(self.name, self.title)


BENCHMARKS: tuple[Benchmark, ...] = (
    Benchmark(
        "ingest",
        "ingest, validation and monitoring reports of a day of traces, against a polars scan + group-by",
        lambda args, work: ingest_bench.run_benchmark(rows=args.rows, repeats=args.repeats, work_dir=work),
        ingest_bench.to_markdown,
    ),
    Benchmark(
        "datasets",
        "the nightly dataset sample of a day of traces against a large version, against a polars scan of what it reads",
        lambda args, work: datasets_bench.run_benchmark(
            rows=args.rows, items=args.items, repeats=args.repeats, work_dir=work
        ),
        datasets_bench.to_markdown,
    ),
    Benchmark(
        "experiments",
        "concurrent chat calls through the experiment runner, against a bare openai client",
        lambda args, work: experiments_bench.run_benchmark(
            calls=args.calls, repeats=args.repeats, work_dir=work
        ),
        experiments_bench.to_markdown,
    ),
    Benchmark(
        "scoring",
        "every heuristic metric over a large set of experiment items",
        lambda args, work: scoring_bench.run_benchmark(items=args.items, repeats=args.repeats, work_dir=work),
        scoring_bench.to_markdown,
    ),
    Benchmark(
        "drift",
        "a night's drift tests from stored daily profiles, against Evidently's preset on the same tables",
        lambda args, work: drift_bench.run_benchmark(rows=args.rows, repeats=args.repeats, work_dir=work),
        drift_bench.to_markdown,
    ),
    Benchmark(
        "alerts",
        "false alarms per no-drift night and the share of small drifts detected, against Evidently",
        lambda args, work: alerts_bench.run_benchmark(seeds=args.seeds, work_dir=work),
        alerts_bench.to_markdown,
    ),
    Benchmark(
        "alerts_sustained",
        "nights to detection of small shifts that last, and false alarms with the sustained test in the family",
        lambda args, work: alerts_sustained.run_benchmark(seeds=args.seeds, work_dir=work),
        alerts_sustained.to_markdown,
    ),
    Benchmark(
        "demo_alerts",
        "the demo generator's 14 days: no alert on quiet days, alerts from day 10",
        lambda args, work: demo_alerts_bench.run_benchmark(),
        demo_alerts_bench.to_markdown,
    ),
    Benchmark(
        "orchestration",
        "the nightly flow under a Prefect server, against its stage functions called directly",
        lambda args, work: orchestration_bench.run_benchmark(repeats=args.repeats, work_dir=work),
        orchestration_bench.to_markdown,
    ),
    Benchmark(
        "import",
        "OTLP spans imported from gzipped JSON and protobuf objects, against reading and parsing them alone",
        lambda args, work: import_bench.run_benchmark(spans=args.spans, repeats=args.repeats, work_dir=work),
        import_bench.to_markdown,
    ),
    Benchmark(
        "feedback",
        "late feedback events (--rows of them) attached to traces over 30 days, against a bare polars join",
        lambda args, work: feedback_bench.run_benchmark(
            events=args.rows, repeats=args.repeats, work_dir=work
        ),
        feedback_bench.to_markdown,
    ),
    Benchmark(
        "dashboard",
        "the static dashboard built for 90 days of demo-sized reports, and its first render in chromium",
        lambda args, work: dashboard_bench.run_benchmark(repeats=args.repeats, work_dir=work),
        dashboard_bench.to_markdown,
    ),
    Benchmark(
        "scaling",
        "the night except experiments at a tenth and all of --rows traces, on threads and on 1 and 2 Dask workers",
        lambda args, work: scaling_bench.run_benchmark(rows=args.rows, repeats=args.repeats, work_dir=work),
        scaling_bench.to_markdown,
    ),
)


def main(argv: list[str] | None = None) -> None:
    names = [b.name for b in BENCHMARKS]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--only", nargs="+", choices=names, default=names, help="benchmarks to run (all)")
    parser.add_argument("--repeats", type=int, default=5, help="runs per side; medians are reported")
    parser.add_argument("--rows", type=int, default=1_000_000, help="traces in the day (10 files)")
    parser.add_argument(
        "--items", type=int, default=100_000, help="items in the dataset (datasets) or scored (scoring)"
    )
    parser.add_argument("--calls", type=int, default=2000, help="model calls per run (experiments bench)")
    parser.add_argument(
        "--seeds",
        type=int,
        default=alerts_bench.DEFAULT_SEEDS,
        help="independent no-drift day sequences per size (alerts bench; fewer for a quick run)",
    )
    parser.add_argument(
        "--spans", type=int, default=1_000_000, help="OTLP spans imported, a multiple of 5 (import bench)"
    )
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rows < 10 or args.items < 1 or args.calls < 1 or args.seeds < 1:
        parser.error("--repeats, --items, --calls and --seeds must be >= 1 and --rows >= 10")
    if args.spans < 5 or args.spans % 5:
        parser.error("--spans must be a positive multiple of 5 (traces of 5 spans)")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")
    for benchmark in BENCHMARKS:
        if benchmark.name in args.only:
            run(benchmark, args)


def run(benchmark: Benchmark, args: argparse.Namespace) -> None:
    """Run one benchmark and publish its results."""
    started = time.perf_counter()
    summary = benchmark.run(args, WORK)
    summary["bench_wall_s"] = round(time.perf_counter() - started, 1)
    table = benchmark.to_markdown(summary)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{benchmark.name}.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / f"{benchmark.name}.md").write_text(table)
    entries = tuple(b.entry for b in BENCHMARKS)
    for note in publish(
        table, benchmark.entry, entries, doc=DOC, readme=README, fallback=f"bench/results/{benchmark.name}.md"
    ):
        print(f"note: {note}")
    print(table)
    log.info(
        "%s done in %.0f s; results in %s", benchmark.name, summary["bench_wall_s"], RESULTS.relative_to(REPO)
    )


if __name__ == "__main__":
    main()
