"""Config mappings (YAML, flow parameters) checked by pydantic, with its errors turned into one `ConfigError`
that says where the mistake is, what is wrong and what is expected (`tracewatch.config_errors`, as for every
config).

Config classes are pydantic dataclasses with the shared `STRICT_CONFIG` settings: unknown keys are refused, and no
value is coerced (a number written as a string, "yes" for true), so what is accepted is what the docs say.
Checks that need several fields, or a message of their own, raise `ConfigError` directly.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, TypeVar

from pydantic import ConfigDict, ValidationError

from tracewatch.config_errors import config_error, unknown_keys
from tracewatch.errors import ConfigError

T = TypeVar("T")

STRICT_CONFIG = ConfigDict(extra="forbid", strict=True, arbitrary_types_allowed=True)
"""The settings of every config class: unknown keys refused, nothing coerced (an int is still a float)."""


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
        raise config_error(error, label=where) from None


def check_keys(data: Mapping[Any, Any], allowed: frozenset[str], where: str) -> None:
    """ConfigError naming the keys of `data` that are not `allowed`, and the allowed ones."""
    unknown = unknown_keys(data, allowed)
    if unknown:
        raise ConfigError(f"{where}: {unknown}")
