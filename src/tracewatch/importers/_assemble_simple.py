"""Trace rows for traces of the simple shape, in columns: `assemble_trace`'s rules as polars expressions.

Only for the traces `_assemble_columns.simple_traces` admits: one parentless span (the root), no duplicate span
ids, every parent present and earlier in start order, every span timed, the root not ending before it starts,
at least one LLM span, counts within `TOKEN_LIMIT`, every span mapped in columns. There the root is the first
span in start order (`_span_tree._start_key`: start, then span id), no tree oddity and no latency note can
arise, and each rule of `_assemble`, `_span_tree` and `_llm_calls` is one expression over the spans sorted in
that order (first-of-equals picks with stable sorts, as `max` keeps the first of equals).

Python stays where exactness needs it and the work is one small loop per trace: the cost sum (`sum` over the
same floats in the same order, bit for bit), the notes, and the metadata dict dumped with the very orjson call
`assemble_trace` makes. Span metadata texts are parsed once per distinct text.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import polars as pl

from tracewatch.importers._assemble import IMPORT_WARNINGS_KEY
from tracewatch.importers._assemble_metadata import TEXT_SEPARATOR, cost_and_metadata
from tracewatch.importers._llm_calls import Pricer
from tracewatch.traces import TRACE_SCHEMA

__all__ = ["price_table", "simple_rows"]

_NO_MODEL = "<no model name>"


def _truthy(name: str | pl.Expr) -> pl.Expr:
    """A string that Python's `or` would keep: not null and not empty."""
    expr = pl.col(name) if isinstance(name, str) else name
    return expr.is_not_null() & (expr != "")


def _content(messages: pl.Expr, role: str | None, last: bool) -> pl.Expr:
    """The content of the first (last) message with `role` (any message when None) in a message list."""
    element = pl.element()
    chosen = messages if role is None else messages.list.filter(element.struct.field("role") == role)
    picked = chosen.list.last() if last else chosen.list.first()
    return picked.struct.field("content")


def _has_role(messages: pl.Expr, role: str) -> pl.Expr:
    return messages.list.eval(pl.element().struct.field("role") == role).list.any().fill_null(False)


def answer_text(messages: pl.Expr) -> pl.Expr:
    """`_llm_calls.answer_text`: the first assistant message's content, else the first message's; null for no
    messages (an assistant message with null content gives null, as `next` returns it)."""
    return (
        pl.when(_has_role(messages, "assistant"))
        .then(_content(messages, "assistant", last=False))
        .otherwise(_content(messages, None, last=False))
    )


def last_user_text(messages: pl.Expr) -> pl.Expr:
    """`_llm_calls.last_user_text`: the last user message's content, else the last unknown-role one's."""
    return pl.coalesce(_content(messages, "user", last=True), _content(messages, "unknown", last=True))


def price_table(spans: pl.DataFrame, pricer: Pricer) -> pl.DataFrame:
    """Each distinct (model, input tokens, output tokens) an LLM span without a cost attribute would be priced
    with (its answering model, and its requested one when that differs), priced once: `_model`,
    `input_tokens`, `output_tokens`, `_price` (a usable price, else null) and `_odd_price` (the pricer answered
    something other than a float or None, or raised: today may never ask it, or raises it itself)."""
    wanted = spans.filter(
        (pl.col("role") == "llm")
        & pl.col("cost_usd").is_null()
        & pl.col("input_tokens").is_not_null()
        & pl.col("output_tokens").is_not_null()
        & (pl.col("input_tokens") >= 0)
        & (pl.col("output_tokens") >= 0)
    )
    answered = wanted.filter(_truthy("response_model")).select(
        pl.col("response_model").alias("_model"), "input_tokens", "output_tokens"
    )
    requested = wanted.filter(
        _truthy("request_model") & (pl.col("request_model") != pl.col("response_model")).fill_null(True)
    ).select(pl.col("request_model").alias("_model"), "input_tokens", "output_tokens")
    triples = pl.concat([answered, requested]).unique(maintain_order=True)
    prices: list[float | None] = []
    odd: list[bool] = []
    for model, inputs, outputs in zip(
        triples["_model"].to_list(),
        triples["input_tokens"].to_list(),
        triples["output_tokens"].to_list(),
        strict=True,
    ):
        try:
            cost = pricer(model, inputs, outputs)
            usable = cost is not None and math.isfinite(cost) and cost >= 0
        except Exception:  # the trace goes to today's code, which meets (and raises) it again
            prices.append(None)
            odd.append(True)
            continue
        prices.append(float(cost) if usable and cost is not None else None)
        odd.append(cost is not None and type(cost) is not float)
    return triples.with_columns(
        pl.Series("_price", prices, dtype=pl.Float64()), pl.Series("_odd_price", odd, dtype=pl.Boolean())
    )


