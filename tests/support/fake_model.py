"""One fake `ModelClient` for every unit test that calls a model: scripted answers and faults per prompt, a
latency, and a record of every call (how often each prompt was sent, how many were in flight at once, and to
which endpoints), so a test can prove what was and was not called."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from tracewatch.llm import CallParams, Completion, Message

Reply = str | BaseException
"""What a model says to a prompt: a text, or an error the call raises."""

Step = str | BaseException
"""One attempt's behaviour: "ok" (answer with the reply), "empty" (an empty text), "hang" (never answer, so
the caller's timeout fires), or an exception to raise."""

STEPS = ("ok", "empty", "hang")

COST_USD = 0.01
"""What every answered call costs, so a test can work out where a cost cap stops a run."""


def echo(prompt: str, call: CallParams) -> str:
    """The default reply: names the prompt and the temperature, so a test sees which request got which answer."""
    return f"answer to {prompt} (t={call.params.get('temperature')})"


@dataclass(frozen=True)
class Request:
    """One call as the client received it."""

    messages: Sequence[Message]
    call: CallParams


class FakeModel:
    """Answers the last message of each call (its "prompt").

    `script` maps a prompt's first word to the behaviours of its successive attempts (the last one repeats);
    a prompt with no script answers "ok" every time. An "ok" answer is `reply`: a fixed text or error, or a
    function of the prompt and the call. Usage is fixed per call except the input tokens, which count the
    prompt's words unless given. Every call waits `latency_s`, so calls made together overlap.
    """

    def __init__(
        self,
        script: Mapping[str, Sequence[Step]] | None = None,
        *,
        reply: Reply | Callable[[str, CallParams], Reply] = echo,
        latency_s: float = 0.001,
        input_tokens: int | None = None,
        output_tokens: int = 3,
        cost_usd: float = COST_USD,
        latency_ms: float = 1.5,
    ) -> None:
        self.script = dict(script or {})
        self.reply = reply
        self.latency_s = latency_s
        self.input_tokens = input_tokens
        self.output_tokens = output_tokens
        self.cost_usd = cost_usd
        self.latency_ms = latency_ms
        self.requests: list[Request] = []
        self.calls: Counter[str] = Counter()  # per prompt
        self.in_flight = 0
        self.peak = 0  # the most calls ever in flight at once
        self.endpoints: Counter[str | None] = Counter()  # calls in flight per `api_base`
        self.endpoints_together = 0  # the most endpoints that ever had a call in flight at once

    @property
    def total(self) -> int:
        """Every call made, answered or not."""
        return len(self.requests)

    async def complete(self, messages: Sequence[Message], call: CallParams) -> Completion:
        """Record the call, wait, then answer or fail as scripted."""
        prompt = messages[-1]["content"]
        self.requests.append(Request(messages, call))
        self.calls[prompt] += 1
        steps = self.script.get(prompt.split()[0], ["ok"]) if prompt.split() else ["ok"]
        step = steps[min(self.calls[prompt], len(steps)) - 1]
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        self.endpoints[call.api_base] += 1
        self.endpoints_together = max(self.endpoints_together, len(+self.endpoints))
        try:
            await asyncio.sleep(self.latency_s)
            return await self._attempt(step, prompt, call)
        finally:
            self.in_flight -= 1
            self.endpoints[call.api_base] -= 1

    async def _attempt(self, step: Step, prompt: str, call: CallParams) -> Completion:
        if isinstance(step, BaseException):
            raise step
        if step not in STEPS:
            raise ValueError(f"unknown fake model step {step!r}: expected one of {STEPS} or an exception")
        if step == "hang":
            await asyncio.sleep(3600)
        if step == "empty":
            text = ""
        else:
            answer = self.reply(prompt, call) if callable(self.reply) else self.reply
            if isinstance(answer, BaseException):
                raise answer
            text = answer
        tokens = len(prompt.split()) if self.input_tokens is None else self.input_tokens
        return Completion(text, tokens, self.output_tokens, self.cost_usd, self.latency_ms, call.model)
