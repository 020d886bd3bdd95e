"""What a trace's LLM spans add up to: tokens, cost, the model, and the model's input and output.

Tokens and cost are summed over LLM spans only, because a parent span (a chain, a workflow, an agent) often
repeats its children's totals and would count them twice. When no LLM span states a count, the root's own count
is used (a vendor export may carry totals on the trace alone), and the metadata says so.

Cost per LLM span comes from its attributes when present, else from the `Pricer` (litellm's cost map) for the
span's model and tokens. A trace's cost is unknown (null, never 0) as soon as one LLM span that used tokens
cannot be priced; the priced part is kept in metadata (`cost_known_usd`). A span that states no tokens and no
cost at all (typically a call that failed before usage came back) is left out of the cost and named in a note.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from tracewatch.importers._messages import UNKNOWN_ROLE
from tracewatch.importers._spans import ChatMessage, SpanFacts

Pricer = Callable[[str, int, int], float | None]
"""(model, input tokens, output tokens) -> USD, or None when the model has no known price.

`tracewatch.llm.litellm_cost` is the one the importer stage passes; tests pass their own. None means unknown,
never free."""

CostSource = Literal["attributes", "litellm_cost_map", "mixed"]


@dataclass(slots=True)
class LlmSummary:
    """The trace-level numbers and texts read from its LLM spans, with notes on what was partial."""

    input_tokens: int | None = None
    output_tokens: int | None = None
    cost_usd: float | None = None
    cost_source: CostSource | None = None
    cost_known_usd: float | None = None
    model: str | None = None
    provider: str | None = None
    models: list[str] = field(default_factory=list)
    input_messages: list[ChatMessage] | None = None
    output_text: str | None = None
    notes: list[str] = field(default_factory=list)


def model_name(span: SpanFacts) -> str | None:
    """The model a span called: the requested one (the schema's `model`), else the one that answered."""
    return span.request_model or span.response_model


def _weight(span: SpanFacts) -> int:
    """Tokens a span used, for choosing the trace's model: input + output, else the total alone."""
    if span.input_tokens is not None or span.output_tokens is not None:
        return (span.input_tokens or 0) + (span.output_tokens or 0)
    return span.total_tokens or 0


def end_key(span: SpanFacts) -> tuple[bool, int, bool, int]:
    """Key for `max` picking the span that ended last: a known end beats an unknown one, then the later start."""
    end, start = span.end_time_unix_nano, span.start_time_unix_nano
    return (end is not None, end or 0, start is not None, start or 0)


def summarise_llm_spans(llm_spans: Sequence[SpanFacts], root: SpanFacts, pricer: Pricer | None) -> LlmSummary:
    """Sum and choose over `llm_spans` (in start order); `root` supplies token counts no LLM span states."""
    summary = LlmSummary()
    summary.input_tokens = _token_sum(llm_spans, root, "input_tokens", summary.notes)
    summary.output_tokens = _token_sum(llm_spans, root, "output_tokens", summary.notes)
    _cost(llm_spans, root, pricer, summary)
    named = [s for s in llm_spans if model_name(s)]
    summary.models = list(dict.fromkeys(n for s in named if (n := model_name(s))))
    if named:
        chosen = max(named, key=_weight)  # max keeps the first of equals: the earliest call wins a tie
        summary.model = model_name(chosen)
        summary.provider = chosen.provider or next((s.provider for s in llm_spans if s.provider), None)
    first_in = next((s for s in llm_spans if s.input_messages is not None), None)
    summary.input_messages = first_in.input_messages if first_in is not None else None
    last_out = max((s for s in llm_spans if _output_of(s) is not None), key=end_key, default=None)
    summary.output_text = _output_of(last_out) if last_out is not None else None
    return summary


def _token_sum(
    llm_spans: Sequence[SpanFacts],
    root: SpanFacts,
    name: Literal["input_tokens", "output_tokens"],
    notes: list[str],
) -> int | None:
    known: list[int] = [v for s in llm_spans if (v := getattr(s, name)) is not None]
    if not known:
        from_root: int | None = getattr(root, name)
        if from_root is not None and root.role != "llm":
            notes.append(f"{name} from the root span: no LLM span states it")
        return from_root
    if len(known) < len(llm_spans):
        notes.append(
            f"{name} unknown on {len(llm_spans) - len(known)} of {len(llm_spans)} LLM spans; "
            "the sum covers the others"
        )
    return sum(known)


def _span_cost(span: SpanFacts, pricer: Pricer | None) -> tuple[float | None, CostSource | None]:
    """(cost, where it came from) for one LLM span; (None, None) when it cannot be priced."""
    if span.cost_usd is not None:
        return span.cost_usd, "attributes"
    if pricer is None or span.input_tokens is None or span.output_tokens is None:
        return None, None
    if span.input_tokens < 0 or span.output_tokens < 0:
        return None, None  # impossible counts: validation quarantines the row and says why
    # The answering model's name is often the dated one the cost map lists (gpt-4o-mini-2024-07-18); the
    # requested one is tried after it when it differs.
    answered, requested = span.response_model, span.request_model
    models = [answered] if answered else []
    if requested and requested != answered:
        models.append(requested)
    for model in models:
        cost = pricer(model, span.input_tokens, span.output_tokens)
        if cost is not None and math.isfinite(cost) and cost >= 0:
            return cost, "litellm_cost_map"
    return None, None


def _cost(
    llm_spans: Sequence[SpanFacts], root: SpanFacts, pricer: Pricer | None, summary: LlmSummary
) -> None:
    priced: list[float] = []
    sources: set[CostSource] = set()
    unpriced: list[SpanFacts] = []
    silent = 0
    for span in llm_spans:
        cost, source = _span_cost(span, pricer)
        if cost is not None and source is not None:
            priced.append(cost)
            sources.add(source)
        elif span.input_tokens is None and span.output_tokens is None and span.total_tokens is None:
            silent += 1
        else:
            unpriced.append(span)
    if silent:
        summary.notes.append(f"{silent} LLM span(s) state no tokens and no cost; left out of the cost")
    if unpriced:
        models = sorted({model_name(s) or "<no model name>" for s in unpriced})
        summary.notes.append(
            f"cost unknown: {len(unpriced)} LLM span(s) used tokens but have no cost attribute and no known "
            f"price (models: {', '.join(models)})"
        )
        summary.cost_known_usd = sum(priced) if priced else None
        return
    if priced:
        summary.cost_usd = sum(priced)
        summary.cost_source = sources.pop() if len(sources) == 1 else "mixed"
    elif root.cost_usd is not None and root.role != "llm":
        summary.cost_usd = root.cost_usd
        summary.cost_source = "attributes"
        summary.notes.append("cost_usd from the root span: no LLM span states it")


def _output_of(span: SpanFacts) -> str | None:
    if span.output_text is not None:
        return span.output_text
    return answer_text(span.output_messages)


def answer_text(messages: list[ChatMessage] | None) -> str | None:
    """The answer in a call's output messages: the first assistant message (the first choice), else the first."""
    if not messages:
        return None
    return next((m.content for m in messages if m.role == "assistant"), messages[0].content)


def last_user_text(messages: list[ChatMessage] | None) -> str | None:
    """The user's input as plain text: the last user message (earlier turns and the system prompt are context),
    else the last message of unknown role: messages that were not valid JSON are kept as one such message, and
    their text is still the input (a row without input would be quarantined whole at ingest)."""
    if not messages:
        return None
    found = next((m.content for m in reversed(messages) if m.role == "user"), None)
    if found is None:
        found = next((m.content for m in reversed(messages) if m.role == UNKNOWN_ROLE), None)
    return found
