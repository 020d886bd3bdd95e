"""How scoring configs are declared and parsed: frozen pydantic models (a metric's arguments, a judge's options,
the nightly trace scoring), one style for all of them.

A `ScoringModel` refuses unknown keys and names the required ones in the words of its config (`unknown_words`,
`missing_words`: `metric 'regex' needs argument(s) ['pattern']`); a field states what it takes with `Expect`, so
a wrong value reads `metric 'latency': max_ms='1s' is not allowed; max_ms must be a non-negative number`. Every
problem becomes one `ConfigError` through `tracewatch.config_errors`, attributed to a label (`metric 'regex'`,
`trace scoring`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, ValidationError, model_validator
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from tracewatch.config_errors import CLAUSE, EXPECTED, config_error


@dataclass(frozen=True)
class Expect:
    """What a field takes, in words (`Annotated[float, Field(ge=0), Expect("a non-negative number")]`): any
    failed check of the field's type or bounds is reported as `<field>=<value> is not allowed; <field> must be
    <what>`, instead of pydantic's own message."""

    what: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_wrap_validator_function(self._check, handler(source))

    def _check(self, value: Any, handler: core_schema.ValidatorFunctionWrapHandler) -> Any:
        try:
            return handler(value)
        except ValidationError:
            raise PydanticCustomError(
                EXPECTED, "must be {expected}", {"expected": self.what, "value": value}
            ) from None


class ScoringModel(BaseModel):
    """A scoring config: frozen, unknown keys refused, values not coerced (a number written as text is wrong),
    every problem a ConfigError (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid", strict=True, use_attribute_docstrings=True)

    label: ClassVar[str] = "scoring config"
    """What a problem is attributed to when `parse` is given no label."""
    unknown_words: ClassVar[str] = "has unknown key(s) {unknown}; allowed: {allowed}"
    """How unknown keys are refused, as a clause after the label; `{unknown}` and `{allowed}` are lists of
    keys (allowed: `none` if empty)."""
    missing_words: ClassVar[str] = "needs {missing}"
    """How absent required keys are reported, as a clause after the label; `{missing}` is the list of keys."""

    @classmethod
    def accepted_keys(cls) -> dict[str, bool]:
        """The keys a config may have (a field's alias where it has one) -> whether it is required."""
        return {field.alias or name: field.is_required() for name, field in cls.model_fields.items()}

    @classmethod
    def parse(cls, data: object, label: str | None = None) -> Self:
        """The config a plain mapping (YAML, JSON, keyword arguments) describes, or one ConfigError attributed
        to `label` (default: the class's)."""
        try:
            return cls.model_validate(data)
        except ValidationError as exc:
            raise config_error(exc, label=cls.label if label is None else label) from None

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            keys = cls.accepted_keys()
            unknown = sorted(str(key) for key in data if key not in keys)
            if unknown:
                allowed: list[str] | str = sorted(keys) or "none"
                raise PydanticCustomError(CLAUSE, cls.unknown_words.format(unknown=unknown, allowed=allowed))
            missing = sorted(key for key, required in keys.items() if required and key not in data)
            if missing:
                raise PydanticCustomError(CLAUSE, cls.missing_words.format(missing=missing))
        return data
