"""A source's objects read into spans and span facts, in the importing process or in worker processes.

Reading is most of an OTLP import's time (decompressing, decoding and the dialects: about 60 of 100 CPU seconds
a million spans), and each object reads on its own, so worker processes read objects ahead while the importing
process buffers and assembles the ones before. Everything that depends on more than one object stays in the
importing process, in object order: the grace window, assembly, writing, the ledger. So the output cannot
depend on the number of workers.

One thing crosses objects before the dialects: log records (the older GenAI instrumentations' message content)
join their span as events, and a span's facts depend on its events. A worker therefore gets the ids of every
span a log record read so far names (a file per change, read once per worker) and leaves a span it finds there
as a `Span`, for the importing process to join and read as it always did; every other span, which can have no
log record waiting, it reads into `SpanFacts` itself. An object may go to a worker only once every log object
before it has been read, so no log record it could join is missing from those ids.
"""

from __future__ import annotations

import concurrent.futures as cf
import multiprocessing
import os
import pickle
import tempfile
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from tracewatch.importers._dialects import read_span
from tracewatch.importers._readers import PortableRead, portable_read
from tracewatch.importers._reading import ObjectContent, SourceObject, SourceReader
from tracewatch.importers._sources import SourceConfig
from tracewatch.importers._spans import Span, SpanEvent, SpanFacts
from tracewatch.settings import Settings
from tracewatch.store import Store, collector_paused

MAX_AUTO_WORKERS = 4
"""Workers when the setting leaves it to the machine: one per CPU besides the importing process's own, at most
this many (its buffering and assembly is the limit beyond). On 2 CPUs that is 1, reading in the importing
process: measured there, two workers made the import slower (docs/importing.md, "Worker processes")."""

MIN_OBJECTS_FOR_WORKERS = 8
"""Fewer objects than this are read in the importing process: starting a worker (a fresh interpreter importing
tracewatch) costs more than reading a few objects."""

SpanKey = tuple[str, str]
"""(trace id, span id; "" when a log record names only its trace), as log records wait for their span."""


@dataclass(slots=True)
class ObjectRead:
    """One object as read: its content (spans moved to `items`) and its spans in order, each read into
    `SpanFacts` already or left a `Span` for the importing process to join its log records to first."""

    obj: SourceObject
    content: ObjectContent
    items: list[Span | SpanFacts]


def resolve_workers(setting: int) -> int:
    """The number of worker processes a setting of `setting` means (0: one per CPU but one, 1 to 4)."""
    if setting < 0:
        raise ValueError(
            f"import_workers must be 0 (one per CPU but one) or a number of processes >= 1, got {setting}"
        )
    return setting or max(1, min((os.cpu_count() or 1) - 1, MAX_AUTO_WORKERS))


def span_facts(span: Span, joined: Sequence[SpanEvent] | None, from_attribute: str | None) -> SpanFacts:
    """What `span` says, with the log records `joined` to it as events, and the source's project attribute."""
    if joined:
        span.events.extend(joined)
    facts = read_span(span)
    facts.log_records = len(joined) if joined else 0
    if from_attribute:
        value = span.attributes.get(from_attribute, span.resource.get(from_attribute))
        if value is not None:
            facts.project = str(value)
    return facts


def read_objects(
    reader: SourceReader,
    store: Store,
    objects: Sequence[SourceObject],
    *,
    source: SourceConfig,
    settings: Settings,
    workers: int,
) -> Iterator[ObjectRead]:
    """Every object read, in the order given; in `workers` worker processes when there are enough objects and
    the format's reads can move (OTLP), else here."""
    reads = [portable_read(reader, obj) for obj in objects]
    portable = [read for read in reads if read is not None]
    if workers <= 1 or len(portable) < len(reads) or len(portable) < MIN_OBJECTS_FOR_WORKERS:
        for obj in objects:
            content = reader.read(store, obj)
            spans, content.spans = content.spans, []
            yield ObjectRead(obj, content, list(spans))
        return
    yield from _read_in_workers(list(zip(objects, portable, strict=True)), source, settings, workers)


