"""Run an experiment: every item of a dataset version through every config of an experiment file.

By hand from the Prefect UI (`experiment` flow: any dataset version, any shipped experiment, a YAML path or
configs typed in as a mapping), and from the nightly flow, on the newest version of the nightly dataset.

One Prefect task per chunk (one config x a slice of the items). On the threads runner (the default) the chunks
run concurrently on the flow's event loop and share one runtime, so provider limits, the response cache and the
cost cap hold across all of them. On a process pool or a Dask cluster (`TRACEWATCH_TASK_RUNNER`,
docs/scaling.md) each chunk is submitted to the runner and runs in a worker process with a runtime of its own:
the flow grants each chunk an allowance of the cost cap and books what it spent (`BudgetLedger`), the provider
limits are Prefect global concurrency and rate limits on the server (`flows.llm_limits`), the store travels as
its URL and API keys stay in each worker's environment. A rerun with the same experiment id skips what is done.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar, cast

from prefect import flow, task
from prefect.artifacts import (
    acreate_markdown_artifact,
    acreate_progress_artifact,
    acreate_table_artifact,
    aupdate_progress_artifact,
)
from prefect.cache_policies import NO_CACHE
from prefect.context import FlowRunContext
from prefect.runtime import flow_run
from prefect.task_runners import ThreadPoolTaskRunner
from prefect.utilities.annotations import quote
from prefect.utilities.asyncutils import run_coro_as_sync
from pydantic import Field

from flows.common import connect_store, stage_task
from flows.llm_limits import shared_limits
from flows.params import ExperimentChoice, ExperimentParameter
from flows.scoring import check_scorers, score_experiment
from flows.task_runners import configured_task_runner, portable
from tracewatch.errors import ConfigError
from tracewatch.experiments import (
    BudgetLedger,
    ChunkOrder,
    ChunkPlan,
    ChunkResult,
    Experiment,
    ExperimentRecord,
    ExperimentSummary,
    PreparedRun,
    RunnerSettings,
    chunk_order,
    experiment_markdown,
    experiment_runtime,
    experiment_summary,
    finish_experiment,
    interleaved,
    launch,
    prepare_run,
    run_chunk_order,
    run_planned_chunk,
    throttle_settings,
)
from tracewatch.llm import RetryPolicy, Runtime
from tracewatch.scoring import format_leaderboard, scores_markdown
from tracewatch.store import Store
from tracewatch.summaries import experiment_leaderboard

T = TypeVar("T")
DEFAULT_EXPERIMENT = ExperimentChoice(shipped="demo")


def _experiment_run_name() -> str:
    params = flow_run.parameters
    choice = ExperimentChoice.model_validate(params.get("experiment", DEFAULT_EXPERIMENT))
    version = params.get("version")
    return f"experiment-{choice.label}-{params.get('dataset')}" + (f"-v{version}" if version else "")


@stage_task
def prepare_experiment(
    store: Store,
    source: str | dict[str, Any],
    dataset: str,
    version: int | None,
    *,
    experiment_id: str | None,
    trials: int,
    budget_usd: float | None,
    mode: Literal["resume", "retry_failed"],
    chunk_size: int,
) -> tuple[Experiment, PreparedRun]:
    """Every check before the first call (providers, keys, template fields), then the record and the chunks."""
    ready = launch(
        store, source, dataset, version, experiment_id=experiment_id, trials=trials, budget_usd=budget_usd
    )
    prepared = prepare_run(
        store, ready.spec, ready.experiment.configs, ready.source.items, mode=mode, chunk_size=chunk_size
    )
    return ready.experiment, prepared


@task(cache_policy=NO_CACHE, task_run_name="{name}")
async def run_chunk(
    name: str, prepared: PreparedRun, plan: ChunkPlan, runtime: Runtime, settings: RunnerSettings
) -> ChunkResult:
    """One config over one slice of the items; `name` (config/chunk) names the task run in the UI."""
    return await run_planned_chunk(prepared, plan, runtime=runtime, settings=settings)


@task(cache_policy=NO_CACHE, task_run_name="{name}")
async def run_chunk_elsewhere(name: str, order: ChunkOrder) -> ChunkResult:
    """One chunk in a worker process (a process pool's or a Dask worker's), with a runtime of its own; no
    Prefect retry: a retried chunk would have to be granted its allowance again (Dask reruns a chunk whose worker
    died; the chunk then reads back what its first attempt wrote)."""
    return await run_chunk_order(order)


@stage_task
def finish(store: Store, experiment_id: str) -> ExperimentRecord:
    return finish_experiment(store, experiment_id)


@stage_task
def leaderboard(store: Store, record: ExperimentRecord) -> list[dict[str, object]]:
    return experiment_leaderboard(store, record)


def artifact_key(prefix: str, name: str) -> str:
    """A Prefect artifact key (lowercase letters, digits and dashes) for `name`, e.g. an experiment id."""
    return f"{prefix}-" + (re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "unnamed")


@flow(
    name="experiment",
    flow_run_name=_experiment_run_name,
    log_prints=True,
    task_runner=configured_task_runner(),
)
async def experiment(
    experiment: ExperimentParameter = DEFAULT_EXPERIMENT,
    dataset: str = "production-samples",
    version: Annotated[int | None, Field(ge=1)] = None,
    trials: Annotated[int, Field(ge=1, le=100)] = 1,
    budget_usd: Annotated[float | None, Field(ge=0)] = None,
    mode: Literal["resume", "retry_failed"] = "resume",
    experiment_id: str | None = None,
    chunk_size: Annotated[int, Field(ge=1, le=10_000)] = 50,
    parallel_chunks: Annotated[int, Field(ge=1, le=64)] = 4,
    max_attempts: Annotated[int, Field(ge=1, le=50)] = 8,
    report_date: dt.date | None = None,
) -> ExperimentSummary:
    """Run every item of a dataset version through every config of an experiment, `trials` times each.

    A rerun with the same experiment id skips every item already answered.

    Args:
        experiment: A shipped experiment (data/experiments/<name>.yaml), a YAML file on the worker, or the
            file's content typed in. A plain name or path is enough, from Python and from the Prefect CLI:
            `--param experiment=demo` or `--param experiment=conf/mine.yaml`; the forms
            `{"shipped": "demo"}`, `{"path": "conf/mine.yaml"}` and `{"inline": {...}}` (or the content itself,
            `{"name": ..., "configs": [...]}`) work too.
        dataset: The dataset whose items are asked.
        version: The dataset version (default: the newest).
        trials: How many times each item is asked of each config.
        budget_usd: Cost cap in USD over all runs of this experiment id: past it, no call starts and the rest
            is marked skipped_budget (default: no cap).
        mode: resume skips what is done; retry_failed also asks again the items that ended in an error.
        experiment_id: The id to record the run under (default: <experiment>-<dataset>-v<version>).
        chunk_size: Items per task (one config x one chunk per task).
        parallel_chunks: Chunks in flight at once.
        max_attempts: Attempts per call on transient errors (rate limits, timeouts, 5xx).
        report_date: The date the scores are reported under (default: today, UTC; the nightly flow passes
            its night).
    """
    store = connect_store()
    loaded, prepared = prepare_experiment(
        store,
        experiment.source(),
        dataset,
        version,
        experiment_id=experiment_id,
        trials=trials,
        budget_usd=budget_usd,
        mode=mode,
        chunk_size=chunk_size,
    )
    check_scorers(loaded)  # a misconfigured scorer stops the run before any model call
    settings = RunnerSettings(
        retry=RetryPolicy(max_attempts=max_attempts), chunk_size=chunk_size, parallel_chunks=parallel_chunks
    )
    spec = prepared.spec
    keys = prepared.items.height * len(prepared.configs) * spec.trials
    accounted = 0
    progress_id = await acreate_progress_artifact(
        0.0, description=f"{spec.experiment_id}: items accounted for"
    )

    async def counted(result: ChunkResult) -> ChunkResult:
        nonlocal accounted
        accounted += result.already_done + sum(result.counts.values())
        await aupdate_progress_artifact(progress_id, 100.0 * accounted / max(keys, 1))
        return result

    if in_flow_process():
        chunks = await _chunks_here(store, loaded, prepared, settings, counted)
    else:
        chunks = await _chunks_elsewhere(store, loaded, prepared, settings, counted)
    record = finish(store, spec.experiment_id)
    day = report_date or dt.datetime.now(dt.UTC).date()
    scored = await score_experiment(store, spec.experiment_id, loaded, day, prepared.run_id)
    summary = experiment_summary(record, chunks).scored(
        scored.message, format_leaderboard(scored.leaderboard)
    )
    board = leaderboard(store, record)
    await acreate_table_artifact(
        key=artifact_key("leaderboard", spec.experiment_id),
        table=board,
        description=f"Leaderboard of {spec.experiment_id}: items per status, cost (USD), mean latency (ms)",
    )
    await acreate_table_artifact(
        key=artifact_key("scores", spec.experiment_id),
        table=scored.leaderboard,
        description=f"Scores of {spec.experiment_id}: mean with 95% CI per config and scorer, verdict vs baseline",
    )
    await acreate_markdown_artifact(
        key=artifact_key("experiment", spec.experiment_id),
        markdown=experiment_markdown(record, summary.message, board) + scores_markdown(scored.leaderboard),
        description=summary.message,
    )
    print(summary.message)
    print(scored.message)
    if summary.stopped_reason:  # a wrong key or model: the run fails with the reason, after its artifacts
        raise ExperimentStoppedError(f"experiment {spec.experiment_id}: {summary.stopped_reason}")
    return summary


def in_flow_process() -> bool:
    """Whether this flow run's tasks run in its own process (the threads runner): then the chunks run on the
    flow's event loop with one shared runtime, as they always have; else they are submitted to the runner."""
    context = FlowRunContext.get()
    return context is None or isinstance(context.task_runner, ThreadPoolTaskRunner)


