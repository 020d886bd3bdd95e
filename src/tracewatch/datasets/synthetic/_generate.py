"""The model calls of synthetic generation, through the shared llm layer (response cache, provider limits,
retries, cost cap): one request per (thin stratum, kind), each answered or failed as data."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from functools import partial

from tracewatch.datasets.synthetic._strata import Stratum
from tracewatch.datasets.synthetic._templates import Template
from tracewatch.llm import CallParams, CallResult, RetryPolicy, Runtime, answer, cache_key, call_context

BUDGET_KEY = "synthesize"


@dataclass(frozen=True)
class Request:
    """One question to the generator: `count` inputs of `template.kind` for `stratum`."""

    stratum: Stratum
    template: Template
    count: int


def with_seed(call: CallParams, seed: int) -> CallParams:
    """`call` with the generation seed as its `seed` param (a provider that honours it answers reproducibly,
    and the seed is part of the cache key either way)."""
    return dataclasses.replace(call, params={**call.params, "seed": seed})


async def generate(
    requests: Sequence[Request], call: CallParams, runtime: Runtime, *, retry: RetryPolicy | None = None
) -> list[CallResult]:
    """The generator's answer to every request, in order; the runtime's budget refuses calls past the cap
    (those come back as `skipped_budget`)."""
    context = call_context(
        runtime, retry or RetryPolicy(), call, budget_key=BUDGET_KEY, timeout_s=call.timeout_s
    )

    async def ask(request: Request) -> CallResult:
        examples = request.stratum.examples.get_column("input_text").fill_null("").to_list()
        messages = request.template.messages(
            stratum=request.stratum.label, examples=examples, count=request.count
        )
        invoke = partial(runtime.client.complete, messages, call)
        return await answer(context, invoke, messages, cache_key(messages, call))

    results = list(await asyncio.gather(*(ask(r) for r in requests)))
    if runtime.cache is not None:
        await runtime.cache.flush()  # answers are written in batches: store them, so a rerun is a cache hit
    return results
