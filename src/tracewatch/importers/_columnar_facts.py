"""One object's spans to span facts in columns: `read_span` for a whole object at once (see `_fact_frame`).

The steps of `read_span`, as expressions over the object's `SpanView`: detect each span's dialect (the same
precedence, `_dialects`), let that dialect's columnar reader map its spans, then apply what every dialect shares
(route, user, session, error and project, filling only what the dialect left unknown) and the source's project
attribute. A span goes to today's `span_facts` instead when any step cannot be exact for it: its dialect reader
said so, it carries events or joined log records, or it has tracewatch's own `tracewatch.*` attributes, or a
shared key holds a value of another type than text (today's reader would warn). Either way every span of the
object has one row, in document order.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import orjson
import polars as pl

from tracewatch.importers._app_attributes import PREFIX as APP_PREFIX
from tracewatch.importers._dialects import OPENLLMETRY_MARKERS, PROJECT_SOURCE
from tracewatch.importers._fact_frame import (
    FACT_SCHEMA,
    FRAME_SCHEMA,
    IDENTITY_COLUMNS,
    SpanView,
    read_rows,
    span_view,
)
from tracewatch.importers._genai_columns import genai_facts
from tracewatch.importers._object_reads import span_facts
from tracewatch.importers._openinference import SPAN_KIND
from tracewatch.importers._openinference_columns import openinference_facts
from tracewatch.importers._openllmetry_columns import openllmetry_facts
from tracewatch.importers._otlp_decoded import STATUS_BY_CODE
from tracewatch.importers._span_columns import SpanColumns, spans_from_columns, subset_columns
from tracewatch.importers._spans import SpanEvent, SpanFacts

DialectReader = Callable[[SpanView], pl.DataFrame]
"""A dialect's columnar reader: one row per span of the view, `span_index`, `exact` and the facts it sets."""

DIALECT_READERS: dict[str, DialectReader] = {
    "genai": genai_facts,
    "openinference": openinference_facts,
    "openllmetry": openllmetry_facts,
}
"""The columnar reader of each dialect; a dialect without one is read by today's readers."""

_SPAN_KIND_SERVER = 2
_SHARED_KEYS = ("http.route", "user.id", "enduser.id", "session.id", "error.type")


@dataclass(frozen=True, slots=True)
class ObjectFacts:
    """One object's span facts: `frame` (`FRAME_SCHEMA`, a row per span in document order) and the facts of the
    spans read in Python, which rows with a `python_index` point at."""

    frame: pl.DataFrame
    read: list[SpanFacts]


def _detect(view: SpanView) -> pl.DataFrame:
    """Per span: `dialect`, and `python` (a step cannot be exact for it: events, app attributes)."""
    key = pl.col("key")
    flags = view.attributes.group_by("span_index").agg(
        (key == SPAN_KIND).any().alias("_oi"),
        (key.is_in(sorted(OPENLLMETRY_MARKERS)) | key.str.starts_with("traceloop.")).any().alias("_ollm"),
        key.str.starts_with("gen_ai.").any().alias("_genai"),
        key.str.starts_with(APP_PREFIX).any().alias("_app"),
    )
    events = view.events.group_by("span_index").agg(
        pl.col("name").str.starts_with("gen_ai.").any().alias("_genai_event")
    )
    spans = (
        view.spans.join(flags, on="span_index", how="left", maintain_order="left")
        .join(events, on="span_index", how="left", maintain_order="left")
        .with_columns(pl.col("_oi", "_ollm", "_genai", "_app").fill_null(False))
    )
    return spans.with_columns(
        pl.when("_oi")
        .then(pl.lit("openinference"))
        .when("_ollm")
        .then(pl.lit("openllmetry"))
        .when(pl.col("_genai") | pl.col("_genai_event").fill_null(False))
        .then(pl.lit("genai"))
        .otherwise(pl.lit("none"))
        .alias("dialect"),
        (pl.col("_app") | pl.col("_genai_event").is_not_null()).alias("python"),
    ).drop("_oi", "_ollm", "_genai", "_app", "_genai_event")


