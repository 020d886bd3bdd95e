"""The scoring stage as the nightly and experiment flows call it: one call scores an experiment or a day's
traces, publishes the reports and returns what the flow shows (a message, the partitions, a leaderboard).

Judges get a runtime of their own: the litellm client, the store's response cache (shared with experiments, so
a judgement already made is never paid for again) and the provider limits of the experiment or trace config.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Self

import polars as pl
from pydantic import BeforeValidator, Field, NonNegativeInt, PrivateAttr, model_validator

from tracewatch.config_files import read_config_file
from tracewatch.experiments import Experiment
from tracewatch.llm import LimitSettings, Runtime, limit_settings_from_dict, model_runtime
from tracewatch.paths import shipped_data
from tracewatch.reports import PublishedPartition
from tracewatch.scoring._config import Expect, ScoringModel
from tracewatch.scoring.experiment_scores import ExperimentScoring, score_experiment
from tracewatch.scoring.output_checks import DEFAULT_OUTPUT_SUITE, load_output_suite
from tracewatch.scoring.publish import publish_experiment_scoring, publish_trace_scoring
from tracewatch.scoring.suite import ScorerSuite, build_scorers
from tracewatch.scoring.trace_sample import DaySample
from tracewatch.scoring.trace_scores import score_traces
from tracewatch.store import Store

DEFAULT_EXPERIMENT_SCORERS: tuple[Mapping[str, Any], ...] = (
    {"metric": "token_f1", "missing": "unscored"},
    {"metric": "rouge_l", "missing": "unscored"},
    {"metric": "refusal"},
)
"""What an experiment file without `scorers:` is scored with: the reference metrics mark items unscored when the
dataset has no expected outputs, instead of stopping the night."""

TRACE_SCORING_DIR = "scoring"


def _limits(value: object) -> dict[str, LimitSettings]:
    """A model or provider's limits, checked by llm as an experiment's are (null: none)."""
    given = value or {}
    if not isinstance(given, Mapping):
        raise ValueError("must map a model or provider to its limits")
    where = f"{TraceScoringSpec.label}: limits"
    return {str(k): limit_settings_from_dict(v, f"{where}.{k}") for k, v in given.items()}


class TraceScoringSpec(ScoringModel):
    """What the nightly production-trace scoring does (`data/scoring/<name>.yaml`, docs/scoring.md)."""

    label = "trace scoring"

    sample_size: Annotated[NonNegativeInt, Expect("an integer >= 0")] = 200
    """Traces scored a day: a deterministic sample of the day's accepted traces."""
    seed: Annotated[int, Expect("an integer")] = 0
    """Seed of the sample."""
    agreement_size: Annotated[NonNegativeInt, Expect("an integer >= 0")] = 50
    """Traces with human feedback the judges also score a day, beyond the sample, so that `judge_agreement`
    has pairs to measure (they count there only, never in `trace_quality`); 0: the sample alone."""
    scorers: Annotated[
        tuple[Mapping[str, Any], ...], BeforeValidator(lambda value: value or ()), Field(strict=False)
    ] = ()
    """Scorer configs, as an experiment's `scorers:` (heuristic metrics and LLM judges)."""
    limits: Annotated[dict[str, LimitSettings], BeforeValidator(_limits)] = Field(default_factory=dict)
    """Concurrency and rate limits of the judges' models, by model string or provider."""
    _suite: ScorerSuite = PrivateAttr()

    @model_validator(mode="after")
    def _build_suite(self) -> Self:
        self._suite = build_scorers(self.scorers, where=f"{self.label}: scorers")
        return self

    @property
    def suite(self) -> ScorerSuite:
        """The scorers, checked and built."""
        return self._suite


@dataclass(frozen=True)
class StageResult:
    """What a flow shows of one scoring: a line, the published partitions, and leaderboard rows."""

    message: str
    published: list[PublishedPartition]
    leaderboard: list[dict[str, Any]]


def load_trace_scoring(source: str | Path | Mapping[str, Any] = "traces") -> TraceScoringSpec:
    """A trace scoring spec from a mapping, a YAML path, or the name of a shipped file (`traces`, `demo`)."""
    if isinstance(source, Mapping):
        data: object = source
    else:
        path = Path(source)
        if path.suffix not in (".yaml", ".yml"):
            path = shipped_data(f"{TRACE_SCORING_DIR}/{source}.yaml")
        data = read_config_file(path, "trace scoring file")
    return TraceScoringSpec.parse(data)


