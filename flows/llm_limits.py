"""Provider limits that hold across processes, on Prefect's global concurrency and rate limits
(https://docs.prefect.io/v3/concepts/global-concurrency-limits): what an experiment's chunks share when they run
on a process pool or a Dask cluster instead of one event loop.

Every throttle key of an experiment (a provider, a model with limits of its own, a task config) gets up to
three limits on the Prefect server, created or updated by the flow before the first chunk starts:

- `<name>-calls`: a concurrency limit of `max_concurrency` slots, held for the length of each attempt;
- `<name>-rpm`: a rate limit (slots decay at `requests_per_minute / 60` per second, one second's worth of
  burst), one slot per attempt;
- `<name>-tpm`: the same for `tokens_per_minute`, each attempt taking its estimated tokens (prompt characters
  / 4 plus its output cap, or the mean output seen), at most one second's worth.

The limits live on the server, so they hold across every worker process, and across flow runs calling the same
provider (a provider's limits are the account's, not one run's); a run with other limits for the same key
updates them. The gate that calls them (`PrefectLimitsGate`) holds no secret: only names. In one process (the
threads runner) the in-process limits of `tracewatch.llm` apply instead, as before.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from prefect.client.orchestration import get_client
from prefect.concurrency.asyncio import concurrency, rate_limit

from tracewatch.llm import LimitSettings

LIMIT_PREFIX = "tracewatch-llm"


def limit_name(key: str, kind: str) -> str:
    """The Prefect limit of throttle `key` for `kind` (calls, rpm, tpm): readable, and unique per key (a URL's
    characters are not allowed in a limit name, so a hash tells two alike keys apart)."""
    slug = re.sub(r"[^a-z0-9]+", "-", key.lower()).strip("-")[:40] or "key"
    digest = hashlib.sha256(key.encode()).hexdigest()[:8]
    return f"{LIMIT_PREFIX}-{slug}-{digest}-{kind}"


def gate_limits(settings: LimitSettings) -> list[tuple[str, int, float | None]]:
    """(kind, slots, decay per second or None) of each Prefect limit that `settings` needs."""
    limits: list[tuple[str, int, float | None]] = [("calls", settings.max_concurrency, None)]
    for kind, per_minute in (("rpm", settings.requests_per_minute), ("tpm", settings.tokens_per_minute)):
        if per_minute:
            limits.append((kind, max(1, math.ceil(per_minute / 60)), per_minute / 60))
    return limits


@dataclass(frozen=True)
class PrefectLimitsGate:
    """A `tracewatch.llm.SharedGate` on the Prefect server's limits named by `limit_name`."""

    timeout_s: float | None = None
    """How long an attempt may wait for its slots (None: as long as it takes)."""

    def slot(self, key: str, settings: LimitSettings, tokens: int) -> AbstractAsyncContextManager[None]:
        return self._slot(key, settings, tokens)

    @asynccontextmanager
    async def _slot(self, key: str, settings: LimitSettings, tokens: int) -> AsyncIterator[None]:
        # strict: a limit missing on the server is an error, never a silent pass.
        if settings.requests_per_minute:
            await rate_limit(limit_name(key, "rpm"), occupy=1, timeout_seconds=self.timeout_s, strict=True)
        if settings.tokens_per_minute and tokens > 0:
            burst = max(1, math.ceil(settings.tokens_per_minute / 60))
            await rate_limit(
                limit_name(key, "tpm"), occupy=min(tokens, burst), timeout_seconds=self.timeout_s, strict=True
            )
        async with concurrency(
            limit_name(key, "calls"), occupy=1, timeout_seconds=self.timeout_s, strict=True
        ):
            yield


async def shared_limits(throttles: Mapping[str, LimitSettings]) -> PrefectLimitsGate:
    """Create or update the Prefect limits of every throttle key (`gate_limits`), and the gate that uses them."""
    async with get_client() as client:
        for key, settings in sorted(throttles.items()):
            for kind, slots, decay in gate_limits(settings):
                await client.upsert_global_concurrency_limit_by_name(limit_name(key, kind), slots, decay)
    return PrefectLimitsGate()
