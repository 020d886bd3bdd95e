"""A provider fault storm (issue 22, item 4): N items x 2 configs through the real experiment runner and the
real litellm client, against the local test model server answering with the storm's faults, then the same
run without faults for the throughput it costs.

Accounting is on both sides: the store's experiment rows (one per item and config, each `ok` or `error` with its
reason) and the server's own counts (`answered`: whole answers sent per request, so an item answered twice is
a paid call repeated, whatever the client believes).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from devtools.model_server import Faults, Latency, start_model_server, stop_model_server
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.experiments import (
    ExperimentConfig,
    ExperimentSpec,
    RunnerSettings,
    read_experiment_items,
    run_experiment,
)
from tracewatch.llm import LimitSettings, LiteLLMClient, ProviderLimits, RetryPolicy, Runtime
from tracewatch.store import Store

MODEL = "tracewatch-echo"
STORM: dict[str, float] = {
    "429": 0.10,  # with Retry-After
    "429_no_retry_after": 0.10,
    "500": 0.025,
    "503": 0.025,
    "timeout": 0.02,
    "malformed": 0.01,
    "reset": 0.01,
}
"""The issue's storm: 20% 429 (half with Retry-After), 5% 500/503, 2% timeouts, 1% malformed JSON bodies and
1% connection resets, drawn per attempt."""
RETRY = RetryPolicy(max_attempts=8, base_delay_s=0.02, max_delay_s=0.5)
TIMEOUT_S = 5.0
"""The client's per-call timeout; a `timeout` fault hangs far longer, so each one costs exactly this."""


@dataclass(frozen=True)
class StormResult:
    """One run's accounting: `lost` items have no row, `duplicated` have more than one, `answered_twice` got
    two whole answers from the server, `unexplained` are errors without a reason."""

    faults: dict[str, float]
    items: int
    configs: int
    expected: int
    rows: int
    lost: int
    duplicated: int
    answered_twice: int
    unexplained: int
    statuses: dict[str, int]
    error_reasons: dict[str, int]
    requests: int
    faults_injected: dict[str, int]
    seconds: float
    items_per_s: float

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def storm_items(n: int) -> pl.DataFrame:
    """`n` items with distinct prompts, so each (item, config) is its own request on the server."""
    rows = [
        {
            "item_id": f"itm_{i:05d}",
            "input_text": f"storm question {i}: what is {i} plus {i}?",
            "expected_output": str(2 * i),
            "source_trace_id": f"trace-{i}",
        }
        for i in range(n)
    ]
    return pl.DataFrame(rows, schema={c: ITEM_SCHEMA[c] for c in rows[0]})


def storm_configs(base_url: str) -> list[ExperimentConfig]:
    """Two configs whose requests differ (their seeds), as a model comparison would."""
    return [
        ExperimentConfig(
            name=f"storm-{seed}",
            model=f"openai/{MODEL}",
            api_base=base_url,
            prompt="{input}",
            params={"temperature": 0.0, "seed": seed},
            timeout_s=TIMEOUT_S,
        )
        for seed in (1, 2)
    ]


def _reason_kind(reason: str) -> str:
    """A short class of an error reason for the table (its first clause)."""
    return reason.split(":", 1)[0][:60]


def run_storm(
    store: Store, n_items: int, *, faults: dict[str, float], seed: int = 7, concurrency: int = 64
) -> StormResult:
    """Run `n_items` x 2 configs against a fresh test model server with `faults` and account for every item."""
    server = start_model_server(
        latency=Latency.fixed(2),
        faults=Faults(rates=faults, retry_after_s=0.2, hang_s=60.0, seed=seed),  # type: ignore[arg-type]
    )
    try:
        frame = storm_items(n_items)
        configs = storm_configs(server.base_url)
        experiment_id = f"storm-{'faults' if faults else 'clean'}"

        async def main() -> None:
            async with LiteLLMClient() as client:
                runtime = Runtime(
                    client=client, limits=ProviderLimits(LimitSettings(max_concurrency=concurrency))
                )
                await run_experiment(
                    store,
                    ExperimentSpec(experiment_id, "storm", 1),
                    configs,
                    frame,
                    runtime=runtime,
                    settings=RunnerSettings(
                        retry=RETRY, chunk_size=250, flush_every=500, progress=lambda snapshot: None
                    ),
                )

        started = time.perf_counter()
        asyncio.run(main())
        seconds = time.perf_counter() - started
        stats = server.stats()
    finally:
        stop_model_server(server)
    rows = read_experiment_items(store, experiment_id)
    return account(
        rows, stats.answered, stats.requests, stats.by_fault, n_items, len(configs), faults, seconds
    )


def account(
    rows: pl.DataFrame,
    answered: dict[str, int],
    requests: int,
    injected: dict[str, int],
    n_items: int,
    n_configs: int,
    faults: dict[str, float],
    seconds: float,
) -> StormResult:
    """Every (item, config) counted once: lost, duplicated, answered twice, errors without a reason."""
    expected = n_items * n_configs
    keys = rows.select("config_fingerprint", "item_id")
    distinct = keys.unique().height
    statuses = Counter(rows.get_column("status").to_list())
    errors = rows.filter(pl.col("status") != "ok")
    reasons = errors.get_column("error").fill_null("")
    return StormResult(
        faults=faults,
        items=n_items,
        configs=n_configs,
        expected=expected,
        rows=rows.height,
        lost=expected - distinct,
        duplicated=rows.height - distinct,
        answered_twice=sum(1 for count in answered.values() if count > 1),
        unexplained=int((reasons.str.strip_chars() == "").sum()),
        statuses=dict(statuses),
        error_reasons=dict(Counter(_reason_kind(r) for r in reasons.to_list()).most_common(8)),
        requests=requests,
        faults_injected=dict(injected),
        seconds=round(seconds, 2),
        items_per_s=round(expected / seconds, 1) if seconds > 0 else 0.0,
    )
