"""What a fan-out parent decides from the children of its earlier attempts (flows/fan_out_runs.py): completed
children are kept, unfinished ones watched, the others started again; in a chain of nights, every night after
one that runs again runs again too; the report names the children that did not complete."""

from __future__ import annotations

import datetime as dt
from uuid import uuid4

import pytest
from flows.fan_out_runs import (
    ChildOutcome,
    Decision,
    chain_plan,
    decide,
    failure_message,
    label_tag,
    latest_by_label,
    not_started,
    outcome,
    outcome_table,
    parent_tag,
)
from prefect.client.schemas.objects import FlowRun, State, StateType

T0 = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def child(label: str, state: StateType, minutes: int = 0, name: str = "") -> FlowRun:
    return FlowRun(
        flow_id=uuid4(),
        name=name or f"backfill-night-{label}",
        tags=["tracewatch-fan-out", parent_tag("p"), label_tag(label)],
        state=State(type=state, message="no traces" if state == StateType.FAILED else None),
        created=T0 + dt.timedelta(minutes=minutes),
    )


@pytest.mark.parametrize(
    ("state", "expected"),
    [
        (None, Decision.RUN),
        (StateType.COMPLETED, Decision.DONE),
        (StateType.RUNNING, Decision.ADOPT),
        (StateType.SCHEDULED, Decision.ADOPT),
        (StateType.FAILED, Decision.RUN),
        (StateType.CRASHED, Decision.RUN),
        (StateType.CANCELLED, Decision.RUN),
    ],
)
def test_decide_keeps_completed_watches_unfinished_and_reruns_the_rest(
    state: StateType | None, expected: Decision
) -> None:
    assert decide(child("d", state) if state is not None else None) is expected


def test_the_newest_child_of_a_label_counts() -> None:
    old = child("2026-01-02", StateType.FAILED, minutes=0)
    new = child("2026-01-02", StateType.COMPLETED, minutes=5)
    other = child("2026-01-01", StateType.COMPLETED, minutes=1)
    untagged = FlowRun(flow_id=uuid4(), name="someone-else", tags=[parent_tag("p")])

    latest = latest_by_label([new, other, old, untagged])

    assert latest == {"2026-01-02": new, "2026-01-01": other}


def test_a_chain_keeps_completed_nights_only_before_the_first_night_that_runs_again() -> None:
    labels = ["d1", "d2", "d3", "d4", "d5"]
    earlier = {
        "d1": child("d1", StateType.COMPLETED),
        "d2": child("d2", StateType.FAILED),
        "d4": child("d4", StateType.COMPLETED),  # built on the old d3: must run again after d2 and d3
    }

    plan = chain_plan(labels, earlier)

    assert plan == [Decision.DONE, Decision.RUN, Decision.RUN, Decision.RUN, Decision.RUN]


def test_a_chain_adopts_a_night_still_running_and_runs_what_follows() -> None:
    earlier = {"d1": child("d1", StateType.COMPLETED), "d2": child("d2", StateType.RUNNING)}

    assert chain_plan(["d1", "d2", "d3"], earlier) == [Decision.DONE, Decision.ADOPT, Decision.RUN]


def test_the_failure_names_each_child_that_did_not_complete_and_how_to_retry() -> None:
    outcomes = [
        outcome("d1", child("d1", StateType.COMPLETED), earlier=True),
        outcome("d2", child("d2", StateType.FAILED)),
        not_started("d3", "the night of d2 before it did not complete"),
    ]

    message = failure_message("backfill d1..d3", outcomes, "prefect flow-run retry 123")

    assert message is not None
    assert "2 of 3 children did not complete" in message
    assert "d2: Failed (no traces)" in message
    assert "d3: not started (the night of d2 before it did not complete)" in message
    assert "prefect flow-run retry 123" in message
    assert "d1" not in message.split(" - ", 1)[1]


def test_no_failure_when_every_child_completed() -> None:
    done = [ChildOutcome(label="d1", state="Completed"), ChildOutcome(label="d2", state="Completed")]

    assert failure_message("backfill", done, "retry") is None


def test_the_table_has_a_row_per_child_in_order_marking_kept_ones() -> None:
    rows = outcome_table(
        [
            outcome("d1", child("d1", StateType.COMPLETED), earlier=True),
            outcome("d2", child("d2", StateType.FAILED)),
        ]
    )

    assert [row["child"] for row in rows] == ["d1", "d2"]
    assert rows[0]["state"] == "Completed (earlier attempt)"
    assert rows[1]["state"] == "Failed"
    assert rows[1]["message"] == "no traces"
    assert rows[0]["flow run"] == "backfill-night-d1"
