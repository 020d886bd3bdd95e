"""What `make demo` shows with its default settings (flows/demo.py: 14 days of 2,000 traces, seed 7, drift from
day 10, 2 new items a night, the demo's trace scoring), without the model: the nightly dataset builds redact
planted PII on some night, and every night has traces with feedback for the judge's agreement. Checked on
the fixed demo dates and on the dates a demo run today uses (the planted traces depend on the date).

The full run, model included, is tests/orchestration/test_demo_end_to_end.py."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest
from flows.demo import DEMO_TRACE_SCORING, demo_dataset_spec

from tests.support.demo_days import DEMO_START
from tracewatch.datasets import DatasetSpec, sample_dataset_items
from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.scoring import load_trace_scoring
from tracewatch.scoring.trace_scores import TRACE_COLUMNS, feedback_traces, sample_traces
from tracewatch.store import Store
from tracewatch.summaries import dataset_night_line
from tracewatch.traces import DriftSpec, write_demo_traces

DAYS, TRACES_PER_DAY, SEED, ITEMS_PER_NIGHT = 14, 2000, 7, 2
TODAYS_DEMO_START = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=DAYS)


@pytest.mark.parametrize("start", [DEMO_START, TODAYS_DEMO_START], ids=["demo-dates", "todays-dates"])
def test_the_default_demo_redacts_planted_pii_and_has_feedback_to_judge(
    file_store: Store, start: dt.date, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACEWATCH_DEMO_MODEL_URL", "http://127.0.0.1:9/v1")  # the judge's model: not called
    demo = write_demo_traces(
        file_store,
        start=start,
        days=DAYS,
        traces_per_day=TRACES_PER_DAY,
        seed=SEED,
        drift=DriftSpec(from_day=10),
    )
    days = [start + dt.timedelta(days=i) for i in range(DAYS)]
    ingest_new_traces(file_store, up_to=days[-1])
    spec = DatasetSpec.from_dict(demo_dataset_spec(ITEMS_PER_NIGHT))
    scoring = load_trace_scoring(DEMO_TRACE_SCORING)
    planted = {p.trace_id for p in demo.planted_pii}
    redacted: dict[str, int] = {}
    lines = []
    for night, day in enumerate(days):
        build, _ = sample_dataset_items(file_store, spec, day, run_id=f"run-{night}")
        for kind, count in build.redactions.items():
            redacted[kind] = redacted.get(kind, 0) + count
        lines.append(dataset_night_line(build.message, build.redactions))
        assert sum(build.redactions.values()) == int(build.items["redactions"].sum())
        traces = scan_accepted(file_store, day, TRACE_COLUMNS)
        sample = sample_traces(traces, scoring.sample_size, scoring.seed)
        judged = feedback_traces(traces, sample, scoring.agreement_size, scoring.seed)
        assert judged.height == scoring.agreement_size >= 3, day  # enough for a rank correlation every night
    items = pl.concat(
        [file_store.read_parquet(o.key) for o in file_store.list_objects("reports/dataset_items", ".parquet")]
    )
    picked_planted = items.filter(pl.col("source_trace_id").is_in(list(planted)))
    assert picked_planted.height > 0 and sum(redacted.values()) > 0, redacted
    assert (picked_planted["redactions"] > 0).all()
    assert any("PII redacted in the new items" in line for line in lines), lines
