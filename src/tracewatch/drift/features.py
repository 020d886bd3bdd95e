"""What the drift check looks at: numeric and categorical features derived from a day's accepted traces.

Only columns present are used, so a frame with a subset of the trace schema (a benchmark's numeric table, a
custom source) still profiles. Text descriptors are vectorised polars expressions; the text representation
(topic cells) runs on a deterministic sample of at most `TEXT_SAMPLE` inputs per day, which is plenty to
estimate 16 cell shares and keeps a million-trace day cheap.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import numpy.typing as npt
import polars as pl

from tracewatch.drift.text import embed, topic_cells_of
from tracewatch.drift.vectors import VectorMoments, vector_moments

PROFILE_INPUT_COLUMNS: tuple[str, ...] = (
    "project",
    "route",
    "model",
    "status",
    "error_type",
    "tags",
    "input_text",
    "output_text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "feedback",
)
"""The trace columns a profile reads (scans skip the rest)."""

NUMERIC_COLUMNS: tuple[str, ...] = ("latency_ms", "input_tokens", "output_tokens", "cost_usd")
CATEGORICAL_COLUMNS: tuple[str, ...] = ("model", "route", "project", "status")
FEEDBACK_PREFIX = "feedback."
TEXT_SAMPLE = 5000
TEXT_VECTOR = "input_vector"
"""The vector feature: moments of the sampled inputs' text vectors, tested with the linear-kernel MMD."""

QUESTION_WORDS: dict[str, str] = {
    **{w: w for w in ("what", "who", "when", "where", "which", "how", "why")},
    **{w: "yes_no" for w in ("is", "are", "was", "were", "do", "does", "did", "can", "could", "should")},
    **{w: "yes_no" for w in ("will", "would", "has", "have", "had")},
}
"""First word of the input -> question type; anything else is `other`."""
_REFUSAL = (
    r"(?i)\b(i'm sorry|i am sorry|i can't|i cannot|i can not|i'm unable|i am unable|unable to help|"
    r"i won't|as an ai)\b"
)
_PII = r"(?i)[\w.+-]+@[\w-]+\.[\w.]+|\+?\d[\d .()-]{8,}\d|\b\d{3}-\d{2}-\d{4}\b"
"""E-mail addresses, phone-like digit runs and US SSNs: cheap hits, not the dataset redactor's full rules."""
_SCRIPTS: dict[str, str] = {
    "cyrillic": r"[\u0400-\u04FF]",
    "cjk": r"[\u3040-\u30FF\u3400-\u9FFF\uAC00-\uD7AF]",
    "arabic": r"[\u0600-\u06FF]",
    "devanagari": r"[\u0900-\u097F]",
}
_LATIN = r"[A-Za-z\u00C0-\u024F]"
_SCRIPT_SHARE = 0.3
"""The cheap stand-in for the language: a non-Latin script that writes at least this share of the input's
characters (the most frequent one if several), else `latin` when the input has a Latin letter, else `none`."""


def numeric_features(traces: pl.DataFrame) -> dict[str, pl.Series]:
    """Feature name -> one value per trace (feedback: one value per feedback entry of that name)."""
    out = {c: traces.get_column(c) for c in NUMERIC_COLUMNS if c in traces.columns}
    for column, name in (("input_text", "input_chars"), ("output_text", "output_chars")):
        if column in traces.columns:
            out[name] = traces.get_column(column).str.len_chars().alias(name)
    if "input_text" in traces.columns:
        text = pl.col("input_text")
        share = text.str.count_matches(r"[^\x00-\x7F]") / text.str.len_chars()
        out["input_non_ascii_share"] = traces.select(
            pl.when(text.str.len_chars() > 0).then(share).otherwise(None).alias("input_non_ascii_share")
        ).to_series()
    if "feedback" in traces.columns:
        scores = (
            traces.select(pl.col("feedback").explode()).drop_nulls().unnest("feedback").drop_nulls("name")
        )
        for name in sorted(scores.get_column("name").unique().to_list()):
            values = scores.filter(pl.col("name") == name).get_column("value")
            out[f"{FEEDBACK_PREFIX}{name}"] = values.alias(f"{FEEDBACK_PREFIX}{name}")
    return out


