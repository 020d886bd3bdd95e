"""One run per night: the nightly flow holds a lease in the store on its night while it runs.

A deployment's concurrency limit covers the deployment's own runs only; a manual run (the CLI, a flow started
from Python, a backfill over the same date) is another run of the same night, racing on its partitions, its
dataset version and its experiment. The lease (`tracewatch.lease`) makes the second run wait up to
TRACEWATCH_LEASE_WAIT_S (default 0) and then stop with a message naming the run that holds the night.
"""

from __future__ import annotations

import datetime as dt
import functools
import inspect
import typing
from collections.abc import Callable, Mapping
from typing import Any, ParamSpec, TypeVar

from prefect.runtime import flow_run

from flows.common import connect_store
from tracewatch.lease import held

P = ParamSpec("P")
R = TypeVar("R")


def run_label() -> str:
    """This flow run as a person finds it in the UI: its name and id (a plain process outside Prefect: pid)."""
    run_id = flow_run.get_id()
    if run_id is None:
        return "a run outside Prefect"
    return f"flow run {flow_run.get_name()!r} ({run_id})"


def night_lease(
    default_day: Callable[[], dt.date],
    check: Callable[[Mapping[str, Any], dt.date], None] | None = None,
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Wrap a flow function whose `day` parameter names its night (None: `default_day()`), so that its body
    runs holding the lease `nightly-<day>`. Put it under `@flow`: the flow's parameters stay the function's."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        signature = inspect.signature(fn)

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            bound = signature.bind(*args, **kwargs)
            day = bound.arguments.get("day") or default_day()
            if check is not None:  # a parameter mistake stops the run before it takes (and leaves) a lease
                check(bound.arguments, day)
            with held(connect_store(), f"nightly-{day}", run_label()):
                return fn(*args, **kwargs)

        # Prefect builds the flow's parameter model from the wrapper: give it the annotations resolved where
        # `fn` was written (this module's globals do not hold the flow's parameter types).
        wrapper.__annotations__ = typing.get_type_hints(fn)
        wrapper.__signature__ = inspect.signature(fn, eval_str=True)  # type: ignore[attr-defined]
        return wrapper

    return decorate
