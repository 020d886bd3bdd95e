"""The content-addressed response cache: a model answer stored under the hash of the request that produced it.

Objects live at `warehouse/cache/<first 2 hex>/<sha256>.json` in the store, behind an in-memory layer, so a
rerun of the same night (or an LLM judge asking what a config already asked) makes no call. Keys depend only
on what changes the answer (model, messages, params including the seed), never on the endpoint, the key or the
timeout. Only successful completions are cached; a failure is always asked again.

Packs: a chunk also writes its entries together, as one object named by the hash of its set of keys
(`warehouse/cache/packs/<first 2 hex>/<sha256>.json`), so a rerun of the same chunk reads one object instead of
one per item. A pack is an index over the single entries, never the only copy: an entry it lacks (a pack
written by a chunk that was stopped, or a chunk cut differently) is read from its own object, and deleting the
packs costs only speed.

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

from tracewatch.llm._params import CallParams
from tracewatch.llm._types import Completion, Message
from tracewatch.store import Store

log = logging.getLogger(__name__)

CACHE_PREFIX = "warehouse/cache"
PACK_PREFIX = f"{CACHE_PREFIX}/packs"
CACHE_FORMAT = 1
PACK_FORMAT = 1
_COMPLETION_FIELDS = (
    "text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "model",
    "raw_finish_reason",
)


_canonical = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


class CacheKeys:
    """The cache keys of many requests of one call (a chunk's): the call's part of the canonical JSON is
    serialised once, since a warm rerun spends a good part of its time computing keys.

    The canonical JSON is that of `{"messages": ..., "model": ..., "params": ...}` with sorted keys and no
    spaces; the keys sort in that order, so it is the messages' JSON followed by a tail fixed for the call.
    """

    def __init__(self, call: CallParams) -> None:
        self._tail = f',"model":{_canonical(call.model)},"params":{_canonical(dict(call.params))}}}'
        self._shared_across_trials = is_deterministic(call)

    def request_key(self, messages: Sequence[Message]) -> str:
        """sha256 hex of the canonical JSON of what determines the answer: model, messages and params."""
        body = _canonical([m if type(m) is dict else dict(m) for m in messages])
        return hashlib.sha256(f'{{"messages":{body}{self._tail}'.encode()).hexdigest()

    def cache_key(self, messages: Sequence[Message], trial: int = 0) -> str:
        """The cache key of one (request, trial). Trial 0, and every trial of a deterministic call, use the
        plain request key, so they share an entry with any other caller (e.g. a judge) that sent the same
        request."""
        base = self.request_key(messages)
        if trial == 0 or self._shared_across_trials:
            return base
        return hashlib.sha256(f"{base}\x00trial={trial}".encode()).hexdigest()


def request_key(messages: Sequence[Message], call: CallParams) -> str:
    """sha256 hex of the canonical JSON of what determines the answer: model, messages and params."""
    return CacheKeys(call).request_key(messages)


def is_deterministic(call: CallParams) -> bool:
    """True when the provider should give the same answer every time: temperature 0 and a fixed seed."""
    temperature = call.params.get("temperature")
    return temperature is not None and float(temperature) == 0.0 and call.params.get("seed") is not None


def cache_key(messages: Sequence[Message], call: CallParams, trial: int = 0) -> str:
    """The cache key of one (request, trial); see `CacheKeys.cache_key` (use it for many requests)."""
    return CacheKeys(call).cache_key(messages, trial)


def cache_object_key(key: str) -> str:
    """Where an entry lives in the store."""
    return f"{CACHE_PREFIX}/{key[:2]}/{key}.json"


def pack_name(keys: Iterable[str]) -> str:
    """The name of the pack of a set of cache keys: sha256 of the distinct keys, sorted. The same chunk of
    the same requests gets the same name on every run; any change to a request changes it."""
    return hashlib.sha256("\n".join(sorted(set(keys))).encode()).hexdigest()


def pack_object_key(name: str) -> str:
    """Where a pack lives in the store."""
    return f"{PACK_PREFIX}/{name[:2]}/{name}.json"


_Entry = tuple[Completion, str]
"""An entry in memory: the completion (with `cached=True`) and when it was first answered (ISO 8601)."""


class ResponseCache:
    """Completions by key, in the store and in a bounded in-memory layer.

    Store I/O runs in worker threads, in batches, so that neither a call waiting on S3 nor one thread hop per
    answer stalls the event loop: `put` keeps an answer in memory at once and writes it with the next batch
    (`flush` writes the rest), and `prefetch` reads the entries of a whole chunk in one go before its calls
    start: its pack if there is one, then single entries for what the pack lacks (concurrent GETs on S3; on a
    local folder, on the loop itself, since the reads are cheaper than a thread hand-over). `seal`, at the end of
    every chunk, flushes and writes the chunk's pack. Entries are
    written without a disk sync: a crash can lose the last batch, which costs only calls asked again, never a
    wrong answer (each write is atomic, so an entry or a pack is whole or absent).
    """

    def __init__(self, store: Store, *, memory_entries: int = 10_000, write_batch: int = 100) -> None:
        self._store = store
        self._memory: OrderedDict[str, _Entry] = OrderedDict()
        self._memory_entries = memory_entries
        self._write_batch = write_batch
        self._pending: dict[str, bytes] = {}
        self._absent: set[str] = set()
        """Keys that `prefetch` found missing in the store: a get for them needs no store read."""
        self._packed: dict[str, int] = {}
        """Packs `prefetch` looked for, by name: how many entries the stored pack holds (0 if none)."""
        self._writing: set[asyncio.Future[None]] = set()
        """Batches being written (`flush`)."""
        self._stored: set[str] = set()
        """Keys known to be in the store (read from it, or written by `flush` without error): the only entries
        `seal` packs, so that a pack is never the only copy of an answer."""

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
            self._stored.add(key)
        self._remember(key, found)
        return found[0]

    def peek(self, key: str) -> Completion | None:
        """The completion in memory under `key`, without a store read: what a chunk looks at after its
        `prefetch` to tell whether every answer is already there."""
        found = self._memory.get(key)
        return None if found is None else found[0]

    async def prefetch(self, keys: Iterable[str]) -> int:
        """Read the entries of `keys` not in memory yet: the pack of `keys` first, then single entries for
        what it lacks; how many were found."""
        distinct = list(dict.fromkeys(keys))
        wanted = [key for key in distinct if key not in self._memory and key not in self._absent]
        if not wanted:
            return 0
        name = pack_name(distinct)
        if self._store.protocol == "file":
            # Local reads take microseconds each: a worker thread would cost more in GIL hand-overs with the
            # event loop than the reads themselves.
            in_pack, found = self._load(name, wanted)
        else:
            in_pack, found = await asyncio.to_thread(self._load, name, wanted)
        self._packed[name] = in_pack
        for key in wanted:
            entry = found.get(key)
            if entry is None:
                if key not in self._memory:  # another chunk may have answered it while the store was read
                    self._absent.add(key)
            else:
                self._stored.add(key)
                self._remember(key, entry)
        return len(found)

    async def put(self, key: str, completion: Completion) -> None:
        """Keep a completion under its key (the same key always holds the same answer, so last write wins);
        it reaches the store with the next batch."""
        created_at = dt.datetime.now(dt.UTC).isoformat()
        entry = {
            "format": CACHE_FORMAT,
            "key": key,
            "created_at": created_at,
            **{name: getattr(completion, name) for name in _COMPLETION_FIELDS},
        }
        self._pending[key] = json.dumps(entry, sort_keys=True).encode()
        self._absent.discard(key)
        self._remember(key, (_as_cached(entry), created_at))
        if len(self._pending) >= self._write_batch:
            await self.flush()

    async def flush(self) -> None:
        """Write every pending entry to the store, and wait for the writes other chunks started: chunks share
        the pending batch, so one chunk's entries may be on their way in another's flush. A failed write is
        logged: it loses a future hit only."""
        batch, self._pending = self._pending, {}
        if batch:
            write = asyncio.ensure_future(self._write_entries(batch))
            self._writing.add(write)
            write.add_done_callback(self._writing.discard)
        if self._writing:
            await asyncio.gather(*self._writing)

    async def _write_entries(self, batch: Mapping[str, bytes]) -> None:
        keys = {cache_object_key(key): key for key in batch}
        written = await asyncio.to_thread(self._write_many, {path: batch[key] for path, key in keys.items()})
        self._stored.update(keys[path] for path in written)

    async def seal(self, keys: Iterable[str]) -> None:
        """Write the pack of `keys` (the set a chunk prefetched) with every entry of it in memory, unless the
        stored pack already holds as many: a rerun of the chunk then reads one object. It flushes first, so that
        the entries' own objects are written before the pack. A failed write is logged."""
        await self.flush()
        distinct = list(dict.fromkeys(keys))
        name = pack_name(distinct)
        # An entry whose own write failed waits for a later seal: the next rerun reads it on its own and then
        # seals a whole pack.
        known = [(key, self._memory[key]) for key in distinct if key in self._memory and key in self._stored]
        if not known or len(known) <= self._packed.get(name, -1):
            return
        pack: dict[str, Any] = {
            "format": PACK_FORMAT,
            "pack": name,
            "keys": [key for key, _ in known],
            "created_at": [created_at for _, (_, created_at) in known],
        }
        for field in _COMPLETION_FIELDS:
            pack[field] = [getattr(completion, field) for _, (completion, _) in known]
        self._packed[name] = len(known)
        await asyncio.to_thread(self._write_many, {pack_object_key(name): json.dumps(pack).encode()})

    def _write_many(self, objects: Mapping[str, bytes]) -> list[str]:
        """Write each object; the keys written (a failure is logged: it costs a future hit only)."""
        written = []
        for key, data in objects.items():
            try:
                self._store.write_bytes(key, data, durable=False)
            except Exception as exc:  # the store's failure types vary by backend (OSError, botocore, aiohttp)
                log.warning("could not write the cache object %s: %s: %s", key, type(exc).__name__, exc)
            else:
                written.append(key)
        return written

    def _load(self, name: str, wanted: Sequence[str]) -> tuple[int, dict[str, _Entry]]:
        """How many entries the pack `name` holds, and the entries of `wanted` found in it or on their own."""
        stored = self._store.read_many([pack_object_key(name)])
        packed = _decode_pack(name, stored.get(pack_object_key(name)))
        wanted_set = set(wanted)
        found = {key: entry for key, entry in packed.items() if key in wanted_set}
        rest = [key for key in wanted if key not in found]
        if rest:
            singles = self._store.read_many([cache_object_key(key) for key in rest])
            for key in rest:
                raw = singles.get(cache_object_key(key))
                entry = None if raw is None else _decode(key, raw)
                if entry is not None:
                    found[key] = entry
        return len(packed), found

    def _read(self, key: str) -> _Entry | None:
        try:
            raw = self._store.read_bytes(cache_object_key(key))
        except FileNotFoundError:
            return None
        return _decode(key, raw)

    def _remember(self, key: str, entry: _Entry) -> None:
        self._memory[key] = entry
        self._memory.move_to_end(key)
        while len(self._memory) > self._memory_entries:
            self._memory.popitem(last=False)


_UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def _decode(key: str, raw: bytes) -> _Entry | None:
    """A single entry, checked to be the one asked for; None (and a warning) if it is not readable."""
    try:
        entry = json.loads(raw)
        if entry.get("format") != CACHE_FORMAT or entry.get("key") != key:
            raise ValueError(f"format {entry.get('format')!r}, key {entry.get('key')!r}")
        return _as_cached(entry), str(entry["created_at"])
    except _UNREADABLE as exc:
        log.warning("ignoring unreadable cache entry %s: %s", cache_object_key(key), exc)
        return None


def _decode_pack(name: str, raw: bytes | None) -> dict[str, _Entry]:
    """The entries of a pack by key; none (and a warning) if the pack is absent or not readable as a whole."""
    if raw is None:
        return {}
    try:
        pack = json.loads(raw)
        if pack.get("format") != PACK_FORMAT or pack.get("pack") != name:
            raise ValueError(f"format {pack.get('format')!r}, pack {pack.get('pack')!r}")
        columns = [pack["keys"], pack["created_at"], *(pack[field] for field in _COMPLETION_FIELDS)]
        if len({len(column) for column in columns}) != 1:
            raise ValueError("columns of different lengths")
        rows = zip(*columns, strict=True)
        return {key: (_cached(*values), str(created_at)) for key, created_at, *values in rows}
    except _UNREADABLE as exc:
        log.warning("ignoring unreadable cache pack %s: %s", pack_object_key(name), exc)
        return {}


def _cached(
    text: Any,
    input_tokens: Any,
    output_tokens: Any,
    cost_usd: Any,
    latency_ms: Any,
    model: Any,
    raw_finish_reason: Any,
) -> Completion:
    """A stored answer as a Completion, with its fields in `_COMPLETION_FIELDS` order."""
    if not isinstance(text, str) or not isinstance(model, str):
        raise TypeError("text and model must be strings")
    return Completion(text, input_tokens, output_tokens, cost_usd, latency_ms, model, True, raw_finish_reason)


def _as_cached(entry: Mapping[str, Any]) -> Completion:
    return _cached(*(entry[name] for name in _COMPLETION_FIELDS))