def _text_values(view: SpanView, keys: Sequence[str]) -> pl.DataFrame:
    """Per span with any of `keys`: `{key}` (its text; null when absent or unset), `{key}?` (present) and
    `bad` (a value of another kind, which today's reader would convert with a warning)."""
    key = pl.col("key")
    found = view.attributes.filter(key.is_in(list(keys)))
    return found.group_by("span_index").agg(
        *(pl.col("string_value").filter(key == k).first().alias(k) for k in keys),
        *(((key == k).any()).alias(f"{k}?") for k in keys),
        (pl.col("kind").is_not_null() & (pl.col("kind") != "string")).any().alias("bad"),
    )


def _resource_text(view: SpanView, key: str) -> pl.DataFrame:
    """Per resource: the text of `key` (null when absent or not text) and whether it is present."""
    found = view.resources.filter(pl.col("key") == key)
    return found.select(
        "resource_index",
        pl.when(pl.col("kind") == "string").then("string_value").alias(f"resource:{key}"),
        pl.lit(True).alias(f"resource:{key}?"),
        (pl.col("kind").is_not_null() & (pl.col("kind") != "string")).alias(f"resource:{key}!"),
    )


def _shared(spans: pl.DataFrame, view: SpanView, from_attribute: str | None) -> pl.DataFrame:
    """`_dialects._read_common` (without events, which go to Python) and the source's project attribute."""
    keys = [
        *_SHARED_KEYS,
        *([from_attribute] if from_attribute and from_attribute not in _SHARED_KEYS else []),
    ]
    values = _text_values(view, keys)
    spans = spans.join(values, on="span_index", how="left", maintain_order="left")
    spans = spans.join(
        _resource_text(view, "service.name"), on="resource_index", how="left", maintain_order="left"
    )
    present = {k: pl.col(f"{k}?").fill_null(False) for k in keys}
    route_rule = present["http.route"] & (
        (pl.col("kind") == _SPAN_KIND_SERVER) | pl.col("parent_span_id").is_null()
    )
    user_rule = present["user.id"] | present["enduser.id"]
    first_user = (
        pl.when(pl.col("user.id").is_not_null() & (pl.col("user.id") != ""))
        .then("user.id")
        .when(pl.col("enduser.id") != "")
        .then("enduser.id")
    )
    status = pl.col("status_code").replace_strict(
        list(range(3)), list(STATUS_BY_CODE), return_dtype=pl.String()
    )
    error_type = pl.when(present["error.type"]).then("error.type")
    status = pl.when(error_type.is_not_null() & (status == "unset")).then(pl.lit("error")).otherwise(status)
    service = pl.col("resource:service.name")
    service_ok = service.is_not_null() & (service != "") & ~service.str.starts_with("unknown_service")
    out = spans.with_columns(
        pl.coalesce("route", pl.when(route_rule).then("http.route")).alias("route"),
        pl.when(pl.col("user_id").is_null() & user_rule)
        .then(first_user)
        .otherwise("user_id")
        .alias("user_id"),
        pl.when(pl.col("session_id").is_null() & present["session.id"])
        .then("session.id")
        .otherwise("session_id")
        .alias("session_id"),
        error_type.alias("error_type"),
        status.alias("status"),
        (pl.col("project").is_null() & service_ok).alias("_service_project"),
        (pl.col("exact") & ~pl.col("bad").fill_null(False)).alias("exact"),
    )
    out = out.with_columns(
        pl.when((pl.col("status") == "error") & (pl.col("status_message") != ""))
        .then("status_message")
        .alias("error_message"),
        pl.when("_service_project").then(service).otherwise("project").alias("project"),
    )
    if from_attribute:
        out = _project_attribute(out, view, from_attribute)
    return out


def _project_attribute(spans: pl.DataFrame, view: SpanView, key: str) -> pl.DataFrame:
    """`span_facts`' project override: the span's value of `key` when it has the key, else its resource's."""
    resource = _resource_text(view, key)
    spans = spans.join(resource, on="resource_index", how="left", maintain_order="left")
    on_span = pl.col(f"{key}?").fill_null(False)
    value = pl.when(on_span).then(pl.col(key)).otherwise(pl.col(f"resource:{key}"))
    odd = ~on_span & pl.col(f"resource:{key}!").fill_null(False)
    return spans.with_columns(
        pl.coalesce(value, "project").alias("project"), (pl.col("exact") & ~odd).alias("exact")
    )


