"""GenAI attributes read in columns: `read_genai` for all of an object's GenAI spans at once (the columnar path of
issue 19; the contract is `_fact_frame`'s).

`genai_facts` gives one row per span of the view: `exact` and the facts `read_genai` alone would set on a fresh
`SpanFacts`. Models, provider, token counts, the conversation id, the operation and the role are expressions over
the keys' columns (`_column_values`). JSON values are read by today's own functions, one call per span that has
them, because only they say exactly what orjson and the message rules make of a text: the messages
(`gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`: `_genai._messages`), a
retrieval's documents (`_genai._documents`) and a tool call's arguments and result (`_genai._any_text`), in
one pass over the spans that have any (`per_span_columns`); the expressions are one lazy plan, collected once.

A span is not exact (left to `read_span`) when today's reader would warn about it (a value of another type than
the key's, JSON that does not parse, a message without a role, ...), when a token count is not an int (today
converts integral floats and numeric strings; the columns do not), or when it has `gen_ai.*` events (content
as events is read in Python for now). The values of a row that is not exact mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import polars as pl

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import (
    KeyColumns,
    column,
    first_integer,
    first_text,
    key_columns,
    message_lists,
    passage_lists,
    place,
    read_spans,
    text,
    text_warns,
)
from tracewatch.importers._fact_frame import FACT_SCHEMA, SpanView
from tracewatch.importers._genai import (
    INPUT_MESSAGES,
    LLM_OPERATIONS,
    OPERATION,
    OUTPUT_MESSAGES,
    RETRIEVAL_OPERATION,
    SYSTEM_INSTRUCTIONS,
    TOOL_OPERATION,
    _any_text,
    _documents,
    _messages,
)
from tracewatch.importers._spans import ChatMessage, Passage

REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER_KEYS = ("gen_ai.provider.name", "gen_ai.system")
INPUT_TOKEN_KEYS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens")
OUTPUT_TOKEN_KEYS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens")
CONVERSATION = "gen_ai.conversation.id"
QUERY = "gen_ai.retrieval.query.text"
DOCUMENTS = "gen_ai.retrieval.documents"
TOOL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_RESULT = "gen_ai.tool.call.result"
MESSAGE_KEYS = (SYSTEM_INSTRUCTIONS, INPUT_MESSAGES, OUTPUT_MESSAGES)

KEYS = (
    OPERATION,
    REQUEST_MODEL,
    RESPONSE_MODEL,
    *PROVIDER_KEYS,
    *INPUT_TOKEN_KEYS,
    *OUTPUT_TOKEN_KEYS,
    CONVERSATION,
    QUERY,
)
"""The keys `genai_frame` reads from `key_columns`."""
COUNT_KEYS = (*INPUT_TOKEN_KEYS, *OUTPUT_TOKEN_KEYS)
"""The `KEYS` read as counts (`{key}:int`; the others `{key}:text`)."""

FACT_COLUMNS = (
    "role",
    "request_model",
    "response_model",
    "provider",
    "input_messages",
    "output_messages",
    "input_text",
    "output_text",
    "input_tokens",
    "output_tokens",
    "retrieved",
    "session_id",
)
"""The `FACT_SCHEMA` columns `read_genai` can set, in `FACT_SCHEMA`'s order."""

OUTPUT_SCHEMA = pl.Schema(
    {"span_index": pl.Int32(), "exact": pl.Boolean(), **{c: FACT_SCHEMA[c] for c in FACT_COLUMNS}}
)
"""What `genai_facts` returns."""

JSON_KEYS = (*MESSAGE_KEYS, DOCUMENTS, TOOL_ARGUMENTS, TOOL_RESULT)
"""The keys whose values today's functions read, one call per span."""

_OPERATION = pl.col("_operation")


def genai_facts(view: SpanView) -> pl.DataFrame:
    """`read_genai` for each span of `view` (GenAI spans): one row per `view.spans` row, in its order."""
    found = key_columns(view, KEYS, rows_of=JSON_KEYS, counts=COUNT_KEYS)
    frame = genai_frame(found, view, _json_values(found.wide))
    return frame.select(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items()).collect()


_Json = tuple[
    list[ChatMessage] | None, list[ChatMessage] | None, list[Passage] | None, str | None, str | None
]
JSON_COLUMNS = ("input_messages", "output_messages", "retrieved", "_tool_input", "_tool_output")
"""What `json_values` gives, in its order, as `genai_frame` names the columns."""


def python_text(wide: pl.DataFrame, key: str) -> list[str | None]:
    """`text(key)` of each span of `wide` as Python values (for the per-span reads)."""
    kinds, texts = wide[column(key, "kind")].to_list(), wide[column(key, "text")].to_list()
    return [t if k == "string" else None for k, t in zip(kinds, texts, strict=True)]


