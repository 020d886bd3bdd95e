"""Structure metrics: is the output JSON, does it match a JSON schema, is its length within bounds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Literal

import jsonschema
import polars as pl

from tracewatch.errors import ConfigError
from tracewatch.scoring.metrics._base import TEXT, ExprMetric, RowMetric, check_arg
from tracewatch.scoring.types import MissingPolicy

_OUTPUT_ONLY: Mapping[str, pl.DataType] = {"output": TEXT}


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# One decoder for every row: `json.loads(text, parse_constant=...)` would build a new one per call, which costs as
# much as the parsing.
_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def parse_json(text: str) -> tuple[Any, str | None]:
    """(document, None), or (None, why not) for text that is not strict JSON (NaN/Infinity are refused); the
    same documents and messages as `json.loads(text, parse_constant=...)`."""
    try:
        if text.startswith("\ufeff"):  # json.loads refuses a BOM before decoding; so do we, with its message
            raise json.JSONDecodeError("Unexpected UTF-8 BOM (decode using utf-8-sig)", text, 0)
        return _DECODER.decode(text), None
    except ValueError as exc:
        return None, f"not JSON: {exc}"


class IsJson(RowMetric):
    """1.0 when the whole output parses as strict JSON (RFC 8259, no NaN/Infinity)."""

    name = "is_json"
    fields = _OUTPUT_ONLY

    def score_values(self, *values: Any) -> tuple[float, str]:
        document, problem = parse_json(values[0])
        if problem is not None:
            return 0.0, problem
        return 1.0, f"valid JSON ({type(document).__name__})"


class JsonSchemaMatch(RowMetric):
    """1.0 when the output is JSON that validates against `schema` (the draft the schema's $schema names,
    else the latest jsonschema supports); the explanation carries the most relevant validation error."""

    name = "json_schema"
    fields = _OUTPUT_ONLY

    def __init__(self, schema: Mapping[str, Any], *, missing: MissingPolicy = "error"):
        super().__init__(missing=missing)
        check_arg(isinstance(schema, Mapping), self.name, "schema must be a JSON schema object")
        validator_class = jsonschema.validators.validator_for(schema)
        try:
            validator_class.check_schema(schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"metric {self.name!r}: schema is not a valid JSON schema: {exc.message}"
            ) from exc
        self.schema = dict(schema)
        self._validator = validator_class(self.schema)

    def _own_args(self) -> dict[str, Any]:
        return {"schema": self.schema}

    def score_values(self, *values: Any) -> tuple[float, str]:
        document, problem = parse_json(values[0])
        if problem is not None:
            return 0.0, problem
        error = jsonschema.exceptions.best_match(self._validator.iter_errors(document))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            return 0.0, f"schema violation at {where}: {error.message}"
        return 1.0, "matches the schema"


LengthUnit = Literal["chars", "words"]


class LengthBounds(ExprMetric):
    """1.0 when the output's length (characters, or whitespace-separated words) is within [min, max]."""

    name = "length"
    fields = _OUTPUT_ONLY

    def __init__(
        self,
        min: int | None = None,
        max: int | None = None,
        unit: LengthUnit = "chars",
        *,
        missing: MissingPolicy = "error",
    ):
        super().__init__(missing=missing)
        for label, bound in (("min", min), ("max", max)):
            ok = bound is None or (isinstance(bound, int) and not isinstance(bound, bool) and bound >= 0)
            check_arg(ok, self.name, f"{label} must be a non-negative integer or null, got {bound!r}")
        check_arg(min is not None or max is not None, self.name, "give min, max or both")
        check_arg(min is None or max is None or min <= max, self.name, f"min {min} is above max {max}")
        check_arg(unit in ("chars", "words"), self.name, f"unit must be 'chars' or 'words', got {unit!r}")
        self.min, self.max, self.unit = min, max, unit

    def _own_args(self) -> dict[str, Any]:
        return {"min": self.min, "max": self.max, "unit": self.unit}

    def _length(self) -> pl.Expr:
        output = pl.col("output")
        return output.str.len_chars() if self.unit == "chars" else output.str.count_matches(r"\S+")

    def value_expr(self) -> pl.Expr:
        length = self._length()
        inside = pl.lit(True)
        if self.min is not None:
            inside = inside & (length >= self.min)
        if self.max is not None:
            inside = inside & (length <= self.max)
        return inside

    def explanation_expr(self) -> pl.Expr:
        bounds = f"[{self.min or 0}, {'inf' if self.max is None else self.max}]"
        where = pl.when(pl.col("_value") > 0).then(pl.lit("within")).otherwise(pl.lit("outside"))
        return pl.format("{} {} {} {}", self._length(), pl.lit(self.unit), where, pl.lit(bounds))
