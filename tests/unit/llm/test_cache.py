"""The response cache: stable keys that ignore the endpoint, the trial rule, and round trips through a real
local-folder store with the in-memory layer in front."""

from __future__ import annotations

import asyncio
import hashlib
import json
import threading
from dataclasses import replace

import pytest

from tests.support.store_spy import StoreReads
from tracewatch.llm import PACK_PREFIX, CacheKeys, CallParams, Completion, ResponseCache, cache_key
from tracewatch.llm._cache import cache_object_key, is_deterministic, pack_name, pack_object_key, request_key
from tracewatch.store import Store

MESSAGES = [{"role": "user", "content": "What is 2+2?"}]
CALL = CallParams(model="openai/gpt-4o-mini", params={"temperature": 0.0, "seed": 7})
ANSWER = Completion(
    text="4",
    input_tokens=12,
    output_tokens=1,
    cost_usd=0.0000024,
    latency_ms=123.4,
    model="openai/gpt-4o-mini",
    raw_finish_reason="stop",
)


def test_the_request_key_is_the_sha256_of_model_messages_and_params_and_is_pinned() -> None:
    payload = {"messages": MESSAGES, "model": "openai/gpt-4o-mini", "params": {"seed": 7, "temperature": 0.0}}
    independent = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert request_key(MESSAGES, CALL) == independent
    assert request_key(MESSAGES, CALL) == "b9784e123e0ec38b75be699110b8ec6a94b9fd26f33e4bb69fb666c4b96bb239"


def test_the_endpoint_key_timeout_and_pricing_do_not_change_the_key() -> None:
    elsewhere = replace(
        CALL,
        api_base="http://127.0.0.1:9/v1",
        api_key_env="OTHER",
        timeout_s=3,
        cost_per_1k_input=1.0,
        cost_per_1k_output=1.0,
    )
    assert request_key(MESSAGES, elsewhere) == request_key(MESSAGES, CALL)


@pytest.mark.parametrize(
    "other",
    [
        replace(CALL, model="openai/gpt-4o"),
        replace(CALL, params={"temperature": 0.0, "seed": 8}),
        replace(CALL, params={"temperature": 0.0, "seed": 7, "max_tokens": 10}),
    ],
)
def test_model_and_params_change_the_key(other: CallParams) -> None:
    assert request_key(MESSAGES, other) != request_key(MESSAGES, CALL)


def test_messages_change_the_key() -> None:
    assert request_key([{"role": "user", "content": "What is 2+3?"}], CALL) != request_key(MESSAGES, CALL)


def test_deterministic_calls_share_one_entry_across_trials() -> None:
    assert is_deterministic(CALL)
    assert {cache_key(MESSAGES, CALL, trial) for trial in range(5)} == {request_key(MESSAGES, CALL)}


@pytest.mark.parametrize(
    "params",
    [{"temperature": 0.7, "seed": 7}, {"temperature": 0.0}, {"seed": 7}, {}],
    ids=["warm", "no-seed", "default-temperature", "nothing-fixed"],
)
def test_random_calls_get_one_entry_per_trial(params: dict[str, float]) -> None:
    call = replace(CALL, params=params)
    assert not is_deterministic(call)
    keys = [cache_key(MESSAGES, call, trial) for trial in range(4)]
    assert len(set(keys)) == 4
    assert keys[0] == request_key(
        MESSAGES, call
    )  # trial 0 is shared with any caller sending the same request


async def put_and_flush(cache: ResponseCache, key: str, completion: Completion) -> None:
    await cache.put(key, completion)
    await cache.flush()


def test_a_completion_round_trips_through_a_folder_store(file_store: Store) -> None:
    key = cache_key(MESSAGES, CALL)
    cache = ResponseCache(file_store)
    asyncio.run(cache.put(key, ANSWER))
    assert not file_store.exists(cache_object_key(key))  # kept for the next batch
    asyncio.run(cache.flush())

    assert cache_object_key(key) == f"warehouse/cache/{key[:2]}/{key}.json"
    stored = file_store.read_json(cache_object_key(key))
    assert stored["key"] == key and stored["created_at"].endswith("+00:00")

    fresh = ResponseCache(file_store)  # a new process: nothing in memory
    hit = asyncio.run(fresh.get(key))
    assert hit == replace(ANSWER, cached=True)