def _read_in_workers(
    reads: list[tuple[SourceObject, PortableRead]], source: SourceConfig, settings: Settings, workers: int
) -> Iterator[ObjectRead]:
    """Objects read ahead by a pool, yielded in order; an object of spans waits for the log objects before it."""
    context = multiprocessing.get_context("spawn")  # a fork would copy the store client's event loop thread
    with (
        tempfile.TemporaryDirectory(prefix="tracewatch-import-") as folder,
        cf.ProcessPoolExecutor(
            workers, mp_context=context, initializer=_start_worker, initargs=(source, settings)
        ) as pool,
    ):
        keys = _EventKeys(Path(folder))
        ahead: deque[
            tuple[SourceObject, PortableRead, cf.Future[tuple[ObjectContent, list[Span | SpanFacts]]]]
        ]
        ahead = deque()
        logs_ahead = 0  # log objects submitted whose records are not in `keys` yet
        position = 0
        try:
            while position < len(reads) or ahead:
                # Keep the workers busy and a few objects ready, the bound on what waits in memory.
                while position < len(reads) and len(ahead) < 2 * workers:
                    obj, read = reads[position]
                    if read.holds_events:
                        logs_ahead += 1
                        future = pool.submit(_read_object, read, obj, None)
                    elif logs_ahead:
                        break  # its spans may have log records in those objects
                    else:
                        future = pool.submit(_read_object, read, obj, keys.current())
                    ahead.append((obj, read, future))
                    position += 1
                obj, read, future = ahead.popleft()
                content, items = future.result()
                if read.holds_events:
                    logs_ahead -= 1
                    keys.add((event.trace_id, event.span_id or "") for event in content.events)
                yield ObjectRead(obj, content, items)
        finally:
            pool.shutdown(cancel_futures=True)


class _EventKeys:
    """The span keys log records named so far, written to a file per change for the workers to read once."""

    def __init__(self, folder: Path) -> None:
        self.folder, self.keys, self.changed, self.version = folder, set[SpanKey](), False, 0
        self.path: str | None = None

    def add(self, keys: Iterator[SpanKey] | Sequence[SpanKey]) -> None:
        before = len(self.keys)
        self.keys.update(keys)
        self.changed = self.changed or len(self.keys) != before

    def current(self) -> str | None:
        """The file of the keys as they are now (None: no log record yet)."""
        if self.changed:
            self.version += 1
            path = self.folder / f"event-keys-{self.version}.pickle"
            path.write_bytes(pickle.dumps(frozenset(self.keys), protocol=pickle.HIGHEST_PROTOCOL))
            self.path, self.changed = str(path), False
        return self.path


# ---- in a worker process ---------------------------------------------------------------------------------


@dataclass(slots=True)
class _Worker:
    store: Store
    from_attribute: str | None
    keys_path: str | None = None
    keys: frozenset[SpanKey] = frozenset()


_WORKER: dict[str, _Worker] = {}
"""This worker process's state, set up once by `_start_worker`."""


def _start_worker(source: SourceConfig, settings: Settings) -> None:
    """Open the source once per worker (its credentials come from the environment the worker inherited)."""
    _WORKER["state"] = _Worker(source.open(settings), source.project.from_attribute)


def _read_object(
    read: PortableRead, obj: SourceObject, keys_path: str | None
) -> tuple[ObjectContent, list[Span | SpanFacts]]:
    """Read one object; its spans that no log record named become facts here, the others stay spans."""
    worker = _WORKER["state"]  # set by the pool's initializer before any task
    if keys_path != worker.keys_path:
        worker.keys = pickle.loads(Path(keys_path).read_bytes()) if keys_path else frozenset()
        worker.keys_path = keys_path
    with collector_paused():  # millions of small objects and no cycles, as in the importing process
        content = read(worker.store, obj)
        spans, content.spans = content.spans, []
        keys, attribute = worker.keys, worker.from_attribute
        items: list[Span | SpanFacts] = [
            span if (span.trace_id, span.span_id) in keys else span_facts(span, None, attribute)
            for span in spans
        ]
    return content, items
