"""Score an experiment: every item's output through the experiment's scorers, then the quality table (per
config, scorer and segment, with CIs) and the comparison of every config with the baseline.

Items are joined to their dataset items for the context a faithfulness judge reads and the segments (route,
tags, input length). Scoring reads every item's latest row each time, so a rescore after a rerun uses nothing
stale; judge calls come from the response cache, so a rescore costs nothing.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import polars as pl

from tracewatch.datasets import read_version
from tracewatch.errors import DataContractError
from tracewatch.experiments import read_experiment_items, read_record
from tracewatch.llm import Runtime
from tracewatch.scoring.aggregation import compare_with_baseline
from tracewatch.scoring.apply import SCORING_COLUMNS, context_text, score_rows
from tracewatch.scoring.output_checks import DEFAULT_OUTPUT_SUITE, load_output_suite, output_checks
from tracewatch.scoring.segments import input_length_bucket, segmented_aggregates
from tracewatch.scoring.suite import ScorerSuite
from tracewatch.store import Store
from tracewatch.validation import Suite

log = logging.getLogger(__name__)

SEGMENTS: tuple[str, ...] = ("route", "tags", "input_length", "source")
"""Segment kinds of the quality table; `source` (production, seed, review, synthetic) tells how the configs do
on synthetic items apart from real ones."""
ITEM_KEYS: tuple[str, ...] = ("config_name", "config_fingerprint", "item_id", "trial")


@dataclass(frozen=True)
class ExperimentScoring:
    """What scoring one experiment produced, ready to publish (see `scoring.publish`)."""

    experiment_id: str
    dataset: str
    dataset_version: int
    baseline: str
    items: pl.DataFrame
    """Experiment items with their segments and a `scores` list (one entry per scorer)."""
    scores: pl.DataFrame
    """Long: one row per (item key, scorer)."""
    quality: pl.DataFrame
    comparisons: pl.DataFrame
    output_checks: pl.DataFrame
    """Per config and expectation of the output suite: checked, failed, pass rate (see `output_checks`)."""

    @property
    def message(self) -> str:
        counts = self.scores["status"].value_counts().rows() if self.scores.height else []
        told = ", ".join(f"{n} {status}" for status, n in sorted(counts)) or "nothing to score"
        scorers = self.scores["scorer"].n_unique()
        return f"experiment {self.experiment_id}: {self.items.height} items, {scorers} scorers ({told})"


def _scoring_frame(store: Store, items: pl.DataFrame, dataset: str, version: int) -> pl.DataFrame:
    """Experiment items in the scoring shape, with their segments from the dataset items."""
    source = read_version(
        store, dataset, version, columns=["item_id", "route", "tags", "source", "retrieved_context"]
    )
    joined = items.join(source, on="item_id", how="left")
    return joined.with_columns(
        context=context_text(pl.col("retrieved_context")),
        answered=pl.col("status") == "ok",
        not_answered_reason=pl.concat_str(
            pl.lit("the call ended "), pl.col("status"), pl.lit(": "), pl.col("error").fill_null("")
        ),
        input_length=input_length_bucket(pl.col("input")),
    ).drop("retrieved_context")


async def score_experiment(
    store: Store,
    experiment_id: str,
    suite: ScorerSuite,
    runtime: Runtime | None = None,
    *,
    output_suite: Suite | None = None,
    confidence: float = 0.95,
    resamples: int = 2000,
    seed: int = 0,
) -> ExperimentScoring:
    """Score every item of `experiment_id` (its latest row per key) with `suite`, compare with the baseline,
    and check the answered outputs with `output_suite` (default: the shipped `outputs` suite)."""
    record = read_record(store, experiment_id)
    if record is None:
        raise DataContractError(f"experiment {experiment_id!r} has no record; run it before scoring it")
    baseline = next((c.name for c in record.configs if c.config.get("baseline")), record.configs[0].name)
    items = read_experiment_items(store, experiment_id)
    frame = _scoring_frame(store, items, record.dataset, record.dataset_version)
    long = await score_rows(frame.select(list(SCORING_COLUMNS)), suite, runtime)
    keyed = frame.with_row_index("row").with_columns(pl.col("row").cast(pl.Int64))
    scores = keyed.select("row", *ITEM_KEYS, *SEGMENTS).join(long, on="row").drop("row")
    entries = scores.group_by(ITEM_KEYS, maintain_order=True).agg(
        pl.struct("scorer", "scorer_args", "value", "status", "explanation").alias("scores")
    )
    scored_items = frame.join(entries, on=list(ITEM_KEYS), how="left")
    quality = segmented_aggregates(
        scores,
        ["config_name", "config_fingerprint", "scorer", "scorer_args"],
        SEGMENTS,
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    ).with_columns(baseline=pl.col("config_name") == baseline)
    comparisons = _comparisons(scores, baseline, suite, confidence=confidence, resamples=resamples, seed=seed)
    checks = output_checks(items, output_suite or load_output_suite(DEFAULT_OUTPUT_SUITE))
    result = ExperimentScoring(
        experiment_id,
        record.dataset,
        record.dataset_version,
        baseline,
        scored_items,
        scores,
        quality,
        comparisons,
        checks,
    )
    log.info(result.message)
    return result


def _comparisons(
    scores: pl.DataFrame, baseline: str, suite: ScorerSuite, *, confidence: float, resamples: int, seed: int
) -> pl.DataFrame:
    if scores.is_empty() or scores["config_name"].n_unique() < 2:
        return pl.DataFrame()
    compared = compare_with_baseline(
        scores,
        baseline=baseline,
        higher_is_better=suite.higher_is_better(),
        config="config_name",
        metric="scorer",
        confidence=confidence,
        resamples=resamples,
        seed=seed,
    )
    return compared.rename({"baseline": "baseline_config"})
