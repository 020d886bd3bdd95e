"""The `drift_distributions` rows: the buckets the night's test compared, each side's shares and counts, with
every value in some bucket (top categories plus `(other)`)."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl

from tracewatch.drift import stats
from tracewatch.drift.config import DriftConfig
from tracewatch.drift.distributions import OTHER, TOP_CATEGORIES, distribution_frame
from tracewatch.drift.night import assess_night, distributions
from tracewatch.drift.profile import build_day_profile
from tracewatch.reports.tables import DRIFT_DISTRIBUTIONS

DAY = dt.date(2026, 11, 5)


def _day(offset: int, latency_shift: float, routes: int) -> pl.DataFrame:
    rng = np.random.default_rng(offset)
    n = 400
    return pl.DataFrame(
        {
            "latency_ms": rng.gamma(2.0, 300.0, n) + latency_shift,
            "route": [f"r{i % routes}" for i in range(n)],
            "output_tokens": rng.integers(1, 4, n),
        }
    )


def test_numeric_buckets_are_the_tests_reference_deciles_and_count_every_value() -> None:
    config = DriftConfig()
    reference = build_day_profile(_day(1, 0.0, 3), DAY - dt.timedelta(days=1))
    current = build_day_profile(_day(2, 500.0, 3), DAY)
    rows = distribution_frame(reference, current, ["latency_ms"], config)
    edges = stats.quantile_edges(reference.numeric["latency_ms"], config.psi_bins)
    assert rows.get_column("bucket_order").to_list() == list(range(len(edges) + 1))
    expected_ref = stats.bucket_counts(reference.numeric["latency_ms"], edges)
    assert rows.get_column("reference_count").to_list() == expected_ref.tolist()
    assert rows.get_column("current_count").sum() == 400
    assert rows.get_column("bucket")[0] == f"≤ {edges[0]:.4g}"
    assert rows.get_column("bucket")[-1] == f"> {edges[-1]:.4g}"
    assert abs(rows.get_column("current_share").sum() - 1) < 1e-9
    # The shift moved most of the day above the reference's top decile.
    assert rows.get_column("current_share")[-1] > 0.4


def test_few_values_are_their_own_buckets_and_categories_keep_the_top_and_other() -> None:
    reference = build_day_profile(_day(1, 0.0, 15), DAY - dt.timedelta(days=1))
    current = build_day_profile(_day(2, 0.0, 15), DAY)
    rows = distribution_frame(reference, current, ["output_tokens", "route", "not_profiled"], DriftConfig())
    tokens = rows.filter(pl.col("feature") == "output_tokens")
    assert tokens.get_column("bucket").to_list() == ["1", "2", "3"]
    assert tokens.get_column("kind").unique().to_list() == ["numeric"]
    route = rows.filter(pl.col("feature") == "route")
    assert route.height == TOP_CATEGORIES + 1
    assert route.get_column("bucket")[-1] == OTHER
    assert route.get_column("reference_count").sum() == 400
    assert route.get_column("current_count").sum() == 400
    assert set(rows.get_column("feature")) == {"output_tokens", "route"}


def test_the_night_writes_its_tested_features_in_the_tables_schema() -> None:
    config = DriftConfig()
    days = [build_day_profile(_day(i, 0.0, 3), DAY - dt.timedelta(days=8 - i)) for i in range(8)]
    current = build_day_profile(_day(9, 500.0, 3), DAY)
    night = assess_night(days, current, config)
    rows = distributions(night, current, config)
    tested = {r.feature for r in night.results if r.role == "test"}
    assert set(rows.get_column("feature")) == tested & {"latency_ms", "route", "output_tokens"}
    assert rows.columns == [c for c in DRIFT_DISTRIBUTIONS.schema if c != "run_id"]
    first = assess_night([], current, config)
    assert distributions(first, current, config).height == 0
