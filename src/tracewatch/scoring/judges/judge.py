"""A configured LLM judge: a built-in prompt (`prompts`), a parser (`parse`) and a thin call through
`tracewatch.llm`, the experiments' call path too, so judges share the response cache, provider limits, retries
and cost cap.

A judge's record says exactly what judged: its kind, options, model and params (temperature, seed). The judge
model is described with the same keys as an experiment config; it defaults to temperature 0 and a fixed seed
so that a judgement is reproducible and cached once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from functools import partial
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.llm import (
    CallParams,
    Message,
    RetryPolicy,
    Runtime,
    answer,
    cache_key,
    call_context,
    call_params_from_dict,
    config_keys,
)
from tracewatch.scoring.judges._options import JudgeOptions
from tracewatch.scoring.judges._quoting import Quoting
from tracewatch.scoring.judges.parse import parse_flag, parse_scale
from tracewatch.scoring.judges.prompts import KINDS, JudgeItem, PromptKind, judge_messages, scale_of
from tracewatch.scoring.types import Score, ScorerSpec

DEFAULT_PARAMS: Mapping[str, Any] = {"temperature": 0.0, "seed": 0, "max_tokens": 256}
"""Judge params unless the config sets them: deterministic, so a judgement is cached and reproducible."""

_MODEL_KEYS = config_keys(CallParams) | {"api_base_env"}
_UNUSED_KEYS = frozenset({"prompt", "system_prompt"})
"""Accepted so that a judge's model can be written like an experiment config; a judge's prompt is its kind's."""


class LLMJudge:
    """One judge, configured. `messages` and `parse` are pure; `score_items` makes the calls."""

    def __init__(
        self,
        kind: str,
        call: CallParams,
        *,
        name: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ConfigError(f"unknown judge {kind!r}; known judges: {sorted(KINDS)}")
        self.kind: PromptKind = KINDS[kind]
        self.call = call
        self.options: JudgeOptions = self.kind.options.parse(dict(options or {}), f"judge {kind!r}")
        self.name = name or kind

    def __repr__(self) -> str:
        return f"LLMJudge({self.name!r}, kind={self.kind.name!r}, model={self.call.model!r})"

    @property
    def args(self) -> Mapping[str, Any]:
        """Everything that changes a judgement (not the endpoint or the key): recorded with every score."""
        return {
            "judge": self.kind.name,
            "model": self.call.model,
            "params": dict(self.call.params),
            # The options as the config gave them (not their defaults), so a record reads as its config.
            **self.options.model_dump(mode="json", exclude_unset=True),
        }

    @property
    def spec(self) -> ScorerSpec:
        return ScorerSpec(self.name, self.args)

    def missing_fields(self, item: JudgeItem) -> list[str]:
        return [field for field in self.kind.needs if not item.get(field)]

    def messages(self, item: JudgeItem) -> list[Message]:
        return judge_messages(self.kind, item, self.options)

    def parse(self, text: str, item: JudgeItem | None = None) -> Score:
        """The judge's verdict in `text`; given the `item` it judged, only what the judge wrote itself counts
        (not its echo of the item's quoted texts, nor a verdict copied from them)."""
        quoting = Quoting.of(item) if item is not None else None
        scale = scale_of(self.kind, self.options)
        return parse_flag(text, quoting) if scale is None else parse_scale(text, *scale, quoting)

    async def score_items(
        self, items: Sequence[JudgeItem], runtime: Runtime, *, retry: RetryPolicy | None = None
    ) -> list[Score]:
        """One Score per item, in order. An item lacking a needed field is unscored; a failed call or an
        unreadable reply is an error score with the reason (and the raw reply)."""
        call = self.call
        context = call_context(
            runtime, retry or RetryPolicy(), call, budget_key=f"judge:{self.name}", timeout_s=call.timeout_s
        )
        requests: list[tuple[list[Message], str, JudgeItem] | Score] = []
        for item in items:
            absent = self.missing_fields(item)
            if absent:
                requests.append(Score.unscored(f"judge {self.name!r} needs {absent}; the item has none"))
            else:
                messages = self.messages(item)
                requests.append((messages, cache_key(messages, call), item))
        keys = [r[1] for r in requests if not isinstance(r, Score)]
        if context.cache is not None:
            await context.cache.prefetch(keys)
        scores: list[Score | None] = [r if isinstance(r, Score) else None for r in requests]
        pending = iter([(i, r) for i, r in enumerate(requests) if not isinstance(r, Score)])
        extra = {"model": call.model, **{k: call.params.get(k) for k in ("temperature", "seed")}}

        async def worker() -> None:
            for index, (messages, key, item) in pending:
                result = await answer(
                    context, partial(runtime.client.complete, messages, call), messages, key
                )
                if result.completion is None:
                    scores[index] = Score.error(f"judge call failed: {result.error}", extra)
                    continue
                judged = self.parse(result.completion.text, item)
                scores[index] = Score(
                    judged.value,
                    judged.status,
                    judged.explanation,
                    {
                        **judged.metadata,
                        **extra,
                        "cached": result.cached,
                        "cost_usd": result.completion.cost_usd,
                    },
                )

        workers = max(1, min(len(items), 2 * context.throttle.limiter.max_concurrency))
        try:
            await asyncio.gather(*(worker() for _ in range(workers)))
        finally:
            if context.cache is not None:  # written, and packed: a rerun of the batch reads one object
                await context.cache.seal(keys)
        return [score for score in scores if score is not None]


def judge_from_dict(config: Mapping[str, Any], *, environ: Mapping[str, str] | None = None) -> LLMJudge:
    """A judge from its scorer config, e.g. {"judge": "correctness", "model": "openai/gpt-4o-mini"}."""
    kind = config.get("judge")
    if not isinstance(kind, str):
        raise ConfigError(f"a judge config needs a 'judge' kind (one of {sorted(KINDS)}), got {config!r}")
    name = config.get("name")
    if name is not None and not isinstance(name, str):
        raise ConfigError(f"judge {kind!r}: `name` must be a string")
    options = {k: v for k, v in config.items() if k not in _MODEL_KEYS | _UNUSED_KEYS | {"judge", "name"}}
    model_keys = {k: v for k, v in config.items() if k in _MODEL_KEYS}
    if "model" not in model_keys:
        raise ConfigError(f"judge {kind!r} needs a `model` (a litellm model string)")
    model_keys["params"] = {**DEFAULT_PARAMS, **(model_keys.get("params") or {})}
    call = call_params_from_dict(model_keys, f"judge {name or kind!r}", environ=environ)
    return LLMJudge(kind, call, name=name, options=options)
