"""Dataset items from accepted traces: normalised content hash, stable ids, silver expected outputs.

An item must be recognisable across nights and reruns: `item_id` derives from the source trace id, and
`content_hash` from the normalised input, so the same question asked twice (with different casing, spacing
or PII) is one candidate for de-duplication. Both are computed from the *redacted* content: no hash of a
PII value is ever stored.

The content hash is the sha256 hex digest of these UTF-8 bytes::

    normalise_text(input_text or "") + "".join("\\n" + normalise_text(content or "") for each message)

where messages are `input_messages` in order (every role; a null list counts as no message). Normalised text
never contains a newline, so the framing is unambiguous.

The dedup key is the cheap exact-duplicate key of the same content: a UInt64 computed from the same normalised
parts (the text, then each message content, null as empty) with `tracewatch.hashing.stable_hash64` (key 0) as `h`::

    state = fmix64(h(text) ^ 0x5DEECE66D1CE4E5B)
    for j, m in enumerate(message contents, start=1):  state += fmix64(h(m) + j * 0x9E3779B97F4A7C15)
    dedup_key = fmix64(state ^ number_of_messages)                                 (all mod 2**64)

Each part is hashed on its own and the position salts each message's term, so a night's candidates hash each
distinct text and message once, however many traces repeat it, and sum the terms without a loop over rows.
64 bits can collide, so a match on the key is confirmed before anything is dropped (see `dedup.ExactCheck` and
`datasets.candidates`).
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Self

import numpy as np
import polars as pl
from numpy.typing import NDArray
from pydantic import GetJsonSchemaHandler, Strict, model_serializer, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

from tracewatch.datasets.config import SpecModel
from tracewatch.datasets.distinct import map_distinct
from tracewatch.datasets.normalise import normalise_series, normalise_text, normalise_text_expr
from tracewatch.datasets.pii import redact_frame
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.errors import DataContractError
from tracewatch.hashing import U64, fmix64, stable_hash64

log = logging.getLogger(__name__)

ITEM_ID_PREFIX = "itm_"
NO_USABLE_INPUT = "no usable input"
"""The skip reason for traces `usable_input` rejects."""

REDACTED_COLUMNS: tuple[str, ...] = (
    "input_text",
    "input_messages",
    "retrieved_context",
    "expected_output",
    "tags",
    "metadata",
)
"""Item columns that can carry user content, and so are redacted before an item exists."""

DEDUP_KEY = "dedup_key"
SYSTEM_ROLE = "system"
_KEY_SALT = np.uint64(0x5DEECE66D1CE4E5B)
_KEY_STEP = np.uint64(0x9E3779B97F4A7C15)

ITEM_SOURCE_COLUMNS: tuple[str, ...] = (
    "trace_id",
    "start_time",
    "project",
    "route",
    "model",
    "input_text",
    "input_messages",
    "output_text",
    "status",
    "tags",
    "metadata",
    "retrieved_context",
    "feedback",
)
"""The trace columns an item is built from."""


# ---- content hashes and ids --------------------------------------------------------------------------------


def content_hash(input_text: str | None, message_contents: Sequence[str | None]) -> str:
    """The content hash of one input (see the module docstring for the exact bytes)."""
    payload = normalise_text(input_text or "") + "".join(
        "\n" + normalise_text(content or "") for content in message_contents
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def content_hash_expr(input_text: str = "input_text", input_messages: str = "input_messages") -> pl.Expr:
    """`content_hash` of every row, vectorised: polars normalises, hashlib hashes (polars' own `hash` is
    not stable across versions, and this key is stored)."""
    text = normalise_text_expr(input_text).fill_null("")
    contents = (
        pl.col(input_messages)
        .list.eval(
            pl.concat_str(
                pl.lit("\n"), normalise_text_expr(pl.element().struct.field("content")).fill_null("")
            )
        )
        .list.join("")
        .fill_null("")
    )
    return pl.concat_str(text, contents).map_batches(sha256_hex, return_dtype=pl.String, is_elementwise=True)


def sha256_hex(values: pl.Series) -> pl.Series:
    """The sha256 hex digest of each value's UTF-8 bytes (null stays null), once per distinct value."""

    def digests(distinct: pl.Series) -> pl.DataFrame:
        sha256 = hashlib.sha256
        utf8 = distinct.cast(pl.Binary).to_list()  # polars strings are UTF-8: no per-value encode
        hexes = [None if v is None else sha256(v).hexdigest() for v in utf8]
        return pl.DataFrame({"digest": hexes}, schema={"digest": pl.String})

    return map_distinct(values, digests).to_series().alias(values.name)


