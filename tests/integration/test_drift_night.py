"""The nightly drift step against a real store: profiles and report partitions round-trip, a rerun replaces
them, the first night claims nothing, and missing reference days are tolerated and reported."""

from __future__ import annotations

import datetime as dt

import polars as pl
import pytest

from tracewatch.drift import DriftConfig, build_day_profile, detect_drift, read_profile
from tracewatch.drift.baseline import Rebaseline, read_state
from tracewatch.drift.features import PROFILE_INPUT_COLUMNS
from tracewatch.drift.night import previous_cusum
from tracewatch.drift.quality import cusum_states
from tracewatch.ingest import ingest_new_traces, scan_accepted
from tracewatch.reports import read_manifest
from tracewatch.reports.tables import DRIFT, QUALITY_TREND
from tracewatch.reports.writer import partition_key
from tracewatch.store import Store
from tracewatch.traces import write_demo_traces

pytestmark = pytest.mark.integration

START = dt.date(2026, 11, 1)
DAYS = [START + dt.timedelta(days=i) for i in range(4)]


def _ingest(store: Store) -> Store:
    write_demo_traces(store, start=START, days=4, traces_per_day=300, plant_bad_input=False, plant_pii=False)
    ingest_new_traces(store, up_to=DAYS[-1])
    return store


@pytest.fixture
def ingested(store: Store) -> Store:
    """Four demo days, ingested, on a local folder and on the local S3 server."""
    return _ingest(store)


@pytest.fixture
def ingested_s3(s3_store: Store) -> Store:
    return _ingest(s3_store)


@pytest.fixture
def ingested_file(file_store: Store) -> Store:
    return _ingest(file_store)


def test_nights_publish_profiles_and_reports_and_reruns_replace_them(ingested: Store) -> None:
    store = ingested
    first = detect_drift(store, DAYS[0], run_id="n1")
    assert first.report is None and first.alerts == ()
    assert "no drift claimed" in first.message
    assert len(first.reference.found) == 0 and len(first.reference.missing) == 7
    assert store.read_parquet(partition_key("drift", DAYS[0])).height == 0
    assert read_manifest(store, "drift", DAYS[0]).status == "empty"  # type: ignore[union-attr]

    for day in DAYS[1:]:
        detect_drift(store, day, run_id="n1")
    night = detect_drift(store, DAYS[3], run_id="n2")
    assert night.reference.found == tuple(DAYS[:3]) and len(night.reference.missing) == 4
    assert night.report is not None and night.report.results
    assert "3 day(s), 900 traces, 4 missing" in night.message

    drift = store.read_parquet(partition_key("drift", DAYS[3]))
    assert list(drift.columns) == list(DRIFT.schema)
    assert drift.get_column("run_id").unique().to_list() == ["n2"]
    tests = drift.filter(pl.col("role") == "evidently")
    # input_topic is pinned to chi-square by default; input_vector always uses the MMD test.
    sized = tests.filter(~pl.col("feature").is_in(["input_topic", "input_vector"]))
    small = sized.get_column("reference_size") <= DriftConfig().small_sample_max
    assert (small == sized.get_column("method").is_in(["ks", "chisquare"])).all()
    assert small.any() and not small.all()  # 900 traces: small, except tags (several per trace)
    assert tests.get_column("reference_days").unique().to_list() == [3]
    assert tests.get_column("reference_start").unique().to_list() == [DAYS[3] - dt.timedelta(days=7)]
    assert drift.filter(pl.col("role") == "dataset").height == 1
    quality = store.read_parquet(partition_key("quality_trend", DAYS[3]))
    assert list(quality.columns) == list(QUALITY_TREND.schema)
    assert set(quality.get_column("name")) == {"thumbs", "rating"}
    assert quality.get_column("cusum").is_not_null().all()  # 3 reference days: both detectors judge
    family = drift.filter(pl.col("role") == "test")
    assert family["p_value_adjusted"].is_not_null().all() and family["effect_size"].is_not_null().all()
    assert (family["p_value_adjusted"] >= family["p_value"]).all()
    assert family["alert"].any() == bool(night.alerts)
    vector = drift.filter(pl.col("feature") == "input_vector").row(0, named=True)
    assert (vector["kind"], vector["method"], vector["current_size"]) == ("vector", "mmd", 300)
    assert vector["reference_size"] == 900 and vector["p_value"] is not None
    assert {p.table for p in night.published} == {"drift", "quality_trend", "drift_distributions"}

    again = detect_drift(store, DAYS[3], run_id="n3")
    assert [o.key for o in store.list_objects(f"reports/drift/date={DAYS[3]}")] == [
        partition_key("drift", DAYS[3])
    ]
    rerun = store.read_parquet(partition_key("drift", DAYS[3]))
    assert rerun.drop("run_id").equals(drift.drop("run_id"))
    assert again.message == night.message


