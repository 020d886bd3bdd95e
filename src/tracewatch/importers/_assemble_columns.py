"""Span facts to trace rows in columns (issue 19): `assemble_trace`'s result for a whole batch of traces, with
the common shape done by polars expressions and every other trace by `assemble_trace` itself.

Exactness by fallback: a trace is assembled in columns only when it has the simple shape whose every rule the
expressions in `_assemble_simple` reproduce (one parentless span, no duplicate span ids, every parent present and
starting strictly earlier in start order, every span timed, the root not ending before it starts, at least one
LLM span, counts within 2**40, no null dialect or log count, every fact mapped in columns, span metadata that
is a JSON object with any `import_warnings` key written plainly, a pricer that answers a float or None); every
other trace (rejections, rootless traces, duplicates, clock skew, cycles, spans read in Python, odd prices) goes
through `facts_from_frame` and today's `assemble_trace`, so it is today's result by construction, and so does a
batch too small for the columns to pay (`COLUMNS_FROM_TRACES`). The two parts are put back in the order of each
trace's first row, as `group_by_trace` gives them.

Measured with `python -m bench.assemble_columns` at b08b6cd (the benchmark's 100,000 spans, load average 4-5
on 2 cores, one polars thread): 12.2 CPU s a million spans in batches of 1,000 traces, 8.0 in batches of 5,000,
against 18.5-19.0 for today's `assemble_frame` on the same facts. The per-trace metadata dict and its orjson dump
are the largest part left in Python.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import polars as pl

from tracewatch.importers._assemble import IMPORT_WARNINGS_KEY, IncompletePolicy, assemble_trace
from tracewatch.importers._assemble_simple import price_table, simple_rows
from tracewatch.importers._fact_frame import FRAME_SCHEMA, facts_from_frame
from tracewatch.importers._llm_calls import Pricer
from tracewatch.importers._rows_frame import trace_rows_frame
from tracewatch.importers._spans import SpanFacts
from tracewatch.traces import TRACE_SCHEMA

__all__ = ["OUTCOME_SCHEMA", "ColumnarAssembly", "assemble_columns", "simple_traces"]

OUTCOME_SCHEMA = pl.Schema(
    {
        "trace_id": pl.String(),
        "span_count": pl.Int64(),
        "duplicates": pl.Int64(),
        "incomplete": pl.Boolean(),
        "code": pl.String(),
        "reason": pl.String(),
    }
)
"""One row per trace: distinct spans, re-sent ones, the incomplete flag, and (for a trace that is not a row)
the rejection code and reason, as `AssembledTrace` has them."""

COLUMNS_FROM_TRACES = 256
"""Batches of fewer traces go to today's code whole: the columns cost about 20 ms a call whatever the batch
(some 80 polars operations), today's code about 0.1 ms a trace, so below a few hundred traces Python wins."""

TOKEN_LIMIT = 2**40
"""Counts beyond this (or negative) leave a trace to Python: int64 sums cannot overflow below it."""


@dataclass(frozen=True, slots=True)
class ColumnarAssembly:
    """A batch's trace rows (exactly `TRACE_SCHEMA`) and every trace's outcome (`OUTCOME_SCHEMA`)."""

    rows: pl.DataFrame
    outcomes: pl.DataFrame


def assemble_columns(
    frame: pl.DataFrame,
    read: Sequence[SpanFacts],
    *,
    pricer: Pricer | None,
    incomplete: IncompletePolicy,
    sources: pl.DataFrame,
    columns_from: int = COLUMNS_FROM_TRACES,
) -> ColumnarAssembly:
    """`assemble_trace` (with `project=None`) of every trace in `frame` (`FRAME_SCHEMA` rows, any order), rows
    and outcomes in the order of each trace's first row.

    `read` holds the `SpanFacts` rows with a `python_index` point at; `sources` one row per trace: `trace_id`,
    then String columns stored (in column order) as metadata `source`. A batch of fewer than `columns_from`
    traces is done by today's code whole (`COLUMNS_FROM_TRACES`). ValueError for a frame that is not
    `FRAME_SCHEMA`, or sources that are not exactly one String row per trace.
    """
    frame = _checked_frame(frame)
    source_names = _check_sources(sources, frame)
    spans = frame.with_row_index("_row")
    order = (
        spans.group_by("trace_id", maintain_order=True)
        .agg(pl.col("_row").first())
        .sort("_row")
        .with_row_index("_t")
        .drop("_row")
    )
    spans = spans.join(order, on="trace_id", how="left", nulls_equal=True)
    simple = simple_traces(spans) if order.height >= columns_from else pl.Series("_t", [], dtype=pl.UInt32())
    prices = None
    if pricer is not None:
        # Priced once per distinct (model, input, output); a trace the pricer answered oddly goes to Python.
        candidates = spans.filter(pl.col("_t").is_in(simple.implode()))
        prices = price_table(candidates, pricer)
        simple = simple.filter(~simple.is_in(_odd_price_traces(candidates, prices).implode()))
    fast = spans.filter(pl.col("_t").is_in(simple.implode()))
    slow = spans.filter(~pl.col("_t").is_in(simple.implode()))

    fast_rows = simple_rows(fast, prices, sources, source_names)
    fast_outcomes = (
        fast.group_by("_t")
        .agg(pl.col("trace_id").first(), pl.len().cast(pl.Int64()).alias("span_count"))
        .with_columns(
            pl.lit(0, pl.Int64()).alias("duplicates"),
            pl.lit(False).alias("incomplete"),
            pl.lit(None, pl.String()).alias("code"),
            pl.lit(None, pl.String()).alias("reason"),
        )
    )
    slow_rows, slow_outcomes = _python_traces(slow, read, pricer, incomplete, sources, source_names)

    rows = pl.concat([fast_rows, slow_rows]).sort("_t").drop("_t")
    outcomes = (
        pl.concat([fast_outcomes.select("_t", *OUTCOME_SCHEMA.names()), slow_outcomes]).sort("_t").drop("_t")
    )
    return ColumnarAssembly(rows=rows.rechunk(), outcomes=outcomes.rechunk())


