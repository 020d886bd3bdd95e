"""Run an experiment: every item of a dataset version through every config, `trials` times, every answer
recorded as one row.

The coarse unit is a chunk: one config and a slice of the items (`plan_chunks`). `prepare_run` starts the
record and plans the chunks; `run_planned_chunk` runs one chunk on the caller's event loop (an orchestrator
wraps one task around it); `run_experiment` does both and runs the chunks concurrently on one loop, sharing
the provider limits and the cost budget. Inside a chunk, a bounded pool of workers takes the (item, trial)
pairs one by one; each ends as `ok`, `error` or `skipped_budget` (with the reason), and its row goes into a
buffer flushed as Parquet parts (chunks in other processes: `_elsewhere`). A rerun
with the same experiment id skips the keys that already have an `ok` row (`mode="resume"`), or reruns only
the errors (`mode="retry_failed"`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Collection, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._lifecycle import ExperimentSpec, finish_experiment, start_experiment
from tracewatch.experiments._parts import PartWriter
from tracewatch.experiments._plan import ChunkPlan, check_configs, interleaved, plan_chunks, prepare_items
from tracewatch.experiments._progress import Progress, ProgressCallback, ProgressSnapshot, console_progress
from tracewatch.experiments._records import ExperimentRecord
from tracewatch.experiments._resume import ItemKey, ResumeState, RunMode, load_resume_state
from tracewatch.experiments._rows import cached_rows, item_row
from tracewatch.experiments._stopping import TerminalStops, not_attempted
from tracewatch.experiments._templates import ItemFieldError
from tracewatch.llm import (
    Booking,
    CacheKeys,
    CallParams,
    CallResult,
    Completion,
    CostBudget,
    Invoke,
    Message,
    ModelClient,
    ResponseCache,
    RetryPolicy,
    Runtime,
    answer,
    call_context,
)
from tracewatch.runs import new_run_id, utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunnerSettings:
    """How a run is cut up, paced and reported. Provider limits live in `Runtime.limits`."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    chunk_size: int = 100
    parallel_chunks: int = 8
    workers_per_chunk: int | None = None
    """Default: twice the provider's max concurrency, so retries waiting out a backoff leave no slot idle."""
    flush_every: int = 500
    flush_interval_s: float = 5.0
    progress: ProgressCallback | None = None
    """None: `run_experiment` draws a bar on a terminal and logs a line every 10% otherwise
    (`console_progress`); `run_planned_chunk` logs one line when the chunk ends."""
    stop_after_terminal_errors: int | None = 5
    """A config starts no more calls after this many consecutive terminal errors of one kind (401/403, 404,
    400); its other items end as `error` rows, not attempted. None: never stop."""

    def __post_init__(self) -> None:
        if self.chunk_size < 1 or self.parallel_chunks < 1 or self.flush_every < 1:
            raise ConfigError("chunk_size, parallel_chunks and flush_every must be >= 1")
        if self.stop_after_terminal_errors is not None and self.stop_after_terminal_errors < 1:
            raise ConfigError(
                f"stop_after_terminal_errors={self.stop_after_terminal_errors} must be >= 1 (or None: never stop)"
            )
        if self.workers_per_chunk is not None and self.workers_per_chunk < 1:
            raise ConfigError("workers_per_chunk must be >= 1 (or None for the default)")


@dataclass(frozen=True)
class ChunkResult:
    """What one chunk did: rows written per status, keys it skipped as already done, calls made."""

    config_name: str
    config_fingerprint: str
    chunk: str
    counts: dict[str, int]
    already_done: int
    attempts: int
    cached: int
    rows_written: int
    parts: tuple[str, ...]
    elapsed_s: float
    stopped_reason: str | None = None
    """Why the config stopped calling during this run (repeated terminal errors), or None."""
    # In another process: the calls its own budget booked (replayed by the run's ledger), why it closed.
    booked: tuple[Booking, ...] = ()
    budget_closed: str | None = None


def stopped_reason(chunks: Sequence[ChunkResult]) -> str | None:
    """Why a run must count as failed: every config that stopped early, with its reason; None if none did."""
    reasons = {c.config_name: c.stopped_reason for c in chunks if c.stopped_reason is not None}
    return "; ".join(f"config {name}: {reason}" for name, reason in reasons.items()) or None