def test_the_stored_profile_equals_the_one_built_from_the_accepted_traces(ingested_s3: Store) -> None:
    store = ingested_s3
    accepted = scan_accepted(store, DAYS[1], PROFILE_INPUT_COLUMNS)
    night = detect_drift(store, DAYS[1], run_id="r", accepted=accepted)
    assert night.profile_key == f"warehouse/profiles/date={DAYS[1]}/profile.parquet"
    assert read_profile(store, DAYS[1]) == build_day_profile(accepted, DAYS[1])
    assert read_profile(store, DAYS[0]) is None


def test_a_pinned_baseline_and_extra_judge_scores(ingested_file: Store) -> None:
    store = ingested_file
    for day in DAYS[:3]:
        detect_drift(store, day, run_id="b")
    scores = pl.DataFrame(
        {
            "date": DAYS,
            "name": "faithfulness",
            "source": "judge",
            "mean": [0.9, 0.91, 0.89, 0.5],
            "count": 100,
            "std": 0.1,
            "higher_is_better": True,
        }
    )
    config = DriftConfig(baseline=(DAYS[0], DAYS[2]), quality_min_reference_days=3, cusum_alerts=True)
    detect_drift(store, DAYS[2], run_id="b", config=config, scores=scores)  # publishes the CUSUM to carry
    # Pretend the night before left a judge CUSUM just under its alarm, on a reference mean of 0.9.
    carried = pl.DataFrame(
        {"name": ["faithfulness"], "source": ["judge"], "cusum": [3.9], "cusum_reference_mean": [0.9]}
    ).with_columns(pl.lit(0.0).alias("cusum_reference_sd"))
    key = partition_key("quality_trend", DAYS[2])
    published = store.read_parquet(key)
    assert previous_cusum(store, DAYS[3]) == cusum_states(published)
    store.write_parquet(
        key, pl.concat([published.filter(pl.col("source") != "judge"), carried], how="diagonal")
    )
    night = detect_drift(store, DAYS[3], run_id="b", config=config, scores=scores)
    assert night.reference.found == tuple(DAYS[:3]) and night.reference.missing == ()
    judge = next(p for p in night.quality if p.name == "faithfulness")
    assert judge.changed and judge.source == "judge" and judge.detector == "z_score+cusum"
    assert judge.cusum_reference_mean == 0.9 and judge.cusum is not None and judge.cusum > 4
    alert = next(a for a in night.alerts if a.kind == "quality" and a.feature == "faithfulness")
    assert alert.detector == "z_score+cusum" and alert.statistic == judge.z_score


def test_alerted_days_stay_out_of_the_reference_until_a_rebaseline(file_store: Store) -> None:
    """Days 1-5 quiet, latency triples from day 6: days 6-8 keep alerting against days 1-5; accepting the new
    normal from day 6 on day 9 restarts the reference there (warming up, then quiet)."""
    store = file_store
    start = dt.date(2026, 11, 1)
    days = [start + dt.timedelta(days=i) for i in range(12)]
    write_demo_traces(
        store, start=start, days=12, traces_per_day=300, drift=None, plant_bad_input=False, plant_pii=False
    )
    for day in days[5:]:
        key = f"traces/date={day}/part-0000.parquet"
        store.write_parquet(key, store.read_parquet(key).with_columns(pl.col("latency_ms") * 3))
    ingest_new_traces(store, up_to=days[-1])
    nights = {day: detect_drift(store, day, run_id="h") for day in days[:9]}
    assert nights[days[1]].warming_up is not None and "warming up" in nights[days[1]].message
    assert all(not nights[d].alerts for d in days[:5])
    for day in days[5:9]:
        night = nights[day]
        assert "latency_ms" in {a.feature for a in night.alerts}, day
        assert max(night.reference.found) == days[4], day  # the alerted days are left out
    assert nights[days[8]].reference.skipped == tuple(days[5:8])
    again = detect_drift(store, days[8], run_id="h", rebaseline_from=days[5])
    assert again.reference.found == tuple(days[5:8]) and not again.alerts
    later = [detect_drift(store, day, run_id="h") for day in days[9:]]
    assert all(not n.alerts for n in later) and later[-1].reference.found == tuple(days[5:11])
    assert read_state(store).rebaseline == Rebaseline(days[5], days[8])
