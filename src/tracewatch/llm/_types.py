"""The records of a model call: the messages, what comes back, how it fails, and the seam every caller uses.

`ModelClient` is the one interface the experiment runner and the LLM judges call; `LiteLLMClient` is the real
one, and unit tests pass a fake.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from tracewatch.llm._params import CallParams

Message = Mapping[str, str]
"""A chat message: {"role": "system" | "user" | "assistant", "content": "..."}."""

CallStatus = Literal["ok", "error", "skipped_budget"]
"""How one call (an experiment item, a judgement) ended: answered, failed for good (with the reason), or never
made because the cost cap was reached."""


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
    """One async call to a chat model. Implementations do not retry: `answer` owns the one retry layer."""

    async def complete(self, messages: Sequence[Message], call: CallParams) -> Completion: ...