@dataclass(frozen=True)
class ExperimentResult:
    """A finished run: the updated record (counts over every run of the experiment) and this run's chunks."""

    run_id: str
    record: ExperimentRecord
    chunks: tuple[ChunkResult, ...]
    progress: ProgressSnapshot

    @property
    def stopped_reason(self) -> str | None:
        """Why the run failed although it finished (a config stopped after repeated terminal errors), or None."""
        return stopped_reason(self.chunks)


# ---- running -----------------------------------------------------------------------------------------------


_Unit = tuple[Mapping[str, Any], int]
"""An item (as a dict) and a trial number."""


@dataclass(frozen=True)
class _Run:
    """What every chunk of one run shares."""

    store: Store
    spec: ExperimentSpec
    run_id: str
    runtime: Runtime
    settings: RunnerSettings
    progress: Progress
    stops: TerminalStops


@dataclass(frozen=True)
class PreparedRun:
    """A run ready to go: the record started, the items in chunk order, the chunks and what earlier runs did.

    Made once per run (`prepare_run`); every chunk of the run, in one process, reads from it.
    """

    store: Store
    spec: ExperimentSpec
    configs: tuple[ExperimentConfig, ...]
    items: pl.DataFrame
    run_id: str
    mode: RunMode
    plans: tuple[ChunkPlan, ...]
    state: ResumeState
    stops: TerminalStops = field(default_factory=TerminalStops)
    """Terminal errors per config, shared by the run's chunks in this process."""

    def budget(self) -> CostBudget | None:
        """A fresh budget for the run's cost cap, opened with everything the experiment has spent."""
        if self.spec.budget_usd is None:
            return None
        return CostBudget(self.spec.budget_usd, spent_usd=self.state.spent_usd)

    def units(self, plan: ChunkPlan, skip: Collection[ItemKey] = ()) -> tuple[list[_Unit], int]:
        """The (item, trial) pairs `plan` must do in this run, and how many it skips as already done (by an
        earlier run, or in `skip`: by an earlier attempt of the chunk in this run)."""
        fingerprint = self.configs[plan.config_index].fingerprint()
        rows = plan.items(self.items).to_dicts()
        units, done = _units(rows, fingerprint, self.spec.trials, self.state, self.mode)
        kept = [(item, trial) for item, trial in units if (fingerprint, item["item_id"], trial) not in skip]
        return kept, done + len(units) - len(kept)


def prepare_run(
    store: Store,
    spec: ExperimentSpec,
    configs: Sequence[ExperimentConfig],
    items: pl.DataFrame,
    *,
    run_id: str | None = None,
    mode: RunMode = "resume",
    chunk_size: int = 100,
) -> PreparedRun:
    """Check the configs and items, start (or extend) the experiment record, read what earlier runs did and
    cut the work into chunks. Blocking I/O: call it from a thread or a task, not from the event loop."""
    check_configs(configs)
    items = prepare_items(items)
    run_id = run_id or new_run_id("exp")
    start_experiment(store, spec, configs, run_id=run_id, item_count=items.height)
    return PreparedRun(
        store=store,
        spec=spec,
        configs=tuple(configs),
        items=items,
        run_id=run_id,
        mode=mode,
        plans=tuple(plan_chunks(len(configs), items.height, chunk_size)),
        state=load_resume_state(store, spec.experiment_id),
    )


async def run_planned_chunk(
    prepared: PreparedRun,
    plan: ChunkPlan,
    *,
    runtime: Runtime,
    settings: RunnerSettings | None = None,
    progress: Progress | None = None,
    skip: Collection[ItemKey] = (),
) -> ChunkResult:
    """Run one chunk of a prepared run (an orchestrator's task body). Without `progress`, the chunk logs one
    line when it ends; share a `Progress` to count the whole run. `skip`: keys an earlier attempt wrote."""
    settings = settings or RunnerSettings()
    units, done = prepared.units(plan, skip)
    config = prepared.configs[plan.config_index]
    own = progress is None
    progress = progress or Progress(
        len(units), settings.progress, label=f"{prepared.spec.experiment_id}/{config.name}/{plan.label}"
    )
    run = _Run(prepared.store, prepared.spec, prepared.run_id, runtime, settings, progress, prepared.stops)
    result = await _run_units(run, config, units, done, plan.label)
    if own:
        log.info("%s (%d already done)", progress.close().summary(), done)
    return result


