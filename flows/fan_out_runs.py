"""Child flow runs of a fan-out parent (flows/fan_out.py): what a retry of the parent starts again, how a
child is started on the work pool and watched, and the parent's report of its children.

A child is found again through tags, not through the parent's memory: every child carries the parent's
flow-run id and its own label (a date), so a retry of the parent (the same flow-run id, `run_count` one more)
sees the children of its earlier attempts, keeps the completed ones and starts the others again.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from prefect import get_client
from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterTags
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.deployments import run_deployment
from prefect.utilities.urls import url_for

FAN_OUT_TAG = "tracewatch-fan-out"
POLL_S = 1.0
"""How often a parent (or a waiting child) asks the Prefect API for a child's state: a few calls a second at
most, against nights that take minutes."""
_UNFINISHED = {
    StateType.SCHEDULED,
    StateType.PENDING,
    StateType.RUNNING,
    StateType.PAUSED,
    StateType.CANCELLING,
}


def parent_tag(parent_id: UUID | str) -> str:
    return f"fan-out-parent:{parent_id}"


def label_tag(label: str) -> str:
    return f"fan-out-child:{label}"


class Decision(enum.Enum):
    """What a parent attempt does with one label, given the children earlier attempts started for it."""

    DONE = "done"  # completed in an earlier attempt: kept, not run again
    ADOPT = "adopt"  # still scheduled or running (the earlier attempt crashed): watched, not started twice
    RUN = "run"  # never started, or ended other than completed: started (again)


def state_type(run: FlowRun) -> StateType | None:
    """The run's state type, from its state (a `FlowRun` built by hand has no separate `state_type`)."""
    return run.state.type if run.state is not None else run.state_type


def chain_plan(labels: Sequence[str], earlier: Mapping[str, FlowRun]) -> list[Decision]:
    """The decisions for an ordered chain (a backfill's nights): a completed child is kept only while every
    label before it is kept too, since a night run again changes what the later nights build on (the dataset
    version, the drift reference)."""
    plan: list[Decision] = []
    for label in labels:
        decision = decide(earlier.get(label))
        if decision is Decision.DONE and any(d is not Decision.DONE for d in plan):
            decision = Decision.RUN
        plan.append(decision)
    return plan


def decide(latest: FlowRun | None) -> Decision:
    """The decision for one label from its latest child (None: no child yet)."""
    state = state_type(latest) if latest is not None else None
    if state is None:
        return Decision.RUN
    if state == StateType.COMPLETED:
        return Decision.DONE
    if state in _UNFINISHED:
        return Decision.ADOPT
    return Decision.RUN


def latest_by_label(runs: Iterable[FlowRun]) -> dict[str, FlowRun]:
    """The newest child per label (by creation), among the children of one parent."""
    latest: dict[str, FlowRun] = {}
    for run in runs:
        labels = [t.removeprefix("fan-out-child:") for t in run.tags if t.startswith("fan-out-child:")]
        if len(labels) != 1:
            continue  # not a child of a fan-out (a user's own tag on some other run)
        label = labels[0]
        current = latest.get(label)
        if current is None or _created(run) > _created(current):
            latest[label] = run
    return latest


def _created(run: FlowRun) -> float:
    when = run.created or run.expected_start_time
    return when.timestamp() if when is not None else 0.0


def earlier_children(parent_id: UUID) -> dict[str, FlowRun]:
    """The newest child per label that earlier attempts of the parent `parent_id` started."""
    with get_client(sync_client=True) as client:
        runs = client.read_flow_runs(
            flow_run_filter=FlowRunFilter(tags=FlowRunFilterTags(all_=[parent_tag(parent_id)]))
        )
    return latest_by_label(runs)


def start_child(
    deployment: str,
    parameters: Mapping[str, Any],
    *,
    parent_id: UUID,
    replaces: FlowRun | None,
    label: str,
    name: str,
    job_variables: Mapping[str, Any] | None = None,
) -> FlowRun:
    """A child flow run of `deployment` on its work pool, linked to the parent in the UI, tagged so that a
    retry of the parent finds it (`replaces`: the earlier attempt's child for `label`, if any); returned at
    once (scheduled, not yet on a worker)."""
    run = run_deployment(
        deployment,
        parameters=dict(parameters),
        flow_run_name=name,
        timeout=0,
        tags=[FAN_OUT_TAG, parent_tag(parent_id), label_tag(label)],
        # A client retry of the create call gives the same run, never a second one; the key names the child
        # this one replaces, so each attempt of the parent gets a run of its own.
        idempotency_key=f"{parent_id}/{label}/{replaces.id if replaces is not None else 'first'}",
        job_variables=dict(job_variables) if job_variables else None,
    )
    if not isinstance(run, FlowRun):  # run_deployment answers a coroutine only when called from async code
        raise TypeError("start_child is called from synchronous flow code")
    return run


def wait_for(run_id: UUID, *, until_running: bool = False) -> FlowRun:
    """The child once it ended (or, with `until_running`, once a worker started it or it ended)."""
    with get_client(sync_client=True) as client:
        while True:
            run = client.read_flow_run(run_id)
            state = state_type(run)
            if state is not None and state not in _UNFINISHED:
                return run
            if until_running and state in (StateType.RUNNING, StateType.PAUSED, StateType.CANCELLING):
                return run
            time.sleep(POLL_S)


@dataclass(frozen=True)
class ChildOutcome:
    """One label's line in the parent's report."""

    label: str
    state: str  # Completed, Failed, Crashed, Cancelled, or "not started"
    run_name: str = ""
    link: str = ""
    message: str = ""
    earlier: bool = False  # completed by an earlier attempt of the parent

    @property
    def completed(self) -> bool:
        return self.state == "Completed"


def outcome(label: str, run: FlowRun, *, earlier: bool = False) -> ChildOutcome:
    state = run.state
    return ChildOutcome(
        label=label,
        state=(state.name or state.type.value.title()) if state is not None else "unknown",
        run_name=run.name,
        link=url_for(run) or str(run.id),
        message=(state.message or "") if state is not None else "",
        earlier=earlier,
    )


def not_started(label: str, reason: str) -> ChildOutcome:
    return ChildOutcome(label=label, state="not started", message=reason)


def outcome_table(outcomes: Sequence[ChildOutcome]) -> list[dict[str, str]]:
    """The parent's table artifact: one row per label, in order."""
    return [
        {
            "child": o.label,
            "state": o.state + (" (earlier attempt)" if o.earlier else ""),
            "flow run": o.run_name,
            "link": o.link,
            "message": o.message[:300],
        }
        for o in outcomes
    ]


def failure_message(what: str, outcomes: Sequence[ChildOutcome], retry: str) -> str | None:
    """Why the parent fails (None when every child completed): each child that did not, and how to run only
    those again (`retry`: the command that retries the parent)."""
    missed = [o for o in outcomes if not o.completed]
    if not missed:
        return None
    lines = "; ".join(f"{o.label}: {o.state}" + (f" ({o.message})" if o.message else "") for o in missed)
    return (
        f"{what}: {len(missed)} of {len(outcomes)} children did not complete - {lines}. Retry this flow run "
        f"(the UI's Retry, or `{retry}`) to run only these again; the completed ones are kept."
    )
