"""Fan-out over the work pool: a backfill whose nights are child flow runs on the pool's workers, and a
nightly run over several stores (projects), one child per store.

Nights depend on each other: one ingest ledger decides which files are new, dataset version N+1 is built on
version N, the drift reference reads earlier days' profiles and a night's experiments run on that night's
version. So a backfill's children run in date order, one night at a time, exactly as `backfill` runs them in
one process, and the results are the same. What the pool adds: each night runs on whichever worker is free,
in a process (or pod) of its own, and the next night is started one step ahead - it waits on a worker for the
night before it to complete, so its start-up (a new process, a pod and its image) overlaps the running night
instead of following it. Two workers with one slot each therefore take turns. Separate stores share nothing,
so `nightly_stores` runs its children at the same time.

A retry of the parent (the UI's Retry, `prefect flow-run retry <id>`) keeps the children that completed and
starts the others again (flows/fan_out_runs.py); the parent's table artifact lists every child with its state
and link, and the parent fails naming the children that did not complete.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any
from uuid import UUID

from prefect import flow
from prefect.artifacts import create_table_artifact
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.runtime import deployment, flow_run
from prefect.states import Cancelled

from flows.fan_out_runs import (
    ChildOutcome,
    Decision,
    chain_plan,
    decide,
    earlier_children,
    failure_message,
    not_started,
    outcome,
    outcome_table,
    start_child,
    state_type,
    wait_for,
)
from flows.nightly import nightly, yesterday_utc
from flows.params import ExperimentChoice
from tracewatch.datasets import DatasetSpec
from tracewatch.errors import ConfigError
from tracewatch.reports import PublishedPartition

BACKFILL_NIGHT_DEPLOYMENT = "backfill-night/backfill-night"
NIGHTLY_STORE_DEPLOYMENT = "nightly/nightly-store"


class FanOutError(RuntimeError):
    """Some children of a fan-out did not complete (the message names them and how to run only those)."""


def _this_run() -> UUID:
    run_id = flow_run.get_id()
    if run_id is None:  # only reachable by calling the function outside a flow run (`.fn`)
        raise ConfigError("a fan-out runs as a Prefect flow run: call the flow, not its function")
    return UUID(run_id)


def _retry_command(entrypoint: str) -> str:
    run_id = flow_run.get_id()
    if deployment.get_id():
        return f"prefect flow-run retry {run_id}"
    return f"prefect flow-run retry {run_id} --entrypoint {entrypoint}"


def _report(what: str, outcomes: Sequence[ChildOutcome], entrypoint: str) -> None:
    """The table artifact, then the parent's failure when a child did not complete."""
    create_table_artifact(key="fan-out-children", table=outcome_table(outcomes), description=what)
    for line in outcomes:
        print(f"{line.label}: {line.state} {line.run_name} {line.link} {line.message}".rstrip())
    message = failure_message(what, outcomes, _retry_command(entrypoint))
    if message is not None:
        raise FanOutError(message)


def _night_run_name() -> str:
    return f"backfill-night-{flow_run.parameters['day']}"


@flow(name="backfill-night", flow_run_name=_night_run_name, log_prints=True)
def backfill_night(
    day: dt.date,
    after: UUID | None = None,
    reprocess: bool = False,
    dataset: DatasetSpec | None = None,
    experiments: list[ExperimentChoice] | None = None,
    drift: dict[str, Any] | None = None,
    fail_on_no_traces: bool = True,
) -> list[PublishedPartition] | State[Any]:
    """One night of a fanned-out backfill, on a worker of the pool: wait for the night before it (`after`, a
    flow run) to complete, then run the nightly pipeline for `day`. If the night before did not complete,
    this one does not run (it would build on a missing night) and ends Cancelled, saying why.

    Args:
        day: The night to run.
        after: The flow run of the night before (empty for the first night of a backfill).
        reprocess: As the nightly flow takes it.
        dataset: As the nightly flow takes it.
        experiments: As the nightly flow takes them.
        drift: As the nightly flow takes them.
        fail_on_no_traces: As the nightly flow takes it.
    """
    if after is not None:
        before = wait_for(after)
        if state_type(before) != StateType.COMPLETED:
            state = before.state.name if before.state is not None else "unknown"
            return Cancelled(
                message=f"night {day} not run: the night before ({before.name}) ended {state}, and each "
                "night builds on the one before it"
            )
    return nightly(
        day=day,
        reprocess=reprocess,
        dataset=dataset,
        experiments=experiments,
        drift=drift,
        fail_on_no_traces=fail_on_no_traces,
    )


def _fan_out_run_name() -> str:
    params = flow_run.parameters
    return f"backfill-fan-out-{params['start']}..{params['end']}"