async def run_experiment(
    store: Store,
    spec: ExperimentSpec,
    configs: Sequence[ExperimentConfig],
    items: pl.DataFrame,
    *,
    runtime: Runtime,
    settings: RunnerSettings | None = None,
    run_id: str | None = None,
    mode: RunMode = "resume",
) -> ExperimentResult:
    """Plan the chunks, run them concurrently on this loop, and finish the experiment record."""
    settings = settings or RunnerSettings()
    prepared = await asyncio.to_thread(
        prepare_run, store, spec, configs, items, run_id=run_id, mode=mode, chunk_size=settings.chunk_size
    )
    if runtime.budget is None:
        runtime = replace(runtime, budget=prepared.budget())
    planned = {plan: prepared.units(plan) for plan in prepared.plans}
    progress = Progress(
        sum(len(units) for units, _ in planned.values()),
        settings.progress or console_progress(),
        label=spec.experiment_id,
    )
    run = _Run(store, spec, prepared.run_id, runtime, settings, progress, prepared.stops)
    gate = asyncio.Semaphore(settings.parallel_chunks)

    async def one(plan: ChunkPlan) -> ChunkResult:
        async with gate:
            return await _run_units(run, prepared.configs[plan.config_index], *planned[plan], plan.label)

    async with _failing_fast() as group:
        started = {plan: group.create_task(one(plan)) for plan in interleaved(prepared.plans)}
    snapshot = progress.close()
    record = await asyncio.to_thread(finish_experiment, store, spec.experiment_id)
    return ExperimentResult(
        prepared.run_id, record, tuple(started[plan].result() for plan in prepared.plans), snapshot
    )


def _units(
    rows: Sequence[Mapping[str, Any]], fingerprint: str, trials: int, state: ResumeState, mode: RunMode
) -> tuple[list[_Unit], int]:
    """The (item, trial) pairs this run must do, and how many it skips because an earlier run did them."""
    units = [
        (row, trial)
        for row in rows
        for trial in range(trials)
        if state.should_run((fingerprint, row["item_id"], trial), mode)
    ]
    return units, len(rows) * trials - len(units)


