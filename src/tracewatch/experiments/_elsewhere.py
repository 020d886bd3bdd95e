"""Chunks run in other processes (a process pool, a Dask cluster): what a chunk takes with it, and the run's cost
cap kept by the orchestrating process.

In one process every chunk shares one `Runtime`, so the cost cap, the provider limits and the stops of a config
hold by construction. A chunk sent elsewhere builds its own runtime, so:

- **Cost cap.** The orchestrator keeps a `BudgetLedger`; each chunk is granted an `Allowance` (a budget of its
  own, opened with what the run has spent and the price learned per config) out of the money no other running
  chunk holds, and hands back what it booked, call by call; the ledger replays those bookings. A chunk never
  starts a call past its allowance and the allowances never add up past the cap, so no call starts once the cap
  is spent (the calls in flight then may end past it by their own cost, as in one process). One
  chunk at a time (`parallel_chunks=1`) sees the whole remaining cap and makes the same decisions, to the bit,
  as a run in one process. Once a chunk's budget refuses a call, the run's closes, as in one process.
- **Retries.** A chunk run again in the same run (its worker died, the task was retried) first reads the rows
  its earlier attempt wrote: their keys count as done and their cost is booked before any call.
- **Limits.** Provider limits across processes are a `SharedGate` the orchestrator passes in (no secret in it);
  each chunk's runtime reads API keys from its own process's environment, as the config names them.
- **Stops.** A config that stopped after repeated terminal errors in one chunk is stopped in every chunk
  granted after that.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._plan import ChunkPlan
from tracewatch.experiments._records import items_prefix
from tracewatch.experiments._resume import ItemKey, ResumeState
from tracewatch.experiments._runner import ChunkResult, PreparedRun, RunnerSettings, run_planned_chunk
from tracewatch.experiments._stopping import TerminalStops
from tracewatch.llm import CostBudget, Estimate, LimitSettings, ProviderLimits, SharedGate, model_runtime
from tracewatch.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Allowance:
    """What one chunk run elsewhere may spend: a budget capped at `cap_usd`, opened with the run's spend so far,
    its price estimates per config and, once the run's budget closed, the reason."""

    cap_usd: float
    spent_usd: float
    estimates: tuple[tuple[str, Estimate], ...] = ()
    closed_reason: str | None = None

    def budget(self) -> CostBudget:
        return CostBudget(
            self.cap_usd,
            spent_usd=self.spent_usd,
            estimates=dict(self.estimates),
            closed_reason=self.closed_reason,
            record=True,
        )


class BudgetLedger:
    """The run's cost cap in the orchestrating process while its chunks run elsewhere (module docstring).

    Invariant: money spent plus every running chunk's allowance never passes the cap. A chunk's allowance is an
    equal share of the free money among the chunk slots still free, so `slots` chunks can run at once; the last
    free slot takes all that is free, with the cap itself as its budget's cap when nothing else runs."""

    def __init__(self, cap_usd: float, *, spent_usd: float, slots: int) -> None:
        self._budget = CostBudget(cap_usd, spent_usd=spent_usd)
        self._held: dict[str, float] = {}
        self._slots = max(1, slots)

    @property
    def spent_usd(self) -> float:
        return self._budget.spent_usd

    @property
    def closed_reason(self) -> str | None:
        return self._budget.closed_reason

    def grant(self, chunk: str) -> Allowance:
        """The allowance of `chunk` (held until `settle`)."""
        cap, spent = self._budget.cap_usd, self._budget.spent_usd
        others = sum(self._held.values())
        free_slots = max(1, self._slots - len(self._held))
        if free_slots == 1:
            chunk_cap = cap - others  # exactly the cap when nothing else runs: the in-process decisions
            self._held[chunk] = max(0.0, chunk_cap - spent)
        else:
            share = max(0.0, cap - spent - others) / free_slots
            chunk_cap = spent + share
            self._held[chunk] = share
        estimates = tuple(sorted(self._budget.estimates().items()))
        return Allowance(chunk_cap, spent, estimates, self._budget.closed_reason)

    def settle(self, chunk: str, result: ChunkResult | None) -> None:
        """Free `chunk`'s allowance and book what it spent (None: it failed, its spend is booked by its retry or
        read back from its rows by the next run)."""
        self._held.pop(chunk, None)
        if result is None:
            return
        for key, cost in result.booked:
            self._budget.book(key, cost)
        if result.budget_closed is not None:
            self._budget.close(result.budget_closed)


