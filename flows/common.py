"""What every flow shares: the store connection and when a failed task is worth another try."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.settings import Settings
from tracewatch.store import Store, open_store

RETRIES = 2
RETRY_DELAYS_S: list[float] = [5.0, 30.0]
P = ParamSpec("P")
R = TypeVar("R")


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


def stage_task(fn: Callable[P, R]) -> Task[P, R]:
    """A pipeline step as a Prefect task: retried on what may heal (`transient`: twice, after 5 and 30 s), and
    never cached, since each run reads the store as it is now."""
    return task(
        cache_policy=NO_CACHE,
        retries=RETRIES,
        retry_delay_seconds=RETRY_DELAYS_S,
        retry_condition_fn=transient,
    )(fn)


@task(cache_policy=NO_CACHE)
def connect_store() -> Store:
    """Fail the run at once, naming the setting, when the store is misconfigured (no retries: it won't heal)."""
    store = open_store(Settings())
    store.check()
    return store
