"""The content-addressed response cache: a model answer stored under the hash of the request that produced it.

Objects live at `warehouse/cache/<first 2 hex>/<sha256>.json` in the store, behind an in-memory layer, so a
rerun of the same night (or an LLM judge asking what a config already asked) makes no call. Keys depend only
on what changes the answer (model, messages, params including the seed), never on the endpoint, the key or the
timeout. Only successful completions are cached; a failure is always asked again.

Trials: repeated trials of one item are separate samples of a random process, so each trial gets its own entry
when the call is random (temperature > 0, temperature unset, or no seed). When it is deterministic
(temperature 0 and a fixed seed) every trial shares one entry: asking again would return the same answer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
import logging
from collections import OrderedDict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tracewatch.experiments.types import CallParams, Completion, Message
from tracewatch.store import Store

log = logging.getLogger(__name__)

CACHE_PREFIX = "warehouse/cache"
CACHE_FORMAT = 1
_COMPLETION_FIELDS = (
    "text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "model",
    "raw_finish_reason",
)


def request_key(messages: Sequence[Message], call: CallParams) -> str:
    """sha256 hex of the canonical JSON of what determines the answer: model, messages and params."""
    payload = {
        "model": call.model,
        "messages": [dict(m) for m in messages],
        "params": dict(call.params),
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def is_deterministic(call: CallParams) -> bool:
    """True when the provider should give the same answer every time: temperature 0 and a fixed seed."""
    temperature = call.params.get("temperature")
    return temperature is not None and float(temperature) == 0.0 and call.params.get("seed") is not None


def cache_key(messages: Sequence[Message], call: CallParams, trial: int = 0) -> str:
    """The cache key of one (request, trial). Trial 0, and every trial of a deterministic call, use the plain
    request key, so they share an entry with any other caller (e.g. a judge) that sent the same request."""
    base = request_key(messages, call)
    if trial == 0 or is_deterministic(call):
        return base
    return hashlib.sha256(f"{base}\x00trial={trial}".encode()).hexdigest()


def cache_object_key(key: str) -> str:
    """Where an entry lives in the store."""
    return f"{CACHE_PREFIX}/{key[:2]}/{key}.json"


class ResponseCache:
    """Completions by key, in the store and in a bounded in-memory layer.

    Store I/O runs in worker threads, in batches, so that neither a call waiting on S3 nor one thread hop per
    answer stalls the event loop: `put` keeps an answer in memory at once and writes it with the next batch
    (`flush` writes the rest; the runner flushes at the end of every chunk), and `prefetch` reads the
    entries of a whole chunk in one go before its calls start (concurrent GETs on S3; on a local folder, on
    the loop itself, since the reads are cheaper than a thread hand-over). Entries are written without a disk sync: a
    crash can lose the last batch, which costs only calls asked again, never a wrong answer (each write is
    atomic, so an entry is whole or absent).
    """

    def __init__(self, store: Store, *, memory_entries: int = 10_000, write_batch: int = 100) -> None:
        self._store = store
        self._memory: OrderedDict[str, Completion] = OrderedDict()
        self._memory_entries = memory_entries
        self._write_batch = write_batch
        self._pending: dict[str, bytes] = {}
        self._absent: set[str] = set()
        """Keys that `prefetch` found missing in the store: a get for them needs no store read."""

    def __repr__(self) -> str:
        return f"ResponseCache({self._store!r})"

    async def get(self, key: str) -> Completion | None:
        """The cached completion (with `cached=True`), or None. An unreadable entry counts as a miss."""
        found = self._memory.get(key)
        if found is None:
            if key in self._absent:
                return None
            found = await asyncio.to_thread(self._read, key)
            if found is None:
                return None
        self._remember(key, found)
        return found

    async def prefetch(self, keys: Iterable[str]) -> int:
        """Read the entries of `keys` not in memory yet, in one worker thread; how many were found."""
        wanted = [key for key in dict.fromkeys(keys) if key not in self._memory and key not in self._absent]
        if not wanted:
            return 0
        objects = [cache_object_key(key) for key in wanted]
        if self._store.protocol == "file":
            # Local reads take microseconds each: a worker thread would cost more in GIL hand-overs with the
            # event loop than the reads themselves.
            stored = self._store.read_many(objects)
        else:
            stored = await asyncio.to_thread(self._store.read_many, objects)
        hits = 0
        for key in wanted:
            raw = stored.get(cache_object_key(key))
            completion = None if raw is None else self._decode(key, raw)
            if completion is None:
                self._absent.add(key)
            else:
                hits += 1
                self._remember(key, completion)
        return hits

    async def put(self, key: str, completion: Completion) -> None:
        """Keep a completion under its key (the same key always holds the same answer, so last write wins);
        it reaches the store with the next batch."""
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            **{name: getattr(completion, name) for name in _COMPLETION_FIELDS},
        }
        self._pending[key] = json.dumps(entry, sort_keys=True).encode()
        self._absent.discard(key)
        self._remember(key, _as_cached(entry))
        if len(self._pending) >= self._write_batch:
            await self.flush()

    async def flush(self) -> None:
        """Write every pending entry to the store. A failed write is logged: it loses a future hit only."""
        batch, self._pending = self._pending, {}
        if batch:
            await asyncio.to_thread(self._write_many, batch)

    def _write_many(self, batch: Mapping[str, bytes]) -> None:
        for key, data in batch.items():
            try:
                self._store.write_bytes(cache_object_key(key), data, durable=False)
            except Exception as exc:  # the store's failure types vary by backend (OSError, botocore, aiohttp)
                log.warning("could not cache an answer under %s: %s: %s", key[:12], type(exc).__name__, exc)

    def _read(self, key: str) -> Completion | None:
        try:
            raw = self._store.read_bytes(cache_object_key(key))
        except FileNotFoundError:
            return None
        return self._decode(key, raw)

    @staticmethod
    def _decode(key: str, raw: bytes) -> Completion | None:
        try:
            entry = json.loads(raw)
            if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
                raise ValueError(f"format {entry.get('format')!r}, key {entry.get('key')!r}")
            return _as_cached(entry)
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            log.warning("ignoring unreadable cache entry %s: %s", cache_object_key(key), exc)
            return None

    def _remember(self, key: str, completion: Completion) -> None:
        self._memory[key] = completion
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)


def _as_cached(entry: Mapping[str, Any]) -> Completion:
    fields = {name: entry[name] for name in _COMPLETION_FIELDS}
    if not isinstance(fields["text"], str) or not isinstance(fields["model"], str):
        raise TypeError("text and model must be strings")
    return Completion(**fields, cached=True)
