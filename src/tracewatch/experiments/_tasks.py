"""Task configs: a user's Python callable answers the items instead of a model.

A task is named `package.module:function`, imported and checked when the config is loaded, and called with
one item as a dict; it returns the output text (or an awaitable of it). Sync callables run in a thread so they
cannot stall the event loop. Its failures are the item's failures, never the run's.

Naming a callable in a config is running code: importing a module runs it. So tasks are off unless the worker's
environment sets TRACEWATCH_ALLOW_CALLABLE_TASKS=1 (docs/security.md): whoever may write an experiment config
must not thereby be able to run code on the worker, unless the team decided so.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.llm import Completion, ModelError

TaskFn = Callable[[dict[str, Any]], str | Awaitable[str]]
"""A task: gets one dataset item as a dict and returns the output text, or an awaitable of it."""

_TASK_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")

ALLOW_TASKS_ENV = "TRACEWATCH_ALLOW_CALLABLE_TASKS"
"""The setting that allows task configs (`Settings.allow_callable_tasks`): `1` or `true` (unset: off)."""


def callable_tasks_allowed() -> bool:
    """Whether this process may import and call a config's task (TRACEWATCH_ALLOW_CALLABLE_TASKS)."""
    from tracewatch.settings import Settings

    return Settings().allow_callable_tasks


def resolve_task(ref: str, where: str = "task") -> TaskFn:
    """Import `package.module:function` and check it can be called with one argument (the item dict)."""
    if not isinstance(ref, str) or not _TASK_REF.match(ref):
        raise ConfigError(f"{where}={ref!r} must look like 'package.module:function'")
    if not callable_tasks_allowed():
        raise ConfigError(
            f"{where}={ref!r} names Python code to run, and callable tasks are off; set "
            f"{ALLOW_TASKS_ENV}=1 in the worker's environment to allow them (configs are then trusted as code, "
            "see docs/security.md), or answer with a `model`"
        )
    module_name, attr_path = ref.split(":", 1)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary code; any failure is the reference's fault
        raise ConfigError(
            f"{where}={ref!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where}={ref!r}: {module_name!r} has no attribute {attr_path!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{where}={ref!r} is a {type(target).__name__}, not a callable")
    try:
        inspect.signature(target).bind({})
    except TypeError:
        raise ConfigError(f"{where}={ref!r} must accept exactly one argument: the item dict") from None
    except ValueError:  # builtins without a signature: trust them
        pass
    fn: TaskFn = target
    return fn


async def run_task(fn: TaskFn, ref: str, item: Mapping[str, Any]) -> Completion:
    """The answer of task `ref` (resolved as `fn`) to one item; any failure is a terminal `ModelError`."""
    started = time.perf_counter()
    try:
        if inspect.iscoroutinefunction(fn):
            result = await fn(dict(item))
        else:
            result = await asyncio.to_thread(fn, dict(item))
            if inspect.isawaitable(result):
                result = await result
    except ModelError:
        raise
    except Exception as exc:  # the task is user code: its failure is this item's failure
        raise ModelError(f"task {ref} failed: {type(exc).__name__}: {exc}", transient=False) from exc
    if not isinstance(result, str):
        raise ModelError(
            f"task {ref} returned {type(result).__name__}, expected the output text (str)",
            transient=False,
            kind="malformed",
        )
    return Completion(
        text=result,
        input_tokens=None,
        output_tokens=None,
        cost_usd=None,
        latency_ms=(time.perf_counter() - started) * 1000,
        model=f"task:{ref}",
    )