@dataclass(frozen=True)
class ChunkOrder:
    """Everything a chunk needs in another process, and nothing secret: its slice of the prepared run (the
    store travels as its URL when the orchestrator made it portable), its settings and limits, its allowance,
    the configs already stopped and the gate of the shared provider limits."""

    prepared: PreparedRun
    plan: ChunkPlan
    settings: RunnerSettings
    limits: Mapping[str, LimitSettings]
    allowance: Allowance | None = None
    stopped: tuple[tuple[str, str], ...] = ()
    gate: SharedGate | None = None
    cache: bool = True


def chunk_order(
    prepared: PreparedRun,
    plan: ChunkPlan,
    *,
    store: Store,
    settings: RunnerSettings,
    limits: Mapping[str, LimitSettings],
    allowance: Allowance | None,
    stopped: Mapping[str, str],
    gate: SharedGate | None,
    cache: bool = True,
) -> ChunkOrder:
    """The order of one chunk: the run cut down to the chunk's items and their earlier statuses, so a task's
    arguments grow with the chunk, not with the dataset."""
    fingerprint = prepared.configs[plan.config_index].fingerprint()
    items = plan.items(prepared.items)
    statuses = {
        key: status
        for item_id in items.get_column("item_id").to_list()
        for trial in range(prepared.spec.trials)
        if (status := prepared.state.statuses.get(key := (fingerprint, item_id, trial))) is not None
    }
    sliced = dataclasses.replace(
        prepared,
        store=store,
        items=items,
        plans=(),
        state=ResumeState(statuses=statuses, spent_usd=prepared.state.spent_usd),
        stops=TerminalStops(),
    )
    local_plan = ChunkPlan(plan.config_index, plan.chunk_index, 0, plan.stop - plan.start)
    return ChunkOrder(
        sliced, local_plan, settings, dict(limits), allowance, tuple(sorted(stopped.items())), gate, cache
    )


async def run_chunk_order(order: ChunkOrder) -> ChunkResult:
    """Run one chunk in this process (a worker's task body): its own runtime, budget and stops."""
    prepared, plan = order.prepared, order.plan
    fingerprint = prepared.configs[plan.config_index].fingerprint()
    budget = order.allowance.budget() if order.allowance is not None else None
    done, costs = await asyncio.to_thread(
        earlier_attempt, prepared.store, prepared.spec.experiment_id, fingerprint, plan.label, prepared.run_id
    )
    if done:
        log.warning(
            "chunk %s ran before in run %s: %d keys already written", plan.label, prepared.run_id, len(done)
        )
    if budget is not None:
        for cost in costs:
            budget.book(fingerprint, cost)
    stops = TerminalStops()
    for key, reason in order.stopped:
        stops.stop(key, reason)
    runtime = model_runtime(prepared.store, order.limits, cache=order.cache, budget=budget, gate=order.gate)
    try:
        result = await run_planned_chunk(
            dataclasses.replace(prepared, stops=stops),
            plan,
            runtime=runtime,
            settings=order.settings,
            skip=done,
        )
    finally:
        await runtime.aclose()
    if budget is None:
        return result
    return dataclasses.replace(result, booked=budget.booked(), budget_closed=budget.closed_reason)


def earlier_attempt(
    store: Store, experiment_id: str, fingerprint: str, chunk: str, run_id: str
) -> tuple[set[ItemKey], list[float]]:
    """The keys an earlier attempt of `chunk` wrote in run `run_id`, and the costs of its uncached calls."""
    marker = f"-{chunk}-"
    parts = [
        info.key
        for info in store.list_objects(items_prefix(experiment_id, fingerprint), suffix=".parquet")
        if marker in info.key.rsplit("/", 1)[-1]
    ]
    if not parts:
        return set(), []
    frames: Sequence[pl.DataFrame] = [store.read_parquet(key) for key in parts]
    rows = pl.concat([f.select("run_id", "item_id", "trial", "cached", "cost_usd") for f in frames])
    mine = rows.filter(pl.col("run_id") == run_id)
    keys = {(fingerprint, item_id, trial) for item_id, trial in mine.select("item_id", "trial").iter_rows()}
    paid = mine.filter(~pl.col("cached") & pl.col("cost_usd").is_not_null()).get_column("cost_usd").to_list()
    return keys, [float(cost) for cost in paid]


def throttle_settings(
    configs: Sequence[ExperimentConfig], limits: Mapping[str, LimitSettings]
) -> dict[str, LimitSettings]:
    """The limits of every throttle the configs' calls go through (a provider, a model, a task), by key: what a
    limit shared across processes must be set up for before the first call."""
    provider_limits = ProviderLimits(overrides=limits)
    keys = {
        provider_limits.key_for(config.call_params()) if config.task is None else f"task:{config.task}"
        for config in configs
    }
    return {key: provider_limits.settings_for(key) for key in keys}
