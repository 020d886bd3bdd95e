"""Aggregates per segment: overall, and by route, tag and input-length bucket, all from one long score frame.

Each segment kind is a column of labels (tags: a list, exploded so an item counts in each of its tags); the
statistics are `stats.aggregate`'s (mean, bootstrap CI, scored/unscored/error counts).
"""

from __future__ import annotations

from collections.abc import Sequence

import polars as pl

from tracewatch.scoring.aggregation import aggregate

INPUT_LENGTH_BUCKETS: tuple[int, ...] = (100, 300, 1000)
"""Upper bounds (characters, exclusive) of the input-length buckets; the last bucket is open-ended."""


def input_length_bucket(text: pl.Expr) -> pl.Expr:
    """A label such as `100-299` for the input's length in characters (`unknown` when there is no input)."""
    length = text.str.len_chars()
    labels = [
        f"{low}-{high - 1}"
        for low, high in zip((0, *INPUT_LENGTH_BUCKETS), INPUT_LENGTH_BUCKETS, strict=False)
    ]
    bucket = length.cut(
        list(INPUT_LENGTH_BUCKETS), labels=[*labels, f"{INPUT_LENGTH_BUCKETS[-1]}+"], left_closed=True
    )
    return bucket.cast(pl.String).fill_null("unknown")


def segmented_aggregates(
    scores: pl.DataFrame,
    by: Sequence[str],
    segments: Sequence[str],
    *,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> pl.DataFrame:
    """`aggregate` per `by` group: once overall (`segment_kind` "all") and once per label of each segment column.

    A segment column of lists (tags) is exploded; a null label is reported as "(none)"."""
    frames = []
    overall = scores.with_columns(segment_kind=pl.lit("all"), segment=pl.lit("all"))
    frames.append(overall)
    for column in segments:
        labelled = scores
        if isinstance(scores.schema[column], pl.List):
            labelled = scores.explode(column, empty_as_null=True, keep_nulls=True)
        frames.append(
            labelled.with_columns(
                segment_kind=pl.lit(column), segment=pl.col(column).cast(pl.String).fill_null("(none)")
            )
        )
    keep = [*by, "segment_kind", "segment", "value", "status"]
    combined = pl.concat([f.select(keep) for f in frames])
    return aggregate(
        combined, [*by, "segment_kind", "segment"], confidence=confidence, resamples=resamples, seed=seed
    )
