"""The demo keeps every night's summary of its own backfill run, read back from Prefect, by night."""

from __future__ import annotations

from flows.demo import NIGHT_SUMMARY_KEY, night_summaries
from prefect import flow
from prefect.artifacts import create_markdown_artifact


@flow(flow_run_name="nightly-{day}")
def fake_night(day: str) -> None:
    create_markdown_artifact(key=NIGHT_SUMMARY_KEY, markdown=f"# tracewatch night {day}")
    create_markdown_artifact(key="nightly-drift", markdown="not a summary")


@flow
def fake_backfill(days: list[str]) -> None:
    for day in days:
        fake_night(day)


def test_the_summaries_of_one_backfill_run_by_night() -> None:
    fake_backfill(["2026-10-01"])  # another run's night: not this backfill's
    state = fake_backfill(["2026-11-01", "2026-11-02", "2026-11-03"], return_state=True)
    run_id = state.state_details.flow_run_id
    assert run_id is not None
    assert night_summaries(run_id) == {
        f"nightly-2026-11-0{n}": f"# tracewatch night 2026-11-0{n}" for n in (1, 2, 3)
    }
