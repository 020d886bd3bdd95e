"""The test model server, driven through the real `openai.AsyncOpenAI` client over real HTTP: well-formed
answers, every injected fault as the client sees it, fail-first retries, stats, auth, and enough throughput
that a benchmark measures the client and not the server."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletion

from devtools._model_server_app import ServerState
from devtools.model_server import (
    Faults,
    Latency,
    ModelServer,
    request_key,
    start_model_server,
    stop_model_server,
)
from devtools.model_server_config import ServerConfig
from tracewatch.errors import ConfigError

MODEL = "tracewatch-echo"
API_KEY = "sk-test-" + "k" * 24
T = TypeVar("T")


@pytest.fixture(scope="session")
def model_server() -> Iterator[ModelServer]:
    """One model server for the session, without auth; tests reset it through conftest's `server`."""
    server = start_model_server()
    yield server
    stop_model_server(server)


@pytest.fixture(scope="session")
def authed_server() -> Iterator[ModelServer]:
    server = start_model_server(api_key=API_KEY)
    yield server
    stop_model_server(server)


def run(factory: Callable[[openai.AsyncOpenAI], Awaitable[T]], server: ModelServer, **client: Any) -> T:
    """Run `factory(client)` on a fresh event loop with a client that never retries on its own."""

    async def main() -> T:
        options = {"api_key": server.client_api_key, "max_retries": 0, "timeout": 30.0, **client}
        async with openai.AsyncOpenAI(base_url=server.base_url, **options) as api:
            return await factory(api)

    return asyncio.run(main())


def user(text: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": text}]


def ask(text: str, **params: Any) -> Callable[[openai.AsyncOpenAI], Awaitable[ChatCompletion]]:
    async def call(api: openai.AsyncOpenAI) -> ChatCompletion:
        return await api.chat.completions.create(model=MODEL, messages=user(text), **params)  # type: ignore[arg-type]

    return call


def outcomes(server: ModelServer, texts: list[str]) -> list[str]:
    """ "ok" or the name of the exception the client raised, for each call in turn (one client, one loop)."""

    async def each(api: openai.AsyncOpenAI) -> list[str]:
        results = []
        for text in texts:
            try:
                await ask(text)(api)
                results.append("ok")
            except Exception as exc:
                results.append(type(exc).__name__)
        return results

    return run(each, server)


def test_completion_is_well_formed_with_usage(server: ModelServer) -> None:
    messages = [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "what is the tallest mountain"},
    ]

    async def call(api: openai.AsyncOpenAI) -> ChatCompletion:
        return await api.chat.completions.create(model="any-model", messages=messages)  # type: ignore[arg-type]

    reply = run(call, server)
    assert reply.object == "chat.completion"
    assert reply.id.startswith("chatcmpl-") and reply.created > 1_700_000_000
    assert reply.model == "any-model"
    assert reply.choices[0].message.content == "what is the tallest mountain"  # echo of the last user turn
    assert reply.choices[0].finish_reason == "stop"
    assert reply.usage is not None
    assert (reply.usage.prompt_tokens, reply.usage.completion_tokens, reply.usage.total_tokens) == (7, 5, 12)


def test_replies_are_deterministic_and_hash_mode_depends_on_temperature_and_seed(server: ModelServer) -> None:
    server.configure(reply="hash")

    def reply(temperature: float, seed: int) -> str | None:
        return (
            run(ask("same question", temperature=temperature, seed=seed), server).choices[0].message.content
        )

    assert reply(0.0, 1) == reply(0.0, 1)
    replies = {reply(t, s) for t in (0.0, 0.7) for s in (1, 2, 3)}
    assert len(replies) > 1
    assert all(r and r.endswith(".") for r in replies)


def test_canned_answers_match_a_substring_of_the_last_user_message(server: ModelServer) -> None:
    server.configure(answers={"capital of France": "Paris", "2 + 2": "5"})
    assert run(ask("What is the capital of France?"), server).choices[0].message.content == "Paris"
    assert run(ask("Compute 2 + 2."), server).choices[0].message.content == "5"  # wrong on purpose
    assert run(ask("no canned answer here"), server).choices[0].message.content == "no canned answer here"


