"""How dataset specs are declared and parsed: frozen pydantic models, one style for every part of a spec.

A spec model (`SpecModel`) refuses unknown keys and names the allowed ones; its fields are documented by their
attribute docstrings and carry their bounds (`Range`), which is also what Prefect's run form shows, since the
flows take these models as parameters. However a spec arrives (a YAML mapping through `from_dict`, Python
keyword arguments, flow parameters), a problem is one `ConfigError` that says where it is
(`sampling.strategies[0] (uniform).rate`), what is wrong and what is expected (`tracewatch.config_errors`,
shared with the llm and experiments configs).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from tracewatch.config_errors import OUT_OF_RANGE, config_error, unknown_keys


class SpecModel(BaseModel):
    """A part of a dataset spec: frozen, unknown keys refused, every problem a ConfigError (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_attribute_docstrings=True)

    where: ClassVar[str] = ""
    """Where the model sits in a dataset spec (`sampling.dedup`): the start of the paths its errors name."""
    label: ClassVar[str] = "dataset spec"
    """What a problem is attributed to when `where` is empty (the spec itself, a strategy built in Python)."""
    implied: ClassVar[tuple[str, ...]] = ()
    """Keys that are not listed as allowed in an unknown-key message (a strategy's `kind`: it chose the model)."""

    def __init__(self, /, **data: Any) -> None:
        try:
            super().__init__(**data)
        except PydanticValidationError as exc:
            raise config_error(exc, self.where, self.label) from None

    # Validation of a nested spec still runs pydantic's own init (as for RootModel), so its errors keep their path.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """The spec a plain mapping (YAML, JSON, flow parameters) describes, or a ConfigError."""
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise config_error(exc, cls.where, cls.label) from None

    def to_dict(self) -> dict[str, Any]:
        """The plain-mapping form `from_dict` accepts (for run records, manifests and flow parameters)."""
        return self.model_dump(mode="json")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            allowed = set(cls.model_fields) - set(cls.implied)
            unknown = unknown_keys(data, cls.model_fields, allowed)
            if unknown:
                raise ValueError(unknown)
        return data


@dataclass(frozen=True)
class Range:
    """Bounds of a number field (`Annotated[float, Range(gt=0, le=1)]`), checked with a message that states the
    whole range (`near_threshold=1.5 must be in (0, 1]`) and shown in the JSON schema (the form's bounds)."""

    ge: float | None = None
    gt: float | None = None
    le: float | None = None

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        return core_schema.no_info_after_validator_function(self._check, handler(source))

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        bounds = {"minimum": self.ge, "exclusiveMinimum": self.gt, "maximum": self.le}
        json_schema.update({key: value for key, value in bounds.items() if value is not None})
        return json_schema

    def _check(self, value: float) -> float:
        low = (self.ge is not None and value < self.ge) or (self.gt is not None and value <= self.gt)
        if low or (self.le is not None and value > self.le):
            raise PydanticCustomError(OUT_OF_RANGE, "must be {range}", {"range": self.text, "value": value})
        return value

    @property
    def text(self) -> str:
        """`in (0, 1]`, `>= 0`, ..."""
        lower = f"[{self.ge:g}" if self.ge is not None else f"({self.gt:g}" if self.gt is not None else None
        if lower is not None and self.le is not None:
            return f"in {lower}, {self.le:g}]"
        if self.le is not None:
            return f"<= {self.le:g}"
        return f">= {self.ge:g}" if self.ge is not None else f"> {self.gt:g}"


class AnyOfInForms:
    """A tagged union's JSON schema as `anyOf` its members, without the discriminator: Prefect's run form offers
    `anyOf` as a choice and does not render `oneOf`. Validation still picks the member by its tag."""

    def __get_pydantic_json_schema__(
        self, schema: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        json_schema = handler(schema)
        if "oneOf" in json_schema:
            json_schema["anyOf"] = json_schema.pop("oneOf")
            json_schema.pop("discriminator", None)
        return json_schema
