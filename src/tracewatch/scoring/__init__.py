"""Scoring: the `Score` record, the scorer seams, heuristic metrics (`tracewatch.scoring.metrics`), LLM judges,
and the stage the flows call: score an experiment or a day's traces and publish the reports."""

from tracewatch.scoring.stage import (
    StageResult,
    TraceScoringSpec,
    experiment_suite,
    format_leaderboard,
    load_trace_scoring,
    score_experiment_answers,
    score_production_traces,
    scores_markdown,
)
from tracewatch.scoring.trace_sample import DaySample, day_sample
from tracewatch.scoring.trace_scores import score_history
from tracewatch.scoring.types import (
    SCORE_SCHEMA,
    SCORE_STATUSES,
    FrameScorer,
    MissingPolicy,
    Score,
    Scorer,
    ScorerSpec,
    ScoreStatus,
)

__all__ = [
    "SCORE_SCHEMA",
    "SCORE_STATUSES",
    "DaySample",
    "FrameScorer",
    "MissingPolicy",
    "Score",
    "ScoreStatus",
    "Scorer",
    "ScorerSpec",
    "StageResult",
    "TraceScoringSpec",
    "day_sample",
    "experiment_suite",
    "format_leaderboard",
    "load_trace_scoring",
    "score_experiment_answers",
    "score_history",
    "score_production_traces",
    "scores_markdown",
]
