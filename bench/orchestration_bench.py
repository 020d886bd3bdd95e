"""The nightly flow under Prefect against the same stage functions called directly, on the same data.

The requirement (issue 7): the nightly flow under a Prefect server takes at most 1.25x the time of the same
stage functions called directly in sequence, plus 15 s.

The data: `DAYS` demo days (`write_demo_traces`, seed 7, with its planted bad file and rows, PII and drift
from day 2) in a local folder store (file://), and a small experiment: 2 configs of the local test model
server (`devtools.model_server`, echo answers after a fixed 5 ms) over each night's new
dataset items (the shipped nightly dataset spec: at most 24 items a night, so at most 48 calls a night).

Both sides process the nights oldest first, each from a fresh copy of the traces (nothing ingested yet):
- direct: per night, what the nightly flow's tasks call, in the flow's order, with the flow's settings:
  ingest, the monitoring reports of every touched date, the dataset sample and its reports, the experiment
  on the night's version (launch, run, finish, leaderboard), the Data Docs, the night's summary;
- prefect: the `nightly` flow for each night, under a Prefect server (`prefect_test_harness`, SQLite).
  The server's start-up is not counted; everything the flows do (task and flow runs, subflow, state and
  log traffic, artifacts) is.

Each repetition of each side runs in a fresh Python process (`python -m bench.orchestration_bench <kind>`),
so nothing warm carries over. Every import happens before the clock starts, on both sides: tracewatch, the
flows and prefect, and also Great Expectations (which the Data Docs step imports lazily) and litellm, because
the Prefect side's server start-up imports much of what they import (pandas, sqlalchemy, jinja2...) and would
otherwise pay less for them than the direct side: 10-20 s on this machine, more than the whole difference
being measured. Their import time is reported (`imports`), outside the ratio. Sides are interleaved.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.common import QUIET_ENV, VERDICT, machine_info, median_phase, spawn, timed, write_result

if TYPE_CHECKING:
    from tracewatch.store import Store

log = logging.getLogger(__name__)

START = dt.date(2026, 10, 1)
DAYS = 3
TRACES_PER_DAY = 2000
MAX_RATIO = 1.25
ALLOWANCE_S = 15.0
KINDS = ("direct", "prefect")
MODEL_LATENCY_MS = 5.0
# The direct side's phases, in the flow's order.
PHASES: tuple[tuple[str, str], ...] = (
    ("ingest", "ingest + validate + quarantine"),
    ("monitoring", "monitoring reports"),
    ("dataset", "dataset sample + reports"),
    ("experiment", "experiment (2 configs, test model server) + leaderboard + scores"),
    ("trace_scoring", "production-trace scoring"),
    ("drift", "drift and quality trends"),
    ("data_docs", "GX Data Docs"),
)


def echo_experiment(base_url: str) -> dict[str, Any]:
    """Two configs on the test model server."""
    return {
        "name": "bench-echo",
        "defaults": {
            "model": "openai/tracewatch-echo",
            "api_base": base_url,
            "prompt": "{input}",
            "timeout_s": 10,
            "cost_per_1k_input": 0.001,
            "cost_per_1k_output": 0.002,
        },
        "configs": [
            {"name": "cold", "baseline": True, "params": {"temperature": 0.0}},
            {"name": "warm", "params": {"temperature": 0.5}},
        ],
    }


# ---- the parent: set up, spawn, summarise ------------------------------------------------------------------


def run_benchmark(*, repeats: int, work_dir: Path, days: int = DAYS) -> dict[str, Any]:
    """Write the demo days once, start the test model server, run both sides `repeats` times; the summary."""
    import os

    from devtools.model_server import Latency, start_model_server, stop_model_server
    from tracewatch.store import Store
    from tracewatch.traces import DriftSpec, write_demo_traces

    work_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="orchestration-", dir=work_dir) as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        write_demo_traces(
            Store(f"file://{tmp / 'template'}"),
            start=START,
            days=days,
            traces_per_day=TRACES_PER_DAY,
            seed=7,
            drift=DriftSpec(from_day=2),
        )
        setup_s = time.perf_counter() - started
        server = start_model_server(latency=Latency.fixed(MODEL_LATENCY_MS))
        runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
        try:
            for repetition in range(1, repeats + 1):
                for kind in KINDS:
                    store_dir = tmp / f"{kind}-{repetition}"
                    shutil.copytree(tmp / "template", store_dir)
                    env = {**os.environ, **QUIET_ENV, "TRACEWATCH_STORE": f"file://{store_dir}"}
                    env.pop("TRACEWATCH_NIGHTLY_EXPERIMENTS", None)
                    args = ["--start", START.isoformat(), "--days", str(days), "--model-url", server.base_url]
                    run = spawn("bench.orchestration_bench", kind, args, env, tmp)
                    runs[kind].append(run)
                    shutil.rmtree(store_dir)
                    log.info(
                        "repetition %d/%d %-8s %6.1f s (%s)",
                        repetition,
                        repeats,
                        kind,
                        run["phases"]["total"],
                        run["counts"],
                    )
        finally:
            stop_model_server(server)
    _check_same_work(runs)
    return summarise(runs, days=days, repeats=repeats, setup_s=setup_s)


def _check_same_work(runs: dict[str, list[dict[str, Any]]]) -> None:
    """Both sides must have done the same work: the same rows, reports, items and experiment answers."""
    seen = {kind: {tuple(sorted(r["counts"].items())) for r in runs[kind]} for kind in KINDS}
    if len(seen["direct"] | seen["prefect"]) != 1:
        raise RuntimeError(f"the two sides did different work: {seen}")


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, days: int, repeats: int, setup_s: float
) -> dict[str, Any]:
    direct = median_phase(runs["direct"], "total")
    prefect = median_phase(runs["prefect"], "total")
    limit = MAX_RATIO * direct + ALLOWANCE_S
    return {
        "benchmark": "orchestration",
        "days": days,
        "traces_per_day": TRACES_PER_DAY,
        "repeats": repeats,
        "setup_s": round(setup_s, 3),
        "counts": runs["direct"][0]["counts"],
        "medians_s": {
            "direct": round(direct, 3),
            "prefect": round(prefect, 3),
            **{phase: round(median_phase(runs["direct"], phase), 3) for phase, _ in PHASES},
            "harness_start": round(median_phase(runs["prefect"], "harness_start"), 3),
            **{f"imports_{kind}": round(median_phase(runs[kind], "imports"), 3) for kind in KINDS},
        },
        "ratio": round(prefect / direct, 3),
        "overhead_s": round(prefect - direct, 3),
        "limit_s": round(limit, 3),
        "targets": {"max_ratio": MAX_RATIO, "allowance_s": ALLOWANCE_S},
        "passed": {"prefect_within_limit": prefect <= limit},
        "machine": machine_info(),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    med, counts = summary["medians_s"], summary["counts"]
    direct = med["direct"]
    lines = [
        "| orchestration benchmark | median wall (s) | x direct |",
        "|---|---:|---:|",
        f"| direct: the stage functions in sequence | {direct:.2f} | 1.00 |",
        *(
            f"| &nbsp;&nbsp;{label} | {med[phase]:.2f} | {med[phase] / direct:.2f} |"
            for phase, label in PHASES
        ),
        f"| **prefect: the nightly flow under a Prefect server** | **{med['prefect']:.2f}** "
        f"| **{summary['ratio']:.2f}** |",
        f"| &nbsp;&nbsp;not counted: starting the server (prefect_test_harness) | {med['harness_start']:.2f} | |",
        f"| not counted: importing great_expectations + litellm, direct / prefect (after the server) "
        f"| {med['imports_direct']:.2f} / {med['imports_prefect']:.2f} | |",
    ]
    m = summary["machine"]
    lines += [
        "",
        f"{summary['days']} demo nights of {summary['traces_per_day']:,} traces (plus the planted bad input) in a "
        f"local folder store; each night ingests ({counts['rows_accepted']:,} rows accepted and "
        f"{counts['rows_quarantined']} quarantined in all), publishes {counts['partitions']} report partitions "
        f"in all, samples {counts['items']} dataset items in all and runs a 2-config experiment over each "
        f"night's version on the local test model server ({MODEL_LATENCY_MS:.0f} ms an answer; "
        f"{counts['answers_ok']} answers in all). Median of {summary['repeats']} interleaved runs per side, "
        f"each in a fresh process. {m['nproc']} CPUs, Python {m['python']}, {m['date'][:10]}, commit {m['git']}.",
        "",
        f"- prefect <= {MAX_RATIO}x direct + {ALLOWANCE_S:.0f} s = {summary['limit_s']:.1f} s: "
        f"{med['prefect']:.1f} s ({summary['overhead_s']:+.1f} s, {summary['ratio']:.2f}x), "
        f"{VERDICT[summary['passed']['prefect_within_limit']]}",
    ]
    return "\n".join(lines) + "\n"


# ---- the child: one repetition of one side -----------------------------------------------------------------


def import_lazy_dependencies(phases: dict[str, float]) -> None:
    """Import what the stages import lazily, before the clock starts (see the module docstring)."""
    with timed(phases, "imports"):
        import great_expectations  # noqa: F401
        import litellm  # noqa: F401


def run_direct(days: list[dt.date], model_url: str) -> tuple[dict[str, float], dict[str, int]]:
    """What the nightly flow's tasks call, night by night, without Prefect."""
    from tracewatch.datasets import load_dataset_spec, sample_dataset_items
    from tracewatch.drift.night import detect_drift
    from tracewatch.experiments import load_experiment
    from tracewatch.ingest import ingest_new_traces
    from tracewatch.ingest.data_docs import publish_data_docs
    from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
    from tracewatch.scoring.stage import load_trace_scoring, score_experiment_answers, score_production_traces
    from tracewatch.scoring.trace_scores import score_history
    from tracewatch.settings import Settings
    from tracewatch.store import open_store
    from tracewatch.summaries import NightLinks, experiment_leaderboard, night_summary_markdown

    phases: dict[str, float] = {}
    import_lazy_dependencies(phases)
    partitions = 0
    with timed(phases, "total"):
        store = open_store(Settings())
        store.check()
        for day in days:
            with timed(phases, "ingest"):
                result = ingest_new_traces(store, up_to=day, reprocess=(), reducer=METRIC_REDUCER)
            touched = sorted({*result.dates_touched, day})
            published = []
            with timed(phases, "monitoring"):
                for date in touched:
                    parts = result.parts.pop(date, None)
                    published += build_monitoring_reports(store, date, run_id=result.run_id, parts=parts)
            with timed(phases, "dataset"):
                build, reports = sample_dataset_items(store, load_dataset_spec(), day, run_id=result.run_id)
            published += reports
            with timed(phases, "experiment"):
                version = build.manifest.version if build.manifest else None
                record = run_experiment_directly(store, model_url, build.dataset, version)
                experiment_leaderboard(store, record)
                experiment = load_experiment(echo_experiment(model_url))
                # Published under the experiment (its own artifacts list them), not in the night's list.
                asyncio.run(
                    score_experiment_answers(
                        store, record.experiment_id, experiment, day, run_id=result.run_id
                    )
                )
            for date in touched:
                with timed(phases, "trace_scoring"):
                    spec = load_trace_scoring(Settings().trace_scoring)
                    traces_scored = asyncio.run(
                        score_production_traces(store, date, spec, run_id=result.run_id)
                    )
                    published += traces_scored.published
                with timed(phases, "drift"):
                    history = score_history(store, date - dt.timedelta(days=28), date)
                    drifted = detect_drift(store, date, run_id=result.run_id, scores=history)
                    published += drifted.published
            with timed(phases, "data_docs"):
                docs = {date: publish_data_docs(store, date, run_id=result.run_id) for date in touched}
            night_summary_markdown(
                day,
                result,
                published,
                new_items=build.message,
                experiments=[record.experiment_id],
                links=NightLinks({p.key: store.uri(p.key) for p in published}, docs),
            )
            partitions += len(published)
    return phases, store_counts(store, days, partitions)