async def _run_units(
    run: _Run, config: ExperimentConfig, units: list[_Unit], already_done: int, chunk: str
) -> ChunkResult:
    """Answer `units` of one config with a bounded pool of workers, writing rows as they finish."""
    runtime, settings = run.runtime, run.settings
    started = time.perf_counter()
    fingerprint = config.fingerprint()
    call = config.call_params() if config.task is None else None
    context = call_context(
        runtime, settings.retry, call, budget_key=fingerprint, timeout_s=config.timeout_s, task=config.task
    )
    # Workers waiting for a provider slot when the config stops must not call once they get one.
    context = replace(context, stop=partial(run.stops.reason, fingerprint))
    throttle = context.throttle
    writer = PartWriter(
        run.store,
        run.spec.experiment_id,
        fingerprint,
        chunk=chunk,
        flush_every=settings.flush_every,
        flush_interval_s=settings.flush_interval_s,
    )
    base = {
        "run_id": run.run_id,
        "experiment_id": run.spec.experiment_id,
        "config_name": config.name,
        "config_fingerprint": fingerprint,
        "dataset": run.spec.dataset,
        "dataset_version": run.spec.dataset_version,
    }
    counts: Counter[str] = Counter()
    totals = {"attempts": 0, "cached": 0}
    keys = CacheKeys(call) if call is not None and context.cache is not None else None
    requests = [
        (item, trial, _request(config, runtime.client, call, keys, item, trial)) for item, trial in units
    ]
    cache_keys = [r[2] for _, _, r in requests if not isinstance(r, ItemFieldError) and r[2] is not None]
    answered: list[Completion] | None = None
    if context.cache is not None:  # one bulk read for the chunk instead of a store read per item
        await context.cache.prefetch(cache_keys)
        answered = _all_cached(context.cache, requests)
    queue = iter(requests)
    limit = settings.stop_after_terminal_errors

    async def admitted() -> bool:
        """Wait while the config, with no answer yet, has as many calls out as it takes to stop (shared by the
        chunks of this process); True: this call is one of those probes."""
        while (probe := run.stops.admit(fingerprint, limit)) is None:
            await asyncio.sleep(0.005)
        return probe

    async def worker() -> None:
        for item, trial, request in queue:
            begun = utc_now()
            stopped = run.stops.reason(fingerprint)
            if stopped is not None:
                result = not_attempted(stopped)
            elif isinstance(request, ItemFieldError):  # the item cannot fill the template: its failure alone
                result = CallResult("error", None, str(request), attempts=0)
            else:
                probe = await admitted()
                result = await answer(context, *request)
                if run.stops.record(fingerprint, result, limit) is not None:
                    log.error(
                        "config %s starts no more calls: %s", config.name, run.stops.reason(fingerprint)
                    )
                if probe:  # after the record, so a waiting call sees the stop this result may have caused
                    run.stops.release(fingerprint)
            writer.add(item_row(base, item, trial, result, begun))
            counts[result.status] += 1
            totals["attempts"] += result.attempts
            totals["cached"] += result.cached
            run.progress.record(result.status, result.cached)

    workers = min(len(units), settings.workers_per_chunk or 2 * throttle.limiter.max_concurrency)
    try:
        if answered:  # every answer is in the cache: the rows in one go, no worker and no call
            await writer.write_frame(cached_rows(base, units, answered))
            counts["ok"] = totals["cached"] = len(answered)
            run.progress.record("ok", cached=True, count=len(answered))
        else:
            async with _failing_fast() as group:
                for _ in range(workers):
                    group.create_task(worker())
    finally:
        try:
            await writer.close()  # even a failing or cancelled chunk keeps what it finished
        finally:
            if context.cache is not None:
                await context.cache.seal(cache_keys)
    result = ChunkResult(
        config_name=config.name,
        config_fingerprint=fingerprint,
        chunk=chunk,
        counts={status: counts[status] for status in ("ok", "error", "skipped_budget")},
        already_done=already_done,
        attempts=totals["attempts"],
        cached=totals["cached"],
        rows_written=writer.rows_written,
        parts=tuple(writer.parts),
        elapsed_s=round(time.perf_counter() - started, 3),
        stopped_reason=run.stops.reason(fingerprint),
    )
    log.debug("chunk %s of %s: %s", chunk, config.name, result.counts)
    return result


@asynccontextmanager
async def _failing_fast() -> AsyncIterator[asyncio.TaskGroup]:
    """A task group that stops all its tasks at the first failure and raises that failure itself (a bug, a
    store error), not an ExceptionGroup the caller would have to unpack."""
    try:
        async with asyncio.TaskGroup() as group:
            yield group
    except BaseExceptionGroup as failed:
        first: BaseException = failed
        while isinstance(first, BaseExceptionGroup):
            first = first.exceptions[0]
        raise first from None


_Request = tuple[Invoke, Sequence[Message], str | None]


def _request(
    config: ExperimentConfig,
    client: ModelClient,
    call: CallParams | None,
    keys: CacheKeys | None,
    item: Mapping[str, Any],
    trial: int,
) -> _Request | ItemFieldError:
    """What one (item, trial) sends: the attempt to make, its messages and its cache key (None without a
    cache); or why the item cannot be sent (a template field it lacks)."""
    if call is None:
        return partial(config.run_task, item), (), None
    try:
        messages = config.render(item)
    except ItemFieldError as missing:
        return missing
    key = keys.cache_key(messages, trial) if keys is not None else None
    return partial(client.complete, messages, call), messages, key


def _all_cached(
    cache: ResponseCache, requests: Sequence[tuple[Any, int, _Request | ItemFieldError]]
) -> list[Completion] | None:
    """The cached answer of every request, in order, when the cache holds them all (after a prefetch), else
    None: then the chunk's workers take the items one by one."""
    answered: list[Completion] = []
    for _, _, request in requests:
        if isinstance(request, ItemFieldError) or request[2] is None:
            return None
        hit = cache.peek(request[2])
        if hit is None:
            return None
        answered.append(hit)
    return answered