def dedup_key(input_text: str | None, message_contents: Sequence[str | None]) -> int:
    """The dedup key of one input (see the module docstring for the definition)."""
    parts = pl.Series([normalise_text(p or "") for p in (input_text, *message_contents)], dtype=pl.String)
    hashes = stable_hash64(parts)
    counts = np.array([len(message_contents)], dtype=np.int64)
    return int(combine_part_hashes(hashes[:1], hashes[1:], counts)[0])


def dedup_keys(
    frame: pl.DataFrame, input_text: str = "input_text", input_messages: str = "input_messages"
) -> pl.Series:
    """`dedup_key` of every row (UInt64, never null), vectorised: each distinct part is hashed once."""
    messages = frame.get_column(input_messages)
    counts = messages.list.len().fill_null(0).to_numpy().astype(np.int64)
    contents = flat_contents(messages)
    keys = combine_part_hashes(part_hashes(frame.get_column(input_text)), part_hashes(contents), counts)
    return pl.Series(DEDUP_KEY, keys, dtype=pl.UInt64)


def flat_contents(messages: pl.Series) -> pl.Series:
    """The contents of every message, flat: row i of `messages` adds `list.len()` of them (a null list none)."""
    return messages.explode(empty_as_null=False, keep_nulls=False).struct.field("content")


def part_hashes(values: pl.Series) -> U64:
    """`stable_hash64` of each value normalised (null as empty): the per-part hashes of the dedup key."""
    return np.asarray(map_distinct(values, _normalised_hashes).to_series().to_numpy(), dtype=np.uint64)


def combine_part_hashes(text: U64, messages: U64, counts: NDArray[np.int64]) -> U64:
    """Dedup keys from the hashes of each row's text (`text`, one per row) and of its messages (`messages`,
    flat, `counts[i]` of them for row i, rows in order)."""
    ends = np.cumsum(counts)
    position = np.arange(1, len(messages) + 1) - np.repeat(ends - counts, counts)
    with np.errstate(over="ignore"):
        terms = fmix64(messages + position.astype(np.uint64) * _KEY_STEP, in_place=True)
        running = np.concatenate([np.zeros(1, dtype=np.uint64), np.cumsum(terms, dtype=np.uint64)])
        state = fmix64(text ^ _KEY_SALT, in_place=True) + running[ends] - running[ends - counts]
    return fmix64(state ^ counts.astype(np.uint64), in_place=True)


def item_id(source_trace_id: str | None, content_hash: str) -> str:
    """`itm_` + 16 hex of sha256(source trace id), or of the content hash for a curated item."""
    return _id_of(content_hash if source_trace_id is None else source_trace_id)


def item_id_expr(source_trace_id: str = "source_trace_id", content_hash: str = "content_hash") -> pl.Expr:
    """`item_id` of every row, vectorised."""
    return pl.coalesce(source_trace_id, content_hash).map_batches(
        _item_ids, return_dtype=pl.String, is_elementwise=True
    )


# ---- which traces become items -----------------------------------------------------------------------------


def has_text(text: pl.Expr) -> pl.Expr:
    """True where `text` is not null and not all whitespace."""
    return text.str.strip_chars().str.len_chars().fill_null(0) > 0


def spoken_role(role: pl.Expr) -> pl.Expr:
    """True for a message role that can ask something: any but the system prompt (a null role included)."""
    return role.fill_null("") != SYSTEM_ROLE