def simple_traces(spans: pl.DataFrame) -> pl.Series:
    """The `_t` of every trace in the shape the columns assemble exactly (see the module docstring)."""
    truthy_parent = pl.col("parent_span_id").is_not_null() & (pl.col("parent_span_id") != "")
    children = spans.filter(truthy_parent).select(
        "_t", "span_id", "parent_span_id", pl.col("start_time_unix_nano").alias("_child_start")
    )
    parents = spans.select(
        "_t",
        pl.col("span_id").alias("parent_span_id"),
        pl.col("start_time_unix_nano").alias("_parent_start"),
        pl.lit(True).alias("_found"),
    ).unique(["_t", "parent_span_id"], keep="first")
    links = children.join(parents, on=["_t", "parent_span_id"], how="left")
    # A parent must come strictly before its child in start order: no skew, and no cycle can close.
    bad_links = links.filter(
        pl.col("_found").is_null()
        | pl.col("_parent_start").is_null()
        | pl.col("_child_start").is_null()
        | (pl.col("_parent_start") > pl.col("_child_start"))
        | (
            (pl.col("_parent_start") == pl.col("_child_start"))
            & (pl.col("parent_span_id") >= pl.col("span_id"))
        )
    )["_t"].unique()

    def out_of_range(name: str) -> pl.Expr:
        value = pl.col(name)
        return value.is_not_null() & ((value < 0) | (value > TOKEN_LIMIT))

    per_trace = spans.group_by("_t").agg(
        (
            pl.col("python_index").is_not_null().any()
            | pl.col("trace_id").is_null().any()
            | pl.col("span_id").is_null().any()
            | (pl.col("span_id").n_unique() != pl.len())
            | ((~truthy_parent).sum() != 1)
            | pl.col("start_time_unix_nano").is_null().any()
            | pl.col("end_time_unix_nano").is_null().any()
            | ((pl.col("role") == "llm").sum() == 0)
            | pl.col("dialect").is_null().any()
            | pl.col("log_records").is_null().any()
            | out_of_range("input_tokens").any()
            | out_of_range("output_tokens").any()
            | out_of_range("total_tokens").any()
            | (
                pl.col("end_time_unix_nano").filter(~truthy_parent).first()
                < pl.col("start_time_unix_nano").filter(~truthy_parent).first()
            ).fill_null(True)
        ).alias("_odd")
    )
    odd = per_trace.filter(pl.col("_odd"))["_t"]
    odd_metadata = _odd_metadata_traces(spans)
    return per_trace.filter(
        ~pl.col("_t").is_in(odd.implode())
        & ~pl.col("_t").is_in(bad_links.implode())
        & ~pl.col("_t").is_in(odd_metadata.implode())
    )["_t"].sort()


def _odd_metadata_traces(spans: pl.DataFrame) -> pl.Series:
    """Traces with a span metadata text that is not a JSON object, or that has the `import_warnings` key
    written with escapes (`_assemble_simple` finds warned spans by the key's literal text); each distinct text
    parsed once."""
    texts = spans["metadata"].drop_nulls().unique()
    bad: list[str] = []
    for text in texts.to_list():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError:
            bad.append(text)
            continue
        if not isinstance(value, dict) or (IMPORT_WARNINGS_KEY in value and IMPORT_WARNINGS_KEY not in text):
            bad.append(text)
    if not bad:
        return pl.Series("_t", [], dtype=pl.UInt32())
    return spans.filter(pl.col("metadata").is_in(pl.Series(bad, dtype=pl.String()).implode()))["_t"].unique()


