"""What every flow shares: the store connection, when a failed task is worth another try, and run logs that
state tracewatch's own errors in their one line."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from prefect import Task, task
from prefect.cache_policies import NO_CACHE
from prefect.client.schemas.objects import State, TaskRun

from tracewatch.errors import ConfigError, DataContractError, TracewatchError
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
    """Fail the run at once, in one line naming the setting, when the store is misconfigured: a folder that
    does not exist (never created here), a missing bucket, missing or refused credentials (no retries: it
    won't heal)."""
    store = open_store(Settings())
    store.check()
    return store


class OneLineErrors(logging.Filter):
    """Keep the traceback out of a run-log record of an error tracewatch raised on purpose.

    Prefect logs a failed task's and a failed flow's exception with its traceback, once per level, so one
    missing setting read as hundreds of lines of engine frames with the message lost among them. Such an
    error's message says what is wrong and what to do; the record keeps it (and the run still fails), without
    the frames. Any other exception (a bug) keeps its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, TracewatchError):
            record.exc_info, record.exc_text = None, None
        return True


def quiet_tracewatch_tracebacks() -> None:
    """Install `OneLineErrors` on Prefect's flow-run and task-run loggers (once)."""
    for name in ("prefect.flow_runs", "prefect.task_runs"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, OneLineErrors) for f in logger.filters):
            logger.addFilter(OneLineErrors())


quiet_tracewatch_tracebacks()  # every flow module imports this one, so every flow run logs this way
