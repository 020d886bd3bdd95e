"""The shared records of the experiments stage: what a model call returns and the seam every caller uses.

`ModelClient` is the one interface the runner and the LLM judges call; `experiments.client.LiteLLMClient`
is the real one (the only module that imports litellm), and unit tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

Message = Mapping[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": "..."}."""

ItemStatus = Literal["ok", "error", "skipped_budget"]
"""The final state of one experiment item: answered, failed for good (with the reason), or never called
because the cost cap was reached."""


@dataclass(frozen=True)
class Completion:
    """One model answer with the provider's usage and cost, and whether it came from the response cache."""

    text: str
    input_tokens: int | None
    output_tokens: int | None
    cost_usd: float | None
    latency_ms: float
    model: str
    cached: bool = False
    raw_finish_reason: str | None = None


@dataclass(frozen=True)
class CallParams:
    """Everything besides the messages that changes a model's answer, as sent to the provider."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 60.0
    cost_per_1k_input: float | None = None
    """USD per 1,000 input tokens, used only when litellm's cost map does not know the model."""
    cost_per_1k_output: float | None = None
    """USD per 1,000 output tokens, used only when litellm's cost map does not know the model."""

    def __repr__(self) -> str:
        # An api_base may carry credentials (https://user:pass@host); the key itself is only ever a name here.
        return (
            f"CallParams(model={self.model!r}, params={dict(self.params)!r}, api_base={redact_url(self.api_base)!r}, "
            f"api_key_env={self.api_key_env!r}, timeout_s={self.timeout_s!r})"
        )


def redact_url(url: str | None) -> str | None:
    """`url` with any user:password part replaced by ***, for logs and records."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


ModelErrorKind = Literal[
    "rate_limited",
    "server_error",
    "timeout",
    "connection",
    "malformed",
    "empty",
    "auth",
    "not_found",
    "bad_request",
    "content_filter",
]
"""Why a call failed, as a stable label for reports (`status` alone cannot tell a timeout from a cut body)."""


class ModelError(Exception):
    """A model call that failed. `transient` errors may be retried; `retry_after_s` is the server's hint.

    The message never contains a secret: clients build it from the provider's error text with keys scrubbed.
    """

    def __init__(
        self,
        message: str,
        *,
        transient: bool,
        status: int | None = None,
        retry_after_s: float | None = None,
        kind: ModelErrorKind | None = None,
    ):
        super().__init__(message)
        self.transient = transient
        self.status = status
        self.retry_after_s = retry_after_s
        self.kind = kind

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments defeat Exception's default pickling, and orchestrators pickle exceptions
        # across processes.
        return (_rebuild_model_error, (str(self), self.transient, self.status, self.retry_after_s, self.kind))

    @property
    def rate_limited(self) -> bool:
        return self.status == 429


def _rebuild_model_error(
    message: str,
    transient: bool,
    status: int | None,
    retry_after_s: float | None,
    kind: ModelErrorKind | None,
) -> ModelError:
    return ModelError(message, transient=transient, status=status, retry_after_s=retry_after_s, kind=kind)


class ModelClient(Protocol):
    """One async call to a chat model. Implementations do not retry: the runner owns the one retry layer."""

    async def complete(self, messages: Sequence[Message], call: CallParams) -> Completion: ...
