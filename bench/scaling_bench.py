"""The whole night except experiments at two sizes and on one or two Dask worker processes (issue 23).

The requirement: a day of 10,000,000 traces (100 files on the local S3 server) runs the whole night except
experiments with every tracewatch process (the flow's and each worker's) under 2 GB peak RSS; its wall time is
reported against the same work at a tenth of the traces (the ratio should be close to 10); and on 2 Dask worker
processes against 1, the speed-up and where the time goes (per task, from Prefect's task runs).

Cases, each on a fresh prefix of one local S3 server holding the same generated day (`write_day`, `files`
files), each night in a fresh process (`python -m bench.scaling_bench night ...`) under a
Prefect server (`prefect_test_harness`, its start-up not timed):
- `tenth`: a tenth of the traces in a tenth of the files, threads in the flow's process;
- `threads`: all the traces, threads in the flow's process;
- `dask-1` / `dask-2`: all the traces, the nightly's tasks on a `distributed.LocalCluster` of 1 or 2
  single-threaded worker processes started by the child (`TRACEWATCH_TASK_RUNNER=dask:<address>`), whose
  peak RSS is read from each worker before the cluster closes.

The day is generated file by file (`write_day`: each 100,000-trace file is its own `generate_day` draw, seed
7 + file index), so the generator holds one file, not the day (a whole day of 10,000,000 is about 13 GB in one
frame); the tenth's files are the full day's first files. The day is generated once into a local folder under
bench/work/ (`cached_day`, kept between runs) and copied to the S3 server for each case.

Memory per stage: each night process samples its own resident set every 50 ms (and each Dask worker its own),
and each task's row gives the highest sample during its runs (`peak`) and how far it rose above the sample at its
start (`rise`), so a stage that holds the day shows even when an earlier stage left memory behind. The flow's
peak RSS is its own (VmHWM), not its children's (the Prefect test server is one).

`make bench` runs it at `--rows` (default 1,000,000, the size the machine's other benchmarks use); the issue's
size is `--only scaling --rows 10000000 --repeats 1`, or some cases alone with `python -m bench.scaling_bench
run --rows 10000000 --cases threads --out <path>`. A night process past `STOP_ABOVE_MB` is stopped and its case
reported as stopped (the memory bound failed); a night that fails otherwise leaves the bound unmeasured.
"""

from __future__ import annotations

import argparse
import datetime as dt
import importlib
import itertools
import json
import os
import statistics
import sys
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path
from typing import Any

from bench.common import REPO, VERDICT, local_s3_store, machine_info, spawn

DAY = dt.date(2026, 11, 20)
SEED = 7
TRACES_PER_FILE = 100_000
MAX_RSS_MB = 2048
STOP_ABOVE_MB = 8192
"""A night process (the flow's or a Dask worker's) past this is stopped: at 10,000,000 traces a stage that
holds the day would otherwise take the shared machine's memory; the case is reported as stopped."""
SAMPLE_EVERY_S = 0.05
SERVER_STARTUP_S = 600
TASK_RUNS_PAGE = 200
"""The Prefect test server's start-up on a loaded machine (at a load of 19 on 2 cores, 120 s was not enough)."""
STOPPED = "stopped above the benchmark's memory ceiling"
CASES: tuple[tuple[str, str, int], ...] = (
    ("tenth", "threads", 0),
    ("threads", "threads", 0),
    ("dask-1", "dask", 1),
    ("dask-2", "dask", 2),
)
"""(case, runner, Dask worker processes)."""
CASE_NAMES = tuple(name for name, _, _ in CASES)


