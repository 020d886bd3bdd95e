"""Matching metrics, all polars expressions: normalised exact match, substring containment, regex match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Self

import polars as pl
from pydantic import Field, model_validator

from tracewatch.scoring._config import Expect
from tracewatch.scoring.metrics._base import TEXT, ExprMetric, Flag, MetricArgs
from tracewatch.scoring.metrics._text import squad_normalise

_OUTPUT = pl.col("output")
_EXPECTED = pl.col("expected")


def _verdict(passed: str, failed: str) -> pl.Expr:
    return pl.when(pl.col("_value") > 0).then(pl.lit(passed)).otherwise(pl.lit(failed))


class ExactMatch(ExprMetric):
    """1.0 when output and expected are equal after SQuAD normalisation (case, punctuation, articles, spaces)."""

    name = "exact_match"
    fields: Mapping[str, pl.DataType] = {"output": TEXT, "expected": TEXT}

    def value_expr(self) -> pl.Expr:
        return squad_normalise(_OUTPUT) == squad_normalise(_EXPECTED)

    def explanation_expr(self) -> pl.Expr:
        return _verdict("normalised output equals expected", "normalised output differs from expected")


class ContainsArgs(MetricArgs):
    """The arguments of `contains`."""

    text: Annotated[str | None, Expect("a string")] = None
    """The text to look for; without it, the item's expected output."""
    case_sensitive: Flag = False


class Contains(ExprMetric):
    """1.0 when the output contains `text` (or, without `text`, the item's expected output) as a substring."""

    name = "contains"
    Args = ContainsArgs
    config: ContainsArgs

    @property
    def fields(self) -> Mapping[str, pl.DataType]:
        return {"output": TEXT} if self.config.text is not None else {"output": TEXT, "expected": TEXT}

    def _fold(self, expr: pl.Expr) -> pl.Expr:
        return expr if self.config.case_sensitive else expr.str.to_lowercase()

    def value_expr(self) -> pl.Expr:
        text = self.config.text
        needle = _EXPECTED if text is None else pl.lit(text)
        return self._fold(_OUTPUT).str.contains(self._fold(needle), literal=True)

    def explanation_expr(self) -> pl.Expr:
        what = "expected" if self.config.text is None else repr(self.config.text)
        return _verdict(f"output contains {what}", f"output does not contain {what}")


class RegexArgs(MetricArgs):
    """The arguments of `regex`."""

    pattern: Annotated[str, Field(min_length=1), Expect("a non-empty string")]
    """Rust regex syntax, as polars uses."""
    fullmatch: Flag = False
    """Anchor the pattern at both ends of the output."""

    @property
    def effective(self) -> str:
        """The pattern as matched: anchored at both ends for `fullmatch`."""
        return rf"\A(?:{self.pattern})\z" if self.fullmatch else self.pattern

    @model_validator(mode="after")
    def _compiles(self) -> Self:
        try:
            pl.select(pl.lit("").str.contains(self.effective)).item()
        except pl.exceptions.PolarsError as exc:
            raise ValueError(
                f"pattern {self.pattern!r} is not a valid (Rust syntax) regular expression: {exc}"
            ) from None
        return self


class Regex(ExprMetric):
    """1.0 when the output matches `pattern` (Rust regex syntax, as polars uses); `fullmatch` anchors both ends."""

    name = "regex"
    Args = RegexArgs
    config: RegexArgs
    fields: Mapping[str, pl.DataType] = {"output": TEXT}

    def value_expr(self) -> pl.Expr:
        return _OUTPUT.str.contains(self.config.effective)

    def explanation_expr(self) -> pl.Expr:
        how = "fully matches" if self.config.fullmatch else "matches"
        pattern = self.config.pattern
        return _verdict(f"output {how} {pattern!r}", f"output does not match {pattern!r}")
