"""The demo's late feedback names the demo's own traces, passes the feedback suite, and a third of it arrives a
day late, so the next night rebuilds the day before."""

from __future__ import annotations

import datetime as dt

from devtools.demo_feedback import write_late_feedback
from tracewatch.ingest import ingest_new_feedback, ingest_new_traces
from tracewatch.store import Store
from tracewatch.traces import DriftSpec, write_demo_traces

D1 = dt.date(2026, 11, 1)
DRIFT = DriftSpec(from_day=10)


def test_demo_feedback_attaches_and_the_next_night_rebuilds_the_day_before(file_store: Store) -> None:
    write_demo_traces(file_store, start=D1, days=3, traces_per_day=200, drift=DRIFT, plant_bad_input=False)
    written = write_late_feedback(file_store, start=D1, days=3, traces_per_day=200, seed=7, drift=DRIFT)
    again = write_late_feedback(file_store, start=D1, days=3, traces_per_day=200, seed=7, drift=DRIFT)
    assert written == again  # deterministic
    assert set(written.day_late) == {D1, D1 + dt.timedelta(days=1)}  # the last day's arrive the same day
    ingest_new_traces(file_store)
    nights = [
        ingest_new_feedback(
            file_store, up_to=D1 + dt.timedelta(days=n), now=dt.datetime(2026, 11, 4, tzinfo=dt.UTC)
        )
        for n in range(4)
    ]
    assert sum(n.rows_read for n in nights) == written.events
    assert [n.rows_quarantined for n in nights] == [0, 0, 0, 0]
    # one rating a day names a dropped trace: it waits, and 72 h after it was given it is an orphan
    assert written.without_trace == 3
    assert [n.waiting for n in nights] == [1, 2, 3, 2]
    assert [n.orphaned for n in nights] == [0, 0, 0, 1]
    assert nights[1].dates_rebuilt == [D1, D1 + dt.timedelta(days=1)]  # yesterday's late ratings and today's
    late_on_night_2 = next(r for r in nights[1].rebuilt if r.date == D1)
    assert late_on_night_2.events == written.day_late[D1]