def run_experiment_directly(store: Store, model_url: str, dataset: str, version: int | None) -> Any:
    """What the experiment flow does, with its settings: launch, run every chunk, finish; the record."""
    from tracewatch.experiments import RunnerSettings, experiment_runtime, launch, run_experiment
    from tracewatch.llm import RetryPolicy

    ready = launch(store, echo_experiment(model_url), dataset, version)
    settings = RunnerSettings(retry=RetryPolicy(max_attempts=8), chunk_size=50, parallel_chunks=4)

    async def run() -> Any:
        runtime = experiment_runtime(store, ready.experiment)
        try:
            return await run_experiment(
                store,
                ready.spec,
                ready.experiment.configs,
                ready.source.items,
                runtime=runtime,
                settings=settings,
            )
        finally:
            await runtime.aclose()

    return asyncio.run(run()).record


def run_prefect(days: list[dt.date], model_url: str) -> tuple[dict[str, float], dict[str, int]]:
    """The nightly flow for each night under a temporary Prefect server (its start-up not counted)."""
    import os

    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    from flows.nightly import nightly
    from flows.params import ExperimentChoice
    from prefect.testing.utilities import prefect_test_harness

    from tracewatch.settings import Settings
    from tracewatch.store import open_store

    phases: dict[str, float] = {}
    choice = ExperimentChoice.model_validate(echo_experiment(model_url))
    started = time.perf_counter()
    with prefect_test_harness(server_startup_timeout=180):
        phases["harness_start"] = time.perf_counter() - started
        import_lazy_dependencies(phases)
        with timed(phases, "total"):
            published = [p for day in days for p in nightly(day=day, experiments=[choice])]
    return phases, store_counts(open_store(Settings()), days, len(published))


def store_counts(store: Store, days: list[dt.date], partitions: int) -> dict[str, int]:
    """What a side did, read back from the store after the clock stopped: rows accepted and quarantined,
    report partitions published, dataset items sampled, experiment answers."""
    import polars as pl

    from tracewatch.datasets.versions import list_versions
    from tracewatch.experiments import list_records
    from tracewatch.reports.writer import partition_key

    ingest = pl.concat(store.read_parquet(partition_key("ingest_daily", day)) for day in days)
    return {
        "rows_accepted": int(ingest["rows_accepted"].sum()),
        "rows_quarantined": int(ingest["rows_quarantined"].sum()),
        "partitions": partitions,
        "items": sum(v.added_count for v in list_versions(store, "production-samples")),
        "answers_ok": sum(r.counts["ok"] for r in list_records(store)),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the orchestration benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--start", type=dt.date.fromisoformat, required=True)
    parser.add_argument("--days", type=int, required=True)
    parser.add_argument("--model-url", required=True)
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    args = parser.parse_args(argv)
    days = [args.start + dt.timedelta(days=i) for i in range(args.days)]
    run = run_direct if args.kind == "direct" else run_prefect
    phases, counts = run(days, args.model_url)
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()
