"""Token prices from litellm's local cost map, for costs a trace source did not record.

Importers must not import litellm (it takes seconds, and `llm` owns the one import), so trace assembly takes a
`Pricer` callable and the importer stage passes `litellm_cost` from here. The prices are litellm's flat
per-token prices, the same ones `LiteLLMClient` charges a direct-transport call with; tiered prices for very
long prompts are not applied, so such a cost is a lower bound.
"""

from __future__ import annotations

import math

from tracewatch.llm._providers import load_litellm

_looked_up: dict[tuple[str, int], tuple[float, float] | None] = {}
"""(model, size of the cost map) -> prices, or None when litellm has none. A failed lookup costs ~0.4 ms and an
import prices every LLM span, so misses are remembered too, until the cost map grows (`register_model_prices`)."""


def token_prices(model: str) -> tuple[float, float] | None:
    """(USD per input token, USD per output token) from litellm's local cost map, or None when it has none."""
    litellm = load_litellm()
    key = (model, len(litellm.model_cost))
    if key in _looked_up:
        return _looked_up[key]
    prices: tuple[float, float] | None
    try:
        info = litellm.get_model_info(model)
        prices = (float(info["input_cost_per_token"]), float(info["output_cost_per_token"]))
    except Exception:  # litellm raises its own "not mapped" error, or the entry lacks prices (None, missing)
        prices = None
    if prices is not None and not all(math.isfinite(p) and p >= 0 for p in prices):
        prices = None
    _looked_up[key] = prices
    return prices


def litellm_cost(model: str, input_tokens: int, output_tokens: int) -> float | None:
    """The USD cost of a call to `model` with these token counts at litellm's prices; None when unpriced.

    None, never 0, for a model litellm does not know: a number nobody knows is shown as unknown.
    """
    if input_tokens < 0 or output_tokens < 0:
        raise ValueError(
            f"token counts must be >= 0 to price a call to {model!r}: got input_tokens={input_tokens}, "
            f"output_tokens={output_tokens}"
        )
    prices = token_prices(model)
    if prices is None:
        return None
    return input_tokens * prices[0] + output_tokens * prices[1]
