"""The seam between a night's per-file steps and where they run.

A stage that can be split (ingest and validation, monitoring parts, drift profiles, dataset shortlists) is
written as a step over one file (or group of files) that returns a small mergeable part, plus a merge. The stage
takes a `PartMap` that runs the step over the files: `in_process` in a library call or a unit test; the flows
pass one that submits each step as a task on the flow's task runner (threads, processes or a Dask cluster,
`flows/task_runners.py`), so the parts spread over workers while the merge stays in the flow's process. A step
given to a `PartMap` must pickle (a module-level function, or `functools.partial` of one over picklable
arguments, with the store as a `PortableStore`), since a process or Dask worker receives it by value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class PartMap(Protocol):
    """Runs `step` once per item and returns the results in the items' order (the merge relies on it)."""

    def __call__(self, step: Callable[[T], R], items: Sequence[T], /) -> list[R]: ...


def in_process(step: Callable[[T], R], items: Sequence[T], /) -> list[R]:
    """Each part in turn, in this process: what a library call does without a flow."""
    return [step(item) for item in items]
