"""Matching metrics, all polars expressions: normalised exact match, substring containment, regex match."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.scoring.metrics._base import TEXT, ExprMetric, check_arg
from tracewatch.scoring.metrics._text import squad_normalise
from tracewatch.scoring.types import MissingPolicy

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


class Contains(ExprMetric):
    """1.0 when the output contains `text` (or, without `text`, the item's expected output) as a substring."""

    name = "contains"

    def __init__(
        self, text: str | None = None, case_sensitive: bool = False, *, missing: MissingPolicy = "error"
    ):
        super().__init__(missing=missing)
        check_arg(text is None or isinstance(text, str), self.name, f"text must be a string, got {text!r}")
        check_arg(isinstance(case_sensitive, bool), self.name, "case_sensitive must be true or false")
        self.text = text
        self.case_sensitive = case_sensitive

    @property
    def fields(self) -> Mapping[str, pl.DataType]:
        return {"output": TEXT} if self.text is not None else {"output": TEXT, "expected": TEXT}

    def _own_args(self) -> dict[str, Any]:
        return {"text": self.text, "case_sensitive": self.case_sensitive}

    def _fold(self, expr: pl.Expr) -> pl.Expr:
        return expr if self.case_sensitive else expr.str.to_lowercase()

    def value_expr(self) -> pl.Expr:
        needle = _EXPECTED if self.text is None else pl.lit(self.text)
        return self._fold(_OUTPUT).str.contains(self._fold(needle), literal=True)

    def explanation_expr(self) -> pl.Expr:
        what = "expected" if self.text is None else repr(self.text)
        return _verdict(f"output contains {what}", f"output does not contain {what}")


class Regex(ExprMetric):
    """1.0 when the output matches `pattern` (Rust regex syntax, as polars uses); `fullmatch` anchors both ends."""

    name = "regex"
    fields: Mapping[str, pl.DataType] = {"output": TEXT}

    def __init__(self, pattern: str, fullmatch: bool = False, *, missing: MissingPolicy = "error"):
        super().__init__(missing=missing)
        check_arg(isinstance(pattern, str) and pattern != "", self.name, "pattern must be a non-empty string")
        check_arg(isinstance(fullmatch, bool), self.name, "fullmatch must be true or false")
        self.pattern = pattern
        self.fullmatch = fullmatch
        self._effective = rf"\A(?:{pattern})\z" if fullmatch else pattern
        try:
            pl.select(pl.lit("").str.contains(self._effective)).item()
        except pl.exceptions.PolarsError as exc:
            raise ConfigError(
                f"metric {self.name!r}: pattern {pattern!r} is not a valid (Rust syntax) regular expression: {exc}"
            ) from exc

    def _own_args(self) -> dict[str, Any]:
        return {"pattern": self.pattern, "fullmatch": self.fullmatch}

    def value_expr(self) -> pl.Expr:
        return _OUTPUT.str.contains(self._effective)

    def explanation_expr(self) -> pl.Expr:
        how = "fully matches" if self.fullmatch else "matches"
        return _verdict(f"output {how} {self.pattern!r}", f"output does not match {self.pattern!r}")
