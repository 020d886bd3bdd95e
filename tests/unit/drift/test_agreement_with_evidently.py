"""On generated numeric and categorical columns, with and without drift, in both size regimes, every drift
decision equals Evidently's DataDriftPreset (0.7) on the same tables, and so does the method it chose."""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from bench.drift_cases import evidently_decisions, traces_table

from tracewatch.drift import DriftConfig, build_day_profile, run_checks

DAY = dt.date(2026, 11, 1)
EVIDENTLY_METHOD = {
    "ks": "K-S p_value",
    "chisquare": ("chi-square p_value", "Z-test p_value"),
    "wasserstein": "Wasserstein distance (normed)",
    "jensenshannon": "Jensen-Shannon distance",
}


@pytest.mark.parametrize("drift", [False, True])
@pytest.mark.parametrize(("seed", "reference_rows", "current_rows"), [(1, 700, 150), (2, 6000, 1500)])
def test_decisions_agree_with_evidently(
    seed: int, reference_rows: int, current_rows: int, drift: bool
) -> None:
    rng = np.random.default_rng(seed)
    reference = traces_table(rng, reference_rows, drift=False)
    current = traces_table(rng, current_rows, drift=drift)
    theirs = evidently_decisions(reference, current)
    report = run_checks(build_day_profile(reference, DAY), build_day_profile(current, DAY), DriftConfig())
    ours = {r.feature: r for r in report.results if r.role == "evidently"}
    assert set(theirs) == set(ours)
    for column, (method, value, drifted) in theirs.items():
        assert method in EVIDENTLY_METHOD[ours[column].method], column
        assert ours[column].drifted == drifted, (column, method, value, ours[column].message)
        if method in ("K-S p_value", "Z-test p_value"):
            assert ours[column].p_value == pytest.approx(value, rel=1e-9), column
        if method.startswith("Jensen"):
            assert ours[column].statistic == pytest.approx(value, rel=1e-9), column
    drifted = {column for column, result in ours.items() if result.drifted}
    if drift:
        assert {"latency_ms", "output_tokens", "model"} <= drifted
    else:
        assert drifted == set()
