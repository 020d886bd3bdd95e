"""Chunks run as another process would run them (`chunk_order` + `run_chunk_order`, a runtime of their own)
against the local test model server over HTTP and a real store: the ledger's allowances never add up past the
cap, its replay of the chunks' bookings is the in-process budget to the bit, and a chunk run again in the same
run (its worker died) asks nothing again and books what its first attempt spent."""

from __future__ import annotations

import asyncio

import polars as pl

from devtools.model_server import ModelServer
from tracewatch.experiments import (
    BudgetLedger,
    ChunkResult,
    ExperimentConfig,
    ExperimentSpec,
    RunnerSettings,
    chunk_order,
    prepare_run,
    run_chunk_order,
)
from tracewatch.llm import CostBudget
from tracewatch.store import Store


def items(n: int) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "item_id": [f"itm_{i:03d}" for i in range(n)],
            "input_text": [f"question {i} " + "word " * (i % 4) for i in range(n)],
            "expected_output": [None] * n,
            "source_trace_id": [f"t-{i}" for i in range(n)],
        },
        schema_overrides={"expected_output": pl.String},
    )


def echo(server: ModelServer) -> ExperimentConfig:
    return ExperimentConfig(
        name="echo",
        model="openai/tracewatch-echo",
        api_base=server.base_url,
        params={"temperature": 0.0},
        cost_per_1k_input=0.01,
        cost_per_1k_output=0.02,
    )


def test_allowances_never_add_up_past_the_cap_and_the_replay_is_the_in_process_budget() -> None:
    ledger = BudgetLedger(1.0, spent_usd=0.25, slots=3)
    grants = {label: ledger.grant(label) for label in ("a", "b", "c")}
    assert all(g.spent_usd == 0.25 for g in grants.values())
    assert sum(g.cap_usd - g.spent_usd for g in grants.values()) <= 1.0 - 0.25
    assert grants["c"].cap_usd == 1.0 - sum(
        g.cap_usd - g.spent_usd for label, g in grants.items() if label != "c"
    )

    costs = [0.013, 0.0071, 0.021, 0.0093]
    shared = CostBudget(1.0, spent_usd=0.25)
    for cost in costs:
        shared.book("k", cost)
    ledger.settle("a", result_with(tuple(("k", cost) for cost in costs[:2])))
    ledger.settle("b", result_with(tuple(("k", cost) for cost in costs[2:])))
    ledger.settle("c", None)  # failed: its spend comes back with its retry
    assert ledger.spent_usd == shared.spent_usd  # the same additions in the same order
    later = ledger.grant("d")  # an equal share of what is free among the 3 free slots, with the price learned
    assert later.cap_usd == shared.spent_usd + (1.0 - shared.spent_usd) / 3
    assert dict(later.estimates)["k"] == shared.estimates()["k"]
    one_at_a_time = BudgetLedger(1.0, spent_usd=0.25, slots=1)
    assert one_at_a_time.grant("a").cap_usd == 1.0  # the cap itself: the in-process decisions


def result_with(booked: tuple[tuple[str, float | None], ...]) -> ChunkResult:
    return ChunkResult("echo", "k", "c00000", {}, 0, 0, 0, 0, (), 0.0, booked=booked)


def test_a_chunk_run_again_in_the_same_run_asks_nothing_again_and_books_its_first_spend(
    file_store: Store, server: ModelServer
) -> None:
    spec = ExperimentSpec("elsewhere", "qa", 1, budget_usd=1.0)
    prepared = prepare_run(file_store, spec, [echo(server)], items(6), chunk_size=6)
    ledger = BudgetLedger(1.0, spent_usd=0.0, slots=2)
    plan = prepared.plans[0]

    def order() -> ChunkResult:
        sent = chunk_order(
            prepared,
            plan,
            store=file_store,
            settings=RunnerSettings(),
            limits={},
            allowance=ledger.grant(plan.label),
            stopped={},
            gate=None,
            cache=False,  # a cache would answer the second attempt anyway: prove the rows alone suffice
        )
        return asyncio.run(run_chunk_order(sent))

    first = order()
    assert first.counts["ok"] == 6 and first.attempts == 6 and len(first.booked) == 6
    asked = server.stats().requests
    again = order()  # the same chunk, same run id: as Dask runs it again after its worker died
    assert server.stats().requests == asked
    assert again.attempts == 0 and again.already_done == 6 and sum(again.counts.values()) == 0
    assert [cost for _, cost in again.booked] == [cost for _, cost in first.booked]
