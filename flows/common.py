"""Tasks every flow starts with."""

from __future__ import annotations

from prefect import task
from prefect.cache_policies import NO_CACHE

from tracewatch.settings import Settings
from tracewatch.store import Store, open_store


@task(cache_policy=NO_CACHE)
def connect_store() -> Store:
    """Fail the run at once, naming the setting, when the store is misconfigured (no retries: it won't heal)."""
    store = open_store(Settings())
    store.check()
    return store
