"""Costs of imported traces at litellm's local prices: the same per-token prices litellm's cost map lists,
unknown (None, never 0) for a model it does not know, and a model registered later is priced from then on."""

from __future__ import annotations

import uuid

import pytest

from tracewatch.llm import litellm_cost, load_litellm, register_model_prices, token_prices


def test_a_known_model_is_priced_from_litellms_cost_map() -> None:
    entry = load_litellm().model_cost["gpt-4o-mini"]
    expected = 1000 * entry["input_cost_per_token"] + 500 * entry["output_cost_per_token"]
    assert litellm_cost("gpt-4o-mini", 1000, 500) == pytest.approx(expected)
    assert litellm_cost("gpt-4o-mini", 0, 0) == 0.0


def test_an_unknown_model_is_unknown_until_its_price_is_registered() -> None:
    model = f"openai/tracewatch-pricing-{uuid.uuid4().hex[:8]}"
    assert litellm_cost(model, 100, 100) is None
    register_model_prices(model, input_per_1k=1.0, output_per_1k=2.0)
    assert token_prices(model) == pytest.approx((0.001, 0.002))
    assert litellm_cost(model, 100, 100) == pytest.approx(0.3)


def test_negative_token_counts_are_refused_with_the_counts() -> None:
    with pytest.raises(ValueError, match="input_tokens=-1"):
        litellm_cost("gpt-4o-mini", -1, 5)