def categorical_features(traces: pl.DataFrame, day: dt.date, *, topics: bool = True) -> dict[str, pl.Series]:
    """Feature name -> one category per trace (tags: one per tag, `(none)` for a trace without tags).

    `topics=False` leaves out `input_topic` (the profile gets it from `text_features`, with the vectors).
    """
    out = {c: traces.get_column(c) for c in CATEGORICAL_COLUMNS if c in traces.columns}
    if "error_type" in traces.columns:
        out["error_type"] = traces.get_column("error_type").fill_null("(none)")
    if "tags" in traces.columns:
        tags = traces.select(
            pl.when(pl.col("tags").list.len() > 0).then(pl.col("tags")).otherwise(pl.lit(["(none)"]))
        )
        out["tags"] = tags.to_series().explode().fill_null("(none)").alias("tags")
    if "input_text" in traces.columns:
        out.update(_input_descriptors(traces))
        if topics:
            out["input_topic"] = text_features(traces, day)[0]
    if "output_text" in traces.columns:
        refused = traces.get_column("output_text").str.contains(_REFUSAL)
        out["refusal"] = refused.replace_strict(
            {True: "yes", False: "no"}, default="(null)", return_dtype=pl.String
        )
    return {name: series.alias(name) for name, series in out.items()}


def _input_descriptors(traces: pl.DataFrame) -> dict[str, pl.Series]:
    text = pl.col("input_text")
    first = text.str.extract(r"^\W*(\w+)", 1).str.to_lowercase()
    question = first.replace_strict(QUESTION_WORDS, default="other", return_dtype=pl.String)
    # Counting every Latin letter is the slow part of profiling, so Latin is only looked for (first match).
    others = [text.str.count_matches(pattern).alias(script) for script, pattern in _SCRIPTS.items()]
    frame = traces.select(
        question.alias("question_type"),
        pl.when(text.str.contains(_PII)).then(pl.lit("yes")).otherwise(pl.lit("no")).alias("pii"),
        *others,
        text.str.contains(_LATIN).fill_null(False).alias("latin"),
        text.str.len_chars().fill_null(0).alias("chars"),
    )
    counts = frame.select(list(_SCRIPTS)).to_numpy().reshape(frame.height, len(_SCRIPTS))
    chars = frame.get_column("chars").to_numpy()
    best = counts.argmax(axis=1) if frame.height else np.zeros(0, np.int64)
    mostly = counts.max(axis=1, initial=0) >= np.maximum(_SCRIPT_SHARE * chars, 1)
    latin = frame.get_column("latin").to_numpy()
    script = np.where(mostly, np.array(list(_SCRIPTS))[best], np.where(latin, "latin", "none"))
    return {
        "question_type": frame.get_column("question_type"),
        "pii": frame.get_column("pii"),
        "script": pl.Series("script", script, dtype=pl.String),
    }


def text_features(traces: pl.DataFrame, day: dt.date) -> tuple[pl.Series, VectorMoments]:
    """The topic cell of each sampled input and the moments of their vectors, from one embedding.

    The sample is deterministic per day: all inputs up to `TEXT_SAMPLE`, else that many drawn at random.
    """
    texts = traces.get_column("input_text").gather(text_sample(traces.height, day))
    vectors = embed(texts.to_list())
    return pl.Series("input_topic", topic_cells_of(vectors), dtype=pl.String), vector_moments(vectors)


def text_sample(rows: int, day: dt.date) -> npt.NDArray[np.int64]:
    """The sorted positions of the day's sampled inputs (`text_features`), so a profile can tell each sampled
    input's segment: all of them up to `TEXT_SAMPLE`, else that many drawn with the day as the seed."""
    if rows <= TEXT_SAMPLE:
        return np.arange(rows, dtype=np.int64)
    rng = np.random.default_rng(day.toordinal())
    return np.sort(rng.choice(rows, TEXT_SAMPLE, replace=False)).astype(np.int64)
