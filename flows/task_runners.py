"""Where the nightly and backfill flows run their tasks: the one place that turns the task-runner setting
(`TRACEWATCH_TASK_RUNNER`, docs/scaling.md) into a Prefect task runner, and that lets a store travel to a
worker process without its credentials.

- `threads[:n]` (default, also when the setting is empty): a pool of n threads (default: one per usable CPU)
  in the flow's own process.
- `processes[:n]`: a pool of n local processes (default: one per core).
- `dask:<scheduler address>`: an existing Dask cluster, through `prefect-dask`'s `DaskTaskRunner`.
- `dask-local[:n]`: a temporary `distributed.LocalCluster` of n single-threaded worker processes (default 2).

`prefect_dask` is imported only for a Dask setting, so an install without the `dask` extra runs the other two.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from prefect import unmapped
from prefect.context import FlowRunContext
from prefect.runtime import task_run
from prefect.settings import PREFECT_API_URL, get_current_settings, temporary_settings
from prefect.task_runners import ProcessPoolTaskRunner, TaskRunner, ThreadPoolTaskRunner

from flows.common import stage_task
from tracewatch.errors import ConfigError
from tracewatch.frame_memory import owned
from tracewatch.settings import Settings
from tracewatch.store import Store

T = TypeVar("T")
R = TypeVar("R")
_FORMS = "threads[:n], processes[:n], dask:<scheduler address> or dask-local[:n]"
_WORKERS = re.compile(r"^[1-9][0-9]{0,2}$")
DEFAULT_LOCAL_DASK_WORKERS = 2


def task_runner_for(spec: str) -> TaskRunner[Any]:
    """The task runner a setting names (see the module docstring); anything else is refused naming the forms."""
    text = spec.strip()
    kind, _, arg = text.partition(":")
    if kind in ("", "threads") and not arg:  # set but empty (a deployment's unset variable): the default
        return ThreadPoolTaskRunner(max_workers=default_threads())
    if kind == "threads":
        return ThreadPoolTaskRunner(max_workers=_workers(text, arg, None))
    if kind == "processes":
        return FlowApiProcessPool(max_workers=_workers(text, arg, None))
    if kind == "dask" and arg.strip():
        return _dask_runner(address=arg.strip())
    if kind == "dask-local":
        workers = _workers(text, arg, DEFAULT_LOCAL_DASK_WORKERS)
        return _dask_runner(
            cluster_class=local_cluster,
            # One thread per worker process: the per-file tasks are CPU-bound polars work, and a process
            # per core is what bounds memory per process (docs/scaling.md).
            cluster_kwargs={"n_workers": workers, "threads_per_worker": 1, "processes": True},
        )
    raise ConfigError(f"TRACEWATCH_TASK_RUNNER={spec!r} is not a task runner; expected {_FORMS}")


def default_threads() -> int:
    """Threads of the default runner: one per usable CPU. Each runs one file's step of a split stage, so the
    flow's memory is a few files in flight, not the day (Prefect's own default has no limit: a 100-file day
    read all its files at once)."""
    return max(2, len(os.sched_getaffinity(0)))


def configured_task_runner() -> TaskRunner[Any]:
    """The task runner of `Settings().task_runner` (read when a flow module is imported, as Prefect fixes a
    flow's task runner when the flow is declared; `flow.with_options(task_runner=...)` picks another)."""
    return task_runner_for(Settings().task_runner)


def _workers(spec: str, arg: str, default: int | None) -> int | None:
    if not arg:
        return default
    if not _WORKERS.match(arg.strip()):
        raise ConfigError(
            f"TRACEWATCH_TASK_RUNNER={spec!r}: {arg!r} is not a number of workers; expected 1 to 999, "
            f"as in {spec.split(':', maxsplit=1)[0]}:2"
        )
    return int(arg)


def local_cluster(**options: Any) -> Any:
    """A `distributed.LocalCluster` (made when the flow run starts) whose workers report their task runs to
    the flow's own Prefect API. A worker process started without `PREFECT_API_URL` (a night run from a terminal,
    on Prefect's temporary server) would start a temporary server of its own, seconds and a few hundred MB per
    worker, and its task runs would show in no server a person can open."""
    import distributed

    url = flow_api_url()
    env = {**options.pop("env", {}), **({"PREFECT_API_URL": url} if url else {})}
    return distributed.LocalCluster(**options, env=env)  # type: ignore[no-untyped-call]


def flow_api_url() -> str | None:
    """The Prefect API this flow run reports to: its client's (on the temporary server a terminal run starts,
    the settings name none), else the settings' (outside a flow run)."""
    context = FlowRunContext.get()
    if context is not None:
        return str(context.client.api_url)
    return get_current_settings().api.url


class FlowApiProcessPool(ProcessPoolTaskRunner):
    """Prefect's process pool, whose processes report their task runs to the flow run's Prefect API: Prefect
    hands its processes the settings' API address, which a run on the temporary server has not, so each
    process would start a temporary server of its own (as `local_cluster`'s workers would)."""

    def submit(self, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        url = flow_api_url()
        if url is None or get_current_settings().api.url:
            return super().submit(*args, **kwargs)
        with temporary_settings({PREFECT_API_URL: url}):
            return super().submit(*args, **kwargs)


def _dask_runner(**options: Any) -> TaskRunner[Any]:
    try:
        from prefect_dask.task_runners import DaskTaskRunner  # only Dask settings need the extra
    except ImportError as exc:
        raise ConfigError(
            "TRACEWATCH_TASK_RUNNER names Dask but prefect-dask is not installed; install the dask extra "
            "(pip install 'tracewatch[dask]' or uv sync --extra dask), or use threads or processes"
        ) from exc
    runner: TaskRunner[Any] = DaskTaskRunner(**options)
    return runner


class PortableStore(Store):
    """A store that travels to a worker process as its URL alone: the worker opens the same URL with the
    credentials of its own environment (`TRACEWATCH_*` / `AWS_*`), so none pass through task arguments, the
    scheduler or a log."""

    def __reduce__(self) -> tuple[Any, tuple[str]]:
        return (_reopened, (self.url,))


def portable(store: Store) -> PortableStore:
    """`store` as a `PortableStore` (the same URL and settings)."""
    if isinstance(store, PortableStore):
        return store
    return PortableStore(store.url, store._settings)  # the same settings, no second read


@functools.cache
def _reopened(url: str) -> PortableStore:
    """The store at `url` in this worker process, opened once per process (building an S3 client costs a
    fraction of a second and some MB)."""
    return PortableStore(url, Settings(store=url))


def _part_run_name() -> str:
    step = task_run.parameters["step"]
    return f"{getattr(getattr(step, 'func', step), '__name__', 'part')}-{task_run.parameters['index']}"


def _run_part(step: Callable[[Any], Any], item: Any, index: int) -> Any:
    """One part of a split stage (`tracewatch.part_map`), as a task: retried like a stage, named after its step.

    The part comes back as its own copy (`tracewatch.frame_memory.owned`), made here in the worker: a few rows
    cut from a file's frame would otherwise keep the file's texts alive in the flow's process on threads."""
    return owned(step(item))


run_part = stage_task(_run_part).with_options(name="run_part", task_run_name=_part_run_name)


def on_task_runner(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
    """A `tracewatch.part_map.PartMap` that runs each part as a task on the current flow's task runner (a
    thread, a process or a Dask worker), in the items' order. Call it from a flow's body, not from inside a
    task: a task's own submissions do not reach the flow's runner."""
    futures = run_part.map(step=unmapped(step), item=list(items), index=list(range(len(items))))
    return [future.result() for future in futures]
