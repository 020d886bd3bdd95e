"""From proposed inputs to synthetic items: the same PII redaction as every other way into a dataset, then
exact and near de-duplication against the dataset and among the proposals. Every proposal ends as an item or
as a rejected row with its reason."""

from __future__ import annotations

import json
from dataclasses import dataclass

import polars as pl

from tracewatch.datasets.dedup import deduplicate
from tracewatch.datasets.items import redact_and_key
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.traces import CONTEXT_PASSAGE, FEEDBACK

SYNTHETIC = "synthetic"
EXACT_IN_BATCH = "duplicate: exact (batch)"

PROPOSAL_SCHEMA: dict[str, pl.DataType] = {
    "stratum": pl.String(),
    "kind": pl.String(),
    "input_text": pl.String(),
    "project": pl.String(),
    "route": pl.String(),
    "model": pl.String(),
    "tags": pl.List(pl.String()),
    "provenance": pl.String(),
}
"""One proposed input, with the item columns it copies from its stratum's real items and its provenance."""

REJECTED_SCHEMA: dict[str, pl.DataType] = {
    "stratum": pl.String(),
    "kind": pl.String(),
    "reason": pl.String(),
    "detail": pl.String(),
    "input_text": pl.String(),
}
"""One rejected reply or proposal: where it came from, why, and its (redacted) text when there is one."""


@dataclass(frozen=True)
class Screened:
    """The proposals that became items, the rejected ones, and the PII values replaced per kind."""

    items: pl.DataFrame
    rejected: pl.DataFrame
    redactions: dict[str, int]


def provenance(*, model: str, template: str, kind: str, seed: int, conditioned_on: list[str]) -> str:
    """The provenance of a synthetic item as stored (JSON with sorted keys, see `schema.ITEM_SCHEMA`)."""
    record = {
        "model": model,
        "template": template,
        "kind": kind,
        "seed": seed,
        "conditioned_on": conditioned_on,
    }
    return json.dumps(record, sort_keys=True)


def screen(
    proposals: pl.DataFrame,
    existing: pl.DataFrame,
    *,
    redaction: RedactionConfig,
    near_threshold: float | None,
) -> Screened:
    """Items from `proposals` (`PROPOSAL_SCHEMA`): redacted, keyed, and kept only when neither an exact nor a
    near duplicate of an `existing` item (item_id, content_hash, input_text) or of an earlier kept proposal."""
    items, per_kind = redact_and_key(_drafts(proposals), redaction)
    items = items.select(list(ITEM_SCHEMA)).cast(pl.Schema(ITEM_SCHEMA))
    # Equal content means an equal item id: keep the first proposal and reject the others here, so that the
    # ids the de-duplication sees are unique.
    first = items.get_column("content_hash").is_first_distinct()
    repeats = items.filter(~first)
    result = deduplicate(
        items.filter(first),
        existing.select("item_id", "content_hash", "input_text"),
        hash_column="content_hash",
        text="input_text",
        near_threshold=near_threshold,
        id_column="item_id",
        existing_id_column="item_id",
    )
    dropped = result.dropped.join(items.filter(first), on="item_id", how="left")
    rejected = pl.concat(
        [
            _rejected(repeats, pl.lit(EXACT_IN_BATCH), pl.lit("same text as an earlier proposal")),
            _rejected(
                dropped,
                pl.format("{} ({})", "reason", "duplicate_in"),
                pl.format("of {}", "duplicate_of"),
            ),
        ]
    )
    kept = result.kept.select(list(ITEM_SCHEMA))
    return Screened(items=kept, rejected=rejected, redactions=per_kind)


def _drafts(proposals: pl.DataFrame) -> pl.DataFrame:
    n = proposals.height
    return proposals.select(
        pl.col("input_text"),
        input_messages=pl.concat_list(pl.struct(role=pl.lit("user"), content=pl.col("input_text"))),
        expected_output=pl.lit(None, pl.String),
        expected_source=pl.lit(None, pl.String),
        retrieved_context=pl.Series([[]] * n, dtype=pl.List(CONTEXT_PASSAGE)),
        project=pl.col("project"),
        route=pl.col("route"),
        model=pl.col("model"),
        tags=pl.col("tags"),
        feedback=pl.Series([[]] * n, dtype=pl.List(FEEDBACK)),
        # Kinds are plain identifiers (`_templates.KINDS`), so no JSON escaping is needed.
        metadata=pl.concat_str(pl.lit('{"synthetic_kind":"'), pl.col("kind"), pl.lit('"}')),
        source_trace_id=pl.lit(None, pl.String),
        source_date=pl.lit(None, pl.Date),
        strategy=pl.format("synthetic:{}", "kind"),
        stratum=pl.col("stratum"),
        source=pl.lit(SYNTHETIC),
        provenance=pl.col("provenance"),
    )


def _rejected(frame: pl.DataFrame, reason: pl.Expr, detail: pl.Expr) -> pl.DataFrame:
    kind = pl.col("strategy").str.strip_prefix("synthetic:")
    return frame.select(
        "stratum", kind.alias("kind"), reason.alias("reason"), detail.alias("detail"), "input_text"
    ).cast(pl.Schema(REJECTED_SCHEMA))
