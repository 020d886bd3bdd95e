"""LiteLLMClient against the real local test model server, over real HTTP, through both transports (the direct
shared OpenAI client and litellm.acompletion): answers with usage and cost, every injected fault as a
ModelError with the right retry advice, one attempt per call, and no API key in any error, log or repr."""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import replace
from typing import TypeVar

import pytest

from devtools.model_server import Faults, ModelServer, start_model_server, stop_model_server
from tracewatch.errors import ConfigError
from tracewatch.experiments import ExperimentConfig
from tracewatch.llm import CallParams, Completion, LiteLLMClient, ModelError, Transport, register_model_prices
from tracewatch.llm._errors import scrub
from tracewatch.llm._openai_http import retry_after_s

API_KEY = "sk-tracewatch-" + "s3cr3t" * 5
WRONG_KEY = "sk-tracewatch-" + "wr0ng" * 6
KEY_ENV = "TRACEWATCH_TEST_MODEL_KEY"
PRICED = "openai/tracewatch-priced"
QUESTION = [{"role": "user", "content": "what is the capital of France"}]
T = TypeVar("T")


@pytest.fixture(scope="module")
def model_server() -> Iterator[ModelServer]:
    """One server for this module that requires a bearer key, so a wrong or missing key gets a 401."""
    server = start_model_server(api_key=API_KEY)
    yield server
    stop_model_server(server)


@pytest.fixture
def server(server: ModelServer, monkeypatch: pytest.MonkeyPatch) -> ModelServer:
    """Conftest's reset `server` (this module's, with a key) and the key in the environment calls name."""
    monkeypatch.setenv(KEY_ENV, API_KEY)
    return server


@pytest.fixture(params=["auto", "litellm"])
def transport(request: pytest.FixtureRequest) -> Transport:
    value: Transport = request.param
    return value


def call_for(server: ModelServer, model: str = "openai/tracewatch-echo", **fields: object) -> CallParams:
    options: dict[str, object] = {
        "params": {"temperature": 0.0, "seed": 1},
        "api_base": server.base_url,
        "api_key_env": KEY_ENV,
        "timeout_s": 10.0,
        **fields,
    }
    return CallParams(model=model, **options)  # type: ignore[arg-type]


def run(transport: Transport, body: Callable[[LiteLLMClient], Awaitable[T]]) -> T:
    async def main() -> T:
        async with LiteLLMClient(transport=transport) as client:
            return await body(client)

    return asyncio.run(main())


def complete(transport: Transport, call: CallParams, messages: list[dict[str, str]] = QUESTION) -> Completion:
    return run(transport, lambda client: client.complete(messages, call))


def failure(transport: Transport, call: CallParams) -> ModelError:
    with pytest.raises(ModelError) as caught:
        complete(transport, call)
    return caught.value


# ---- answers -----------------------------------------------------------------------------------------------


def test_an_answer_carries_the_providers_usage(server: ModelServer, transport: Transport) -> None:
    done = complete(transport, call_for(server))
    assert done.text == "what is the capital of France"  # the server echoes the last user message
    assert (done.input_tokens, done.output_tokens) == (6, 6)  # its tokens are whitespace words
    assert done.raw_finish_reason == "stop"
    assert done.model == "openai/tracewatch-echo"
    assert done.latency_ms > 0 and done.cached is False
    assert done.cost_usd is None  # neither litellm's cost map nor the config prices this model
    assert server.stats().calls_for(QUESTION, "tracewatch-echo", 0.0, 1) == 1


def test_params_reach_the_server(server: ModelServer, transport: Transport) -> None:
    done = complete(transport, call_for(server, params={"temperature": 0.0, "seed": 1, "max_tokens": 2}))
    assert done.text == "what is" and done.output_tokens == 2 and done.raw_finish_reason == "length"


def test_cost_comes_from_litellms_cost_map_when_it_knows_the_model(
    server: ModelServer, transport: Transport
) -> None:
    register_model_prices(PRICED, input_per_1k=1.0, output_per_1k=2.0)
    done = complete(
        transport, call_for(server, model=PRICED, cost_per_1k_input=100.0, cost_per_1k_output=100.0)
    )
    assert done.cost_usd == pytest.approx((6 * 1.0 + 6 * 2.0) / 1000)


def test_cost_comes_from_the_configs_pricing_otherwise(server: ModelServer, transport: Transport) -> None:
    done = complete(transport, call_for(server, cost_per_1k_input=0.5, cost_per_1k_output=1.5))
    assert done.cost_usd == pytest.approx((6 * 0.5 + 6 * 1.5) / 1000)


def test_a_rendered_config_runs_end_to_end(server: ModelServer, transport: Transport) -> None:
    config = ExperimentConfig(
        name="e2e",
        model="openai/tracewatch-echo",
        system_prompt="Be brief.",
        prompt="Q: {input}",
        params={"temperature": 0, "seed": 3},
        api_base=server.base_url,
        api_key_env=KEY_ENV,
    )
    config.check_provider()
    messages = config.render({"item_id": "itm_1", "input_text": "why is the sky blue"})
    done = run(transport, lambda client: client.complete(messages, config.call_params()))
    assert done.text == "Q: why is the sky blue"


def test_one_client_serves_one_event_loop_after_another(server: ModelServer) -> None:
    client = LiteLLMClient()
    call = call_for(server)

    async def once() -> str:
        try:
            return (await client.complete(QUESTION, call)).text
        finally:
            await client.aclose()

    assert [asyncio.run(once()) for _ in range(2)] == ["what is the capital of France"] * 2


