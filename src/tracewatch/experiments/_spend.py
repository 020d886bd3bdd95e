"""What an experiment cost, said honestly: a model with no known price costs "unknown", never 0 USD.

An answer whose provider reported no cost, for a model litellm's cost map does not know and the config gave no
price for, is *unpriced*: its row has `cost_usd` null. A total over such rows is a lower bound, and a total over
only such rows is unknown. These helpers count the unpriced answers and word the total accordingly, for the
record, the run summary, the leaderboard and the command line.
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl


def unpriced(status: str = "status", cost: str = "cost_usd") -> pl.Expr:
    """True for an answered row (`ok`) whose cost nobody knows."""
    return (pl.col(status) == "ok") & pl.col(cost).is_null()


def cost_aggregates(status: str = "status", cost: str = "cost_usd") -> list[pl.Expr]:
    """Aggregations for a `group_by` over experiment item rows: `cost_usd`, the sum of the known costs, null
    when answers were given but none has a price (unknown, not 0); and `unpriced_items`, the answers without
    a price."""
    missing = unpriced(status, cost)
    priced = (pl.col(status) == "ok") & pl.col(cost).is_not_null()
    return [
        pl.when(missing.any() & ~priced.any())
        .then(pl.lit(None, dtype=pl.Float64))
        .otherwise(pl.col(cost).sum())
        .alias("cost_usd"),
        missing.sum().cast(pl.Int64).alias("unpriced_items"),
    ]


def format_spend(
    spent_usd: float | None,
    *,
    unpriced_items: int = 0,
    answered: int | None = None,
    models: Sequence[str] = (),
) -> str:
    """The money spent as a person should read it.

    `spent_usd` sums the known costs (None: unknown); `unpriced_items` answers had no price; `answered`
    (when known) is how many answers there are in all, so that all-unpriced reads "unknown"; `models` are the
    models without a price, to name them. Examples: "0.0123 USD", "0.0123 USD (12 items without a price)",
    "unknown (40 items without a price: no price for model openai/x)".
    """
    if unpriced_items < 0 or (answered is not None and answered < unpriced_items):
        raise ValueError(f"unpriced_items={unpriced_items} must be in [0, answered={answered}]")
    without = f"{unpriced_items} item{'s' if unpriced_items != 1 else ''} without a price"
    if models:
        without += f": no price for model {', '.join(sorted(set(models)))}"
    nothing_priced = answered is not None and answered == unpriced_items
    if spent_usd is None or (unpriced_items and nothing_priced):
        return f"unknown ({without})" if unpriced_items else "unknown"
    shown = f"{spent_usd:.4f} USD"
    return f"{shown} ({without})" if unpriced_items else shown
