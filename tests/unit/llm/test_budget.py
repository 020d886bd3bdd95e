"""The cost cap: probe the price first, project the cost of calls in flight, close for good once refused."""

from __future__ import annotations

import asyncio
import logging

import pytest

from tracewatch.errors import ConfigError
from tracewatch.llm import CostBudget, Reservation


def reserve(budget: CostBudget, key: str = "cfg") -> Reservation | None:
    return asyncio.run(budget.reserve(key))


def test_the_first_call_of_a_config_probes_the_price_while_the_others_wait() -> None:
    budget = CostBudget(1.0)

    async def scenario() -> None:
        probe = await budget.reserve("cfg")
        assert probe is not None and probe.probe and probe.projected_usd == 0
        second = asyncio.create_task(budget.reserve("cfg"))
        other_config = await budget.reserve("other")  # another config probes on its own
        assert other_config is not None and other_config.probe
        await asyncio.sleep(0.05)
        assert not second.done()
        budget.settle(probe, 0.2)
        reservation = await asyncio.wait_for(second, 1)
        assert reservation is not None and not reservation.probe
        assert reservation.projected_usd == pytest.approx(0.2)
        assert budget.reserved_usd == pytest.approx(0.2)

    asyncio.run(scenario())


def test_spent_plus_projected_in_flight_may_not_pass_the_cap() -> None:
    budget = CostBudget(1.0)
    budget.settle(reserve(budget), 0.25)  # type: ignore[arg-type]
    in_flight = [reserve(budget) for _ in range(3)]  # 0.25 spent + 3 x 0.25 projected = 1.0: allowed
    assert all(r is not None for r in in_flight)
    assert reserve(budget) is None  # a fourth would make 1.25
    assert budget.closed_reason == (
        "the cost cap of 1.0000 USD is reached: 0.2500 USD is spent, 0.7500 USD more is held for calls still "
        "running, and the next call would cost about 0.2500 USD, so no further call is started. To answer the "
        "rest, run the same experiment id again with a higher budget_usd; answered items are not asked again"
    )
    for reservation in in_flight:
        budget.settle(reservation, 0.01)  # type: ignore[arg-type]
    assert reserve(budget) is None  # closed for good, even though money is left now
    assert budget.spent_usd == pytest.approx(0.28)
    assert budget.reserved_usd == 0


def test_the_estimate_is_the_mean_cost_so_far() -> None:
    budget = CostBudget(10.0)
    budget.settle(reserve(budget), 0.1)  # type: ignore[arg-type]
    budget.settle(reserve(budget), 0.3)  # type: ignore[arg-type]
    nxt = reserve(budget)
    assert nxt is not None and nxt.projected_usd == pytest.approx(0.2)


def test_a_failed_call_frees_its_reservation_and_teaches_nothing() -> None:
    budget = CostBudget(1.0)
    probe = reserve(budget)
    assert probe is not None
    budget.settle(probe, None, called=False)
    again = reserve(budget)
    assert again is not None and again.probe  # still no price known: probe again
    assert budget.spent_usd == 0 and budget.reserved_usd == 0


def test_earlier_spending_counts_against_the_cap() -> None:
    budget = CostBudget(1.0, spent_usd=1.0)
    assert reserve(budget) is None
    assert CostBudget(0.0).closed_reason is None and reserve(CostBudget(0.0)) is None


def test_calls_without_a_reported_cost_count_as_free_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    budget = CostBudget(0.5)
    with caplog.at_level(logging.WARNING):
        for _ in range(3):
            budget.settle(reserve(budget), None)  # type: ignore[arg-type]
    assert budget.spent_usd == 0
    assert sum("reports no cost" in r.message for r in caplog.records) == 1


def test_negative_caps_are_refused() -> None:
    with pytest.raises(ConfigError):
        CostBudget(-1)