def json_values(operation: str | None, reader: AttributeReader) -> _Json:
    """What `read_genai` makes of one span's JSON values: messages always, documents on a retrieval, arguments
    and result on a tool call (`operation`, the span's `gen_ai.operation.name` text, decides as it does)."""
    inputs, outputs = _messages([], reader)
    if operation == RETRIEVAL_OPERATION:
        return inputs, outputs, _documents(reader), None, None
    if operation == TOOL_OPERATION:
        return inputs, outputs, None, _any_text(reader, TOOL_ARGUMENTS), _any_text(reader, TOOL_RESULT)
    return inputs, outputs, None, None, None


def _json_values(wide: pl.DataFrame) -> Callable[[int, AttributeReader], tuple[object, ...]]:
    operations = python_text(wide, OPERATION)
    return lambda row, reader: json_values(operations[row], reader)


_NESTED: dict[str, Callable[[list[Any]], pl.Series]] = {
    "input_messages": message_lists,
    "output_messages": message_lists,
    "retrieved": passage_lists,
}


def per_span_columns(
    rows: pl.DataFrame,
    read: Callable[[int, AttributeReader], tuple[object, ...]],
    names: Sequence[str],
    height: int,
) -> pl.DataFrame:
    """`read(row, reader)` of every span of `rows` (`KeyColumns.rows`), as columns `names` (text unless a nested
    fact) plus `_silent`, placed at each span's row (null elsewhere)."""
    spans, found, silent = read_spans(rows, read, by="row", ordered=False)
    columns = {}
    for i, name in enumerate(names):
        values = [f[i] for f in found]
        columns[name] = _NESTED[name](values) if name in _NESTED else pl.Series(values, dtype=pl.String())
    return place(spans, height, _silent=pl.Series(silent, dtype=pl.Boolean()), **columns)


def genai_frame(
    found: KeyColumns,
    view: SpanView,
    read: Callable[[int, AttributeReader], tuple[object, ...]],
    more: Sequence[str] = (),
) -> pl.LazyFrame:
    """`found.wide` (with at least `KEYS`) plus `exact`, `FACT_COLUMNS`, `_operation` and the `more` columns
    `read` gives after `JSON_COLUMNS` (`read` runs once on every span of `found.rows`, `json_values` first; a
    span whose reader warned is not exact), as a lazy plan the caller extends and collects once."""
    names = (*JSON_COLUMNS, *more)
    per_span = per_span_columns(found.rows, read, names, found.wide.height)
    spans = pl.concat([found.wide, per_span], how="horizontal").lazy()
    provider, provider_warns = first_text(*PROVIDER_KEYS)
    input_tokens, input_odd = first_integer(*INPUT_TOKEN_KEYS)
    output_tokens, output_odd = first_integer(*OUTPUT_TOKEN_KEYS)
    odd = [
        text_warns(OPERATION),
        text_warns(REQUEST_MODEL),
        text_warns(RESPONSE_MODEL),
        provider_warns,
        input_odd,
        output_odd,
        text_warns(CONVERSATION),
        ~pl.col("_silent").fill_null(True),
    ]
    if view.events.height:
        with_events = view.events.filter(pl.col("name").str.starts_with("gen_ai."))["span_index"]
        odd.append(pl.col("span_index").is_in(with_events.implode()))
    spans = spans.with_columns(
        text(OPERATION).alias("_operation"),
        text(REQUEST_MODEL).alias("request_model"),
        text(RESPONSE_MODEL).alias("response_model"),
        provider.alias("provider"),
        input_tokens.alias("input_tokens"),
        output_tokens.alias("output_tokens"),
        text(CONVERSATION).alias("session_id"),
        ~pl.any_horizontal(*odd).alias("exact"),
    )
    retrieval = _OPERATION.eq_missing(RETRIEVAL_OPERATION)
    tool = _OPERATION.eq_missing(TOOL_OPERATION)
    messages = pl.col("input_messages").is_not_null() | pl.col("output_messages").is_not_null()
    called_model = _OPERATION.is_in(sorted(LLM_OPERATIONS)).fill_null(False) | (
        _OPERATION.is_null() & ((pl.col("request_model") != "").fill_null(False) | messages)
    )
    return spans.with_columns(
        pl.when(retrieval)
        .then(pl.lit("retriever"))
        .when(~tool & called_model)
        .then(pl.lit("llm"))
        .otherwise(pl.lit("other"))
        .alias("role"),
        pl.when(retrieval).then(text(QUERY)).when(tool).then(pl.col("_tool_input")).alias("input_text"),
        pl.when(tool).then(pl.col("_tool_output")).alias("output_text"),
        (pl.col("exact") & ~(retrieval & text_warns(QUERY))).alias("exact"),
    ).drop("_silent")
