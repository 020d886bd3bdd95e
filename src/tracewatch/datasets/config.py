"""How dataset specs are declared and parsed: frozen pydantic models, one style for every part of a spec.

A spec model (`SpecModel`) refuses unknown keys and names the allowed ones; its fields are documented by their
attribute docstrings and carry their bounds (`Range`), which is also what Prefect's run form shows, since the
flows take these models as parameters. However a spec arrives (a YAML mapping through `from_dict`, Python
keyword arguments, flow parameters), a problem is one `ConfigError` that says where it is
(`sampling.strategies[0] (uniform).rate`), what is wrong and what is expected.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from pydantic import BaseModel, ConfigDict, GetCoreSchemaHandler, GetJsonSchemaHandler, model_validator
from pydantic import ValidationError as PydanticValidationError
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, ErrorDetails, PydanticCustomError, core_schema

from tracewatch.errors import ConfigError

_OUT_OF_RANGE = "out_of_range"
_EXPECTED: dict[str, str] = {
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "an integer",
    "float_type": "a number",
    "float_parsing": "a number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
    "string_type": "a string",
    "tuple_type": "a list",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
}
"""Pydantic's error type -> what the value should have been, in the words of a YAML file."""


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
            raise config_error(exc, type(self)) from None

    # Validation of a nested spec still runs pydantic's own init (as for RootModel), so its errors keep their path.
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @classmethod
    def from_dict(cls, data: object) -> Self:
        """The spec a plain mapping (YAML, JSON, flow parameters) describes, or a ConfigError."""
        try:
            return cls.model_validate(data)
        except PydanticValidationError as exc:
            raise config_error(exc, cls) from None

    def to_dict(self) -> dict[str, Any]:
        """The plain-mapping form `from_dict` accepts (for run records, manifests and flow parameters)."""
        return self.model_dump(mode="json")

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(str(key) for key in data if key not in cls.model_fields)
            if unknown:
                allowed = sorted(set(cls.model_fields) - set(cls.implied))
                raise ValueError(f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(allowed)}")
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
            raise PydanticCustomError(_OUT_OF_RANGE, "must be {range}", {"range": self.text, "value": value})
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


def config_error(exc: PydanticValidationError, model: type[SpecModel]) -> ConfigError:
    """One ConfigError for everything pydantic found wrong with a `model`, a line per problem."""
    missing: dict[str, list[str]] = {}
    problems: list[str] = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        if error["type"] == "missing":
            missing.setdefault(_where(model, loc[:-1]), []).append(str(loc[-1]))
        else:
            problems.append(_problem(_where(model, loc), error, loc))
    lines = [f"{where}: missing required key(s) {', '.join(sorted(keys))}" for where, keys in missing.items()]
    return ConfigError("\n".join(lines + problems))


def _where(model: type[SpecModel], loc: tuple[int | str, ...]) -> str:
    """`sampling.strategies[0] (uniform).rate`: keys by dots, list positions in brackets, and after a position
    the member a union chose (a strategy's kind); within a spec nothing else follows a list position."""
    path = model.where
    for at, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif at and isinstance(loc[at - 1], int):
            path += f" ({part})"
        else:
            path += f".{part}" if path else part
    if model.where:
        return path
    return f"{model.label}: {path}" if path else model.label


def _problem(where: str, error: ErrorDetails, loc: tuple[int | str, ...]) -> str:
    kind, ctx, given = error["type"], error.get("ctx", {}), error.get("input")
    if kind == "value_error":
        return f"{where}: {ctx['error']}"
    if kind == _OUT_OF_RANGE:
        return f"{where}={ctx['value']!r} {error['msg']}"
    if kind == "union_tag_invalid":
        field = next((str(p) for p in reversed(loc) if isinstance(p, str)), "")
        noun = re.sub(r"ies$", "y", field).removesuffix("s")
        tags = ", ".join(sorted(re.findall(r"'([^']*)'", ctx["expected_tags"])))
        return (
            f"{where}: unknown {noun} {ctx['discriminator'].strip(chr(39))} {ctx['tag']!r}; allowed: {tags}"
        )
    if kind == "union_tag_not_found":
        return f"{where}: expected a mapping with a `{ctx['discriminator'].strip(chr(39))}`, got {given!r}"
    if kind == "literal_error":
        return f"{where}: expected {ctx['expected']}, got {given!r}"
    if kind in _EXPECTED:
        return f"{where}: expected {_EXPECTED[kind]}, got {given!r}"
    message = error["msg"]
    return f"{where}: {message[:1].lower()}{message[1:]}, got {given!r}"