def test_max_tokens_cuts_the_reply(server: ModelServer) -> None:
    reply = run(ask("one two three four five", max_tokens=2), server)
    assert reply.choices[0].message.content == "one two"
    assert reply.choices[0].finish_reason == "length"
    assert reply.usage is not None and reply.usage.completion_tokens == 2


def test_models_are_listed(server: ModelServer) -> None:
    async def models(api: openai.AsyncOpenAI) -> list[str]:
        return [m.id async for m in api.models.list()]

    assert run(models, server) == [MODEL]


def test_429_carries_retry_after(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"429": 1.0}, retry_after_s=3))
    with pytest.raises(openai.RateLimitError) as caught:
        run(ask("hi"), server)
    assert caught.value.status_code == 429
    assert caught.value.response.headers["retry-after"] == "3"


@pytest.mark.parametrize("status", [500, 502, 503])
def test_server_errors(server: ModelServer, status: int) -> None:
    server.configure(faults=Faults(rates={str(status): 1.0}))  # type: ignore[dict-item]
    with pytest.raises(openai.InternalServerError) as caught:
        run(ask("hi"), server)
    assert caught.value.status_code == status


def test_malformed_body_raises_on_the_client(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"malformed": 1.0}))
    # The client parses the 200 body itself; today that surfaces as json's ValueError.
    with pytest.raises((ValueError, openai.APIResponseValidationError)):
        run(ask("hi"), server)


def test_truncated_body_raises_on_the_client(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"truncated": 1.0}))
    with pytest.raises(openai.APIConnectionError):
        run(ask("hi"), server)


def test_empty_choices_and_empty_content(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"empty_choices": 1.0}))
    assert run(ask("hi"), server).choices == []
    server.configure(faults=Faults(rates={"empty_content": 1.0}))
    reply = run(ask("hi"), server)
    assert reply.choices[0].message.content == ""
    assert reply.usage is not None and reply.usage.completion_tokens == 0


def test_hang_outlasts_the_client_timeout_and_ends_with_it(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"timeout": 1.0}))
    started = time.monotonic()
    with pytest.raises(openai.APITimeoutError):
        run(ask("hi"), server, timeout=0.5)
    assert time.monotonic() - started < 10
    # The server drops the hung handler when the client hangs up, so nothing stays in flight.
    deadline = time.monotonic() + 5
    while server.stats().in_flight and time.monotonic() < deadline:
        time.sleep(0.05)
    stats = server.stats()
    assert stats.in_flight == 0 and stats.by_fault == {"timeout": 1}


def test_fail_first_k_attempts_of_each_distinct_request(server: ModelServer) -> None:
    server.configure(faults=Faults(fail_first=2, fail_first_with="503"))
    first = outcomes(server, ["question A"] * 3)
    second = outcomes(server, ["question B"] * 3)
    assert first == second == ["InternalServerError", "InternalServerError", "ok"]
    server.reset()  # attempt counts are forgotten, so the failures start over
    assert outcomes(server, ["question A"]) == ["InternalServerError"]


def test_a_retrying_client_gets_through_fail_first(server: ModelServer) -> None:
    server.configure(faults=Faults(fail_first=1, fail_first_with="429", retry_after_s=0))
    reply = run(ask("retry me"), server, max_retries=2)
    assert reply.choices[0].message.content == "retry me"
    assert server.stats().by_status == {429: 1, 200: 1}


def test_keyed_faults_hit_the_same_requests_on_every_run(server: ModelServer) -> None:
    server.configure(faults=Faults(rates={"500": 0.5}, keyed=True, seed=7))
    questions = [f"question {i}" for i in range(24)]
    first_run = outcomes(server, questions)
    server.reset()
    assert outcomes(server, questions) == first_run
    assert {"ok", "InternalServerError"} == set(first_run)