def test_a_miss_is_none(file_store: Store) -> None:
    assert asyncio.run(ResponseCache(file_store).get("0" * 64)) is None


def test_an_unreadable_entry_is_a_miss(file_store: Store, caplog: pytest.LogCaptureFixture) -> None:
    key = "ab" + "c" * 62
    file_store.write_bytes(cache_object_key(key), b'{"format": 1, "key": "ab')
    assert asyncio.run(ResponseCache(file_store).get(key)) is None
    assert "ignoring unreadable cache entry" in caplog.text


def test_an_entry_stored_under_another_key_is_a_miss(file_store: Store) -> None:
    key, other = "ab" + "c" * 62, "ab" + "d" * 62
    asyncio.run(put_and_flush(ResponseCache(file_store), other, ANSWER))
    file_store.write_bytes(cache_object_key(key), file_store.read_bytes(cache_object_key(other)))
    assert asyncio.run(ResponseCache(file_store).get(key)) is None


def test_the_memory_layer_answers_without_the_store(file_store: Store) -> None:
    cache = ResponseCache(file_store)
    key = cache_key(MESSAGES, CALL)
    asyncio.run(cache.put(key, ANSWER))
    file_store.delete("warehouse/cache")
    assert asyncio.run(cache.get(key)) == replace(ANSWER, cached=True)
    assert asyncio.run(ResponseCache(file_store).get(key)) is None


def test_the_memory_layer_is_bounded(file_store: Store) -> None:
    cache = ResponseCache(file_store, memory_entries=2)
    keys = [f"{i:02d}" + "e" * 62 for i in range(3)]
    for key in keys:
        asyncio.run(cache.put(key, ANSWER))
    file_store.delete("warehouse/cache")
    assert [asyncio.run(cache.get(k)) is not None for k in keys] == [False, True, True]


def test_store_reads_happen_off_the_event_loop_thread(file_store: Store) -> None:
    key = cache_key(MESSAGES, CALL)
    asyncio.run(put_and_flush(ResponseCache(file_store), key, ANSWER))
    threads: list[threading.Thread] = []
    original = file_store.read_bytes

    def spy(name: str) -> bytes:
        threads.append(threading.current_thread())
        return original(name)

    file_store.read_bytes = spy  # type: ignore[method-assign]
    assert asyncio.run(ResponseCache(file_store).get(key)) is not None
    assert threads and threads[0] is not threading.main_thread()


def test_puts_reach_the_store_in_batches(file_store: Store) -> None:
    cache = ResponseCache(file_store, write_batch=3)
    keys = [f"{i:02x}" + "e" * 62 for i in range(4)]

    async def put_all() -> None:
        for key in keys:
            await cache.put(key, ANSWER)

    asyncio.run(put_all())
    assert [file_store.exists(cache_object_key(k)) for k in keys] == [True, True, True, False]
    asyncio.run(cache.flush())
    assert file_store.exists(cache_object_key(keys[3]))


def test_prefetch_reads_a_chunk_at_once_and_remembers_the_misses(file_store: Store) -> None:
    present, absent = "aa" + "1" * 62, "bb" + "2" * 62
    asyncio.run(put_and_flush(ResponseCache(file_store), present, ANSWER))
    fresh = ResponseCache(file_store)

    assert asyncio.run(fresh.prefetch([present, absent, present])) == 1
    file_store.delete("warehouse/cache")  # both answers now come from what the prefetch read
    assert asyncio.run(fresh.get(present)) == replace(ANSWER, cached=True)
    assert asyncio.run(fresh.get(absent)) is None
    asyncio.run(fresh.put(absent, ANSWER))  # answered since: no longer a miss
    assert asyncio.run(fresh.get(absent)) == replace(ANSWER, cached=True)