def _with_metadata(spans: pl.DataFrame) -> pl.DataFrame:
    """The dialect's metadata with `project_source` set where the project came from `service.name`."""
    service = spans["_service_project"].to_list()
    metadata = spans["metadata"].to_list()
    merged = []
    for from_service, text in zip(service, metadata, strict=True):
        if not from_service:
            merged.append(text)
        elif text is None:
            merged.append(_SERVICE_METADATA)
        else:
            found = orjson.loads(text)
            found[PROJECT_SOURCE] = "service.name"
            merged.append(orjson.dumps(found).decode())
    return spans.with_columns(pl.Series("metadata", merged, dtype=pl.String()))


_SERVICE_METADATA = orjson.dumps({PROJECT_SOURCE: "service.name"}).decode()


def _dialect_columns(
    spans: pl.DataFrame, view: SpanView, readers: Mapping[str, DialectReader]
) -> pl.DataFrame:
    """The dialect readers' columns for the spans they read (other spans: null facts, exact), `FACT_SCHEMA`'s
    dialect-set columns all present."""
    set_by_dialects = [
        name
        for name in FACT_SCHEMA.names()
        if name
        not in (
            *IDENTITY_COLUMNS,
            "dialect",
            "status",
            "error_type",
            "error_message",
            "log_records",
        )
    ]
    parts = []
    for dialect, reader in readers.items():
        rows = spans.filter((pl.col("dialect") == dialect) & ~pl.col("python"))["span_index"]
        if rows.len():
            parts.append(reader(view.only(rows)))
    empty = pl.DataFrame(schema={"span_index": pl.Int32(), "exact": pl.Boolean()})
    found = pl.concat([empty, *parts], how="diagonal_relaxed") if parts else empty
    found = found.with_columns(
        pl.col(name).cast(FACT_SCHEMA[name])
        if name in found.columns
        else pl.lit(None, FACT_SCHEMA[name]).alias(name)
        for name in set_by_dialects
    )
    return spans.join(found, on="span_index", how="left", maintain_order="left").with_columns(
        pl.when(pl.col("dialect").is_in(list(readers)) & ~pl.col("python"))
        .then(pl.col("exact").fill_null(False))
        .otherwise(~pl.col("python"))
        .alias("exact"),
        pl.coalesce(pl.col("role"), pl.lit("other")).alias("role"),
    )


def columnar_facts(
    cols: SpanColumns,
    *,
    readers: Mapping[str, DialectReader],
    joined: Mapping[int, Sequence[SpanEvent]] | None = None,
    from_attribute: str | None = None,
) -> ObjectFacts:
    """`span_facts` for every span of `cols`: `joined` maps a `spans` row to the log records joined to it,
    `from_attribute` is the source's project attribute; `readers` the columnar reader of each dialect (a
    dialect without one is read in Python)."""
    view = span_view(cols)
    spans = _detect(view)
    if joined:
        spans = spans.with_columns(
            (pl.col("python") | pl.col("span_index").is_in(sorted(joined))).alias("python")
        )
    spans = spans.with_columns(
        pl.when(pl.col("dialect").is_in(list(readers)) | (pl.col("dialect") == "none"))
        .then("python")
        .otherwise(True)
        .alias("python")
    )
    spans = _dialect_columns(spans, view, readers)
    spans = _shared(spans, view, from_attribute)
    exact = spans.filter("exact")
    exact = _with_metadata(exact).with_columns(pl.lit(0, pl.Int32()).alias("log_records"))
    columnar = exact.select(
        "span_index",
        *(pl.col(n).cast(FACT_SCHEMA[n]) for n in FACT_SCHEMA.names()),
        pl.lit(None, pl.Int32()).alias("python_index"),
    )
    python_rows = np.sort(spans.filter(~pl.col("exact"))["span_index"].to_numpy())
    read: list[SpanFacts] = []
    if python_rows.size:
        subset = spans_from_columns(subset_columns(cols, python_rows))
        read = [
            span_facts(span, (joined or {}).get(int(row)), from_attribute)
            for row, span in zip(python_rows.tolist(), subset, strict=True)
        ]
        python, read = read_rows(read)
        python = python.with_columns(pl.Series("span_index", python_rows, dtype=pl.Int32()))
        columnar = pl.concat([columnar, python.select(columnar.columns)])
    frame = columnar.sort("span_index").drop("span_index")
    assert frame.schema == FRAME_SCHEMA, frame.schema
    return ObjectFacts(frame, read)
