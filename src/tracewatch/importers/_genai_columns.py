"""GenAI attributes read in columns: `read_genai` for all of an object's GenAI spans at once (the columnar path of
issue 19; the contract is `_fact_frame`'s).

`genai_facts` gives one row per span of the view: `exact` and the facts `read_genai` alone would set on a fresh
`SpanFacts`. Models, provider, token counts, the conversation id, the operation and the role are expressions over
the keys' columns (`_column_values`). JSON values are read by today's own functions, one call per span that has
them, because only they say exactly what orjson and the message rules make of a text: the messages
(`gen_ai.system_instructions`, `gen_ai.input.messages`, `gen_ai.output.messages`: `_genai._messages`), a
retrieval's documents (`_genai._documents`) and a tool call's arguments and result (`_genai._any_text`).

A span is not exact (left to `read_span`) when today's reader would warn about it (a value of another type than
the key's, JSON that does not parse, a message without a role, ...), when a token count is not an int (today
converts integral floats and numeric strings; the columns do not), or when it has `gen_ai.*` events (content
as events is read in Python for now). The values of a row that is not exact mean nothing.
"""

from __future__ import annotations

import polars as pl

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import (
    first_integer,
    first_text,
    key_columns,
    message_lists,
    passage_lists,
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

_OPERATION = pl.col("_operation")


def genai_facts(view: SpanView) -> pl.DataFrame:
    """`read_genai` for each span of `view` (GenAI spans): one row per `view.spans` row, in its order."""
    frame = genai_frame(view, key_columns(view, KEYS))
    return frame.select(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items())


def genai_frame(view: SpanView, keys: pl.DataFrame) -> pl.DataFrame:
    """`keys` (`key_columns` of `view` with at least `KEYS`) plus `exact`, `FACT_COLUMNS` and `_operation`."""
    provider, provider_warns = first_text(*PROVIDER_KEYS)
    input_tokens, input_odd = first_integer(*INPUT_TOKEN_KEYS)
    output_tokens, output_odd = first_integer(*OUTPUT_TOKEN_KEYS)
    with_events = view.events.filter(pl.col("name").str.starts_with("gen_ai."))["span_index"]
    spans = keys.with_columns(
        text(OPERATION).alias("_operation"),
        text(REQUEST_MODEL).alias("request_model"),
        text(RESPONSE_MODEL).alias("response_model"),
        provider.alias("provider"),
        input_tokens.alias("input_tokens"),
        output_tokens.alias("output_tokens"),
        text(CONVERSATION).alias("session_id"),
        ~pl.any_horizontal(
            text_warns(OPERATION),
            text_warns(REQUEST_MODEL),
            text_warns(RESPONSE_MODEL),
            provider_warns,
            input_odd,
            output_odd,
            text_warns(CONVERSATION),
            pl.col("span_index").is_in(with_events.implode()),
        ).alias("exact"),
    )
    spans = _join(spans, _message_columns(view))
    retrieval = _OPERATION.eq_missing(RETRIEVAL_OPERATION)
    tool = _OPERATION.eq_missing(TOOL_OPERATION)
    spans = _join(spans, _document_columns(view, spans.filter(retrieval)["span_index"]))
    spans = _join(spans, _tool_columns(view, spans.filter(tool)["span_index"]))
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
    )


def _join(spans: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """`found`'s columns on the spans it read (its `_silent` folded into `exact`); null elsewhere."""
    spans = spans.join(found, on="span_index", how="left", maintain_order="left")
    return spans.with_columns((pl.col("exact") & pl.col("_silent").fill_null(True)).alias("exact")).drop(
        "_silent"
    )


def _read_frame(spans: list[int], silent: list[bool], **columns: pl.Series) -> pl.DataFrame:
    return pl.DataFrame(
        [
            pl.Series("span_index", spans, dtype=pl.Int32()),
            pl.Series("_silent", silent, dtype=pl.Boolean()),
            *(series.alias(name) for name, series in columns.items()),
        ]
    )


def _message_columns(view: SpanView) -> pl.DataFrame:
    """`input_messages` / `output_messages` of the spans with message attributes, by `_genai._messages`."""
    rows = view.attributes.filter(pl.col("key").is_in(MESSAGE_KEYS))
    spans, found, silent = read_spans(rows, lambda _, reader: _messages([], reader))
    return _read_frame(
        spans,
        silent,
        input_messages=message_lists([inputs for inputs, _ in found]),
        output_messages=message_lists([outputs for _, outputs in found]),
    )


def _document_columns(view: SpanView, retrievals: pl.Series) -> pl.DataFrame:
    """`retrieved` of the retrieval spans, by `_genai._documents`."""
    rows = view.attributes.filter(
        (pl.col("key") == DOCUMENTS) & pl.col("span_index").is_in(retrievals.implode())
    )
    spans, found, silent = read_spans(rows, lambda _, reader: _documents(reader))
    return _read_frame(spans, silent, retrieved=passage_lists(found))


def _tool_call(reader: AttributeReader) -> tuple[str | None, str | None]:
    return _any_text(reader, TOOL_ARGUMENTS), _any_text(reader, TOOL_RESULT)


def _tool_columns(view: SpanView, tools: pl.Series) -> pl.DataFrame:
    """A tool span's arguments and result as text (`_tool_input`, `_tool_output`), by `_genai._any_text`."""
    rows = view.attributes.filter(
        pl.col("key").is_in([TOOL_ARGUMENTS, TOOL_RESULT]) & pl.col("span_index").is_in(tools.implode())
    )
    spans, found, silent = read_spans(rows, lambda _, reader: _tool_call(reader))
    return _read_frame(
        spans,
        silent,
        _tool_input=pl.Series([arguments for arguments, _ in found], dtype=pl.String()),
        _tool_output=pl.Series([result for _, result in found], dtype=pl.String()),
    )
