"""The dataset item: one evaluation example, drawn from a production trace or curated by hand.

Items are immutable once written to a dataset version. `item_id` is stable across reruns (it derives from the
source trace id, or from the content for curated items). `content_hash` (sha256) and `dedup_key` (64 bits) both
identify the normalised content: exact de-duplication joins a night's candidates on the cheap `dedup_key` and
confirms the few matches with `content_hash`.
"""

from __future__ import annotations

import polars as pl

from tracewatch.traces import CONTEXT_PASSAGE, FEEDBACK, MESSAGE

ITEM_SCHEMA_VERSION = 3
"""2 added `dedup_key`; 3 added `source` and `provenance`. `versions.read_version` computes the dedup key for
items written at version 1 and derives `source` (null provenance) for items written before version 3."""

ITEM_SOURCES: tuple[str, ...] = ("production", "seed", "review", "synthetic")
"""Where an item came from: a sampled production trace, a curated seed file, a reviewer, or a model asked for
inputs in the style of a thin stratum (`datasets.synthetic`)."""

EXPECTED_SOURCES: tuple[str, ...] = ("silver", "curated", "reviewed")
"""Where an expected output came from: a positively rated trace output, a curated file, or human review."""

ITEM_SCHEMA: dict[str, pl.DataType] = {
    "item_id": pl.String(),
    "content_hash": pl.String(),
    "dedup_key": pl.UInt64(),
    "input_text": pl.String(),
    "input_messages": pl.List(MESSAGE),
    "expected_output": pl.String(),
    "expected_source": pl.String(),
    "retrieved_context": pl.List(CONTEXT_PASSAGE),
    "project": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "tags": pl.List(pl.String()),
    "feedback": pl.List(FEEDBACK),
    "metadata": pl.String(),
    "source_trace_id": pl.String(),
    "source_date": pl.Date(),
    "strategy": pl.String(),
    "stratum": pl.String(),
    "redactions": pl.Int64(),
    "source": pl.String(),
    "provenance": pl.String(),
}
"""Column -> type of a dataset item.

- `item_id`: `itm_` + 16 hex digits; sha256 of the source trace id, or of `content_hash` for curated items.
- `content_hash`: sha256 hex of the redacted, normalised input (text and messages); exact bytes in
  `datasets.items`.
- `dedup_key`: a 64-bit hash of the same normalised content (definition in `datasets.items`), so that exact
  de-duplication of a million candidates is an integer join; a match on it is confirmed with `content_hash`.
- `expected_output` / `expected_source`: the reference answer and where it came from (null when none yet).
- `project` .. `metadata`: copied from the source trace (metadata stays a JSON object as text).
- `source_trace_id` / `source_date`: the trace the item came from (null for curated items).
- `strategy` / `stratum`: the sampling strategy that picked the item and its stratum label (e.g. `route=qa`).
- `redactions`: how many PII values were replaced by placeholders in this item (see docs/datasets-pii.md).
- `source`: one of `ITEM_SOURCES`; derived by `derived_source` where a writer leaves it null.
- `provenance`: for synthetic items a JSON object naming the generator (`model`, `template`, `kind`, `seed`)
  and the real items it was conditioned on (`conditioned_on`: item ids); null for every other source.
"""


HASH_COLUMNS: tuple[str, ...] = ("dedup_key", "content_hash")
"""The item columns that identify content exactly: what a dataset build can de-duplicate on (`dedup_key`, with
matches confirmed by `content_hash`, or `content_hash` itself)."""


def derived_source() -> pl.Expr:
    """`source` where a row has one, else what it must be: production when the item names a source trace, seed
    otherwise (items written before `source` existed came only from those two)."""
    derived = (
        pl.when(pl.col("source_trace_id").is_not_null()).then(pl.lit("production")).otherwise(pl.lit("seed"))
    )
    return pl.coalesce(pl.col("source"), derived).alias("source")


def with_provenance_columns(frame: pl.DataFrame) -> pl.DataFrame:
    """`frame` with `source` derived where absent or null and `provenance` null where absent: how items written
    before item schema 3, or by writers that do not set them, read."""
    if "provenance" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("provenance"))
    if "source" not in frame.columns:
        frame = frame.with_columns(pl.lit(None, pl.String).alias("source"))
    return frame.with_columns(derived_source())


def empty_items() -> pl.DataFrame:
    """A zero-row frame with the item schema."""
    return pl.DataFrame(schema=ITEM_SCHEMA)


VERSION_COLUMNS: dict[str, pl.DataType] = {
    "added_in_version": pl.Int64(),
    "updated_in_version": pl.Int64(),
}
"""Bookkeeping columns stored beside the item columns: the version that added each item, and the last version
that replaced it (null if never). They replace a list of added ids in the manifest, which would grow without
bound, and let a reader select "what version N changed" with one filter."""

STORED_SCHEMA: dict[str, pl.DataType] = {**ITEM_SCHEMA, **VERSION_COLUMNS}
"""The columns of `items.parquet` and of every frame `read_version` returns."""