def _with_prices(spans: pl.DataFrame, prices: pl.DataFrame | None) -> pl.DataFrame:
    """`_span_cost` as columns: `_cost` (the span's cost attribute, else its first usable price) and `_attr`."""
    if prices is None:
        return spans.with_columns(
            pl.col("cost_usd").alias("_cost"), pl.col("cost_usd").is_not_null().alias("_attr")
        )
    table = prices.select("_model", "input_tokens", "output_tokens", "_price")
    keys = ["input_tokens", "output_tokens"]
    spans = spans.join(
        table.rename({"_model": "response_model", "_price": "_price_answered"}),
        on=["response_model", *keys],
        how="left",
        maintain_order="left",
    ).join(
        table.rename({"_model": "request_model", "_price": "_price_requested"}),
        on=["request_model", *keys],
        how="left",
        maintain_order="left",
    )
    applies = (
        pl.col("input_tokens").is_not_null()
        & pl.col("output_tokens").is_not_null()
        & (pl.col("input_tokens") >= 0)
        & (pl.col("output_tokens") >= 0)
    )
    answered = pl.when(_truthy("response_model")).then(pl.col("_price_answered"))
    requested = pl.when(
        _truthy("request_model") & (pl.col("request_model") != pl.col("response_model")).fill_null(True)
    ).then(pl.col("_price_requested"))
    return spans.with_columns(
        pl.when(pl.col("cost_usd").is_not_null())
        .then(pl.col("cost_usd"))
        .when(applies)
        .then(pl.coalesce(answered, requested))
        .alias("_cost"),
        pl.col("cost_usd").is_not_null().alias("_attr"),
    ).drop("_price_answered", "_price_requested")


def _span_columns(spans: pl.DataFrame, prices: pl.DataFrame | None) -> pl.DataFrame:
    """The spans in start order with the per-span values assembly compares and sums."""
    spans = _with_prices(spans, prices).sort("_t", "start_time_unix_nano", "span_id")
    model = (
        pl.when(_truthy("request_model")).then(pl.col("request_model")).otherwise(pl.col("response_model"))
    )
    stated = pl.col("input_tokens").is_not_null() | pl.col("output_tokens").is_not_null()
    no_tokens = (
        pl.col("input_tokens").is_null()
        & pl.col("output_tokens").is_null()
        & pl.col("total_tokens").is_null()
    )
    spans = spans.with_columns(
        (pl.col("role") == "llm").fill_null(False).alias("_llm"),
        ((pl.col("status") == "error") | ((pl.col("status") == "unset") & _truthy("error_type")))
        .fill_null(False)
        .alias("_failed"),
        model.alias("_mn"),
        _truthy(model).alias("_named"),
        pl.when(stated)
        .then(pl.col("input_tokens").fill_null(0) + pl.col("output_tokens").fill_null(0))
        .otherwise(pl.col("total_tokens").fill_null(0))
        .alias("_weight"),
        answer_text(pl.col("output_messages")).alias("_answer"),
        pl.col("_cost").is_not_null().alias("_priced"),
        no_tokens.alias("_no_tokens"),
    ).with_columns(
        pl.coalesce(pl.col("output_text"), pl.col("_answer")).alias("_output_of"),
        (~pl.col("_priced") & pl.col("_no_tokens")).alias("_silent"),
        (~pl.col("_priced") & ~pl.col("_no_tokens")).alias("_unpriced"),
        pl.int_range(pl.len(), dtype=pl.UInt32()).alias("_pos"),
    )
    llm = pl.col("_llm")
    return spans.with_columns(
        _picked(spans, llm, ["end_time_unix_nano", "start_time_unix_nano"]).alias("_last_call"),
        _picked(
            spans, llm & pl.col("_output_of").is_not_null(), ["end_time_unix_nano", "start_time_unix_nano"]
        ).alias("_last_output"),
        _picked(spans, llm & pl.col("_named"), ["_weight"]).alias("_chosen"),
    )


