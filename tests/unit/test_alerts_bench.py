"""The alerts benchmark's helpers: the memo that makes a seed's power nights pay for their reference once must
return exactly what the function computes, keyed by value; the Wilson interval and the per-run record are what
the published tables are built from."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from bench import alerts_memo
from bench.alerts_report import compact_run, rate, wilson

from tracewatch.drift import effects, stratified
from tracewatch.drift.counts import NumericCounts


def _table(values: list[float], counts: list[int]) -> NumericCounts:
    return NumericCounts(np.array(values, np.float64), np.array(counts, np.int64), exact=True)


def test_the_memo_computes_once_per_value_and_returns_the_same_float() -> None:
    calls: list[Any] = []

    def swing(day: Any, reference: Any, scale: float) -> float:
        calls.append(day)
        return effects.wasserstein_swing(day, reference, scale)

    memoised = alerts_memo._memoised(swing, alerts_memo._swing_key)
    day = (_table([1.0, 2.0], [3, 4]), _table([5.0], [2]))
    reference = (_table([1.0, 2.0, 3.0], [10, 12, 3]), _table([5.0, 6.0], [8, 1]))
    first = memoised(day, reference, 1.5)
    # Equal tables built anew hit the memo; a different count or scale does not.
    again = memoised(
        (_table([1.0, 2.0], [3, 4]), _table([5.0], [2])),
        (_table([1.0, 2.0, 3.0], [10, 12, 3]), _table([5.0, 6.0], [8, 1])),
        1.5,
    )
    assert again == first == effects.wasserstein_swing(day, reference, 1.5)
    assert len(calls) == 1
    memoised(day, reference, 2.0)
    memoised((_table([1.0, 2.0], [3, 5]), day[1]), reference, 1.5)
    assert len(calls) == 3
    alerts_memo.clear_memos()
    memoised(day, reference, 1.5)
    assert len(calls) == 4


def test_arrays_are_keyed_by_shape_dtype_and_bytes() -> None:
    a = np.array([[1, 2], [3, 4]], np.int64)
    assert alerts_memo.array_key(a) == alerts_memo.array_key(a.copy())
    assert alerts_memo.array_key(a) != alerts_memo.array_key(a.reshape(1, 4))
    assert alerts_memo.array_key(a) != alerts_memo.array_key(a.astype(np.int32))
    # A transposed view is keyed by its values, not by the memory under it.
    assert alerts_memo.array_key(a.T) == alerts_memo.array_key(np.array([[1, 3], [2, 4]], np.int64))


def test_the_swapped_functions_give_the_originals_results(monkeypatch: pytest.MonkeyPatch) -> None:
    originals = {name: getattr(effects, name) for name in ("wasserstein_swing", "share_swing")}
    cmh = stratified.cmh_statistic
    monkeypatch.setattr(effects, "wasserstein_swing", originals["wasserstein_swing"])
    monkeypatch.setattr(effects, "share_swing", originals["share_swing"])
    monkeypatch.setattr(stratified, "cmh_statistic", cmh)
    alerts_memo.memoise_reference_work()
    assert getattr(effects.wasserstein_swing, "memoised", False)
    tables = [np.array([[5, 7, 2], [6, 6, 3]], np.int64), np.array([[9, 1, 4], [8, 2, 5]], np.int64)]
    assert stratified.cmh_statistic(tables) == cmh(tables)
    assert stratified.cmh_statistic([t.copy() for t in tables]) == cmh(tables)
    day, reference = np.array([[3, 4], [1, 2]], np.int64), np.array([[30, 41], [12, 20]], np.int64)
    assert effects.share_swing(day, reference) == originals["share_swing"](day, reference)


def test_wilson_interval_matches_the_published_one() -> None:
    low, high = wilson(10, 200)
    assert (round(low, 4), round(high, 4)) == (0.0274, 0.0896)
    assert wilson(0, 200)[0] == 0.0
    assert rate([True, False, False, False]) == {
        "alerts": 1,
        "nights": 4,
        "rate": 0.25,
        "ci95": list(wilson(1, 4)),
    }


def test_a_run_record_has_one_flag_per_rule_and_night() -> None:
    chain = [{"night": 8, "alert": False, "why": ()}, {"night": 9, "alert": True, "why": ("drift:model",)}]
    cell = {"new": True, "pooled": False, "old": True, "new_why": (), "pooled_why": (), "old_why": ()}
    run = {
        "seed": 3,
        "size": 300,
        "seconds": 1.0,
        "rows": {1: 290, 2: 310},
        "chains": {"new": chain, "pooled": chain[:1], "old": chain},
        "evidently_last": None,
        "control": {"new": False, "pooled": False, "old": True},
        "power": {"latency": {"small": cell, "medium": {**cell, "evidently": False}}},
    }
    record = compact_run(run)
    assert record["new"] == "01" and record["pooled"] == "0" and record["old"] == "01"
    assert record["new_why"] == {"9": ["drift:model"]}
    assert record["control"] == "001-"
    assert record["power"] == {"latency": "101- 1010"}