def usable_input_expr() -> pl.Expr:
    """True where a trace has an input to replay: non-blank `input_text`, or a non-blank message that is not
    the system prompt (a system prompt alone asks nothing). False rows should be skipped as
    `NO_USABLE_INPUT`."""
    message = pl.element().struct
    spoken = (
        pl.col("input_messages")
        .list.eval(has_text(message.field("content")) & spoken_role(message.field("role")))
        .list.any()
        .fill_null(False)
    )
    return has_text(pl.col("input_text")) | spoken


def usable_input(traces: pl.DataFrame) -> pl.Series:
    """`usable_input_expr` evaluated on `traces`: one Boolean per trace, never null."""
    return traces.select(usable_input_expr().alias("usable_input")).to_series()


class SilverRule(SpecModel):
    """When a trace's own output is good enough to serve as its expected output ("silver" reference).

    `thresholds` maps feedback names to the minimum value that counts as positive. A trace qualifies when it
    has at least one of the named feedback entries and *every* named entry it has meets its threshold, so a
    thumbs-up with a 2-star rating does not qualify. The default matches what the demo app collects: thumbs
    (0/1) and a 1-5 star rating. A dataset spec writes the mapping itself: `silver: {thumbs: 0.5, rating: 4}`.
    """

    where: ClassVar[str] = "silver"

    thresholds: tuple[tuple[str, Annotated[float, Strict()]], ...] = (("thumbs", 0.5), ("rating", 4.0))

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        """The spec's form, feedback name -> minimum, as `thresholds` (the keys are feedback names)."""
        if isinstance(data, Mapping) and data and not isinstance(data.get("thresholds"), list | tuple):
            return {"thresholds": tuple(data.items())}
        return data

    @model_validator(mode="after")
    def _usable(self) -> Self:
        names = [name for name, _ in self.thresholds]
        if not names:
            raise ValueError(
                "SilverRule.thresholds is empty; name at least one feedback, e.g. ('thumbs', 0.5)"
            )
        if len(set(names)) != len(names) or not all(names):
            raise ValueError(
                f"SilverRule.thresholds must name distinct non-empty feedback names, got {names}"
            )
        bad = [(n, v) for n, v in self.thresholds if not math.isfinite(v)]
        if bad:
            raise ValueError(f"SilverRule.thresholds must be finite numbers, got {bad}")
        return self

    @model_serializer
    def _as_mapping(self) -> dict[str, float]:
        return dict(self.thresholds)

    @classmethod
    def __get_pydantic_json_schema__(
        cls, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        return {
            "type": "object",
            "additionalProperties": {"type": "number"},
            "title": "Silver",
            "description": "feedback name -> minimum for a trace's own output to become the item's expected "
            "output (default thumbs: 0.5, rating: 4)",
        }

    def expr(self, feedback: str = "feedback") -> pl.Expr:
        """True where the feedback list qualifies; never null."""
        entry = pl.element().struct
        name, value = entry.field("name"), entry.field("value")
        named = name.is_in([n for n, _ in self.thresholds])
        meets = pl.lit(False)
        for wanted, threshold in self.thresholds:
            meets = pl.when(name == wanted).then(value.fill_null(-math.inf) >= threshold).otherwise(meets)
        column = pl.col(feedback)
        return (column.list.eval(named).list.any() & column.list.eval(~named | meets).list.all()).fill_null(
            False
        )


DEFAULT_SILVER_RULE = SilverRule()
DEFAULT_REDACTION = RedactionConfig()


def items_from_traces(
    traces: pl.DataFrame,
    *,
    strategy: str | pl.Series,
    stratum: pl.Series | None = None,
    silver_feedback: SilverRule = DEFAULT_SILVER_RULE,
    redaction: RedactionConfig = DEFAULT_REDACTION,
) -> pl.DataFrame:
    """`items_with_redactions` without the per-kind redaction counts."""
    items, _ = items_with_redactions(
        traces, strategy=strategy, stratum=stratum, silver_feedback=silver_feedback, redaction=redaction
    )
    return items


def items_with_redactions(
    traces: pl.DataFrame,
    *,
    strategy: str | pl.Series,
    stratum: pl.Series | None = None,
    silver_feedback: SilverRule = DEFAULT_SILVER_RULE,
    redaction: RedactionConfig = DEFAULT_REDACTION,
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Dataset items (`ITEM_SCHEMA`, one per trace, in order) from traces in the trace schema.

    Content columns are PII-redacted first (`redactions` counts the values replaced per item), then hashed.
    `expected_output` is the trace's output when the trace succeeded, its output is not blank and its
    feedback satisfies `silver_feedback`; `expected_source` is then "silver". `stratum` labels each row
    (same length as `traces`), and so may `strategy`. Also returns the PII values replaced per kind.
    Traces without usable input must be filtered out by the caller first
    (`usable_input`), so that the skip is counted where the sample is drawn.
    """
    _check_input(traces, stratum)
    silver = silver_feedback.expr() & (pl.col("status") == "ok") & has_text(pl.col("output_text"))
    draft = traces.select(
        "input_text",
        "input_messages",
        "retrieved_context",
        "project",
        "route",
        "model",
        "tags",
        "feedback",
        "metadata",
        expected_output=pl.when(silver).then(pl.col("output_text")),
        source_trace_id=pl.col("trace_id"),
        source_date=pl.col("start_time").dt.convert_time_zone("UTC").dt.date(),
        strategy=pl.lit(strategy, pl.String)
        if isinstance(strategy, str)
        else pl.lit(strategy.cast(pl.String)),
        stratum=pl.lit(None, pl.String) if stratum is None else pl.lit(stratum.cast(pl.String)),
        source=pl.lit("production", pl.String),
        provenance=pl.lit(None, pl.String),
    )
    draft = draft.with_columns(
        expected_source=pl.when(pl.col("expected_output").is_not_null()).then(pl.lit("silver"))
    )
    items, per_kind = redact_and_key(draft, redaction)
    log.info(
        "built %d item(s): %d silver, PII redacted %s",
        items.height,
        items["expected_output"].is_not_null().sum(),
        per_kind,
    )
    return items.select(list(ITEM_SCHEMA)).cast(pl.Schema(ITEM_SCHEMA)), per_kind


def redact_and_key(
    items: pl.DataFrame, redaction: RedactionConfig = DEFAULT_REDACTION
) -> tuple[pl.DataFrame, dict[str, int]]:
    """Redact the content columns of draft items, then derive their keys from the redacted content.

    Every way into a dataset (sampled traces, curated files) goes through here, so no PII and no hash of
    it is ever stored. Returns the items and the values replaced per PII kind.
    """
    redacted, per_kind, per_row = redact_frame(items, REDACTED_COLUMNS, redaction)
    keyed = redacted.with_columns(
        content_hash=content_hash_expr(), dedup_key=dedup_keys(redacted), redactions=per_row
    ).with_columns(item_id=item_id_expr())
    return keyed, per_kind


# ---- internals ---------------------------------------------------------------------------------------------


def _check_input(traces: pl.DataFrame, stratum: pl.Series | None) -> None:
    missing = [c for c in ITEM_SOURCE_COLUMNS if c not in traces.columns]
    if missing:
        raise DataContractError(f"items_from_traces: trace columns missing: {missing}")
    if stratum is not None and stratum.len() != traces.height:
        raise DataContractError(
            f"items_from_traces: stratum has {stratum.len()} labels for {traces.height} traces"
        )
    unusable = traces.height - int(usable_input(traces).sum())
    if unusable:
        raise DataContractError(
            f"items_from_traces: {unusable} trace(s) have no usable input; skip them first with "
            f"usable_input() and count them as {NO_USABLE_INPUT!r}"
        )


def _normalised_hashes(values: pl.Series) -> pl.DataFrame:
    normalised = normalise_series(values.fill_null(""))
    return pl.DataFrame({"hash": stable_hash64(normalised)}, schema={"hash": pl.UInt64})


def _item_ids(keys: pl.Series) -> pl.Series:
    return pl.Series(
        keys.name,
        [None if key is None else _id_of(key) for key in keys.to_list()],
        dtype=pl.String,
    )


def _id_of(key: str) -> str:
    return ITEM_ID_PREFIX + hashlib.sha256(key.encode("utf-8")).hexdigest()[:16]
