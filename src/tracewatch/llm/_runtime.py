"""The live objects model calls share: the client, the response cache, the provider limits and the cost cap.

One `Runtime` serves every call of a run (an experiment's chunks, an LLM judge's items), so the limits, the
cache and the budget hold across all of them. `call_context` hands one config's (or one judge's) calls their
share of it.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

from tracewatch.llm._budget import CostBudget
from tracewatch.llm._cache import ResponseCache
from tracewatch.llm._calls import CallContext
from tracewatch.llm._client import LiteLLMClient
from tracewatch.llm._limits import LimitSettings, ProviderLimits, SharedGate
from tracewatch.llm._params import CallParams
from tracewatch.llm._retry import RetryPolicy, Sleep
from tracewatch.llm._types import ModelClient
from tracewatch.store import Store


@dataclass(frozen=True)
class Runtime:
    """The live objects calls use; share one between chunks to share limits, budget and cache."""

    client: ModelClient
    cache: ResponseCache | None = None
    limits: ProviderLimits = field(default_factory=ProviderLimits)
    budget: CostBudget | None = None
    rng: random.Random = field(default_factory=random.Random)
    sleep: Sleep = asyncio.sleep

    async def aclose(self) -> None:
        """Close the client's HTTP connections (on the loop that used them), if it keeps any."""
        close = getattr(self.client, "aclose", None)
        if close is not None:
            await close()


def call_context(
    runtime: Runtime,
    retry: RetryPolicy,
    call: CallParams | None,
    *,
    budget_key: str,
    timeout_s: float,
    task: str | None = None,
) -> CallContext:
    """What the calls of one config (or one LLM judge) share: the provider's throttle from the runtime's limits,
    its cache and cost budget. A task config (`call` None) is user code: its output is not cached."""
    throttle = runtime.limits.for_call(call) if call is not None else runtime.limits.for_key(f"task:{task}")
    return CallContext(
        throttle=throttle,
        retry=retry,
        rng=runtime.rng,
        budget_key=budget_key,
        timeout_s=timeout_s,
        call=call,
        cache=runtime.cache if call is not None else None,
        budget=runtime.budget,
        sleep=runtime.sleep,
    )


def model_runtime(
    store: Store,
    limits: Mapping[str, LimitSettings] | None,
    *,
    cache: bool = True,
    budget: CostBudget | None = None,
    gate: SharedGate | None = None,
) -> Runtime:
    """A runtime for any model calls (an experiment's, or LLM judges'): the litellm client, the store's response
    cache and these provider limits (with `gate`: shared with other processes). Close it with
    `await runtime.aclose()` on the loop that used it."""
    return Runtime(
        client=LiteLLMClient(),
        cache=ResponseCache(store) if cache else None,
        limits=ProviderLimits(overrides=limits, gate=gate),
        budget=budget,
    )
