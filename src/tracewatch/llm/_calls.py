"""One call's answer (an experiment item's or a judgement's): the cache first, then the budget, the provider's
throttle, the call itself under a timeout, and retries; every way a call can fail becomes a `CallResult` with
the reason.

Only the item's own failures (`ModelError`, which clients and tasks raise for every provider or task failure)
are turned into data. Any other exception is a bug and propagates, as does a cancellation, so a broken run
stops instead of recording thousands of identical errors.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from tracewatch.llm._budget import CostBudget, Reservation
from tracewatch.llm._cache import ResponseCache
from tracewatch.llm._concurrency import Outcome
from tracewatch.llm._limits import Throttle, Ticket
from tracewatch.llm._params import CallParams
from tracewatch.llm._retry import RetryPolicy, Sleep, with_retries
from tracewatch.llm._types import CallStatus, Completion, Message, ModelError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CallResult:
    """How one (item, trial) ended. `error` is the reason for `error` and `skipped_budget`; `failure` is the
    provider's last error of an `error` result (its kind and HTTP status), for callers that stop on a run of
    the same terminal error."""

    status: CallStatus
    completion: Completion | None
    error: str | None
    attempts: int
    cached: bool = False
    failure: ModelError | None = None


@dataclass(frozen=True)
class CallContext:
    """What every call of one chunk (one config) or one judge shares; `call_context` builds it."""

    throttle: Throttle
    retry: RetryPolicy
    rng: random.Random
    budget_key: str
    timeout_s: float
    call: CallParams | None = None
    """The model call's parameters (None for a task config); only used to pace a tokens-per-minute budget."""
    cache: ResponseCache | None = None
    budget: CostBudget | None = None
    sleep: Sleep = asyncio.sleep
    stop: Callable[[], str | None] | None = None
    """Asked once the throttle admits an attempt: a reason (e.g. the config stopped after repeated terminal
    errors) means the attempt is not made. Calls that waited for a slot must not go out after the stop."""


Invoke = Callable[[], Awaitable[Completion]]
"""One attempt: a model call (`client.complete(messages, call)`) or a task config's `run_task(item)`."""


NOT_ATTEMPTED = "not attempted"
"""How the reason of a call that `CallContext.stop` held back starts."""


class _BudgetClosedError(Exception):
    """Raised inside an attempt to stop the retry loop when the cost cap refuses a call."""


class _StoppedError(Exception):
    """Raised inside an attempt to stop the retry loop when `CallContext.stop` gives a reason."""


def describe_error(error: ModelError) -> str:
    """The reason recorded for a failed item: the HTTP status, the client's message, and whether a retry
    could have helped."""
    status = f"HTTP {error.status}: " if error.status is not None else ""
    kind = "transient" if error.transient else "terminal"
    return f"{status}{error} ({kind})"


async def answer(
    ctx: CallContext, invoke: Invoke, messages: Sequence[Message], cache_key: str | None
) -> CallResult:
    """The answer to one (item, trial), as data. `messages` pace a tokens-per-minute budget; `cache_key`
    None means the answer is neither looked up nor stored."""
    if ctx.cache is not None and cache_key is not None:
        hit = await ctx.cache.get(cache_key)
        if hit is not None:
            return CallResult("ok", hit, None, attempts=0, cached=True)

    tried = 0
    last_error: ModelError | None = None

    async def attempt(number: int) -> Completion:
        nonlocal tried, last_error
        reservation = None
        if ctx.budget is not None:
            reservation = await ctx.budget.reserve(ctx.budget_key)
            if reservation is None:
                raise _BudgetClosedError(ctx.budget.closed_reason)
        ticket: Ticket | None = None
        try:
            ticket = await ctx.throttle.acquire(messages, ctx.call)
            stopped = ctx.stop() if ctx.stop is not None else None
            if stopped is not None:
                raise _StoppedError(stopped)
            tried = number
            async with ctx.throttle.shared(ticket):  # other processes' limits (a no-op in one process)
                completion = await _call_once(invoke, ctx.timeout_s)
        except ModelError as error:
            last_error = error
            outcome: Outcome = "rate_limited" if error.rate_limited else "error"
            if ticket is not None:
                ctx.throttle.release(ticket, outcome, retry_after_s=error.retry_after_s)
            _settle(ctx.budget, reservation, None, called=False)
            raise
        except BaseException:  # cancelled (or a bug): give back the slot and the money set aside
            if ticket is not None:
                ctx.throttle.release(ticket, "error")
            _settle(ctx.budget, reservation, None, called=False)
            raise
        ctx.throttle.release(
            ticket, "ok", input_tokens=completion.input_tokens, output_tokens=completion.output_tokens
        )
        _settle(ctx.budget, reservation, completion.cost_usd, called=True)
        if not completion.text:
            last_error = ModelError(
                f"empty output (finish_reason={completion.raw_finish_reason})", transient=False, kind="empty"
            )
            raise last_error
        return completion

    try:
        done = await with_retries(attempt, ctx.retry, rng=ctx.rng, sleep=ctx.sleep)
    except _BudgetClosedError as closed:
        return CallResult(
            "skipped_budget", None, _after(f"skipped: {closed}", tried, last_error), attempts=tried
        )
    except _StoppedError as stopped:
        reason = _after(f"{NOT_ATTEMPTED}: {stopped}", tried, last_error)
        return CallResult("error", None, reason, attempts=tried)
    if done.error is not None or done.value is None:
        assert done.error is not None
        return CallResult(
            "error", None, describe_error(done.error), attempts=done.attempts, failure=done.error
        )
    if ctx.cache is not None and cache_key is not None:
        await _remember(ctx.cache, cache_key, done.value)
    return CallResult("ok", done.value, None, attempts=done.attempts)


def _after(reason: str, tried: int, last_error: ModelError | None) -> str:
    """`reason` with the attempts already made and how the last one failed, if any was made."""
    if last_error is None:
        return reason
    return f"{reason}; after {tried} attempt(s), last error: {describe_error(last_error)}"


async def _remember(cache: ResponseCache, key: str, completion: Completion) -> None:
    """Cache an answer. A failed write loses only a future cache hit, not this answer, so it is logged and the
    item goes on as `ok`."""
    try:
        await cache.put(key, completion)
    except Exception as exc:  # the store's failure types vary by backend (OSError, botocore, aiohttp)
        log.warning("could not cache an answer under %s: %s: %s", key[:12], type(exc).__name__, exc)


def _settle(
    budget: CostBudget | None, reservation: Reservation | None, cost_usd: float | None, *, called: bool
) -> None:
    if budget is not None and reservation is not None:
        budget.settle(reservation, cost_usd, called=called)


async def _call_once(invoke: Invoke, timeout_s: float) -> Completion:
    """One attempt under the config's timeout (a safety net under the client's own)."""
    try:
        async with asyncio.timeout(timeout_s):
            return await invoke()
    except TimeoutError:
        raise ModelError(f"timed out after {timeout_s:g} s", transient=True, kind="timeout") from None
