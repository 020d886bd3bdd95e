"""Build a frozen config dataclass from a plain dict (YAML, Prefect parameters) with messages that say what is allowed.

Only the field types the sampling spec uses are understood: str, int, float, bool, their `| None` forms,
`tuple[str, ...]` (from a list or one string) and `Mapping[str, float]` (from a dict).
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Mapping
from typing import Any, TypeVar

from tracewatch.errors import ConfigError

T = TypeVar("T")


def build(cls: type[T], data: object, where: str) -> T:
    """`cls(**data)` after checking keys and value types; every problem raises ConfigError naming `where`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping, got {type(data).__name__}")
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}  # type: ignore[arg-type]
    unknown = sorted(str(k) for k in data if k not in fields)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(fields))}"
        )
    missing = sorted(
        name
        for name, f in fields.items()
        if name not in data and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
    )
    if missing:
        raise ConfigError(f"{where}: missing required key(s) {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    values = {name: convert(value, hints[name], f"{where}.{name}") for name, value in data.items()}
    return cls(**values)


def convert(value: object, hint: Any, where: str) -> Any:
    """`value` as the type `hint` describes, or ConfigError."""
    if _is_optional(hint):
        if value is None:
            return None
        hint = next(arg for arg in typing.get_args(hint) if arg is not type(None))
    origin = typing.get_origin(hint)
    if origin is tuple:
        return _string_tuple(value, where)
    if origin is Mapping or hint is Mapping:
        return _float_mapping(value, where)
    if hint is bool:
        return _require(value, isinstance(value, bool), "true or false", where)
    if hint is int:
        return _require(value, isinstance(value, int) and not isinstance(value, bool), "an integer", where)
    if hint is float:
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ConfigError(f"{where}: expected a number, got {value!r}")
        return float(value)
    if hint is str:
        return _require(value, isinstance(value, str), "a string", where)
    raise TypeError(f"{where}: unsupported config field type {hint!r}")


def _is_optional(hint: Any) -> bool:
    return isinstance(hint, types.UnionType) and type(None) in typing.get_args(hint)


def _require(value: object, ok: bool, expected: str, where: str) -> object:
    if not ok:
        raise ConfigError(f"{where}: expected {expected}, got {value!r}")
    return value


def _string_tuple(value: object, where: str) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise ConfigError(f"{where}: expected a list of strings, got {value!r}")
    return tuple(items)


def _float_mapping(value: object, where: str) -> Mapping[str, float]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of name to number, got {value!r}")
    return {str(k): float(convert(v, float, f"{where}.{k}")) for k, v in value.items()}
