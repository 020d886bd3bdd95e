"""The experiment leaderboard never shows an unknown cost as 0 (issue 20, item 10)."""

import polars as pl

from tracewatch.summaries import leaderboard_table


def test_a_config_whose_answers_have_no_price_shows_no_cost_and_counts_them() -> None:
    items = pl.DataFrame(
        {
            "config_name": ["priced", "priced", "unpriced", "unpriced", "unpriced"],
            "status": ["ok", "ok", "ok", "ok", "error"],
            "cost_usd": [0.25, 0.5, None, None, None],
            "latency_ms": [100.0, 300.0, 50.0, 150.0, None],
        }
    )
    configs = [{"config": "priced", "ok": 2}, {"config": "unpriced", "ok": 2, "error": 1}]
    rows = {row["config"]: row for row in leaderboard_table(configs, items)}
    assert (rows["priced"]["cost_usd"], rows["priced"]["unpriced_items"]) == (0.75, 0)
    assert (rows["unpriced"]["cost_usd"], rows["unpriced"]["unpriced_items"]) == (None, 2)
    assert rows["unpriced"]["mean_latency_ms"] == 100.0
