"""Incremental, batched writing of experiment rows: one Parquet part per flush.

Rows collect in memory as plain dicts and go out as one part every `flush_every` rows or `flush_interval_s`
seconds (checked when a row arrives), and at the end. Each part is one atomic object write, done on a worker
thread so the event loop keeps serving model calls. A process killed mid-run loses the rows not flushed yet
(at most `flush_every` rows or `flush_interval_s` seconds of work) plus its calls in flight; with the response
cache on, even those answers come back from the cache on the rerun.
"""

from __future__ import annotations

import asyncio
import io
import logging
import time
from collections.abc import Callable
from typing import Any

import polars as pl

from tracewatch.experiments._records import new_part_key, rows_to_frame
from tracewatch.store import Store

log = logging.getLogger(__name__)


def _encode(rows: list[dict[str, Any]] | pl.DataFrame) -> bytes:
    """Rows as the bytes of one zstd Parquet part. polars' own writer: for a part of a few hundred rows it costs
    a fraction of a conversion to Arrow plus pyarrow's writer."""
    frame = rows if isinstance(rows, pl.DataFrame) else rows_to_frame(rows)
    buffer = io.BytesIO()
    frame.write_parquet(buffer, compression="zstd")
    return buffer.getvalue()


class PartWriter:
    """Buffers the rows of one chunk (one config) and flushes them as parts; one flush in flight at a time."""

    def __init__(
        self,
        store: Store,
        experiment_id: str,
        fingerprint: str,
        *,
        chunk: str,
        flush_every: int = 500,
        flush_interval_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._store = store
        self._experiment_id = experiment_id
        self._fingerprint = fingerprint
        self._chunk = chunk
        self._flush_every = max(1, flush_every)
        self._interval = flush_interval_s
        self._clock = clock
        self._rows: list[dict[str, Any]] = []
        self._last_flush = clock()
        self._pending: asyncio.Task[None] | None = None
        self.parts: list[str] = []
        self.rows_written = 0

    def add(self, row: dict[str, Any]) -> None:
        self._rows.append(row)
        due = len(self._rows) >= self._flush_every or self._clock() - self._last_flush >= self._interval
        if due and (self._pending is None or self._pending.done()):
            self._raise_failed_flush()
            self._start_flush()

    async def write_frame(self, frame: pl.DataFrame) -> None:
        """Write rows already built as a typed frame (see `_records.EXPERIMENT_ITEM_SCHEMA`) as a part of their
        own, after any flush in flight; a chunk answered wholly from the cache has no rows to buffer."""
        if self._pending is not None:
            await self._pending
        self._pending = asyncio.get_running_loop().create_task(self._flush(frame))
        await self._pending

    async def close(self) -> None:
        """Flush what is left and wait for every write; a failed write raises here."""
        if self._pending is not None:
            await self._pending
        if self._rows:
            self._start_flush()
            assert self._pending is not None
            await self._pending

    def _start_flush(self) -> None:
        rows, self._rows = self._rows, []
        self._last_flush = self._clock()
        self._pending = asyncio.get_running_loop().create_task(self._flush(rows))

    async def _flush(self, rows: list[dict[str, Any]] | pl.DataFrame) -> None:
        key = new_part_key(self._experiment_id, self._fingerprint, self._chunk)
        # Encoded here, written on a worker thread: the encoding is a few ms of work that holds the GIL, which
        # on a thread would contend with the event loop; the write (and its disk sync, or the PUT) waits on I/O.
        data = _encode(rows)
        await asyncio.to_thread(self._store.write_bytes, key, data)
        self.parts.append(key)
        self.rows_written += len(rows)
        log.debug("flushed %d rows to %s", len(rows), key)

    def _raise_failed_flush(self) -> None:
        # A store failure stops the chunk: it is not a per-item problem, and the rows would be lost.
        error = self._pending.exception() if self._pending is not None else None
        if error is not None:
            raise error