# ---- packs: a chunk's entries in one object ------------------------------------------------------------------


def chunk_keys(n: int, call: CallParams = CALL) -> list[str]:
    return [cache_key([{"role": "user", "content": f"question {i}"}], call) for i in range(n)]


def answer_to(i: int) -> Completion:
    return replace(ANSWER, text=f"answer {i}", input_tokens=i)


async def answer_and_seal(cache: ResponseCache, keys: list[str], answered: range) -> None:
    """What a chunk does: prefetch its keys, store the answers it got, flush, seal."""
    await cache.prefetch(keys)
    for i in answered:
        await cache.put(keys[i], answer_to(i))
    await cache.flush()
    await cache.seal(keys)


def test_a_chunk_of_answers_comes_back_in_one_read(file_store: Store) -> None:
    keys = chunk_keys(20)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(20)))
    assert [o.key for o in file_store.list_objects(PACK_PREFIX)] == [pack_object_key(pack_name(keys))]

    reads = StoreReads(file_store)
    fresh = ResponseCache(file_store)
    assert asyncio.run(fresh.prefetch(reversed(keys))) == 20  # the set names the pack, not the order
    assert reads.objects == [pack_object_key(pack_name(keys))]
    assert [fresh.peek(key) for key in keys] == [replace(answer_to(i), cached=True) for i in range(20)]


def test_a_whole_pack_is_not_written_again(file_store: Store) -> None:
    keys = chunk_keys(5)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(5)))
    written = file_store.list_objects(PACK_PREFIX)[0]
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(0)))  # a warm rerun of the chunk
    assert file_store.list_objects(PACK_PREFIX) == [written]


def test_a_changed_request_misses_the_pack(file_store: Store) -> None:
    keys = chunk_keys(5)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(5)))
    changed = chunk_keys(5, replace(CALL, params={"temperature": 0.0, "seed": 8}))
    fresh = ResponseCache(file_store)
    assert asyncio.run(fresh.prefetch(changed)) == 0
    assert all(fresh.peek(key) is None for key in changed)


def test_a_partial_pack_hits_what_it_holds_and_singles_fill_the_rest(file_store: Store) -> None:
    keys = chunk_keys(10)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(6)))  # a chunk stopped after 6 answers
    killed = ResponseCache(file_store)  # a run killed after its batch of answers 6-7 reached the store,
    asyncio.run(put_and_flush(killed, keys[6], answer_to(6)))  # before it could seal
    asyncio.run(put_and_flush(killed, keys[7], answer_to(7)))

    reads = StoreReads(file_store)
    fresh = ResponseCache(file_store)
    assert asyncio.run(fresh.prefetch(keys)) == 8
    assert reads.objects == [pack_object_key(pack_name(keys))] + [cache_object_key(k) for k in keys[6:]]
    assert [fresh.peek(key) is not None for key in keys] == [True] * 8 + [False] * 2

    asyncio.run(answer_and_seal(fresh, keys, range(8, 10)))  # the rerun answers the rest: the pack is whole
    reads.clear()
    assert asyncio.run(ResponseCache(file_store).prefetch(keys)) == 10
    assert reads.objects == [pack_object_key(pack_name(keys))]


def test_an_unreadable_pack_is_ignored_for_the_single_entries(
    file_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    keys = chunk_keys(3)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(3)))
    pack = pack_object_key(pack_name(keys))
    stored = json.loads(file_store.read_bytes(pack))
    stored["text"] = stored["text"][:2]  # a column cut short
    file_store.write_bytes(pack, json.dumps(stored).encode())

    fresh = ResponseCache(file_store)
    assert asyncio.run(fresh.prefetch(keys)) == 3
    assert "ignoring unreadable cache pack" in caplog.text
    assert [fresh.peek(key) for key in keys] == [replace(answer_to(i), cached=True) for i in range(3)]


