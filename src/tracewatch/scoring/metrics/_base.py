"""What every heuristic metric shares: field checks, null handling, per-row error isolation, both scoring paths.

A metric states the item fields it reads and their types. `score_frame` is the real path (vectorised for
`ExprMetric` and `ArrayMetric`, a tight loop for `RowMetric`); scoring a single item goes through a one-row frame,
so the two paths cannot disagree.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Iterable, Mapping, Sequence
from typing import Annotated, Any, ClassVar

import numpy as np
import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.scoring._config import Expect, ScoringModel
from tracewatch.scoring.types import SCORE_SCHEMA, MissingPolicy, Score, ScorerSpec

TEXT = pl.String()
NUMBER = pl.Float64()


class MetricArgs(ScoringModel):
    """A metric's arguments: `missing`, and in a subclass the metric's own (checked before anything is scored)."""

    unknown_words = "has no argument(s) {unknown}; it takes {allowed}"
    missing_words = "needs argument(s) {missing}"

    missing: Annotated[MissingPolicy, Expect("'error' or 'unscored'")] = "error"
    """What the metric does when the items lack a field it reads: stop with a ConfigError, or mark them unscored."""

    @classmethod
    def own_keys(cls) -> list[str]:
        """The metric's own argument keys (all but `missing`), in their order: the ones taken by position."""
        return [key for key in cls.accepted_keys() if key not in MetricArgs.model_fields]


Flag = Annotated[bool, Expect("true or false")]
"""A metric argument that is on or off."""


class Metric(ABC):
    """A heuristic scorer: satisfies both `Scorer` (one item) and `FrameScorer` (a frame of items).

    Its arguments are its `Args` model's fields: the metric's own in their order, by position or by name, and
    `missing` by name (`Regex("^a", fullmatch=True, missing="unscored")`); a wrong one is a ConfigError."""

    name: ClassVar[str]
    Args: ClassVar[type[MetricArgs]] = MetricArgs
    config: MetricArgs

    def __init__(self, *positional: Any, **named: Any) -> None:
        own = self.Args.own_keys()
        label = f"metric {self.name!r}"
        if len(positional) > len(own):
            raise ConfigError(f"{label} takes {len(own)} positional argument(s) {own}, got {len(positional)}")
        given = dict(zip(own, positional, strict=False))
        twice = sorted(set(given) & set(named))
        if twice:
            raise ConfigError(f"{label}: argument(s) {twice} given by position and by name")
        self.config = self.Args.parse({**given, **named}, label)

    @property
    def missing(self) -> MissingPolicy:
        return self.config.missing

    @property
    @abstractmethod
    def fields(self) -> Mapping[str, pl.DataType]:
        """Item field -> the type it is read as."""

    @property
    def args(self) -> Mapping[str, Any]:
        """The arguments as a config writes them (every one, defaults included)."""
        return self.config.model_dump(by_alias=True)

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
        null_reason = pl.coalesce([_unknown_reason(f, t) for f, t in self.fields.items()])
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


def _unknown_reason(field: str, dtype: pl.DataType) -> pl.Expr:
    """Why a field's value is unknown (null; or NaN or +/-inf for a float field), else null. A NaN latency is
    not a slow one: it leaves the row unscored instead of failing a threshold."""
    col = pl.col(field)
    null = pl.when(col.is_null()).then(pl.lit(f"{field} is null"))
    if not dtype.is_float():
        return null
    return null.when(~col.is_finite()).then(pl.format(f"{field} is {{}}, not a finite number", col))


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


class ArrayMetric(Metric):
    """A metric computed over whole columns at once (polars to prepare the text, numpy to count) for the rows
    whose fields are all non-null, in batches of `batch_rows` rows. Should a batch raise, its rows are retried one
    at a time, so a failure stays in the row that caused it, as with `RowMetric`."""

    batch_rows: ClassVar[int] = 4096
    """Rows per `score_columns` call. Batches keep numpy's temporaries a few MB (cache-sized, reused by the
    allocator instead of fresh pages for each array); much larger batches measured slower, not faster."""

    @abstractmethod
    def score_columns(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series]:
        """(values, explanations), one of each per row of `inputs`, whose fields are never null."""

    def _score_inputs(self, inputs: pl.DataFrame) -> pl.DataFrame:
        fields = [pl.col(f) for f in self.fields]
        null_reason = inputs.select(
            pl.when(pl.any_horizontal(f.is_null() for f in fields)).then(
                pl.concat_str(
                    [pl.when(f.is_null()).then(pl.lit(f"{f.meta.output_name()} is null")) for f in fields],
                    separator=" and ",
                    ignore_nulls=True,
                )
            )
        ).to_series()
        complete = np.flatnonzero(null_reason.is_null().to_numpy())
        values = np.full(inputs.height, np.nan)
        explanations = null_reason.cast(pl.String)
        errors = pl.Series([None] * inputs.height, dtype=pl.String)
        complete_inputs = inputs[complete]
        batch_explanations: list[pl.Series] = []
        failures: dict[int, str] = {}
        for begin in range(0, complete.size, self.batch_rows):
            scored, why, failed = self._score_complete(complete_inputs[begin : begin + self.batch_rows])
            values[complete[begin : begin + scored.size]] = scored
            batch_explanations.append(why)
            for row in np.flatnonzero(~np.isfinite(scored)):
                failed.setdefault(int(row), f"ValueError: non-finite value {float(scored[row])!r}")
            failures.update({int(complete[begin + row]): reason for row, reason in failed.items()})
        if complete.size:
            explanations = explanations.scatter(complete, pl.concat(batch_explanations))
        if failures:
            errors = errors.scatter(list(failures), list(failures.values()))
        return (
            pl.DataFrame({"value": values, "_null": null_reason, "_error": errors, "_why": explanations})
            .select(
                value=pl.when(pl.col("_null").is_null() & pl.col("_error").is_null()).then(pl.col("value")),
                status=pl.when(pl.col("_null").is_not_null())
                .then(pl.lit("unscored"))
                .when(pl.col("_error").is_not_null())
                .then(pl.lit("error"))
                .otherwise(pl.lit("scored")),
                explanation=pl.coalesce("_error", "_why"),
            )
            .cast(pl.Schema(SCORE_SCHEMA))
        )

    def _score_complete(self, inputs: pl.DataFrame) -> tuple[np.ndarray, pl.Series, dict[int, str]]:
        """`score_columns` over the batch; if that raises, row by row: (values, explanations, row -> error)."""
        try:
            values, explanations = self.score_columns(inputs)
            return np.asarray(values, dtype=np.float64), explanations, {}
        except Exception:  # find the row(s) at fault below; the others keep their scores
            pass
        values = np.full(inputs.height, np.nan)
        texts: list[str | None] = [None] * inputs.height
        failed: dict[int, str] = {}
        for row in range(inputs.height):
            try:
                value, explanation = self.score_columns(inputs[row : row + 1])
                values[row], texts[row] = float(value[0]), explanation[0]
            except Exception as exc:  # isolate the row: an error score, and the other rows go on
                failed[row] = f"{type(exc).__name__}: {exc}"
        return values, pl.Series(texts, dtype=pl.String), failed


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