def run_benchmark(
    *, rows: int, repeats: int, work_dir: Path, cases: tuple[str, ...] = CASE_NAMES
) -> dict[str, Any]:
    """Each of `cases` (default all) `repeats` times, interleaved; medians, peaks and the verdicts."""
    files = max(1, rows // TRACES_PER_FILE)
    runs: dict[str, list[dict[str, Any]]] = defaultdict(list)
    started = time.perf_counter()
    sizes = {"tenth": (max(1, rows // 10), max(1, files // 10)), "full": (rows, files)}
    needed = {"tenth" if case == "tenth" else "full" for case in cases}
    sources = {size: cached_day(work_dir, *sizes[size]) for size in sorted(needed)}
    generate_s = time.perf_counter() - started
    with local_s3_store(work_dir, "scaling") as local:
        for _ in range(repeats):
            for case, runner, workers in (c for c in CASES if c[0] in cases):
                source = sources["tenth" if case == "tenth" else "full"]
                target_prefix = f"run-{uuid.uuid4().hex[:10]}"
                _copy_traces(source, _sub(local.store, target_prefix))
                env = {**local.child_env, "TRACEWATCH_STORE": f"{local.store.url}/{target_prefix}"}
                args = ["--runner", runner, "--workers", str(workers)]
                try:
                    runs[case].append(spawn("bench.scaling_bench", "night", args, env, local.tmp))
                except RuntimeError as exc:  # a stopped or failed night is a result, not the end of the run
                    runs[case].append({"failed": str(exc)[-2000:]})
    summary = summarise(rows, files, repeats, runs)
    summary["generate_s"] = round(generate_s, 1)
    return summary


def cached_day(work_dir: Path, traces: int, files: int) -> Any:
    """A local folder store holding the generated day (`write_day`), kept under `work_dir` between runs: at
    10,000,000 traces generation takes minutes (22 on a loaded machine), and every case and rerun copies the
    same files to the S3 server. A folder without its `complete` marker (an interrupted run) is written again."""
    from tracewatch.store import Store

    folder = work_dir / f"scaling-day-{traces}x{files}-seed{SEED}"
    marker = folder / "complete"
    if not marker.exists():
        folder.mkdir(parents=True, exist_ok=True)
        write_day(Store(f"file://{folder}"), traces, files)
        marker.write_text(f"{traces} traces in {files} files, seed {SEED}\n")
    return Store(f"file://{folder}")


def write_day(store: Any, traces: int, files: int) -> None:
    """`traces` demo traces of `DAY` in `files` files under `store`, one file generated at a time (each its own
    draw, seed `SEED` + file index: random trace ids, so no two files share one), so the generator holds one
    file (about 130 MB for 100,000 traces), not the day."""
    from tracewatch.traces import DEFAULT_DRIFT, generate_day

    bounds = [i * traces // files for i in range(files + 1)]
    for part, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        frame = generate_day(DAY, seed=SEED + part, traces=hi - lo, day_index=1, drift=DEFAULT_DRIFT)
        store.write_parquet(f"traces/date={DAY.isoformat()}/part-{part:04d}.parquet", frame)


def _sub(store: Any, prefix: str) -> Any:
    from tracewatch.store import Store

    return Store(f"{store.url}/{prefix}", store._settings)


def _copy_traces(source: Any, target: Any) -> None:
    for info in source.list_objects("traces"):
        target.write_bytes(info.key, source.read_bytes(info.key))


def summarise(rows: int, files: int, repeats: int, runs: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    cases: dict[str, dict[str, Any]] = {}
    for case, results in runs.items():
        done = [r for r in results if "failed" not in r]
        failed = [r["failed"] for r in results if "failed" in r]
        tasks: dict[str, list[dict[str, float]]] = defaultdict(list)
        for result in done:
            for name, measured in result["tasks"].items():
                tasks[name].append(measured)
        cases[case] = {
            "wall_s": statistics.median(r["wall_s"] for r in done) if done else None,
            "flow_peak_rss_mb": max((r["peak_rss_mb"] for r in done), default=0.0),
            "worker_peak_rss_mb": max((max(r["workers_mb"], default=0.0) for r in done), default=0.0),
            "tasks": {name: _task_summary(values) for name, values in sorted(tasks.items())},
            "failed": failed,
            "runs": results,
        }
    peaks = [max(c["flow_peak_rss_mb"], c["worker_peak_rss_mb"]) for c in cases.values()]
    stopped = any(STOPPED in message for c in cases.values() for message in c["failed"])
    return {
        "rows": rows,
        "files": files,
        "repeats": repeats,
        "cases": cases,
        "peak_rss_mb": float(STOP_ABOVE_MB) if stopped else max(peaks),
        "stopped": stopped,
        "size_ratio": _ratio(cases, "threads", "tenth"),
        "speed_up": _ratio(cases, "dask-1", "dask-2"),
        "machine": machine_info(),
    }


def _ratio(cases: dict[str, dict[str, Any]], slow: str, fast: str) -> float | None:
    """Wall of `slow` over wall of `fast`; None when either did not run or did not finish."""
    walls = [cases.get(case, {}).get("wall_s") for case in (slow, fast)]
    return round(walls[0] / walls[1], 2) if walls[0] and walls[1] else None


def _task_summary(values: list[dict[str, float]]) -> dict[str, float]:
    """One task name over the repeats: median seconds, most runs, highest peaks and rises."""
    summary = {"seconds": round(statistics.median(v["seconds"] for v in values), 2)}
    for name in ("runs", "flow_peak_mb", "flow_rise_mb", "worker_peak_mb", "worker_rise_mb"):
        summary[name] = max(v.get(name, 0.0) for v in values)
    return summary


def to_markdown(summary: dict[str, Any]) -> str:
    rows, cases = summary["rows"], summary["cases"]
    labels = {
        "tenth": f"{rows // 10:,} traces, threads",
        "threads": f"{rows:,} traces, threads",
        "dask-1": f"{rows:,} traces, Dask, 1 worker process",
        "dask-2": f"{rows:,} traces, Dask, 2 worker processes",
    }
    lines = [
        "| scaling benchmark (night except experiments) | median wall (s) | flow peak RSS (MB) "
        "| worker peak RSS (MB) |",
        "|---|---:|---:|---:|",
    ]
    for case, label in labels.items():
        if case in cases:
            lines += _case_rows(label, cases[case])
    m = summary["machine"]
    ratio, speed_up = summary["size_ratio"], summary["speed_up"]
    lines += [
        "",
        f"One day in {summary['files']} Parquet files on the local S3 server (SeaweedFS), generated file by file "
        f"in {summary.get('generate_s', 0):.0f} s; median of {summary['repeats']} interleaved runs, each night "
        "in a fresh process under a Prefect server. A task's row: its seconds summed over its runs (x n), the "
        "highest resident set (MB) of the flow's process and of the workers while it ran, and how far that rose "
        "over its start (a task the flow calls directly runs in the flow's process; the per-file parts and "
        "submitted tasks on the workers). "
        f"{m['usable_cpus']} CPUs, load {m.get('load_avg_1m', '?')}, Python {m['python']}, polars {m['polars']}, "
        f"{m['date'][:10]}, commit {m['git']}.",
        "",
        f"- every process <= {MAX_RSS_MB} MB peak RSS: {_memory_verdict(summary)}",
        f"- wall time at {rows:,} against {rows // 10:,} traces: "
        + (f"{ratio}x (10x traces)" if ratio else "not measured (a case did not run or finish)"),
        "- 2 Dask worker processes against 1: "
        + (f"{speed_up}x speed-up" if speed_up else "not measured (a case did not run or finish)"),
    ]
    return "\n".join(lines) + "\n"


def _memory_verdict(summary: dict[str, Any]) -> str:
    """The bound's verdict: a stopped night fails it; a night that failed otherwise leaves it unmeasured."""
    if summary["stopped"]:
        return f"a process passed {STOP_ABOVE_MB} MB and was stopped, {VERDICT[False]}"
    if any(case["failed"] for case in summary["cases"].values()):
        return "not measured (a night failed before the end)"
    peak = summary["peak_rss_mb"]
    return f"{peak:.0f} MB, {VERDICT[peak <= MAX_RSS_MB]}"


def _case_rows(label: str, c: dict[str, Any]) -> list[str]:
    """A case's row, then one per task; a night that failed or was stopped says so."""
    if c["wall_s"] is None:
        reason = " ".join(c["failed"][-1].split())
        shown = (
            f"stopped: a process passed {STOP_ABOVE_MB} MB"
            if STOPPED in reason
            else f"failed: {reason[-300:]}"
        )
        return [f"| {label} | {shown} | | |"]
    worker = f"{c['worker_peak_rss_mb']:.0f}" if c["worker_peak_rss_mb"] else ""
    lines = [f"| {label} | {c['wall_s']:.2f} | {c['flow_peak_rss_mb']:.0f} | {worker} |"]
    for name, t in c["tasks"].items():
        runs = f" (x{t['runs']:.0f})" if t["runs"] > 1 else ""
        flow = f"peak {t['flow_peak_mb']:.0f}, rise {t['flow_rise_mb']:.0f}"
        on_workers = f"peak {t['worker_peak_mb']:.0f}, rise {t['worker_rise_mb']:.0f}" if worker else ""
        lines.append(f"| &nbsp;&nbsp;task {name}{runs} | {t['seconds']:.2f} | {flow} | {on_workers} |")
    return lines


class RssSampler:
    """This process's resident set every `SAMPLE_EVERY_S`, as (epoch seconds, MB), on a daemon thread: what
    tells which task held how much (VmHWM only gives the process's one peak)."""

    def __init__(self) -> None:
        import psutil

        self._process = psutil.Process()
        self.samples: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rss-sampler", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            rss = self._process.memory_info().rss / 2**20
            self.samples.append((time.time(), rss))
            if rss > STOP_ABOVE_MB:
                print(f"{STOPPED}: {rss:.0f} MB in process {self._process.pid}", file=sys.stderr, flush=True)
                os._exit(3)
            self._stop.wait(SAMPLE_EVERY_S)

    def stop(self) -> list[tuple[float, float]]:
        self._stop.set()
        self._thread.join()
        return self.samples


_WORKER_SAMPLER: list[RssSampler] = []
"""The sampler a Dask worker process runs (started and stopped through `Client.run`)."""


def _start_worker_sampler() -> None:
    _WORKER_SAMPLER.append(RssSampler())


def _stop_worker_sampler() -> dict[str, Any]:
    samples = _WORKER_SAMPLER.pop().stop()
    return {"samples": samples, "peak_mb": _own_peak_mb()}


def _own_peak_mb() -> float:
    """This process's own peak resident set (VmHWM), without its children's (`bench.common.peak_rss_mb`
    counts those: here the Prefect test server and the Dask workers, which are reported on their own)."""
    status = Path("/proc/self/status").read_text().splitlines()
    return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:")) / 1024


def night(runner: str, workers: int) -> dict[str, Any]:
    """One night under a Prefect server, timed; the peak RSS of the flow's process and every Dask worker; each
    task's run time and the resident set of the processes while it ran."""
    from flows.nightly import nightly
    from flows.task_runners import task_runner_for
    from prefect.testing.utilities import prefect_test_harness

    # The worker samplers by module name: this child runs as __main__, whose functions would reach a worker
    # by value, each call with its own copy of the sampler list.
    this_module = importlib.import_module("bench.scaling_bench")

    with prefect_test_harness(server_startup_timeout=SERVER_STARTUP_S):
        cluster = client = None
        if runner == "dask":
            import distributed

            cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=workers, threads_per_worker=1, processes=True, dashboard_address=None
            )
            client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
            client.run(this_module._start_worker_sampler)
            task_runner = task_runner_for(f"dask:{cluster.scheduler_address}")
        else:
            task_runner = task_runner_for("threads")
        sampler = RssSampler()
        try:
            started = time.perf_counter()
            state = nightly.with_options(task_runner=task_runner)(day=DAY, return_state=True)
            wall = time.perf_counter() - started
            flow_samples = sampler.stop()
            on_workers = (
                list(client.run(this_module._stop_worker_sampler).values()) if client is not None else []
            )
        finally:
            if client is not None:
                client.close()  # type: ignore[no-untyped-call]
            if cluster is not None:
                cluster.close()
        worker_samples = [w["samples"] for w in on_workers]
        tasks = _task_measures(state.state_details.flow_run_id, flow_samples, worker_samples)
    if not state.is_completed():
        raise RuntimeError(f"the night ended {state.name}: {state.message}")
    return {
        "wall_s": round(wall, 3),
        "workers_mb": sorted(round(w["peak_mb"], 1) for w in on_workers),
        "tasks": tasks,
        "peak_rss_mb": round(_own_peak_mb(), 1),
    }


def _task_measures(
    flow_run_id: Any, flow: list[tuple[float, float]], workers: list[list[tuple[float, float]]]
) -> dict[str, dict[str, float]]:
    """Per task name (summed over its runs): seconds, runs, and for the flow's process and the workers: the
    highest RSS sample while a run of it ran, and the largest rise over the last sample before it started."""
    from prefect import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterId

    task_runs: list[Any] = []
    with get_client(sync_client=True) as client:
        while True:  # pages of the server's maximum (200): a night of 100 files has more task runs
            page = client.read_task_runs(
                flow_run_filter=FlowRunFilter(id=FlowRunFilterId(any_=[flow_run_id])),
                limit=TASK_RUNS_PAGE,
                offset=len(task_runs),
            )
            task_runs += page
            if len(page) < TASK_RUNS_PAGE:
                break
    totals: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for run in task_runs:
        measured = totals[run.name.rsplit("-", 1)[0]]
        measured["seconds"] += run.total_run_time.total_seconds()
        measured["runs"] += 1
        if run.start_time is None or run.end_time is None:
            continue
        begin, end = run.start_time.timestamp(), run.end_time.timestamp()
        for where, processes in (("flow", [flow]), ("worker", workers)):
            for samples in processes:
                before = [mb for at, mb in samples if at <= begin]
                during = [mb for at, mb in samples if begin <= at <= end] or before[-1:]
                if during:
                    rise = max(during) - (before[-1] if before else during[0])
                    measured[f"{where}_peak_mb"] = max(measured[f"{where}_peak_mb"], round(max(during), 1))
                    measured[f"{where}_rise_mb"] = max(measured[f"{where}_rise_mb"], round(rise, 1))
    return {name: {**m, "seconds": round(m["seconds"], 3)} for name, m in totals.items()}


def main(argv: list[str] | None = None) -> None:
    """`night`: one night (the child of a case). `run`: the benchmark for some cases, written to `--out`.json
    and .md (e.g. the issue's size alone: `run --rows 10000000 --cases tenth threads --out
    bench/results/scaling_10m`); `python -m bench.run --only scaling` runs every case and publishes."""
    parser = argparse.ArgumentParser(description="The scaling benchmark, or one night of it.")
    parser.add_argument("kind", choices=["night", "run"])
    parser.add_argument("--result", type=Path, help="night: where its JSON goes")
    parser.add_argument("--runner", choices=["threads", "dask"], default="threads")
    parser.add_argument("--workers", type=int, default=0)
    parser.add_argument("--rows", type=int, default=1_000_000, help="run: traces in the day")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--cases", nargs="+", choices=CASE_NAMES, default=list(CASE_NAMES))
    parser.add_argument("--out", type=Path, help="run: the results' path without suffix")
    args = parser.parse_args(argv)
    if args.kind == "night":
        if args.result is None:
            parser.error("night needs --result")
        args.result.write_text(json.dumps(night(args.runner, args.workers)))
        return
    if args.out is None:
        parser.error("run needs --out")
    started = time.perf_counter()
    summary = run_benchmark(
        rows=args.rows, repeats=args.repeats, work_dir=REPO / "bench" / "work", cases=tuple(args.cases)
    )
    summary["bench_wall_s"] = round(time.perf_counter() - started, 1)
    args.out.with_suffix(".json").write_text(json.dumps(summary, indent=2) + "\n")
    args.out.with_suffix(".md").write_text(to_markdown(summary))
    print(to_markdown(summary))


if __name__ == "__main__":
    main()
