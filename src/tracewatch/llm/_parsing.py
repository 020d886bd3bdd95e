"""Config mappings (YAML, flow parameters) checked by pydantic, with its errors turned into one `ConfigError`
that says where the mistake is, what is wrong and what is expected.

Config classes are pydantic dataclasses with the shared `STRICT_CONFIG` settings: unknown keys are refused, and no
value is coerced (a number written as a string, "yes" for true), so what is accepted is what the docs say.
Checks that need several fields, or a message of their own, raise `ConfigError` directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict, ValidationError
from pydantic_core import ErrorDetails

from tracewatch.errors import ConfigError

T = TypeVar("T")

STRICT_CONFIG = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)
"""The settings of every config class: unknown keys refused, nothing coerced (an int is still a float)."""

_EXPECTED: Mapping[str, str] = {
    "string_type": "must be a string",
    "bool_type": "must be true or false",
    "float_type": "must be a number",
    "int_type": "must be an integer",
    "dict_type": "must be a mapping",
    "list_type": "must be a list",
    "tuple_type": "must be a list",
    "mapping_type": "must be a mapping",
    "greater_than": "must be > {gt}",
    "greater_than_equal": "must be >= {ge}",
    "less_than_equal": "must be <= {le}",
    "too_short": "must have at least {min_length} entry",
}


def config_keys(kind: type[Any]) -> frozenset[str]:
    """The keys a config class takes (its fields that are set from outside)."""
    return frozenset(f.name for f in dataclasses.fields(kind) if f.init)


def parse_config(kind: type[T], data: object, where: str, *, allowed: frozenset[str] | None = None) -> T:
    """`kind` (a pydantic dataclass) from a mapping, or a `ConfigError` starting with `where`. `allowed` is the
    list of keys an unknown-key error offers (default: the keys of `kind`)."""
    keys = allowed if allowed is not None else config_keys(kind)
    if not isinstance(data, Mapping):
        raise ConfigError(
            f"{where}: expected a mapping of {', '.join(sorted(keys))}, got {type(data).__name__}"
        )
    check_keys(data, keys, where)
    try:
        return kind(**data)
    except ValidationError as error:
        raise ConfigError(explain(error, where)) from None


def check_keys(data: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    """ConfigError naming the keys of `data` that are not `allowed`, and the allowed ones."""
    unknown = sorted(str(k) for k in data if not isinstance(k, str) or k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def explain(error: ValidationError, where: str) -> str:
    """One line for a pydantic error: each problem with its key and what is expected."""
    return f"{where}: " + "; ".join(_problem(d) for d in error.errors(include_url=False))


def _problem(detail: ErrorDetails) -> str:
    key = ".".join(str(part) for part in detail["loc"])
    if detail["type"] in ("missing", "missing_keyword_only_argument", "missing_argument"):
        return f"`{key}` is required"
    expected = _EXPECTED.get(detail["type"])
    if expected is None:
        message = detail["msg"]
        expected = message[:1].lower() + message[1:]
    else:
        expected = expected.format(**detail.get("ctx", {}))
    return f"{key}={detail['input']!r} {expected}" if key else expected
