"""OpenLLMetry (Traceloop) attributes read in columns: `read_openllmetry` for all of an object's OpenLLMetry spans
at once (the columnar path of issue 19; the contract is `_fact_frame`'s).

`openllmetry_facts` gives one row per span of the view: `exact` and the facts `read_openllmetry` alone would set
on a fresh `SpanFacts`. As today, the GenAI columns come first (`_genai_columns.genai_frame`, the same keys read
once) and Traceloop's names fill what they left unknown: total tokens, the workflow as the route, the request
type and span kind for the role, and the association properties (`traceloop.association.properties.*`) as
metadata (compact JSON in attribute order, strings escaped as orjson does), user and session, all expressions.
Today's own functions read what only they can say exactly, one call per span that needs it: a decorated
function's input and output (`_openllmetry._entity_text`, only where the GenAI reading left the text empty; in
the same per-span pass as GenAI's JSON values), the legacy `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*`
messages (`AttributeReader.indexed` and `indexed_messages`, only where the GenAI messages are missing), and
association values that are not a string, an int, a bool or empty (`orjson.dumps`).

A span is not exact (left to `read_span`) for the GenAI reasons (`_genai_columns`), when today's reader would
warn (a value of another type than the key's, JSON that does not parse, a message without a role, ...), when a
count is not an int, when it holds a structured `gen_ai.prompt` / `gen_ai.completion` value, when a prompt or
completion index is not ASCII (today's `int()` may raise on it), when an association value could not be
written as metadata (bytes), or when the user or session an association property names is a float, bytes or a
structure (today's `str()` of it). A function output that cannot start a JSON value (plain text) is not read
when it would be: today's reader warns about it. The values of a row that is not exact mean nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson
import polars as pl

from tracewatch.importers._attrs import AttributeReader
from tracewatch.importers._column_values import (
    NO_VALUE,
    first_integer,
    first_text,
    json_string,
    key_columns,
    message_lists,
    present,
    python_values,
    read_spans,
    text,
    text_warns,
)
from tracewatch.importers._fact_frame import FACT_SCHEMA, SpanView
from tracewatch.importers._genai import OPERATION, RETRIEVAL_OPERATION
from tracewatch.importers._genai_columns import (
    COUNT_KEYS,
    JSON_KEYS,
    QUERY,
    genai_frame,
    json_values,
    python_text,
)
from tracewatch.importers._genai_columns import KEYS as GENAI_KEYS
from tracewatch.importers._messages import indexed_messages
from tracewatch.importers._openllmetry import (
    _COMPLETION,
    _LLM_REQUEST_TYPES,
    _PROMPT,
    _SESSION_KEYS,
    _USER_KEYS,
    ASSOCIATION,
    _entity_text,
)
from tracewatch.importers._spans import ChatMessage

TOTAL_TOKEN_KEYS = ("gen_ai.usage.total_tokens", "llm.usage.total_tokens")
WORKFLOW = "traceloop.workflow.name"
ENTITY_INPUT = "traceloop.entity.input"
ENTITY_OUTPUT = "traceloop.entity.output"
REQUEST_USER_KEYS = ("gen_ai.user", "llm.user")
REQUEST_TYPE = "llm.request.type"
SPAN_KIND = "traceloop.span.kind"
_STRUCTURED = (_PROMPT[:-1], _COMPLETION[:-1])  # `gen_ai.prompt` / `gen_ai.completion` holding a list

KEYS = (
    *GENAI_KEYS,
    *TOTAL_TOKEN_KEYS,
    WORKFLOW,
    *REQUEST_USER_KEYS,
    REQUEST_TYPE,
    SPAN_KIND,
    *_STRUCTURED,
)
"""The keys `openllmetry_facts` reads from `key_columns`."""

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
    "total_tokens",
    "retrieved",
    "route",
    "user_id",
    "session_id",
    "metadata",
)
"""The `FACT_SCHEMA` columns `read_openllmetry` can set, in `FACT_SCHEMA`'s order."""

OUTPUT_SCHEMA = pl.Schema(
    {"span_index": pl.Int32(), "exact": pl.Boolean(), **{c: FACT_SCHEMA[c] for c in FACT_COLUMNS}}
)
"""What `openllmetry_facts` returns."""


