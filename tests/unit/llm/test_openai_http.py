"""The direct transport's reading of error replies (the HTTP path itself runs in tests/integration)."""

from __future__ import annotations

import pytest

from tracewatch.llm._openai_http import chat_body, http_error


def test_an_openai_style_error_body_gives_the_servers_message_and_retry_after() -> None:
    body = b'{"error": {"message": "Rate limit reached for requests", "type": "requests"}}'
    error = http_error(429, {"Retry-After": "2"}, body)
    assert str(error) == "rate limited: Rate limit reached for requests"
    assert (error.transient, error.status, error.retry_after_s, error.kind) == (
        True,
        429,
        2.0,
        "rate_limited",
    )


@pytest.mark.parametrize(
    ("status", "kind", "transient"),
    [
        (500, "server_error", True),
        (503, "server_error", True),
        (408, "timeout", True),
        (401, "auth", False),
        (404, "not_found", False),
        (400, "bad_request", False),
    ],
)
def test_statuses_map_to_kinds(status: int, kind: str, transient: bool) -> None:
    error = http_error(status, {}, b"<html>upstream failure</html>")
    assert (error.kind, error.transient, error.status) == (kind, transient, status)
    assert "upstream failure" in str(error)


def test_a_long_error_body_is_cut() -> None:
    assert len(str(http_error(500, {}, b"x" * 10_000))) < 300


def test_the_body_carries_every_param_as_is() -> None:
    body = chat_body("smollm2", [{"role": "user", "content": "hi"}], {"temperature": 0.2, "top_k": 5})
    assert body == {
        "temperature": 0.2,
        "top_k": 5,
        "model": "smollm2",
        "messages": [{"role": "user", "content": "hi"}],
    }
