"""Failure-seeking sampling: over-sample errors and low-scored traces, still hash-deterministic."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, ClassVar, Literal

import polars as pl
from pydantic import Field, Strict, field_validator

from tracewatch.datasets.config import Range
from tracewatch.datasets.pii import pii_found
from tracewatch.datasets.sampling._pool import POS, Pool, StrategyBase, picks

STATUS = "status"
FEEDBACK = "feedback"
INPUT = "input_text"
ERROR_STATUS = "error"
Weight = Annotated[float, Strict(), Range(ge=0)]
Thresholds = dict[str, Annotated[float, Strict()]]


class FailureSeeking(StrategyBase):
    """Weighted sampling without replacement (Efraimidis-Spirakis) with the uniform draw taken from the hash.

    A trace's weight is the largest weight among the signals it shows: `error_weight` for `status == "error"`,
    `low_feedback_weight` for a feedback score at or below its threshold in `low_feedback` (score name ->
    threshold), `low_score_weight` for a column at or below its threshold in `low_scores` (e.g. a judge score
    column -> threshold), `pii_weight` for an input in which the redactor finds personal data (a user who
    pastes a card number or an address is the case where the app's handling of PII is tested, and the item
    is stored redacted); `base_weight` otherwise (0 picks failures only). The key -ln(u)/weight is an
    exponential race, so a weight-10 trace is picked about as often as ten weight-1 traces together.
    """

    label: ClassVar[str] = "failure strategy"

    kind: Literal["failure"] = "failure"
    """failure: over-sample errors and low feedback or scores"""
    error_weight: Weight = 10.0
    """weight of an error"""
    low_feedback: Thresholds = Field(default_factory=dict)
    """feedback name -> value at or below which it counts as low, e.g. thumbs: 0.5"""
    low_feedback_weight: Weight = 5.0
    """weight of low feedback"""
    low_scores: Thresholds = Field(default_factory=dict)
    """score column -> value at or below which it counts as low"""
    low_score_weight: Weight = 5.0
    """weight of a low score"""
    pii_weight: Weight = 0.0
    """weight of an input holding personal data the redactor finds (0: not a signal)"""
    base_weight: Weight = 1.0
    """weight of everything else (0: failures only)"""

    @field_validator("low_feedback", "low_scores")
    @classmethod
    def _sorted(cls, thresholds: dict[str, float]) -> dict[str, float]:
        return dict(sorted(thresholds.items()))

    def key_columns(self) -> tuple[str, ...]:
        pii = (INPUT,) if self.pii_weight > 0 else ()
        return (STATUS, *((FEEDBACK,) if self.low_feedback else ()), *pii, *self.low_scores)

    def pick(self, pool: Pool, quota: int) -> pl.DataFrame:
        chosen = pool.smallest(pool.keyed(self), quota, strategy=self.name)
        labels = pool.at(chosen[POS], *self.key_columns()).select(self._label()).to_series()
        return picks(chosen, labels)

    def competing_key(self, pool: Pool) -> pl.Expr:
        """An exponential draw over the weight (`-log(u) / w`): the smallest keys form a weighted sample."""
        return -pool.unit(self.name).log() / self._weight()

    def _weight(self) -> pl.Expr:
        return pl.max_horizontal(
            pl.lit(self.base_weight),
            pl.when(self._is_error()).then(self.error_weight).otherwise(0.0),
            pl.when(self._has_low_feedback(self.low_feedback)).then(self.low_feedback_weight).otherwise(0.0),
            pl.when(self._has_low_score(self.low_scores)).then(self.low_score_weight).otherwise(0.0),
            pl.when(self._holds_pii()).then(self.pii_weight).otherwise(0.0),
        )

    def _label(self) -> pl.Expr:
        """`failure=error+feedback:thumbs+score:judge`, or `failure=none`: which signals a pick shows."""
        signals = [("error", self._is_error())]
        signals += [(f"feedback:{n}", self._has_low_feedback({n: t})) for n, t in self.low_feedback.items()]
        signals += [(f"score:{c}", self._has_low_score({c: t})) for c, t in self.low_scores.items()]
        signals += [("pii", self._holds_pii())] if self.pii_weight > 0 else []
        reasons = pl.concat_str(
            [pl.when(hit).then(pl.lit(label)) for label, hit in signals], separator="+", ignore_nulls=True
        )
        return pl.concat_str([pl.lit("failure="), reasons.replace("", "none").fill_null("none")])

    @staticmethod
    def _is_error() -> pl.Expr:
        return (pl.col(STATUS) == ERROR_STATUS).fill_null(False)

    @staticmethod
    def _has_low_feedback(thresholds: Mapping[str, float]) -> pl.Expr:
        """Any feedback entry whose value is at or below the threshold for its name (one pass for all names)."""
        if not thresholds:
            return pl.lit(False)
        entry = pl.element().struct
        limit = entry.field("name").replace_strict(dict(thresholds), default=None, return_dtype=pl.Float64)
        return pl.col(FEEDBACK).list.eval(entry.field("value") <= limit).list.any().fill_null(False)

    def _holds_pii(self) -> pl.Expr:
        if self.pii_weight == 0:
            return pl.lit(False)
        return pl.col(INPUT).map_batches(lambda texts: pii_found(texts) > 0, return_dtype=pl.Boolean)

    @staticmethod
    def _has_low_score(thresholds: Mapping[str, float]) -> pl.Expr:
        hits = [(pl.col(column) <= threshold).fill_null(False) for column, threshold in thresholds.items()]
        return pl.any_horizontal(hits) if hits else pl.lit(False)