def openllmetry_facts(view: SpanView) -> pl.DataFrame:
    """`read_openllmetry` for each span of `view` (OpenLLMetry spans): one row per `view.spans` row, in order."""
    found = key_columns(
        view,
        KEYS,
        rows_of=(*JSON_KEYS, ENTITY_INPUT, ENTITY_OUTPUT),
        prefixes=(_PROMPT, _COMPLETION, ASSOCIATION),
        counts=(*COUNT_KEYS, *TOTAL_TOKEN_KEYS),
    )
    spans = genai_frame(found, view, _json_and_entities(found.wide), more=("_entity_input", "_entity_output"))
    associated = found.prefixed["key"].str.starts_with(ASSOCIATION)
    if found.prefixed.height:
        frame = spans.collect()
        if not associated.all():
            frame = _indexed(found.prefixed.filter(~associated), frame)
        if associated.any():
            frame = _association_columns(found.prefixed.filter(associated), frame)
        spans = frame.lazy()
    if not found.prefixed.height or not associated.any():
        spans = spans.with_columns(
            pl.lit(None, pl.String()).alias("metadata"),
            pl.lit(None, pl.String()).alias("_user"),
            pl.lit(None, pl.String()).alias("_session"),
            pl.lit(False).alias("_user_odd"),
            pl.lit(False).alias("_session_odd"),
        )
    total, total_odd = first_integer(*TOTAL_TOKEN_KEYS)
    request_type, kind = text(REQUEST_TYPE), text(SPAN_KIND)
    request_user, request_user_warns = first_text(*REQUEST_USER_KEYS)
    messages = pl.col("input_messages").is_not_null() | pl.col("output_messages").is_not_null()
    user, session = pl.col("_user"), pl.col("_session")
    user_empty = user.is_null() | (user == "")
    session_open = pl.col("session_id").is_null()
    spans = spans.with_columns(
        total.alias("total_tokens"),
        text(WORKFLOW).alias("route"),
        pl.when(pl.col("input_text") != "")
        .then(pl.col("input_text"))
        .otherwise(pl.col("_entity_input"))
        .alias("input_text"),
        pl.when(pl.col("output_text") != "")
        .then(pl.col("output_text"))
        .otherwise(pl.col("_entity_output"))
        .alias("output_text"),
        pl.when(user_empty).then(request_user).otherwise(user).alias("user_id"),
        pl.when(session_open).then(session).otherwise(pl.col("session_id")).alias("session_id"),
        pl.when(request_type.is_not_null() & ~present(OPERATION))
        .then(
            pl.when(request_type.is_in(sorted(_LLM_REQUEST_TYPES)))
            .then(pl.lit("llm"))
            .otherwise(pl.lit("other"))
        )
        .when((pl.col("role") == "other") & kind.is_null() & messages)
        .then(pl.lit("llm"))
        .otherwise(pl.col("role"))
        .alias("role"),
        (
            pl.col("exact")
            & ~pl.any_horizontal(
                total_odd,
                text_warns(WORKFLOW),
                text_warns(REQUEST_TYPE),
                text_warns(SPAN_KIND),
                *(present(key) for key in _STRUCTURED),
                pl.col("_user_odd"),
                session_open & pl.col("_session_odd"),
                user_empty & request_user_warns,
            )
        ).alias("exact"),
    )
    return spans.select(pl.col(name).cast(dtype) for name, dtype in OUTPUT_SCHEMA.items()).collect()


def _json_and_entities(wide: pl.DataFrame) -> Callable[[int, AttributeReader], tuple[object, ...]]:
    """The per-span read: GenAI's JSON values (`json_values`), then a decorated function's input and output
    (`_entity_text`) where GenAI left that text empty, as `read_openllmetry` reads them."""
    operations = python_text(wide, OPERATION)
    queries = python_text(wide, QUERY)

    def read(row: int, reader: AttributeReader) -> tuple[object, ...]:
        found = json_values(operations[row], reader)
        given = queries[row] if operations[row] == RETRIEVAL_OPERATION else found[3]
        return (
            *found,
            None if given else _entity_text(reader, ENTITY_INPUT, unwrap_arguments=True),
            None if found[4] else _entity_text(reader, ENTITY_OUTPUT, unwrap_arguments=False),
        )

    return read


def _joined(spans: pl.DataFrame, found: pl.DataFrame) -> pl.DataFrame:
    """`found`'s columns on the spans it names (its `_silent` folded into `exact`); null elsewhere."""
    spans = spans.join(found, on="span_index", how="left", maintain_order="left")
    return spans.with_columns((pl.col("exact") & pl.col("_silent").fill_null(True)).alias("exact")).drop(
        "_silent"
    )


