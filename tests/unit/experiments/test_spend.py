"""An unknown cost is shown as unknown, never 0 USD, and the answers without a price are counted (issue 20,
item 10): the record, the run summary, the leaderboard aggregates and the artifact's cost column."""

from __future__ import annotations

import asyncio
import random

import polars as pl
import pytest

from tests.support.dataset_items import item_frame, item_row
from tests.support.fake_model import COST_USD, FakeModel
from tracewatch.experiments import (
    ExperimentConfig,
    ExperimentResult,
    ExperimentSpec,
    RunnerSettings,
    cost_aggregates,
    experiment_markdown,
    experiment_summary,
    format_spend,
    read_record,
    run_experiment,
)
from tracewatch.llm import CallParams, Completion, Message, Runtime
from tracewatch.store import Store


@pytest.mark.parametrize(
    ("spent", "unpriced", "answered", "models", "shown"),
    [
        (0.0123, 0, 40, (), "0.0123 USD"),
        (0.0, 0, 0, (), "0.0000 USD"),  # nothing answered, nothing paid: a real 0
        (0.0, 0, 40, (), "0.0000 USD"),  # a model priced at 0 (a local one) is free, not unknown
        (0.0123, 12, 40, (), "0.0123 USD (12 items without a price)"),
        (0.0, 1, 1, (), "unknown (1 item without a price)"),
        (0.0, 40, 40, ("openai/x",), "unknown (40 items without a price: no price for model openai/x)"),
        (None, 0, None, (), "unknown"),
        (0.5, 3, None, ("b", "a", "b"), "0.5000 USD (3 items without a price: no price for model a, b)"),
    ],
)
def test_format_spend(
    spent: float | None, unpriced: int, answered: int | None, models: tuple[str, ...], shown: str
) -> None:
    assert format_spend(spent, unpriced_items=unpriced, answered=answered, models=models) == shown


def test_format_spend_refuses_more_unpriced_than_answered() -> None:
    with pytest.raises(ValueError, match=r"unpriced_items=5 must be in \[0, answered=3\]"):
        format_spend(0.0, unpriced_items=5, answered=3)


def test_cost_aggregates_give_null_for_an_unknown_cost_and_count_the_unpriced() -> None:
    rows = pl.DataFrame(
        {
            "config_name": ["priced", "priced", "mixed", "mixed", "unpriced", "unpriced", "failed"],
            "status": ["ok", "ok", "ok", "ok", "ok", "error", "error"],
            "cost_usd": [0.25, 0.5, 0.25, None, None, None, None],
        }
    )
    table = {
        row["config_name"]: (row["cost_usd"], row["unpriced_items"])
        for row in rows.group_by("config_name").agg(cost_aggregates()).iter_rows(named=True)
    }
    assert table == {
        "priced": (0.75, 0),
        "mixed": (0.25, 1),  # a lower bound, with the count that says so
        "unpriced": (None, 1),  # unknown, not 0
        "failed": (0.0, 0),  # no answer, no cost
    }


class UnpricedModel(FakeModel):
    """Answers like `FakeModel`, but with no cost, as a client does for a model nobody has a price for."""

    async def complete(self, messages: list[Message], call: CallParams) -> Completion:  # type: ignore[override]
        done = await super().complete(messages, call)
        return Completion(done.text, done.input_tokens, done.output_tokens, None, done.latency_ms, done.model)


def run(store: Store, client: FakeModel, configs: list[ExperimentConfig]) -> ExperimentResult:
    frame = item_frame(*(item_row(f"{i:03d}", input_text=f"q{i} what?", input_messages=[]) for i in range(6)))
    return asyncio.run(
        run_experiment(
            store,
            ExperimentSpec("exp-cost", "qa-golden", 1),
            configs,
            frame,
            runtime=Runtime(client=client, rng=random.Random(0)),
            settings=RunnerSettings(progress=lambda snapshot: None),
        )
    )


def test_a_run_without_prices_says_unknown_and_counts_the_items(file_store: Store) -> None:
    config = ExperimentConfig(name="a", model="openai/no-price")
    result = run(file_store, UnpricedModel(), [config])
    record = read_record(file_store, "exp-cost")
    assert (
        record is not None and record.unpriced_items == 6 and record.unpriced_models() == ["openai/no-price"]
    )
    expected = "unknown (6 items without a price: no price for model openai/no-price)"
    assert record.spend_text() == expected
    summary = experiment_summary(result.record, result.chunks)
    assert (summary.spend, summary.unpriced_items) == (expected, 6)
    assert summary.message.endswith(f"spent in all: {expected}") and "0.0000 USD" not in summary.message


def test_a_priced_run_shows_its_cost_and_no_unpriced_items(file_store: Store) -> None:
    result = run(file_store, FakeModel(), [ExperimentConfig(name="a", model="openai/priced")])
    assert result.record.unpriced_items == 0
    assert result.record.spend_text() == f"{6 * COST_USD:.4f} USD"


def test_the_artifact_shows_an_unknown_cost_as_unknown(file_store: Store) -> None:
    result = run(file_store, UnpricedModel(), [ExperimentConfig(name="a", model="openai/no-price")])
    board = [
        {"config": "a", "baseline": True, "ok": 6, "error": 0, "skipped_budget": 0, "missing": 0}
        | {"cost_usd": None, "unpriced_items": 6, "mean_latency_ms": 1.5},
        {"config": "b", "baseline": False, "ok": 6, "error": 0, "skipped_budget": 0, "missing": 0}
        | {"cost_usd": 0.06, "unpriced_items": 2, "mean_latency_ms": 1.5},
    ]
    text = experiment_markdown(result.record, "message", board)
    assert "| a (baseline) | 6 | 0 | 0 | 0 | unknown (6 items without a price) | 1.5 |" in text
    assert "| b | 6 | 0 | 0 | 0 | 0.0600 USD (2 items without a price) | 1.5 |" in text