def test_stats_count_requests_statuses_concurrency_and_distinct_requests(server: ModelServer) -> None:
    server.configure(latency=Latency.fixed(500))

    async def burst(api: openai.AsyncOpenAI) -> None:
        await asyncio.gather(*(ask(f"q{i % 5}")(api) for i in range(10)))

    run(burst, server)
    server.configure(latency=Latency(), faults=Faults(rates={"429": 1.0}))
    assert outcomes(server, ["q0"]) == ["RateLimitError"]
    stats = server.stats()
    assert stats.requests == 11
    assert stats.by_status == {200: 10, 429: 1}
    assert stats.by_fault == {"429": 1}
    assert 5 <= stats.max_in_flight <= 10 and stats.in_flight == 0
    assert stats.calls_for(user("q0"), MODEL) == 3 and stats.calls_for(user("q1"), MODEL) == 2
    assert stats.calls_for(user("never asked"), MODEL) == 0
    assert len(stats.by_request) == 5 and request_key(user("q3"), MODEL) in stats.by_request
    assert stats.max_calls_per_request == 3
    server.reset()
    assert server.stats().requests == 0 and server.stats().by_request == {}


def test_fixed_latency_delays_each_answer(server: ModelServer) -> None:
    server.configure(latency=Latency.fixed(300))
    started = time.monotonic()
    run(ask("slow"), server)
    assert time.monotonic() - started >= 0.3


def test_lognormal_latency_is_seeded_around_its_median() -> None:
    latency = Latency.lognormal(median_ms=100, sigma=0.5, seed=3)
    state = ServerState(ServerConfig(latency=latency), api_key=None)
    draws = [state.delay_s(latency) for _ in range(2000)]
    state.reset()
    assert [state.delay_s(latency) for _ in range(2000)] == draws
    assert 0.09 < statistics.median(draws) < 0.11
    assert min(draws) < 0.05 and max(draws) > 0.2


def test_auth_is_enforced_when_a_key_is_set(authed_server: ModelServer) -> None:
    authed_server.reset()
    with pytest.raises(openai.AuthenticationError):
        run(ask("hi"), authed_server, api_key="wrong")
    assert run(ask("hi"), authed_server).choices[0].message.content == "hi"
    assert authed_server.stats().by_status == {401: 1, 200: 1}
    root = authed_server.root_url
    with httpx.Client(trust_env=False) as http:
        assert http.get(f"{root}/admin/stats").status_code == 401
        assert http.get(f"{root}/admin/health").status_code == 200


def test_bad_requests_and_bad_config_are_refused(server: ModelServer) -> None:
    with httpx.Client(base_url=server.root_url, trust_env=False) as http:
        assert http.post("/chat/completions", content=b"{not json").status_code == 400
        assert http.post("/v1/chat/completions", json={"model": MODEL}).status_code == 400
        streaming = {"model": MODEL, "messages": user("hi"), "stream": True}
        assert http.post("/v1/chat/completions", json=streaming).status_code == 400
        plain = http.post("/chat/completions", json={"model": MODEL, "messages": user("no v1")})
        assert plain.json()["choices"][0]["message"]["content"] == "no v1"
        assert http.post("/admin/config", json={"latncy": {}}).status_code == 400
        assert http.post("/admin/config", json={"faults": {"rates": {"418": 1}}}).status_code == 400
    with pytest.raises(ConfigError):
        Faults(rates={"500": 0.7, "503": 0.7})
    with pytest.raises(ConfigError):  # refused by the server, not by the client
        server.configure(reply="nonsense")  # type: ignore[arg-type]


def test_throughput_is_bounded_by_latency_not_by_the_server(server: ModelServer) -> None:
    """A sanity check, not a benchmark: 200 calls of 100 ms at concurrency 50 take 0.4 s when perfectly
    parallel and 20 s when serial; allow a noisy, shared 2-core machine plenty of room in between."""
    server.configure(latency=Latency.fixed(100))
    calls, concurrency = 200, 50

    async def load(api: openai.AsyncOpenAI) -> float:
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> None:
            async with gate:
                await ask(f"load {i}")(api)

        started = time.perf_counter()
        await asyncio.gather(*(one(i) for i in range(calls)))
        return time.perf_counter() - started

    wall_s = run(load, server)
    stats = server.stats()
    assert stats.by_status == {200: calls}
    assert stats.max_in_flight >= concurrency // 2
    assert wall_s < calls * 0.1 / 2, f"{calls} calls took {wall_s:.1f} s"