def _indexed(rows: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """The legacy `gen_ai.prompt.{i}.*` / `gen_ai.completion.{i}.*` messages (`rows`) where GenAI's are
    missing."""
    key = pl.col("key")
    index = key.str.extract(r"^gen_ai\.(?:prompt|completion)\.([^.]*)")
    odd = rows.filter(index.str.contains(r"[^\x00-\x7F]"))["span_index"]
    wanted = spans.filter(pl.col("input_messages").is_null() | pl.col("output_messages").is_null())
    need = dict(
        zip(
            wanted["span_index"].to_list(),
            zip(
                wanted["input_messages"].is_null().to_list(),
                wanted["output_messages"].is_null().to_list(),
                strict=True,
            ),
            strict=True,
        )
    )
    rows = rows.filter(
        pl.col("span_index").is_in(wanted["span_index"].implode())
        & ~pl.col("span_index").is_in(odd.implode())
    )

    def read(span: int, reader: AttributeReader) -> tuple[list[ChatMessage] | None, list[ChatMessage] | None]:
        groups = reader.indexed((_PROMPT, _COMPLETION))
        inputs, outputs = need[span]
        return (
            indexed_messages(groups[_PROMPT], _PROMPT[:-1], reader) if inputs and groups[_PROMPT] else None,
            indexed_messages(groups[_COMPLETION], _COMPLETION[:-1], reader)
            if outputs and groups[_COMPLETION]
            else None,
        )

    found_spans, found, silent = read_spans(rows, read)
    found_frame = pl.DataFrame(
        [
            pl.Series("span_index", found_spans, dtype=pl.Int32()),
            pl.Series("_silent", silent, dtype=pl.Boolean()),
            message_lists([inputs for inputs, _ in found]).alias("_indexed_inputs"),
            message_lists([outputs for _, outputs in found]).alias("_indexed_outputs"),
        ]
    )
    spans = _joined(spans, found_frame)
    return spans.with_columns(
        pl.coalesce("input_messages", "_indexed_inputs").alias("input_messages"),
        pl.coalesce("output_messages", "_indexed_outputs").alias("output_messages"),
        (pl.col("exact") & ~pl.col("span_index").is_in(odd.implode())).alias("exact"),
    )


def _json_or_none(value: Any) -> str | None:
    """`value` as `facts_to_frame` writes it into metadata, or None when orjson cannot (bytes)."""
    try:
        return orjson.dumps(value).decode()
    except TypeError:
        return None


def _association_columns(rows: pl.DataFrame, spans: pl.DataFrame) -> pl.DataFrame:
    """Association properties (`rows`): `metadata`, and the user and session they name (`_user`, `_session`,
    with `_user_odd` / `_session_odd`: a value whose `str()` the columns do not write)."""
    kind = pl.col("kind").fill_null(NO_VALUE)
    rows = rows.sort("span_index", "position").with_columns(
        pl.col("key").str.slice(len(ASSOCIATION)).alias("_name"), kind.alias("kind")
    )
    # orjson's text for the values polars writes alike; Python's for the others (floats, bytes, structures)
    simple = pl.col("kind").is_in(["string", "int", "bool", NO_VALUE])
    other = rows.filter(~simple)
    written = pl.Series("_other", [_json_or_none(v) for v in python_values(other)], dtype=pl.String())
    rows = rows.join(
        other.select("span_index", "key").with_columns(written),
        on=["span_index", "key"],
        how="left",
        maintain_order="left",
    )
    value_json = (
        pl.when(pl.col("kind") == "string")
        .then(json_string(pl.col("string_value")))
        .when(pl.col("kind") == "int")
        .then(pl.col("int_value").cast(pl.String()))
        .when(pl.col("kind") == "bool")
        .then(pl.when(pl.col("bool_value")).then(pl.lit("true")).otherwise(pl.lit("false")))
        .when(pl.col("kind") == NO_VALUE)
        .then(pl.lit("null"))
        .otherwise(pl.col("_other"))
    )
    # Python's `str()` of a user or session value, for the kinds it reads alike
    as_text = (
        pl.when(pl.col("kind") == "string")
        .then(pl.col("string_value"))
        .when(pl.col("kind") == "int")
        .then(pl.col("int_value").cast(pl.String()))
        .when(pl.col("kind") == "bool")
        .then(pl.when(pl.col("bool_value")).then(pl.lit("True")).otherwise(pl.lit("False")))
    )
    as_text_odd = ~simple
    rows = rows.with_columns(
        pl.concat_str(json_string(pl.col("_name")), pl.lit(":"), value_json).alias("_entry"),
        as_text.alias("_text"),
        as_text_odd.alias("_text_odd"),
    )
    named = list(dict.fromkeys((*_USER_KEYS, *_SESSION_KEYS)))
    name = pl.col("_name")
    found = rows.group_by("span_index", maintain_order=True).agg(
        pl.concat_str(pl.lit("{"), pl.col("_entry").str.join(","), pl.lit("}")).alias("_metadata"),
        pl.col("_entry").is_not_null().all().alias("_silent"),
        *((name == n).any().alias(f"_has:{n}") for n in named),
        *(pl.col("_text").filter(name == n).first().alias(f"_text:{n}") for n in named),
        *(pl.col("_text_odd").filter(name == n).first().alias(f"_odd:{n}") for n in named),
    )
    spans = _joined(spans, found)
    user, user_odd = _first_present(_USER_KEYS)
    session, session_odd = _first_present(_SESSION_KEYS)
    return spans.with_columns(
        pl.col("_metadata").alias("metadata"),
        user.alias("_user"),
        session.alias("_session"),
        user_odd.fill_null(False).alias("_user_odd"),
        session_odd.fill_null(False).alias("_session_odd"),
    )


def _first_present(names: tuple[str, ...]) -> tuple[pl.Expr, pl.Expr]:
    """The text of the first of `names` the span's properties have (even when it holds no value, as today's
    `next(...)` picks it), and whether that value is of a kind whose `str()` the columns do not write."""
    value = pl.lit(None, pl.String())
    odd = pl.lit(False)
    for n in reversed(names):
        has = pl.col(f"_has:{n}").fill_null(False)
        value = pl.when(has).then(pl.col(f"_text:{n}")).otherwise(value)
        odd = pl.when(has).then(pl.col(f"_odd:{n}")).otherwise(odd)
    return value, odd