def experiment_suite(experiment: Experiment) -> ScorerSuite:
    """The experiment's scorers (checked), or the default heuristics when its file lists none."""
    where = f"experiment {experiment.name!r}: scorers"
    return build_scorers(experiment.scorers or DEFAULT_EXPERIMENT_SCORERS, where=where)


@asynccontextmanager
async def _judge_runtime(
    store: Store, suite: ScorerSuite, limits: Mapping[str, LimitSettings] | None
) -> AsyncIterator[Runtime | None]:
    """A model runtime while the judges of `suite` run (closed after), or None when it has no judge."""
    if not suite.judges:
        yield None
        return
    runtime = model_runtime(store, limits)
    try:
        yield runtime
    finally:
        await runtime.aclose()


async def score_experiment_answers(
    store: Store, experiment_id: str, experiment: Experiment, day: dt.date, *, run_id: str
) -> StageResult:
    """Score a finished experiment with its scorers and output suite and publish its four report tables."""
    suite = experiment_suite(experiment)
    output_suite = load_output_suite(experiment.output_suite or DEFAULT_OUTPUT_SUITE)
    async with _judge_runtime(store, suite, experiment.limits) as runtime:
        scoring = await score_experiment(store, experiment_id, suite, runtime, output_suite=output_suite)
    published = publish_experiment_scoring(store, scoring, day, run_id=run_id)
    return StageResult(scoring.message, published, leaderboard(scoring))


async def score_production_traces(
    store: Store,
    day: dt.date,
    spec: TraceScoringSpec,
    *,
    run_id: str,
    traces: pl.DataFrame | None = None,
    picked: DaySample | None = None,
) -> StageResult:
    """Score the day's sample of production traces and publish `trace_quality` and `judge_agreement`.

    The sample is read file by file here unless `picked` (`day_sample` with the spec's sizes and seed, which a
    flow can map over its workers) or the day's `traces` are given."""
    async with _judge_runtime(store, spec.suite, spec.limits) as runtime:
        scoring = await score_traces(
            store,
            day,
            spec.suite,
            runtime,
            sample_size=spec.sample_size,
            seed=spec.seed,
            traces=traces,
            agreement_size=spec.agreement_size,
            picked=picked,
        )
    published = publish_trace_scoring(store, scoring, run_id=run_id)
    rows = scoring.quality.filter(pl.col("segment_kind") == "all").select(
        "scorer", "mean", "ci_low", "ci_high", "n_scored", "n_unscored", "n_error"
    )
    return StageResult(scoring.message, published, rows.to_dicts())


def leaderboard(scoring: ExperimentScoring) -> list[dict[str, Any]]:
    """One row per config and scorer: mean [CI] overall, counts, and the verdict against the baseline."""
    overall = scoring.quality.filter(pl.col("segment_kind") == "all").select(
        "config_name", "baseline", "scorer", "mean", "ci_low", "ci_high", "n_scored", "n_error"
    )
    if scoring.comparisons.width:
        verdicts = scoring.comparisons.select(
            "config_name", "scorer", "mean_difference", "p_adjusted", "verdict"
        )
        overall = overall.join(verdicts, on=["config_name", "scorer"], how="left")
    return overall.sort("scorer", "config_name").to_dicts()


def format_leaderboard(rows: Sequence[Mapping[str, Any]]) -> str:
    """The leaderboard as a markdown table, for a Prefect artifact."""
    lines = ["| scorer | config | mean [95% CI] | n | errors | vs baseline |", "|---|---|---|---|---|---|"]
    for row in rows:
        mean = row.get("mean")
        shown = "-" if mean is None else f"{mean:.3f} [{row['ci_low']:.3f}, {row['ci_high']:.3f}]"
        verdict = "baseline" if row.get("baseline") else (row.get("verdict") or "-")
        lines.append(
            f"| {row['scorer']} | {row['config_name']} | {shown} | {row['n_scored']} | {row['n_error']} | {verdict} |"
        )
    return "\n".join(lines)


def scores_markdown(rows: Sequence[Mapping[str, Any]]) -> str:
    """The scores section of an experiment's markdown artifact: the leaderboard, or a line saying there is none."""
    return "\n## Scores\n\n" + format_leaderboard(rows) + "\n" if rows else "\nNo scores.\n"
