"""The child process of the kill -9 sweep (`python -m tests.reliability.night_child`): one night's stages in
the nightly flow's order (ingest, monitoring reports, the dataset version, an experiment on it with the
response cache), optionally killing itself with SIGKILL just before the n-th store write under a prefix, so
each kill lands at a named point whatever the machine's speed. `--list-writes` prints every key it writes.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import os
import signal

from tracewatch.datasets import load_dataset_spec, sample_dataset_items
from tracewatch.datasets.versions import read_version
from tracewatch.experiments import ExperimentConfig, ExperimentSpec, RunnerSettings, run_experiment
from tracewatch.ingest import ingest_new_traces
from tracewatch.llm import LimitSettings, LiteLLMClient, ProviderLimits, ResponseCache, RetryPolicy, Runtime
from tracewatch.monitoring import METRIC_REDUCER, build_monitoring_reports
from tracewatch.store import Store

EXPERIMENT = "night-echo"
DATASET = "production-samples"  # data/datasets/nightly.yaml


def config(base_url: str) -> ExperimentConfig:
    return ExperimentConfig(
        name="echo",
        model="openai/tracewatch-echo",
        api_base=base_url,
        prompt="{input}",
        params={"temperature": 0.0, "seed": 1},
        timeout_s=10.0,
    )


def night(store: Store, day: dt.date, base_url: str) -> None:
    result = ingest_new_traces(store, up_to=day, reprocess=(), reducer=METRIC_REDUCER, require_traces=True)
    for touched in sorted({*result.dates_touched, day}):
        build_monitoring_reports(store, touched, run_id=result.run_id, parts=result.parts.pop(touched, None))
    build, _ = sample_dataset_items(store, load_dataset_spec(), day, run_id=result.run_id)
    assert build.manifest is not None, "the night sampled no dataset version"
    version = build.manifest.version
    items = read_version(store, DATASET, version)

    async def experiment() -> None:
        async with LiteLLMClient() as client:
            runtime = Runtime(
                client=client,
                cache=ResponseCache(store, write_batch=5),
                limits=ProviderLimits(LimitSettings(max_concurrency=4)),
            )
            await run_experiment(
                store,
                ExperimentSpec(EXPERIMENT, DATASET, version),
                [config(base_url)],
                items,
                runtime=runtime,
                settings=RunnerSettings(
                    retry=RetryPolicy(max_attempts=3, base_delay_s=0.01, max_delay_s=0.05),
                    chunk_size=10,
                    flush_every=5,
                    flush_interval_s=0.05,
                    progress=lambda snapshot: None,
                ),
            )

    asyncio.run(experiment())


def arm(prefix: str, nth: int, list_writes: bool) -> None:
    """Wrap the store's one write path: print keys, or die by SIGKILL before the `nth` write under `prefix`."""
    original = Store.write_bytes
    count = [0]

    def write_bytes(self: Store, key: str, data: bytes, *, durable: bool = True) -> None:
        if list_writes:
            print(key, flush=True)
        if prefix and key.startswith(prefix):
            count[0] += 1
            if count[0] == nth:
                os.kill(os.getpid(), signal.SIGKILL)
        original(self, key, data, durable=durable)

    Store.write_bytes = write_bytes  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("store")
    parser.add_argument("day", type=dt.date.fromisoformat)
    parser.add_argument("model_url")
    parser.add_argument("--kill-prefix", default="")
    parser.add_argument("--kill-nth", type=int, default=1)
    parser.add_argument("--list-writes", action="store_true")
    args = parser.parse_args(argv)
    arm(args.kill_prefix, args.kill_nth, args.list_writes)
    night(Store(args.store), args.day, args.model_url)


if __name__ == "__main__":
    main()
