"""Structure metrics: is the output JSON, does it match a JSON schema, is its length within bounds."""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import cached_property
from typing import Annotated, Any, Literal, Self

import jsonschema
import polars as pl
from pydantic import Field, NonNegativeInt, model_validator

from tracewatch.scoring._config import Expect
from tracewatch.scoring.metrics._base import TEXT, ExprMetric, MetricArgs, RowMetric

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


class JsonSchemaArgs(MetricArgs):
    """The arguments of `json_schema`."""

    json_schema: Annotated[Mapping[str, Any], Expect("a JSON schema object")] = Field(alias="schema")
    """The JSON schema the output must validate against (written `schema:` in a config)."""

    @model_validator(mode="after")
    def _valid_schema(self) -> Self:
        try:
            jsonschema.validators.validator_for(self.json_schema).check_schema(self.json_schema)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"schema is not a valid JSON schema: {exc.message}") from None
        return self


class JsonSchemaMatch(RowMetric):
    """1.0 when the output is JSON that validates against `schema` (the draft the schema's $schema names,
    else the latest jsonschema supports); the explanation carries the most relevant validation error."""

    name = "json_schema"
    Args = JsonSchemaArgs
    config: JsonSchemaArgs
    fields = _OUTPUT_ONLY

    @cached_property
    def _validator(self) -> Any:
        schema = self.config.json_schema
        return jsonschema.validators.validator_for(schema)(schema)

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
Bound = Annotated[NonNegativeInt | None, Expect("a non-negative integer or null")]


class LengthArgs(MetricArgs):
    """The arguments of `length`: at least one bound."""

    min: Bound = None
    max: Bound = None
    unit: Annotated[LengthUnit, Expect("'chars' or 'words'")] = "chars"
    """What is counted: characters, or whitespace-separated words."""

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.min is None and self.max is None:
            raise ValueError("give min, max or both")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min} is above max {self.max}")
        return self


class LengthBounds(ExprMetric):
    """1.0 when the output's length (characters, or whitespace-separated words) is within [min, max]."""

    name = "length"
    Args = LengthArgs
    config: LengthArgs
    fields = _OUTPUT_ONLY

    def _length(self) -> pl.Expr:
        output = pl.col("output")
        chars = self.config.unit == "chars"
        return output.str.len_chars() if chars else output.str.count_matches(r"\S+")

    def value_expr(self) -> pl.Expr:
        length, low, high = self._length(), self.config.min, self.config.max
        inside = pl.lit(True)
        if low is not None:
            inside = inside & (length >= low)
        if high is not None:
            inside = inside & (length <= high)
        return inside

    def explanation_expr(self) -> pl.Expr:
        low, high = self.config.min, self.config.max
        bounds = f"[{low or 0}, {'inf' if high is None else high}]"
        where = pl.when(pl.col("_value") > 0).then(pl.lit("within")).otherwise(pl.lit("outside"))
        return pl.format("{} {} {} {}", self._length(), pl.lit(self.config.unit), where, pl.lit(bounds))
