"""A provider fault storm at reduced size (issue 22, item 4; the full 10,000 x 2 runs in `make reliability`):
through the real runner and litellm against the local test model server, no item is lost, none is answered
twice (counted by the server), and each ends `ok` or `error` with its reason.

Retry-After: https://www.rfc-editor.org/rfc/rfc9110#field.retry-after (delay-seconds); OpenAI's error codes
(429, 500, 503): https://platform.openai.com/docs/guides/error-codes
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import polars as pl
import pytest
from bench.reliability.storm import STORM, account, run_storm

from devtools.model_server import Faults, ModelServer, start_model_server, stop_model_server
from tracewatch.store import Store

CHAT = {"model": "tracewatch-echo", "messages": [{"role": "user", "content": "hello"}]}


@pytest.fixture
def faulty() -> Iterator[ModelServer]:
    server = start_model_server()
    yield server
    stop_model_server(server)


def answer(server: ModelServer, fault: str) -> httpx.Response:
    server.configure(faults=Faults(rates={fault: 1.0}))  # type: ignore[dict-item]
    return httpx.post(f"{server.base_url}/chat/completions", json=CHAT, timeout=5)


def test_the_server_sends_a_429_with_and_without_retry_after(faulty: ModelServer) -> None:
    assert answer(faulty, "429").headers.get("Retry-After") == "1"
    bare = answer(faulty, "429_no_retry_after")
    assert bare.status_code == 429 and "Retry-After" not in bare.headers


def test_the_server_resets_the_connection_before_any_byte(faulty: ModelServer) -> None:
    with pytest.raises(httpx.TransportError):
        answer(faulty, "reset")
    assert faulty.stats().by_fault == {"reset": 1} and faulty.stats().answered == {}


def test_a_storm_loses_nothing_and_answers_nothing_twice(file_store: Store) -> None:
    result = run_storm(file_store, 200, faults=STORM)
    assert (result.rows, result.lost, result.duplicated) == (400, 0, 0), result
    assert result.answered_twice == 0 and result.unexplained == 0, result
    assert set(result.statuses) <= {"ok", "error"}, result
    assert set(result.faults_injected) == set(STORM), result  # every kind of fault was met
    assert result.requests > result.expected  # the storm made retries necessary


def test_the_accounting_catches_lost_duplicated_and_unexplained_items() -> None:
    rows = pl.DataFrame(
        {
            "config_fingerprint": ["a", "a", "a", "b"],
            "item_id": ["1", "1", "2", "1"],
            "status": ["ok", "ok", "error", "error"],
            "error": [None, None, "HTTP 503: busy", " "],
        }
    )
    answered: dict[str, Any] = {"k1": 1, "k2": 2}
    result = account(rows, answered, 9, {}, n_items=3, n_configs=2, faults={}, seconds=1.0)
    assert (result.lost, result.duplicated, result.answered_twice, result.unexplained) == (3, 1, 1, 1)
    assert result.error_reasons == {"HTTP 503": 1, " ": 1}
