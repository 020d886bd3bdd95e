"""What every heuristic metric shares: field checks, null handling, per-row error isolation, both scoring paths.

A metric states the item fields it reads and their types. `score_frame` is the real path (vectorised for
`ExprMetric`, a tight loop for `RowMetric`); scoring a single item goes through a one-row frame, so the two paths
cannot disagree.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, ClassVar

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.scoring.types import SCORE_SCHEMA, MissingPolicy, Score, ScorerSpec

TEXT = pl.String()
NUMBER = pl.Float64()


class Metric(ABC):
    """A heuristic scorer: satisfies both `Scorer` (one item) and `FrameScorer` (a frame of items)."""

    name: ClassVar[str]

    def __init__(self, *, missing: MissingPolicy = "error") -> None:
        if missing not in ("error", "unscored"):
            raise ConfigError(
                f"metric {self.name!r}: missing={missing!r} is not allowed; use 'error' or 'unscored'"
            )
        self.missing: MissingPolicy = missing

    @property
    @abstractmethod
    def fields(self) -> Mapping[str, pl.DataType]:
        """Item field -> the type it is read as."""

    def _own_args(self) -> dict[str, Any]:
        """The metric's own arguments (besides `missing`), as given in its config."""
        return {}

    @property
    def args(self) -> Mapping[str, Any]:
        return {**self._own_args(), "missing": self.missing}

    @property
    def spec(self) -> ScorerSpec:
        return ScorerSpec(self.name, self.args)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({dict(self.args)!r})"

    def __call__(self, item: Mapping[str, Any]) -> Score:
        reason = self._absent_reason(item.keys())
        if reason is not None:
            return Score.unscored(reason)
        try:
            frame = pl.DataFrame({f: [item[f]] for f in self.fields})
            value, status, explanation = self._score_inputs(self._cast(frame)).row(0)
        except Exception as exc:  # one bad item is an error score, never a stopped run
            return Score.error(f"{type(exc).__name__}: {exc}")
        return Score(value, status, explanation)

    def score_frame(self, frame: pl.DataFrame) -> pl.DataFrame:
        reason = self._absent_reason(frame.columns)
        if reason is not None:
            return _constant(frame.height, "unscored", reason)
        return self._score_inputs(self._cast(frame))

    def _absent_reason(self, present: Iterable[str]) -> str | None:
        """None when every field is there; else the reason, or a ConfigError if missing fields are not allowed."""
        columns = list(present)
        absent = [f for f in self.fields if f not in columns]
        if not absent:
            return None
        reason = f"metric {self.name!r} needs field(s) {absent}; the items have {sorted(columns)}"
        if self.missing == "error":
            raise ConfigError(f"{reason} (configure missing='unscored' to mark such items unscored)")
        return reason

    def _cast(self, frame: pl.DataFrame) -> pl.DataFrame:
        """The fields, cast to the types the metric reads; a column of another kind is a ConfigError (polars
        would happily turn a struct into text, which no metric should score)."""
        wrong = {
            f: str(frame.schema[f]) for f, t in self.fields.items() if not _compatible(frame.schema[f], t)
        }
        if wrong:
            wanted = {f: str(t) for f, t in self.fields.items()}
            raise ConfigError(f"metric {self.name!r} reads {wanted} but the items have {wrong}")
        return frame.select(pl.col(f).cast(t) for f, t in self.fields.items())

    @abstractmethod
    def _score_inputs(self, inputs: pl.DataFrame) -> pl.DataFrame:
        """Score `inputs` (exactly `fields`, cast) into `SCORE_SCHEMA` rows."""


class ExprMetric(Metric):
    """A metric that is a polars expression over the fields: vectorised, and unable to fail row by row."""

    @abstractmethod
    def value_expr(self) -> pl.Expr:
        """The value (a boolean or number) from the field columns; rows with a null field are never used."""

    @abstractmethod
    def explanation_expr(self) -> pl.Expr:
        """A short string saying why, from the field columns and a `_value` column."""

    def _score_inputs(self, inputs: pl.DataFrame) -> pl.DataFrame:
        null_reason = pl.coalesce(
            [pl.when(pl.col(f).is_null()).then(pl.lit(f"{f} is null")) for f in self.fields]
        )
        scored = inputs.with_columns(_null=null_reason).with_columns(
            _value=self.value_expr().cast(pl.Float64)
        )
        ok = pl.col("_null").is_null() & pl.col("_value").is_not_null() & pl.col("_value").is_finite()
        return scored.select(
            value=pl.when(ok).then(pl.col("_value")),
            status=pl.when(pl.col("_null").is_not_null())
            .then(pl.lit("unscored"))
            .when(ok)
            .then(pl.lit("scored"))
            .otherwise(pl.lit("error")),
            explanation=pl.when(pl.col("_null").is_not_null())
            .then(pl.col("_null"))
            .when(ok)
            .then(self.explanation_expr())
            .otherwise(pl.lit("the metric gave no finite value")),
        )


class RowMetric(Metric):
    """A metric computed in Python per row, after optional vectorised preparation; one row's failure is its own."""

    def prepare(self) -> Sequence[pl.Expr]:
        """Vectorised preprocessing (e.g. tokenisation), one expression per field, named after the field."""
        return [pl.col(f) for f in self.fields]

    @abstractmethod
    def score_values(self, *values: Any) -> tuple[float, str]:
        """(value, explanation) from one row's prepared, non-null field values."""

    def _score_inputs(self, inputs: pl.DataFrame) -> pl.DataFrame:
        names = list(self.fields)
        nulls = inputs.select(pl.any_horizontal(pl.col(f).is_null() for f in names)).to_series().to_list()
        prepared = inputs.select(self.prepare())
        columns = [prepared[f].to_list() for f in names]
        values: list[float | None] = []
        statuses: list[str] = []
        explanations: list[str] = []
        for is_null, row in zip(nulls, zip(*columns, strict=True), strict=True):
            if is_null:
                values.append(None)
                statuses.append("unscored")
                explanations.append(
                    " and ".join(f"{f} is null" for f, v in zip(names, row, strict=True) if v is None)
                )
                continue
            try:
                value, explanation = self.score_values(*row)
                if not math.isfinite(value):
                    raise ValueError(f"non-finite value {value!r}")
            except Exception as exc:  # isolate the row: an error score, and the other rows go on
                values.append(None)
                statuses.append("error")
                explanations.append(f"{type(exc).__name__}: {exc}")
                continue
            values.append(float(value))
            statuses.append("scored")
            explanations.append(explanation)
        return pl.DataFrame(
            {"value": values, "status": statuses, "explanation": explanations}, schema=SCORE_SCHEMA
        )


def _compatible(dtype: pl.DataType, target: pl.DataType) -> bool:
    if dtype == pl.Null():
        return True
    if target == TEXT:
        return dtype in (pl.String(), pl.Categorical()) or isinstance(dtype, pl.Enum)
    return dtype.is_numeric()


def _constant(height: int, status: str, explanation: str) -> pl.DataFrame:
    return pl.DataFrame(
        {"value": [None] * height, "status": [status] * height, "explanation": [explanation] * height},
        schema=SCORE_SCHEMA,
    )


def check_arg(ok: bool, metric: str, message: str) -> None:
    """Refuse a bad metric argument with a ConfigError that names the metric and what is allowed."""
    if not ok:
        raise ConfigError(f"metric {metric!r}: {message}")
