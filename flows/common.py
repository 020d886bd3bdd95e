"""What every flow shares: the store connection and when a failed task is worth another try."""

from __future__ import annotations

from typing import Any

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store

RETRIES = 2
RETRY_DELAYS_S: list[float] = [5.0, 30.0]


def transient(task: Any, task_run: TaskRun, state: State[Any]) -> bool:
    """Retry what may heal on its own (a store or network blip), never a bad setting or bad data: those fail
    the same way again, and the run should stop at once with the library's message."""
    try:
        state.result()
    except (ConfigError, DataContractError):
        return False
    except Exception:
        return True
    return True


@task(cache_policy=NO_CACHE)
def connect_store() -> Store:
    """Fail the run at once, naming the setting, when the store is misconfigured (no retries: it won't heal)."""
    store = open_store(Settings())
    store.check()
    return store