def _picked(spans: pl.DataFrame, among: pl.Expr, keys: list[str]) -> pl.Expr:
    """True on the span `max(..., key=keys)` picks per trace among the spans where `among` holds: the largest
    keys, the first in start order (`_pos`) among equals, as `max` keeps the first of equals."""
    winners = (
        spans.filter(among)
        .select("_t", "_pos", *keys)
        .sort(["_t", *keys, "_pos"], descending=[False, *(True for _ in keys), False])
        .unique("_t", keep="first")
    )["_pos"]
    return pl.col("_pos").is_in(winners.implode())


def _per_trace(spans: pl.DataFrame) -> pl.DataFrame:
    """One row per trace: the root's values (the first span) and every aggregate assembly uses."""
    llm = pl.col("_llm")
    named = llm & pl.col("_named")
    warned = pl.col("metadata").str.contains(IMPORT_WARNINGS_KEY, literal=True).fill_null(False)
    root_columns = (
        "trace_id",
        "span_id",
        "name",
        "role",
        "status",
        "error_type",
        "error_message",
        "input_text",
        "input_messages",
        "output_text",
        "_answer",
        "input_tokens",
        "output_tokens",
        "cost_usd",
        "start_time_unix_nano",
        "end_time_unix_nano",
        "_failed",
    )

    def last_call(name: str) -> pl.Expr:
        """`max(llm_spans, key=end_key)`'s value: the latest end, then the latest start, first of equals."""
        return pl.col(name).filter(pl.col("_last_call")).first()

    return spans.group_by("_t", maintain_order=True).agg(
        *(pl.col(name).first().alias(f"_root_{name}") for name in root_columns),
        pl.len().alias("_n"),
        llm.sum().alias("_llm_n"),
        (pl.col("role") == "retriever").sum().alias("_retriever_n"),
        pl.col("log_records").cast(pl.Int64()).sum().alias("_log_records"),
        pl.col("dialect").unique().sort().alias("_dialects"),
        (llm & pl.col("_failed")).sum().alias("_failed_llm"),
        *(pl.col(name).filter(_truthy(name)).first().alias(name) for name in ("project", "route", "user_id")),
        pl.col("session_id").filter(_truthy("session_id")).first().alias("session_id"),
        pl.col("input_tokens").filter(llm).count().alias("_in_known"),
        pl.col("input_tokens").filter(llm).sum().alias("_in_sum"),
        pl.col("output_tokens").filter(llm).count().alias("_out_known"),
        pl.col("output_tokens").filter(llm).sum().alias("_out_sum"),
        pl.col("_mn").filter(named).unique(maintain_order=True).alias("_models"),
        pl.col("_mn").filter(pl.col("_chosen")).first().alias("_model"),
        pl.col("provider").filter(pl.col("_chosen")).first().alias("_chosen_provider"),
        pl.col("provider").filter(llm & _truthy("provider")).first().alias("_first_provider"),
        pl.col("input_messages")
        .filter(llm & pl.col("input_messages").is_not_null())
        .first()
        .alias("_first_in"),
        pl.col("_output_of").filter(pl.col("_last_output")).first().alias("_last_output"),
        last_call("_failed").alias("_last_failed"),
        last_call("error_type").alias("_last_error_type"),
        last_call("error_message").alias("_last_error_message"),
        pl.col("error_type").filter(~pl.col("_root_marker") & pl.col("_failed")).first().alias("_cause_type"),
        pl.col("error_message")
        .filter(~pl.col("_root_marker") & pl.col("_failed"))
        .first()
        .alias("_cause_message"),
        pl.col("_cost").filter(llm & pl.col("_priced")).alias("_priced_costs"),
        (llm & pl.col("_priced") & pl.col("_attr")).any().alias("_from_attributes"),
        (llm & pl.col("_priced") & ~pl.col("_attr")).any().alias("_from_cost_map"),
        (llm & pl.col("_silent")).sum().alias("_silent_n"),
        pl.when(pl.col("_named"))
        .then(pl.col("_mn"))
        .otherwise(pl.lit(_NO_MODEL))
        .filter(llm & pl.col("_unpriced"))
        .alias("_unpriced_models"),
        pl.col("tags").is_not_null().any().alias("_tags_stated"),
        pl.col("tags")
        .explode(keep_nulls=False, empty_as_null=False)
        .unique(maintain_order=True)
        .alias("_tags"),
        pl.col("retrieved").is_not_null().any().alias("_retrieved_stated"),
        pl.col("retrieved").explode(keep_nulls=False, empty_as_null=False).alias("_retrieved"),
        pl.col("feedback").is_not_null().any().alias("_feedback_stated"),
        pl.col("feedback").explode(keep_nulls=False, empty_as_null=False).alias("_feedback"),
        pl.col("metadata")
        .filter(pl.col("metadata").is_not_null())
        .unique(maintain_order=True)
        .str.join(TEXT_SEPARATOR)
        .alias("_texts"),
        pl.col("span_id").filter(warned).alias("_warned_ids"),
        pl.col("metadata").filter(warned).alias("_warned_texts"),
    )


