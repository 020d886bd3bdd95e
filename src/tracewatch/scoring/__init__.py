"""Scoring: the `Score` record, the scorer seams, and heuristic metrics (`tracewatch.scoring.metrics`)."""

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
    "FrameScorer",
    "MissingPolicy",
    "Score",
    "ScoreStatus",
    "Scorer",
    "ScorerSpec",
]
