"""Provider failures as `ModelError`s: what litellm and the OpenAI SDK raise, classified (may a retry help?),
with the server's Retry-After, and with every secret scrubbed from the message.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence

from tracewatch.llm._openai_http import classify_status, retry_after_s
from tracewatch.llm._types import ModelError, ModelErrorKind

_DETAIL_LIMIT = 300
_LITELLM_PREFIX = re.compile(
    r"^(?:litellm\.\w+:\s*)?(?:\w+Error:\s*)?(?:\w+Exception - )?(?:Error code: \d+ - )?"
)
_KEY_SHAPES = re.compile(r"(sk-[A-Za-z0-9_\-]{6,}|(?i:bearer)\s+[A-Za-z0-9._\-]{6,})")


def model_error(exc: BaseException, secrets: Sequence[str] = ()) -> ModelError | None:
    """The `ModelError` for a provider failure raised by litellm or the OpenAI SDK, or None for anything else
    (a bug should propagate, not become thousands of failed items).

    litellm re-raises a body that is not JSON, or a connection cut mid-body, as a 500; the cause chain tells
    them apart from a real server error.
    """
    import openai

    chain = list(_chain(exc))
    if isinstance(exc, openai.APITimeoutError):
        return _error("timeout", "timed out", exc, secrets, transient=True)
    if isinstance(exc, openai.APIResponseValidationError) or any(
        isinstance(e, json.JSONDecodeError) for e in chain
    ):
        return _error(
            "malformed", "malformed response: the body is not valid JSON", exc, secrets, transient=True
        )
    if any(isinstance(e, openai.APIConnectionError) for e in chain):
        return _error(
            "connection",
            "connection error: the connection failed or the body was cut short",
            exc,
            secrets,
            transient=True,
        )
    status = getattr(exc, "status_code", None)
    if not isinstance(exc, openai.OpenAIError) or not isinstance(status, int):
        return None
    kind, summary, transient = classify_status(status)
    if kind == "bad_request" and "ContentPolicyViolation" in type(exc).__name__:
        return _error("content_filter", "refused by the content filter", exc, secrets, False, status)
    retry_after = retry_after_s(_headers(exc)) if transient else None
    return _error(kind, summary, exc, secrets, transient, status, retry_after)


def _error(
    kind: ModelErrorKind,
    summary: str,
    exc: BaseException,
    secrets: Sequence[str],
    transient: bool,
    status: int | None = None,
    retry_after: float | None = None,
) -> ModelError:
    detail = _detail(exc)
    if kind in ("connection", "malformed"):
        root = list(_chain(exc))[-1]
        if root is not exc and str(root) and str(root) not in detail:
            detail = f"{detail} (cause: {type(root).__name__}: {root})"
    message = scrub(" ".join(f"{summary}: {detail}".split()) if detail else summary, secrets)
    if len(message) > _DETAIL_LIMIT:  # cut after scrubbing, so no secret is cut in half and left readable
        message = message[: _DETAIL_LIMIT - 3] + "..."
    return ModelError(message, transient=transient, status=status, retry_after_s=retry_after, kind=kind)


def _detail(exc: BaseException) -> str:
    return _LITELLM_PREFIX.sub("", str(exc).strip())


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def scrub(text: str, secrets: Sequence[str] = ()) -> str:
    """`text` with the given secrets and anything shaped like an API key or bearer token masked."""
    for secret in secrets:
        if secret and len(secret) >= 4:
            text = text.replace(secret, "***")
    return _KEY_SHAPES.sub("***", text)


def _headers(exc: BaseException) -> Mapping[str, str]:
    response = getattr(exc, "response", None)
    for candidate in (
        getattr(response, "headers", None),
        getattr(exc, "litellm_response_headers", None),
        getattr(exc, "headers", None),
    ):
        if candidate:
            return {str(k).lower(): str(v) for k, v in dict(candidate).items()}
    return {}


def scrubbed(error: ModelError, secrets: Sequence[str]) -> ModelError:
    """`error` with the given secrets and anything shaped like a key masked in its message."""
    return ModelError(
        scrub(str(error), secrets),
        transient=error.transient,
        status=error.status,
        retry_after_s=error.retry_after_s,
        kind=error.kind,
    )
