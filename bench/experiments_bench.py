"""The experiment runner against a bare OpenAI client, on the local test model server.

The requirements, for 2,000 calls at concurrency 64 against a server that answers in 100 ms:
- throughput: the runner (real `LiteLLMClient`, response cache on, rows flushed to the store) reaches at least
  0.85x the throughput of a bare `openai.AsyncOpenAI` + `asyncio.gather` client measured in the same run;
- warm cache: a rerun over the same items (a new experiment id, the cache written by the cold run, read back by
  a fresh process) makes zero HTTP calls and is at least 20x faster than the cold run;
- rate limits: with 20% of requests answered 429 (with a Retry-After), the runner keeps at least 0.6x of its
  fault-free throughput, and every item ends `ok`.

A fifth side, the runner with the response cache off, is reported for reference: it separates the runner's own
overhead from the cost of the response cache.

Every repetition of every side runs in a fresh Python process (`python -m bench.experiments_bench <kind> ...`),
so no connection pool, import or in-memory cache carries over; the parent starts one model server, resets its
stats before each child and records what the server saw. Sides are interleaved so load on the machine hits
them alike. Wall times are measured inside the child around the work only: interpreter start-up and imports
(litellm takes seconds) are left out of every side.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench.common import QUIET_ENV, VERDICT, machine_info, median_phase, spawn, timed, write_result

log = logging.getLogger(__name__)

MODEL = "tracewatch-echo"
TEMPERATURE = 0.0
KINDS = ("baseline", "cold", "warm", "faults", "nocache")
MIN_THROUGHPUT_RATIO = 0.85
MIN_WARM_SPEEDUP = 20.0
MIN_FAULT_RATIO = 0.6
FAULT_RATE = 0.2
RETRY_AFTER_S = 0.1
"""The Retry-After of the injected 429s: one round trip of this server. Each refused request waits it out before
its retry; being shorter than a typical call, it does not pause the whole provider (a longer one would, and with
429s scattered at random over every window of calls that would idle the run whatever the client does). See
docs/experiments.md, "Rate limits"."""


# ---- the parent: one server, interleaved children, the summary -----------------------------------------------


def run_benchmark(
    *,
    calls: int = 2000,
    concurrency: int = 64,
    latency_ms: float = 100.0,
    repeats: int = 3,
    work_dir: Path,
) -> dict[str, Any]:
    """Start the model server, run every side `repeats` times (interleaved, fresh processes); the summary."""
    from devtools.model_server import Faults, Latency, start_model_server, stop_model_server

    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    runs: dict[str, list[dict[str, Any]]] = {kind: [] for kind in KINDS}
    server = start_model_server(latency=Latency.fixed(latency_ms))
    try:
        with tempfile.TemporaryDirectory(prefix="experiments-", dir=work_dir) as tmp:
            env = {**os.environ, **QUIET_ENV}
            for repetition in range(1, repeats + 1):
                stores = {
                    "cache": f"file://{tmp}/rep{repetition}/cold",
                    "faults": f"file://{tmp}/rep{repetition}/faults",
                }
                plan = [
                    ("baseline", stores["cache"], Faults()),
                    ("cold", stores["cache"], Faults()),
                    ("warm", stores["cache"], Faults()),
                    (
                        "faults",
                        stores["faults"],
                        Faults(rates={"429": FAULT_RATE}, retry_after_s=RETRY_AFTER_S),
                    ),
                    ("nocache", stores["faults"], Faults()),
                ]
                for kind, store_url, faults in plan:
                    server.configure(faults=faults)
                    server.reset()
                    args = ["--server", server.base_url, "--store", store_url]
                    args += ["--calls", str(calls), "--concurrency", str(concurrency)]
                    run = spawn("bench.experiments_bench", kind, args, env, Path(tmp))
                    stats = server.stats()
                    run["server"] = {
                        "requests": stats.requests,
                        "by_status": {str(k): v for k, v in stats.by_status.items()},
                        "max_in_flight": stats.max_in_flight,
                    }
                    _check(kind, run, calls)
                    runs[kind].append(run)
                    wall = run["phases"]["total"]
                    log.info(
                        "repetition %d/%d %-8s %6.2f s  %7.1f items/s  %5d HTTP requests",
                        repetition,
                        repeats,
                        kind,
                        wall,
                        calls / wall,
                        stats.requests,
                    )
    finally:
        stop_model_server(server)
    return summarise(runs, calls=calls, concurrency=concurrency, latency_ms=latency_ms, repeats=repeats)


def _check(kind: str, run: dict[str, Any], calls: int) -> None:
    """A fast run that skipped work is no result: every item must have been answered."""
    if run["counts"]["ok"] != calls:
        raise RuntimeError(f"the {kind} run answered {run['counts']['ok']} of {calls} items: {run}")
    if kind == "warm" and run["server"]["requests"] != 0:
        raise RuntimeError(f"the warm-cache run made {run['server']['requests']} HTTP requests, expected 0")


def summarise(
    runs: dict[str, list[dict[str, Any]]], *, calls: int, concurrency: int, latency_ms: float, repeats: int
) -> dict[str, Any]:
    """Median wall time per side, the three ratios of medians, and the verdicts."""
    median = {kind: median_phase(runs[kind], "total") for kind in KINDS}
    cpu_ms = {kind: 1000 * median_phase(runs[kind], "cpu") / calls for kind in KINDS}
    throughput = {kind: calls / median[kind] for kind in KINDS}
    ratios = {
        "throughput": throughput["cold"] / throughput["baseline"],
        "throughput_without_cache": throughput["nocache"] / throughput["baseline"],
        "warm_speedup": median["cold"] / median["warm"],
        "faults": throughput["faults"] / throughput["cold"],
    }
    warm_requests = max(r["server"]["requests"] for r in runs["warm"])
    fault_requests = [r["server"]["requests"] for r in runs["faults"]]
    return {
        "benchmark": "experiments",
        "calls": calls,
        "concurrency": concurrency,
        "latency_ms": latency_ms,
        "fault_rate": FAULT_RATE,
        "retry_after_s": RETRY_AFTER_S,
        "repeats": repeats,
        "medians_s": {kind: round(value, 3) for kind, value in median.items()},
        "throughput_per_s": {kind: round(value, 1) for kind, value in throughput.items()},
        "cpu_ms_per_call": {kind: round(value, 3) for kind, value in cpu_ms.items()},
        "ratios": {name: round(value, 3) for name, value in ratios.items()},
        "warm_http_requests": warm_requests,
        "fault_http_requests_median": statistics.median(fault_requests),
        "targets": {
            "min_throughput_ratio": MIN_THROUGHPUT_RATIO,
            "min_warm_speedup": MIN_WARM_SPEEDUP,
            "min_fault_ratio": MIN_FAULT_RATIO,
        },
        "passed": {
            "throughput": ratios["throughput"] >= MIN_THROUGHPUT_RATIO,
            "warm_cache": ratios["warm_speedup"] >= MIN_WARM_SPEEDUP and warm_requests == 0,
            "faults": ratios["faults"] >= MIN_FAULT_RATIO,
        },
        "machine": machine_info(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
        "runs": runs,
    }


def to_markdown(summary: dict[str, Any]) -> str:
    """The docs/benchmarks.md table: median wall time and throughput per side, the ratios and the verdicts."""
    med, tput, ratio, ok = (
        summary["medians_s"],
        summary["throughput_per_s"],
        summary["ratios"],
        summary["passed"],
    )
    fault = f"{summary['fault_rate']:.0%} answered 429 (Retry-After {summary['retry_after_s']:g} s)"
    cpu = summary["cpu_ms_per_call"]
    lines = [
        "| experiments benchmark | median wall (s) | items/s | ratio | client CPU ms/call |",
        "|---|---:|---:|---:|---:|",
        f"| baseline: bare openai.AsyncOpenAI + asyncio.gather | {med['baseline']:.2f} "
        f"| {tput['baseline']:.0f} | 1.00 | {cpu['baseline']:.2f} |",
        f"| **tracewatch runner, cold cache** | **{med['cold']:.2f}** | **{tput['cold']:.0f}** "
        f"| **{ratio['throughput']:.2f}** x baseline | {cpu['cold']:.2f} |",
        f"| tracewatch runner, warm cache (new process) | {med['warm']:.3f} | {tput['warm']:.0f} "
        f"| {ratio['warm_speedup']:.0f}x faster than cold | {cpu['warm']:.2f} |",
        f"| tracewatch runner, {fault} | {med['faults']:.2f} | {tput['faults']:.0f} "
        f"| {ratio['faults']:.2f} x fault-free | {cpu['faults']:.2f} |",
        f"| for reference: tracewatch runner, response cache off | {med['nocache']:.2f} | {tput['nocache']:.0f} "
        f"| {ratio['throughput_without_cache']:.2f} x baseline | {cpu['nocache']:.2f} |",
    ]
    m = summary["machine"]
    lines += [
        "",
        f"{summary['calls']:,} chat calls at concurrency {summary['concurrency']} against the local test model "
        f"server ({summary['latency_ms']:.0f} ms per answer); median of {summary['repeats']} interleaved runs, each "
        f"in a fresh process; the runner uses the real LiteLLMClient, the response cache and a local-folder store. "
        f"The warm run made {summary['warm_http_requests']} HTTP requests; the 429 run made a median of "
        f"{summary['fault_http_requests_median']:.0f}. {m['nproc']} CPUs (load {summary['load_avg_1m']} at the "
        f"end), Python {m['python']}, {m['date'][:10]}, commit {m['git']}.",
        "",
        f"- throughput >= {MIN_THROUGHPUT_RATIO}x bare client: {ratio['throughput']:.2f}x, {VERDICT[ok['throughput']]}",
        f"- warm cache: 0 HTTP calls and >= {MIN_WARM_SPEEDUP:.0f}x faster: {summary['warm_http_requests']} calls, "
        f"{ratio['warm_speedup']:.0f}x, {VERDICT[ok['warm_cache']]}",
        f"- {fault}: >= {MIN_FAULT_RATIO}x fault-free throughput, no item lost: {ratio['faults']:.2f}x, "
        f"{VERDICT[ok['faults']]}",
    ]
    return "\n".join(lines) + "\n"


# ---- the children: one repetition of one side ------------------------------------------------------------------


@contextmanager
def cpu_timed(phases: dict[str, float]) -> Iterator[None]:
    """CPU seconds of this process (all threads, user + system) spent in the block, as phase `cpu`: less
    sensitive than wall time to other work on a shared machine, and it shows where the overhead is."""
    started = time.process_time()
    try:
        yield
    finally:
        phases["cpu"] = time.process_time() - started


def bench_items(n: int) -> Any:
    import polars as pl

    from tracewatch.datasets.schema import ITEM_SCHEMA

    rows = [
        {
            "item_id": f"itm_{i:06d}",
            "input_text": f"benchmark question {i}: what is {i} times three?",
            "expected_output": None,
            "source_trace_id": None,
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema={c: ITEM_SCHEMA[c] for c in rows[0]})


async def run_baseline(
    server_url: str, calls: int, concurrency: int
) -> tuple[dict[str, float], dict[str, int]]:
    """What a person would write: one AsyncOpenAI client, a semaphore, asyncio.gather."""
    import openai

    prompts = bench_items(calls).get_column("input_text").to_list()
    gate = asyncio.Semaphore(concurrency)
    phases: dict[str, float] = {}
    async with openai.AsyncOpenAI(base_url=server_url, api_key="unused", max_retries=0) as api:

        async def one(prompt: str) -> str | None:
            async with gate:
                reply = await api.chat.completions.create(
                    model=MODEL, messages=[{"role": "user", "content": prompt}], temperature=TEMPERATURE
                )
                return reply.choices[0].message.content

        with timed(phases, "total"), cpu_timed(phases):
            answers = await asyncio.gather(*(one(p) for p in prompts))
    return phases, {"ok": sum(1 for a in answers if a)}


async def run_tracewatch(
    kind: str, server_url: str, store_url: str, calls: int, concurrency: int
) -> tuple[dict[str, float], dict[str, int]]:
    """The runner as the nightly flow uses it: LiteLLMClient, response cache, rows flushed to the store."""
    from tracewatch.experiments import ExperimentConfig, ExperimentSpec, RunnerSettings, run_experiment
    from tracewatch.llm import LimitSettings, LiteLLMClient, ProviderLimits, ResponseCache, Runtime
    from tracewatch.store import Store

    store = Store(store_url)
    items = bench_items(calls)
    config = ExperimentConfig(
        name="bench", model=f"openai/{MODEL}", api_base=server_url, params={"temperature": TEMPERATURE}
    )
    phases: dict[str, float] = {}
    async with LiteLLMClient() as client:  # imports litellm: before the clock starts
        runtime = Runtime(
            client=client,
            cache=None if kind == "nocache" else ResponseCache(store),
            limits=ProviderLimits(LimitSettings(max_concurrency=concurrency)),
        )
        with timed(phases, "total"), cpu_timed(phases):
            result = await run_experiment(
                store,
                ExperimentSpec(f"bench-{kind}", "bench", 1),
                [config],
                items,
                runtime=runtime,
                settings=RunnerSettings(chunk_size=250, progress=lambda snapshot: None),
            )
    limiter = next(iter(runtime.limits.throttles().values())).limiter.stats()
    counts = {
        **{status: n for status, n in result.record.counts.items()},
        "cached": result.progress.cached,
        "attempts": sum(c.attempts for c in result.chunks),
        "limiter_cuts": limiter.cuts,
        "limiter_pauses": limiter.pauses,
        "limiter_final": int(limiter.limit),
    }
    return phases, counts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One repetition of one side of the experiments benchmark.")
    parser.add_argument("kind", choices=KINDS)
    parser.add_argument("--result", type=Path, required=True, help="where to write the JSON result")
    parser.add_argument("--server", required=True, help="the model server's base URL (ends in /v1)")
    parser.add_argument("--store", required=True, help="store URL for the runner's rows and cache")
    parser.add_argument("--calls", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    if args.kind == "baseline":
        phases, counts = asyncio.run(run_baseline(args.server, args.calls, args.concurrency))
    else:
        phases, counts = asyncio.run(
            run_tracewatch(args.kind, args.server, args.store, args.calls, args.concurrency)
        )
    write_result(args.result, args.kind, phases, counts)


if __name__ == "__main__":
    main()