def _odd_price_traces(spans: pl.DataFrame, table: pl.DataFrame) -> pl.Series:
    """Traces with a span the pricer answered with something other than a float or None (an int, a numpy
    float): today would keep its type through the sum and the metadata JSON."""
    odd = table.filter(pl.col("_odd_price"))
    if odd.height == 0:
        return pl.Series("_t", [], dtype=pl.UInt32())
    llm = spans.filter(
        (pl.col("role") == "llm")
        & pl.col("cost_usd").is_null()
        & pl.col("input_tokens").is_not_null()
        & pl.col("output_tokens").is_not_null()
    )
    hits = [
        llm.join(
            odd.select(pl.col("_model").alias(column), "input_tokens", "output_tokens"),
            on=[column, "input_tokens", "output_tokens"],
            how="semi",
        )["_t"]
        for column in ("response_model", "request_model")
    ]
    return pl.concat(hits).unique()


def _python_traces(
    spans: pl.DataFrame,
    read: Sequence[SpanFacts],
    pricer: Pricer | None,
    incomplete: IncompletePolicy,
    sources: pl.DataFrame,
    source_names: list[str],
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Today's `assemble_trace` for the traces not done in columns: (rows with `_t`, outcomes with `_t`)."""
    if spans.height == 0:
        empty_rows = pl.DataFrame(schema={**TRACE_SCHEMA, "_t": pl.UInt32()})
        return empty_rows, pl.DataFrame(schema={"_t": pl.UInt32(), **OUTCOME_SCHEMA})
    spans = spans.sort("_t", "_row")
    facts = facts_from_frame(spans.select(FRAME_SCHEMA.names()), read)
    trace_numbers = spans["_t"].to_list()
    groups: dict[int, list[SpanFacts]] = {}
    for number, item in zip(trace_numbers, facts, strict=True):
        groups.setdefault(number, []).append(item)
    by_trace = _source_dicts(
        sources.join(spans.select("trace_id").unique(), on="trace_id", how="semi"), source_names
    )
    rows: list[dict[str, Any]] = []
    row_numbers: list[int] = []
    outcomes: dict[str, list[Any]] = {name: [] for name in ("_t", *OUTCOME_SCHEMA.names())}
    for number, group in groups.items():
        done = assemble_trace(
            group,
            project=None,
            pricer=pricer,
            incomplete=incomplete,
            source=by_trace.get(group[0].trace_id),
        )
        if done.row is not None:
            rows.append(done.row)
            row_numbers.append(number)
        for name, value in (
            ("_t", number),
            ("trace_id", done.trace_id),
            ("span_count", done.span_count),
            ("duplicates", done.duplicates),
            ("incomplete", done.incomplete),
            ("code", done.code),
            ("reason", done.reason),
        ):
            outcomes[name].append(value)
    frame = trace_rows_frame(rows).with_columns(pl.Series("_t", row_numbers, dtype=pl.UInt32()))
    return frame, pl.DataFrame(outcomes, schema={"_t": pl.UInt32(), **OUTCOME_SCHEMA})


def _source_dicts(sources: pl.DataFrame, names: list[str]) -> dict[str | None, Mapping[str, Any]]:
    return {
        row[0]: dict(zip(names, row[1:], strict=True))
        for row in sources.select("trace_id", *names).iter_rows()
    }


def _checked_frame(frame: pl.DataFrame) -> pl.DataFrame:
    """The frame's `FRAME_SCHEMA` columns in that order; ValueError naming what differs."""
    if dict(frame.schema) != dict(FRAME_SCHEMA):
        wrong = [
            f"{name}: {frame.schema.get(name)} (expected {dtype})"
            for name, dtype in FRAME_SCHEMA.items()
            if frame.schema.get(name) != dtype
        ]
        extra = [name for name in frame.columns if name not in FRAME_SCHEMA]
        raise ValueError(
            "assemble_columns takes rows of FRAME_SCHEMA; "
            f"columns that differ: {', '.join(wrong) or 'none'}; columns it does not have: {', '.join(extra) or 'none'}"
        )
    return frame.select(FRAME_SCHEMA.names())


def _check_sources(sources: pl.DataFrame, frame: pl.DataFrame) -> list[str]:
    """The source column names; ValueError unless `sources` is exactly one row of String columns per trace."""
    if not sources.columns or sources.columns[0] != "trace_id":
        raise ValueError(f"sources must start with a trace_id column; got columns {sources.columns}")
    wrong = [f"{name} ({dtype})" for name, dtype in sources.schema.items() if dtype != pl.String()]
    if wrong:
        raise ValueError(f"sources columns must be String; these are not: {', '.join(wrong)}")
    if sources["trace_id"].is_duplicated().any():
        repeated = sources.filter(pl.col("trace_id").is_duplicated())["trace_id"].head(3).to_list()
        raise ValueError(f"sources must have one row per trace; repeated trace ids: {repeated}")
    missing = frame.select(pl.col("trace_id").unique()).join(
        sources, on="trace_id", how="anti", nulls_equal=True
    )
    if missing.height:
        raise ValueError(
            f"sources lack {missing.height} trace(s) of the frame, e.g. {missing['trace_id'].head(3).to_list()}"
        )
    return sources.columns[1:]