@flow(name="backfill-fan-out", flow_run_name=_fan_out_run_name, log_prints=True)
def backfill_fan_out(
    start: dt.date,
    end: dt.date,
    reprocess: bool = False,
    dataset: DatasetSpec | None = None,
    experiments: list[ExperimentChoice] | None = None,
    drift: dict[str, Any] | None = None,
    fail_on_no_traces: bool = True,
    child_deployment: str = BACKFILL_NIGHT_DEPLOYMENT,
) -> list[ChildOutcome]:
    """The backfill from `start` to `end` with each night a child flow run (`child_deployment`, default the
    `backfill-night` deployment) on its work pool: oldest first, the next night started one step ahead on a
    free worker. Same results as the `backfill` flow; a retry of this run runs only the nights that did not
    complete (and those after them).

    Args:
        start: The first night (inclusive).
        end: The last night (inclusive, not before `start`).
        reprocess: Ingest each date again from the source files (see the nightly flow).
        dataset: The dataset spec, as the nightly flow takes it.
        experiments: The experiments to run each night, as the nightly flow takes them.
        drift: Drift and alert settings, as the nightly flow takes them.
        fail_on_no_traces: As the nightly flow takes it; a night without traces fails, and the nights after
            it are not run.
        child_deployment: The deployment ("flow/deployment") each night runs as; it must run
            flows/fan_out.py:backfill_night.
    """
    if end < start:
        raise ConfigError(f"backfill end={end} is before start={start}; expected start <= end")
    parent_id = _this_run()
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    shared = {
        "reprocess": reprocess,
        "dataset": dataset.model_dump(mode="json") if dataset is not None else None,
        "experiments": [e.model_dump(mode="json", exclude_none=True) for e in experiments]
        if experiments is not None
        else None,
        "drift": drift,
        "fail_on_no_traces": fail_on_no_traces,
    }
    earlier = earlier_children(parent_id)
    labels = [day.isoformat() for day in days]
    outcomes: dict[str, ChildOutcome] = {}
    active: list[tuple[str, FlowRun]] = []  # started or adopted, not yet seen to complete: at most two
    stopped: str | None = None
    for label, decision in zip(labels, chain_plan(labels, earlier), strict=True):
        if decision is Decision.DONE:
            outcomes[label] = outcome(label, earlier[label], earlier=True)
            continue
        if stopped is None:
            stopped = _one_ahead(active, outcomes)
        if stopped is not None:
            outcomes[label] = not_started(label, stopped)
            continue
        if decision is Decision.ADOPT:  # an earlier attempt's child still on the pool: never start it twice
            child = earlier[label]
        else:
            after = str(active[-1][1].id) if active else None
            child = start_child(
                child_deployment,
                {"day": label, "after": after, **shared},
                parent_id=parent_id,
                replaces=earlier.get(label),
                label=label,
                name=f"backfill-night-{label}",
            )
        print(f"night {label}: flow run {child.name} ({child.id})")
        active.append((label, child))
    for label, child in active:
        outcomes[label] = outcome(label, wait_for(child.id))
    ordered = [outcomes[label] for label in labels]
    _report(f"backfill {start}..{end}", ordered, "flows/fan_out.py:backfill_fan_out")
    return ordered


def _one_ahead(active: list[tuple[str, FlowRun]], outcomes: dict[str, ChildOutcome]) -> str | None:
    """Before the next night starts: every active night but the last has completed, and the last is on a
    worker (so the next one, waiting for it, takes another worker). Why the chain stops, if it does."""
    while len(active) > 1:
        label, child = active.pop(0)
        done = wait_for(child.id)
        outcomes[label] = outcome(label, done)
        if state_type(done) != StateType.COMPLETED:
            return f"the night of {label} before it did not complete"
    if active:
        label, child = active[-1]
        if state_type(wait_for(child.id, until_running=True)) != StateType.RUNNING:
            active.pop()  # it ended (or is paused or cancelling): its end decides
            done = wait_for(child.id)
            outcomes[label] = outcome(label, done)
            if state_type(done) != StateType.COMPLETED:
                return f"the night of {label} before it did not complete"
    return None


def _stores_run_name() -> str:
    return f"nightly-stores-{flow_run.parameters.get('day') or yesterday_utc()}"


@flow(name="nightly-stores", flow_run_name=_stores_run_name, log_prints=True)
def nightly_stores(
    stores: list[str],
    day: dt.date | None = None,
    child_deployment: str = NIGHTLY_STORE_DEPLOYMENT,
) -> list[ChildOutcome]:
    """The nightly run of one night over several stores (one per project or team: each has its own ledger,
    datasets and reports), a child flow run per store on the work pool, all at once since stores share
    nothing. Each child gets its store as TRACEWATCH_STORE in its job's environment; credentials come from the
    worker's environment, as for any run. A retry of this run runs only the stores whose night did not
    complete.

    Args:
        stores: The store URLs (`s3://bucket/prefix` or `file:///abs/dir`), each once.
        day: The night (default: yesterday, UTC), the same for every store.
        child_deployment: The deployment ("flow/deployment") each store's night runs as; it must run
            flows/nightly.py:nightly (the `nightly-store` deployment has no deployment-wide concurrency limit:
            each store's own lease keeps its nights one at a time).
    """
    if not stores or len(set(stores)) != len(stores):
        raise ConfigError(f"nightly-stores stores={stores!r}: expected one or more store URLs, each once")
    night = day or yesterday_utc()
    parent_id = _this_run()
    earlier = earlier_children(parent_id)
    children: list[tuple[str, FlowRun, bool]] = []
    for store in stores:
        decision = decide(earlier.get(store))
        if decision is Decision.RUN:
            child = start_child(
                child_deployment,
                {"day": night.isoformat()},
                parent_id=parent_id,
                replaces=earlier.get(store),
                label=store,
                name=f"nightly-{night}",  # the nightly flow names its runs so; the tags tell the stores apart
                job_variables={"env": {"TRACEWATCH_STORE": store}},
            )
        else:  # completed by an earlier attempt (kept), or still on the pool (watched, not started twice)
            child = earlier[store]
        print(f"{store}: flow run {child.name} ({child.id})")
        children.append((store, child, decision is Decision.DONE))
    outcomes = [outcome(label, wait_for(child.id), earlier=kept) for label, child, kept in children]
    _report(f"nightly {night} over {len(stores)} stores", outcomes, "flows/fan_out.py:nightly_stores")
    return outcomes
