"""The demo's real local model (SmolLM2 on llama.cpp) answers over real HTTP with usage numbers."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from devtools import local_model
from devtools.local_model import (
    MODEL_ALIAS,
    LocalModel,
    served_gguf,
    start_local_model,
    stop_local_model,
)
from tracewatch.errors import ServiceError


@pytest.fixture(scope="module")
def model_server() -> Iterator[LocalModel]:
    server = start_local_model()
    yield server
    stop_local_model(server)


def test_the_local_model_answers_a_chat_completion(model_server: LocalModel) -> None:
    async def ask() -> openai.types.chat.ChatCompletion:
        async with openai.AsyncOpenAI(
            base_url=model_server.base_url, api_key="local", max_retries=0
        ) as client:
            return await client.chat.completions.create(
                model=MODEL_ALIAS,
                messages=[{"role": "user", "content": "What is the capital of France? Answer in one word."}],
                max_tokens=16,
                temperature=0.0,
                seed=7,
            )

    reply = asyncio.run(ask())
    assert reply.choices[0].message.content
    assert (
        reply.usage is not None and reply.usage.prompt_tokens > 5 and 0 < reply.usage.completion_tokens <= 16
    )


def test_the_served_weights_are_converted_once_and_reused(tmp_path: Path) -> None:
    served = served_gguf(tmp_path)
    assert served.parent == tmp_path and served.stat().st_size > 50_000_000
    assert served.read_bytes()[:4] == b"GGUF"
    made = served.stat().st_mtime_ns
    assert served_gguf(tmp_path) == served and served.stat().st_mtime_ns == made  # not converted again
    assert [p.name for p in tmp_path.iterdir()] == [served.name]  # no partial file left behind


def test_weights_llama_cpp_cannot_read_give_a_service_error_and_no_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    monkeypatch.setattr(local_model, "gguf_path", lambda: broken)
    cache = tmp_path / "cache"
    with pytest.raises(ServiceError, match=r"could not convert broken\.gguf to Q4_0"):
        served_gguf(cache)
    assert list(cache.iterdir()) == []


def test_a_server_that_dies_on_its_first_prompt_is_a_clear_error_at_start(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A llama.cpp build for another CPU loads the model and dies of SIGILL on its first prompt: the start says
    so (and stops), instead of handing out a server whose every experiment call fails."""
    ready = local_model._wait_until_ready

    def ready_then_illegal_instruction(server: LocalModel, timeout_s: float) -> None:
        ready(server, timeout_s)
        os.kill(server.pid, signal.SIGILL)
        server._process.wait(timeout=10)

    monkeypatch.setattr(local_model, "_wait_until_ready", ready_then_illegal_instruction)
    with pytest.raises(ServiceError, match=r"SIGILL.*built for another CPU"):
        start_local_model()