def test_an_openai_key_in_the_environment_is_not_sent_to_a_custom_endpoint(
    server: ModelServer, transport: Transport, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    error = failure(transport, call_for(server, api_key_env=None))
    assert error.status == 401  # the placeholder key went to the server, not $OPENAI_API_KEY


# ---- failures ----------------------------------------------------------------------------------------------


def test_429_is_transient_with_the_servers_retry_after(server: ModelServer, transport: Transport) -> None:
    server.configure(faults=Faults(rates={"429": 1.0}, retry_after_s=2))
    error = failure(transport, call_for(server))
    assert (error.transient, error.status, error.retry_after_s, error.kind) == (
        True,
        429,
        2.0,
        "rate_limited",
    )
    assert error.rate_limited
    assert server.stats().requests == 1  # one attempt: no retry hidden in litellm or the OpenAI SDK


@pytest.mark.parametrize("status", ["500", "503"])
def test_server_errors_are_transient(server: ModelServer, transport: Transport, status: str) -> None:
    server.configure(faults=Faults(rates={status: 1.0}))
    error = failure(transport, call_for(server))
    assert (error.transient, error.status, error.kind) == (True, int(status), "server_error")
    assert server.stats().requests == 1


def test_a_wrong_key_is_not_transient_and_never_shown(
    server: ModelServer,
    transport: Transport,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setenv(KEY_ENV, WRONG_KEY)
    caplog.set_level(logging.DEBUG, logger="tracewatch")
    error = failure(transport, call_for(server))
    assert (error.transient, error.status, error.kind) == (False, 401, "auth")
    shown = " ".join([str(error), repr(error), repr(error.args), caplog.text])
    assert WRONG_KEY not in shown and API_KEY not in shown
    assert (
        error.__context__ is None and error.__cause__ is None
    )  # the provider's request (with headers) is gone


def test_no_key_appears_in_any_failure_or_repr(
    server: ModelServer, transport: Transport, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="tracewatch")
    shown: list[str] = []
    for kind in ("429", "500", "malformed", "truncated", "empty_choices"):
        server.configure(faults=Faults(rates={kind: 1.0}))
        error = failure(transport, call_for(server))
        shown += [str(error), repr(error)]
    client = LiteLLMClient(transport=transport)
    shown += [repr(client), repr(call_for(server)), caplog.text]
    assert not [text for text in shown if API_KEY in text]


def test_a_malformed_body_is_a_transient_error_that_says_so(
    server: ModelServer, transport: Transport
) -> None:
    server.configure(faults=Faults(rates={"malformed": 1.0}))
    error = failure(transport, call_for(server))
    assert (error.transient, error.status, error.kind) == (True, None, "malformed")
    assert "malformed response: the body is not valid JSON" in str(error)


def test_a_truncated_body_is_a_transient_connection_error(server: ModelServer, transport: Transport) -> None:
    server.configure(faults=Faults(rates={"truncated": 1.0}))
    error = failure(transport, call_for(server))
    assert (error.transient, error.status, error.kind) == (True, None, "connection")
    assert "cut short" in str(error)


@pytest.mark.parametrize(
    ("fault", "reason"),
    [
        ("empty_choices", "the reply has no choices"),
        ("empty_content", "the reply has no text (finish_reason=stop)"),
    ],
)
def test_an_empty_reply_is_an_error_with_the_reason(
    server: ModelServer, transport: Transport, fault: str, reason: str
) -> None:
    server.configure(faults=Faults(rates={fault: 1.0}))
    error = failure(transport, call_for(server))
    assert (error.transient, error.kind) == (True, "empty")
    assert str(error) == f"empty response: {reason}"


def test_a_hung_request_times_out_as_a_transient_error(server: ModelServer, transport: Transport) -> None:
    server.configure(faults=Faults(rates={"timeout": 1.0}, hang_s=30))
    started = time.monotonic()
    error = failure(transport, call_for(server, timeout_s=0.5))
    assert (error.transient, error.kind) == (True, "timeout")
    assert time.monotonic() - started < 5  # the client's own timeout fired, once
    assert server.stats().requests == 1


def test_a_model_string_without_a_provider_is_a_config_error(
    server: ModelServer, transport: Transport
) -> None:
    with pytest.raises(ConfigError, match="model 'smollm2': litellm cannot tell its provider"):
        complete(transport, replace(call_for(server), model="smollm2"))
    assert server.stats().requests == 0


# ---- header and message helpers (no server) ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "0.5"}, 0.5),
        ({"retry-after-ms": "1500", "retry-after": "9"}, 1.5),
        ({"Retry-After": "Wed, 21 Oct 2026 07:28:30 GMT"}, 30.0),
        ({"Retry-After": "Wed, 21 Oct 2026 07:27:00 GMT"}, 0.0),
        ({"Retry-After": "soon"}, None),
        ({}, None),
    ],
)
def test_retry_after_is_read_as_seconds_or_an_http_date(
    headers: dict[str, str], expected: float | None
) -> None:
    now = dt.datetime(2026, 10, 21, 7, 28, 0, tzinfo=dt.UTC).timestamp()
    assert retry_after_s(headers, now=now) == expected


def test_scrub_masks_the_given_secrets_and_key_shaped_text() -> None:
    text = f"bad key {API_KEY}, also sk-proj-abcdef123456 and Authorization: Bearer abc.def-123456"
    cleaned = scrub(text, (API_KEY,))
    assert (
        API_KEY not in cleaned and "sk-proj-abcdef123456" not in cleaned and "abc.def-123456" not in cleaned
    )
    assert cleaned.startswith("bad key ***")