def _row_columns(traces: pl.DataFrame) -> pl.DataFrame:
    """The row's columns that are expressions over the per-trace values (all but cost and metadata)."""
    root = {name: pl.col(f"_root_{name}") for name in ("name", "status", "error_type", "error_message")}
    input_messages = pl.coalesce(pl.col("_root_input_messages"), pl.col("_first_in"))
    root_failed = pl.col("_root__failed")

    def status_part(from_root: pl.Expr, from_last: pl.Expr) -> pl.Expr:
        return (
            pl.when(root_failed)
            .then(from_root)
            .when(root["status"] == "ok")
            .then(pl.lit(None, pl.String()))
            .when(pl.col("_last_failed"))
            .then(from_last)
        )

    def truthy_or(name: str, other: str) -> pl.Expr:
        return pl.when(_truthy(name)).then(pl.col(name)).otherwise(pl.col(other))

    def tokens(known: str, total: str, from_root: str) -> pl.Expr:
        return pl.when(pl.col(known) > 0).then(pl.col(total)).otherwise(pl.col(from_root))

    return traces.select(
        "_t",
        pl.col("_root_trace_id").alias("trace_id"),
        (pl.col("_root_start_time_unix_nano") // 1000)
        .cast(pl.Int64())
        .cast(pl.Datetime("us", "UTC"))
        .alias("start_time"),
        "project",
        pl.coalesce(pl.col("route"), root["name"]).alias("route"),
        pl.col("_model").alias("model"),
        pl.when(pl.col("_model").is_null())
        .then(pl.lit(None, pl.String()))
        .otherwise(truthy_or("_chosen_provider", "_first_provider"))
        .alias("provider_name"),
        pl.when(_truthy("_root_input_text"))
        .then(pl.col("_root_input_text"))
        .otherwise(last_user_text(input_messages))
        .alias("input_text"),
        input_messages.alias("input_messages"),
        pl.when(_truthy("_root_output_text"))
        .then(pl.col("_root_output_text"))
        .when(_truthy("_root__answer"))
        .then(pl.col("_root__answer"))
        .otherwise(pl.col("_last_output"))
        .alias("output_text"),
        tokens("_in_known", "_in_sum", "_root_input_tokens").alias("input_tokens"),
        tokens("_out_known", "_out_sum", "_root_output_tokens").alias("output_tokens"),
        pl.when(root_failed | ((root["status"] != "ok").fill_null(True) & pl.col("_last_failed")))
        .then(pl.lit("error"))
        .otherwise(pl.lit("ok"))
        .alias("status"),
        status_part(truthy_or("_root_error_type", "_cause_type"), pl.col("_last_error_type")).alias(
            "error_type"
        ),
        status_part(truthy_or("_root_error_message", "_cause_message"), pl.col("_last_error_message")).alias(
            "error_message"
        ),
        "user_id",
        "session_id",
        pl.when(pl.col("_tags_stated")).then(pl.col("_tags")).alias("tags"),
        pl.when(pl.col("_retrieved_stated")).then(pl.col("_retrieved")).alias("retrieved_context"),
        pl.when(pl.col("_feedback_stated")).then(pl.col("_feedback")).alias("feedback"),
    )


def _latency_ms(traces: pl.DataFrame) -> np.ndarray:
    """`(end - start) / 1e6` as Python computes it: numpy divides; polars multiplies by the reciprocal for a
    scalar divisor, which differs in the last bit (1418.5692279999998 for 1418.569228)."""
    duration = (traces["_root_end_time_unix_nano"] - traces["_root_start_time_unix_nano"]).to_numpy()
    return duration.astype(np.float64) / 1e6


def simple_rows(
    spans: pl.DataFrame, prices: pl.DataFrame | None, sources: pl.DataFrame, source_names: list[str]
) -> pl.DataFrame:
    """The rows of the simple traces in `spans` (`FRAME_SCHEMA` plus `_t`): `TRACE_SCHEMA` plus `_t`.

    `prices` is `price_table` of these spans (None without a pricer); `sources` the per-trace source columns
    `source_names` (stored as metadata `source`)."""
    if spans.height == 0:
        return pl.DataFrame(schema={**TRACE_SCHEMA, "_t": pl.UInt32()})
    spans = spans.with_columns(
        (pl.col("parent_span_id").is_null() | (pl.col("parent_span_id") == "")).alias("_root_marker")
    )
    traces = _per_trace(_span_columns(spans, prices))
    with_sources = traces.select(pl.col("_root_trace_id").alias("trace_id")).join(
        sources, on="trace_id", how="left", maintain_order="left"
    )
    source_rows: list[dict[str, Any]] = [{}] * traces.height
    if source_names:
        # One dict per distinct source row, shared by its traces (only read by the JSON dump).
        distinct: dict[tuple[Any, ...], dict[str, Any]] = {}
        source_rows = [
            distinct.get(row) or distinct.setdefault(row, dict(zip(source_names, row, strict=True)))
            for row in with_sources.select(source_names).rows()
        ]
    costs, metadata = cost_and_metadata(traces, source_rows)
    rows = _row_columns(traces).with_columns(
        pl.Series("cost_usd", costs, dtype=pl.Float64()),
        pl.Series("metadata", metadata, dtype=pl.String()),
        pl.Series("latency_ms", _latency_ms(traces), dtype=pl.Float64()),
    )
    return rows.select(
        *(pl.col(name).cast(dtype) for name, dtype in TRACE_SCHEMA.items()), pl.col("_t").cast(pl.UInt32())
    )
