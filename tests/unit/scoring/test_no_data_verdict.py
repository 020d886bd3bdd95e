"""A comparison with nothing to compare gets no verdict (issue 20, item 11): when neither side, or only one,
scored an item, the verdict is "no data" with the reason, never "no detectable difference"."""

from __future__ import annotations

import polars as pl

from tracewatch.scoring.aggregation import compare_with_baseline
from tracewatch.scoring.stage import format_leaderboard


def _frame(base_status: str, candidate_status: str) -> pl.DataFrame:
    rows = [
        {"config": name, "item_id": f"i{i}", "metric": "m", "value": 1.0 if status == "scored" else None}
        | {"status": status}
        for i in range(4)
        for name, status in (("base", base_status), ("cand", candidate_status))
    ]
    return pl.DataFrame(rows, schema_overrides={"value": pl.Float64})


def test_both_sides_without_a_scored_item_get_no_verdict_and_say_why() -> None:
    row = compare_with_baseline(_frame("error", "error"), baseline="base", higher_is_better={"m": True}).row(
        0, named=True
    )
    assert (row["n_pairs"], row["mean_difference"], row["p_adjusted"], row["verdict"]) == (
        0,
        None,
        None,
        "no data",
    )
    assert row["verdict_reason"] == (
        "no item was scored by both cand (0 scored) and base (0 scored): nothing to compare"
    )


def test_one_side_without_a_scored_item_gets_no_verdict_either() -> None:
    row = compare_with_baseline(
        _frame("scored", "unscored"), baseline="base", higher_is_better={"m": True}
    ).row(0, named=True)
    assert row["verdict"] == "no data"
    assert row["verdict_reason"].startswith("no item was scored by both cand (0 scored) and base (4 scored)")


def test_pairs_that_all_agree_still_get_no_detectable_difference_and_no_reason() -> None:
    row = compare_with_baseline(
        _frame("scored", "scored"), baseline="base", higher_is_better={"m": True}
    ).row(0, named=True)
    assert (row["n_pairs"], row["verdict"], row["verdict_reason"]) == (4, "no detectable difference", None)


def test_the_leaderboard_shows_no_data_for_a_comparison_without_data() -> None:
    rows = [
        {
            "scorer": "m",
            "config_name": "cand",
            "baseline": False,
            "mean": None,
            "ci_low": None,
            "ci_high": None,
        }
        | {"n_scored": 0, "n_error": 4, "verdict": "no data"},
    ]
    assert "| m | cand | - | 0 | 4 | no data |" in format_leaderboard(rows)