Counted = Callable[[ChunkResult], Awaitable[ChunkResult]]


async def _chunks_here(
    store: Store, loaded: Experiment, prepared: PreparedRun, settings: RunnerSettings, counted: Counted
) -> list[ChunkResult]:
    """Every chunk on this event loop, `parallel_chunks` at a time, sharing one runtime."""
    runtime = experiment_runtime(store, loaded, budget=prepared.budget())
    gate = asyncio.Semaphore(settings.parallel_chunks)

    async def one(plan: ChunkPlan) -> ChunkResult:
        async with gate:
            name = f"{prepared.configs[plan.config_index].name}/{plan.label}"
            result = await run_chunk(name, unwalked(prepared), plan, unwalked(runtime), settings)
        return await counted(result)

    try:
        return await asyncio.gather(*(one(plan) for plan in interleaved(prepared.plans)))
    finally:
        await runtime.aclose()


async def _chunks_elsewhere(
    store: Store, loaded: Experiment, prepared: PreparedRun, settings: RunnerSettings, counted: Counted
) -> list[ChunkResult]:
    """Every chunk submitted to the flow's task runner (worker processes), `parallel_chunks` at a time: each
    with its allowance of the cost cap, the configs stopped so far, and the provider limits on the server."""
    shared = await shared_limits(throttle_settings(prepared.configs, loaded.limits))
    cap = prepared.spec.budget_usd
    ledger = (
        None
        if cap is None
        else BudgetLedger(cap, spent_usd=prepared.state.spent_usd, slots=settings.parallel_chunks)
    )
    sent = portable(store)
    stopped: dict[str, str] = {}
    gate = asyncio.Semaphore(settings.parallel_chunks)
    priced: dict[str, asyncio.Event] = {}

    async def one(plan: ChunkPlan) -> ChunkResult:
        fingerprint = prepared.configs[plan.config_index].fingerprint()
        leader = fingerprint not in priced
        first = priced.setdefault(fingerprint, asyncio.Event())
        async with gate:
            # Under a cap, a config's first chunk learns its price before another of its chunks starts, so no
            # two chunks probe an unknown price at once (in one process, one call probes at a time). The first
            # chunk took its slot earlier (same order, FIFO slots), so waiting here holding a slot cannot block it.
            if ledger is not None and not leader:
                await first.wait()
            try:
                result = await submitted(plan)
            finally:
                first.set()
        return await counted(result)

    async def submitted(plan: ChunkPlan) -> ChunkResult:
        allowance = ledger.grant(plan.label) if ledger is not None else None
        order = chunk_order(
            prepared,
            plan,
            store=sent,
            settings=settings,
            limits=loaded.limits,
            allowance=allowance,
            stopped=stopped,
            gate=shared,
        )
        name = f"{prepared.configs[plan.config_index].name}/{plan.label}"
        # Not `unwalked`: an annotation arrives in a worker as a bare tuple; the order is one chunk's slice,
        # so walking it for futures is cheap.
        future = run_chunk_elsewhere.submit(name, order)
        try:
            result = cast(ChunkResult, await asyncio.to_thread(future.result))
        except BaseException:
            if ledger is not None:  # its spend is booked by a rerun, read back from its rows
                ledger.settle(plan.label, None)
            raise
        if ledger is not None:
            ledger.settle(plan.label, result)
        if result.stopped_reason is not None:
            stopped.setdefault(result.config_fingerprint, result.stopped_reason)
        return result

    return await asyncio.gather(*(one(plan) for plan in interleaved(prepared.plans)))


class ExperimentStoppedError(ConfigError):
    """A config stopped calling after repeated terminal errors (a refused key, an unknown model): the items it
    did not ask are recorded as errors, and the run fails so that nobody mistakes it for a green one."""


def unwalked(value: T) -> T:
    """`value` wrapped so that Prefect passes it to a task as is, instead of walking into it (every item and
    every earlier status of a prepared run, for every one of hundreds of tasks) to find upstream futures."""
    return cast(T, quote(value))


def run_experiment_flow(**parameters: Any) -> ExperimentSummary:
    """Run the experiment flow from synchronous code (the nightly flow) as a subflow."""
    result: ExperimentSummary = run_coro_as_sync(experiment(**parameters))
    return result
