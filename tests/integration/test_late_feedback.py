"""Late feedback end to end on the local S3 server: traces ingested and reported on one day, their feedback
arriving days later in its own files; the trace day's monitoring report, drift profile (and so its quality
trend) and judge-human agreement change once the feedback is attached, and feedback for an unknown trace ends
in `feedback_orphans`."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Callable

import polars as pl
import pytest

from devtools.model_server import ModelServer
from tracewatch.drift import detect_drift
from tracewatch.drift.profile_store import read_profile
from tracewatch.drift.quality import feedback_scores
from tracewatch.ingest import FEEDBACK_EVENT_SCHEMA, ingest_new_feedback, ingest_new_traces
from tracewatch.llm import LimitSettings, LiteLLMClient, ProviderLimits, ResponseCache, Runtime
from tracewatch.monitoring import build_monitoring_reports
from tracewatch.reports import FEEDBACK_ORPHANS, TRACE_METRICS_DAILY, partition_key
from tracewatch.scoring.suite import build_scorers
from tracewatch.scoring.trace_scores import TraceScoring, score_traces
from tracewatch.store import Store

pytestmark = pytest.mark.integration

D1, D3 = dt.date(2026, 5, 1), dt.date(2026, 5, 3)
N = 10


def daily_feedback(store: Store) -> dict[str, tuple[float, int]]:
    """thumbs/rating -> (mean, count) over the day's groups of `trace_metrics_daily`."""
    rows = (
        store.read_parquet(partition_key(TRACE_METRICS_DAILY.name, D1)).select("feedback").explode("feedback")
    )
    stats = (
        rows.unnest("feedback")
        .group_by("name")
        .agg((pl.col("mean") * pl.col("count")).sum() / pl.col("count").sum(), pl.col("count").sum())
    )
    return {name: (mean, count) for name, mean, count in stats.iter_rows()}


def agreement(store: Store, server: ModelServer) -> pl.DataFrame:
    scorers = build_scorers([{"judge": "relevance", "model": "openai/judge", "api_base": server.base_url}])

    async def main() -> TraceScoring:
        async with LiteLLMClient() as client:
            runtime = Runtime(
                client=client,
                cache=ResponseCache(store),
                limits=ProviderLimits(LimitSettings(max_concurrency=4)),
            )
            return await score_traces(store, D1, scorers, runtime, sample_size=50, resamples=50)

    return asyncio.run(main()).agreement


def test_late_feedback_changes_the_trace_days_reports(
    s3_store: Store, server: ModelServer, make_traces: Callable[..., pl.DataFrame]
) -> None:
    store = s3_store
    store.write_parquet(f"traces/date={D1}/app.parquet", make_traces(D1.isoformat(), N))
    ingest_new_traces(store)
    build_monitoring_reports(store, D1, run_id="night-1")
    detect_drift(store, D1, run_id="night-1")
    # the judge says 5 on odd answers, 1 on even ones; the rows' own thumbs agree (up on odd traces)
    server.configure(
        answers={f"ANSWER:\nanswer {i}\n": f'{{"score": {5 if i % 2 else 1}}}' for i in range(N)}
    )
    assert daily_feedback(store) == {"thumbs": (0.5, N)}
    before = agreement(store, server).row(0, named=True)
    assert (before["feedback"], before["statistic"]) == ("thumbs", pytest.approx(1.0))

    # two days later the reviewers disagree with every thumb, and rate every answer 4; one event is sent twice,
    # and one names a trace that never arrives
    late_at = dt.datetime(2026, 5, 3, 9, 0, tzinfo=dt.UTC)
    rows = [(f"t-{D1}-{i}", "thumbs", float(1 - i % 2), "user", late_at) for i in range(N)]
    rows += [(f"t-{D1}-{i}", "rating", 4.0, "annotator", late_at) for i in range(N)]
    rows += [rows[0], ("t-unknown", "thumbs", 1.0, "user", late_at)]
    store.write_parquet(
        f"feedback/date={D3}/reviews.parquet", pl.DataFrame(rows, schema=FEEDBACK_EVENT_SCHEMA, orient="row")
    )
    late = ingest_new_feedback(store, up_to=D3, orphan_after=dt.timedelta(0))
    assert (late.dates_rebuilt, late.duplicates, late.orphaned) == ([D1], 1, 1)
    assert late.rebuilt[0].why == f"{2 * N} late feedback event(s) attached (rating {N}, thumbs {N})"

    build_monitoring_reports(store, D1, run_id="night-3")
    assert daily_feedback(store) == {"thumbs": (0.5, N), "rating": (4.0, N)}  # thumbs flipped: mean unchanged
    detect_drift(store, D1, run_id="night-3")
    profile = read_profile(store, D1)
    assert profile is not None
    scores = feedback_scores([profile]).sort("name")
    assert scores.select("name", "mean", "count").rows() == [("rating", 4.0, N), ("thumbs", 0.5, N)]
    after = agreement(store, server).filter(pl.col("feedback") == "thumbs").row(0, named=True)
    assert after["statistic"] == pytest.approx(-1.0)  # the judge now disagrees with every human thumb
    orphans = store.read_parquet(partition_key(FEEDBACK_ORPHANS.name, D3))
    assert orphans.get_column("trace_id").to_list() == ["t-unknown"]
