"""The demo's real local model (SmolLM2 on llama.cpp) answers over real HTTP with usage numbers."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import openai
import pytest

from tracewatch.devservices.local_model import MODEL_ALIAS, LocalModel, start_local_model, stop_local_model


@pytest.fixture(scope="module")
def local_model() -> Iterator[LocalModel]:
    server = start_local_model()
    yield server
    stop_local_model(server)


def test_the_local_model_answers_a_chat_completion(local_model: LocalModel) -> None:
    async def ask() -> openai.types.chat.ChatCompletion:
        async with openai.AsyncOpenAI(
            base_url=local_model.base_url, api_key="local", max_retries=0
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
