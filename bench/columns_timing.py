"""The shared clock of `bench.import_proto_columns` and `bench.import_json_columns`: each step timed over every
object in CPU seconds of this process (`time.process_time`, the collector paused as the import pauses it), steps
interleaved over `runs`, then a check outside the clock that every object's columns give today's spans."""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from collections.abc import Callable

from tracewatch.importers._span_columns import SpanColumns, spans_from_columns
from tracewatch.importers._spans import Span

Step = Callable[[bytes], object]


def _timed(step: Step, objects: list[bytes]) -> float:
    gc.collect()
    gc.disable()
    try:
        start = time.process_time()
        for data in objects:
            step(data)
        return time.process_time() - start
    finally:
        gc.enable()


def _check(
    objects: list[bytes], columns: Callable[[bytes], SpanColumns | None], today: Callable[[bytes], list[Span]]
) -> int:
    """How many objects fell back; `AssertionError` if the columns of one give other spans than today's."""
    fallbacks = 0
    for number, data in enumerate(objects):
        found = columns(data)
        if found is None:
            fallbacks += 1
        elif spans_from_columns(found) != today(data):
            raise AssertionError(f"object {number}: the columns' spans differ from today's")
    return fallbacks


def measure(
    objects: list[bytes],
    steps: dict[str, Step],
    *,
    columns: Callable[[bytes], SpanColumns | None],
    today: Callable[[bytes], list[Span]],
    runs: int,
    held: str,
) -> None:
    """Print the table of `steps` (the first is the floor the others are divided by) over `objects`; `columns`
    and `today` give one object's columns and today's spans for the check; `held` names what memory holds."""
    start = time.process_time()
    columns(objects[0])  # the first call in a process loads pyarrow's readers and compute kernels
    first = time.process_time() - start
    for step in steps.values():
        step(objects[0])
    loads = [os.getloadavg()[0]]
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(runs):
        for name, step in steps.items():
            times[name].append(_timed(step, objects))
            loads.append(os.getloadavg()[0])
    fallbacks = _check(objects, columns, today)
    floor_name = next(iter(steps))
    floor = statistics.median(times[floor_name])
    print(f"\n{runs} runs, load average {min(loads):.1f}-{max(loads):.1f}, {fallbacks} objects fell back")
    print(f"the first columns call of the process took {first:.2f} CPU s (not in the table)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS of the process {peak:,.0f} MB ({held} included)\n")
    print(f"| step | median CPU s (fastest) | / {floor_name.split(' (')[0]} |")
    print("|---|---:|---:|")
    for name, taken in times.items():
        median = statistics.median(taken)
        print(f"| {name} | {median:.2f} ({min(taken):.2f}) | {median / floor:.1f}x |")