def test_a_pack_entry_is_the_same_answer_as_its_single_entry(file_store: Store) -> None:
    keys = chunk_keys(4)
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(4)))
    from_pack = ResponseCache(file_store)
    asyncio.run(from_pack.prefetch(keys))
    file_store.delete(PACK_PREFIX)
    from_singles = ResponseCache(file_store)
    asyncio.run(from_singles.prefetch(keys))
    assert [from_pack.peek(k) for k in keys] == [from_singles.peek(k) for k in keys]
    assert all(from_pack.peek(k) is not None for k in keys)


def test_writers_sealing_one_pack_at_once_leave_a_readable_pack(file_store: Store) -> None:
    keys = chunk_keys(40)
    halves = [
        range(0, 25),
        range(15, 40),
    ]  # two processes running the same chunk, answering overlapping parts

    def writer(answered: range) -> None:
        for _ in range(20):
            asyncio.run(answer_and_seal(ResponseCache(file_store), keys, answered))

    threads = [threading.Thread(target=writer, args=(half,)) for half in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    fresh = ResponseCache(file_store)
    assert asyncio.run(fresh.prefetch(keys)) == 40
    assert [fresh.peek(key) for key in keys] == [replace(answer_to(i), cached=True) for i in range(40)]
    stored = file_store.read_json(pack_object_key(pack_name(keys)))
    assert len(stored["keys"]) in (25, 40)  # one writer's whole pack, or a rerun's over both


def test_keys_for_many_requests_are_the_keys_of_each() -> None:
    for params in ({"temperature": 0.7}, {"temperature": 0.0, "seed": 3}):
        call = replace(CALL, params=params)
        keys = CacheKeys(call)
        for trial in range(3):
            for messages in (MESSAGES, [{"role": "system", "content": "Be brief."}, *MESSAGES]):
                base = hashlib.sha256(
                    json.dumps(
                        {"model": call.model, "messages": messages, "params": params},
                        sort_keys=True,
                        separators=(",", ":"),
                    ).encode()
                ).hexdigest()
                per_trial = hashlib.sha256(f"{base}\x00trial={trial}".encode()).hexdigest()
                expected = base if trial == 0 or "seed" in params else per_trial
                assert keys.request_key(messages) == base
                assert keys.cache_key(messages, trial) == expected == cache_key(messages, call, trial)


def test_an_answer_whose_own_write_failed_stays_out_of_the_pack(file_store: Store) -> None:
    keys = chunk_keys(4)
    failing = cache_object_key(keys[2])
    write_bytes = file_store.write_bytes

    def flaky(key: str, data: bytes, **kwargs: object) -> None:
        if key == failing:
            raise OSError("throttled")
        write_bytes(key, data, **kwargs)  # type: ignore[arg-type]

    file_store.write_bytes = flaky  # type: ignore[method-assign]
    asyncio.run(answer_and_seal(ResponseCache(file_store), keys, range(4)))
    file_store.write_bytes = write_bytes  # type: ignore[method-assign]
    pack = json.loads(file_store.read_bytes(pack_object_key(pack_name(keys))))
    assert sorted(pack["keys"]) == sorted(k for k in keys if k != keys[2])  # a pack is never the only copy


def test_chunks_sharing_a_cache_seal_whole_packs_when_their_entries_went_in_another_flush(
    file_store: Store,
) -> None:
    first, second = chunk_keys(6)[:3], chunk_keys(6)[3:]
    cache = ResponseCache(file_store, write_batch=1_000)

    async def two_chunks() -> None:
        await cache.prefetch(first)
        await cache.prefetch(second)
        for i, key in enumerate(first + second):
            await cache.put(key, answer_to(i))
        await asyncio.gather(flush_and_seal(first), flush_and_seal(second))  # the first flush takes both

    async def flush_and_seal(keys: list[str]) -> None:
        await cache.flush()
        await cache.seal(keys)

    asyncio.run(two_chunks())
    for keys in (first, second):
        pack = json.loads(file_store.read_bytes(pack_object_key(pack_name(keys))))
        assert sorted(pack["keys"]) == sorted(keys)
