"""Load an expectation suite written in Great Expectations' own JSON format, without importing GX.

The suite file is the single source of truth: `rowchecks` compiles it to polars for every row of a day and
`gx_runner` hands the very same JSON to real Great Expectations for a bounded sample and Data Docs. Parsing it
here (pure JSON, no GX import) keeps the fast path free of GX's multi-second import and lets a bad suite fail
at load time with a message that names what is wrong and what is allowed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from types import MappingProxyType
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.paths import shipped_data

logger = logging.getLogger(__name__)

TRACE_SUITE = "expectations/traces.json"
"""The shipped trace suite, relative to the project's `data/` folder."""

PARAMETER_KEY = "$PARAMETER"

_COMMON_KWARGS = frozenset({"column", "mostly"})
_RANGE_KWARGS = frozenset({"min_value", "max_value", "strict_min", "strict_max"})

SUPPORTED_KWARGS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        "expect_column_values_to_not_be_null": _COMMON_KWARGS,
        "expect_column_values_to_be_unique": _COMMON_KWARGS,
        "expect_column_values_to_be_between": _COMMON_KWARGS | _RANGE_KWARGS,
        "expect_column_values_to_be_in_set": _COMMON_KWARGS | {"value_set"},
        "expect_column_value_lengths_to_be_between": _COMMON_KWARGS | _RANGE_KWARGS,
        "expect_column_values_to_match_regex": _COMMON_KWARGS | {"regex"},
        "expect_column_values_to_not_match_regex": _COMMON_KWARGS | {"regex"},
        "expect_column_values_to_be_json_parseable": _COMMON_KWARGS,
        "expect_column_values_to_be_finite": _COMMON_KWARGS | {"element_field"},
    }
)
"""Expectation type -> the kwargs the polars compiler understands. Anything else is refused, because an
ignored kwarg (say `row_condition`) would silently make our verdict differ from GX's."""

ROW_ONLY_TYPES: frozenset[str] = frozenset({"expect_column_values_to_be_finite"})
"""Types only the row checks run, left out of what real GX is given (`Suite.for_gx`). GX reads a float column
through pandas, where NaN *is* null, so no GX expectation can fail a NaN while letting a null (an unknown cost)
pass; nor can it look inside a list column (feedback values). GX still sees infinities: they break the
`..._to_be_between` bounds that sit next to each finiteness rule."""

SUPPORTED_TYPES: tuple[str, ...] = tuple(SUPPORTED_KWARGS)

# Keys GX writes next to "type"/"kwargs"/"meta" in a serialized expectation; harmless to carry along.
_EXPECTATION_KEYS = frozenset(
    {"type", "kwargs", "meta", "id", "severity", "notes", "description", "rendered_content"}
)
_SUITE_KEYS = frozenset({"name", "id", "expectations", "meta", "notes", "suite_parameters"})


@dataclass(frozen=True)
class Expectation:
    """One expectation of a suite.

    `kwargs` are the GX kwargs exactly as written in the suite file (including `column`); values may be
    `{"$PARAMETER": name}` placeholders that are resolved per run. `id` and `description` come from the
    expectation's `meta` and are stable: they key results and are the quarantine reason text.
    """

    type: str
    column: str
    id: str
    description: str
    kwargs: Mapping[str, Any]
    meta: Mapping[str, Any]

    @property
    def mostly(self) -> float:
        """GX's `mostly`: the fraction of non-null rows that must pass for the expectation to succeed."""
        return float(self.kwargs.get("mostly", 1.0))

    def resolved(self, name: str, parameters: Mapping[str, Any]) -> Any:
        """The value of kwarg `name` with any `$PARAMETER` placeholder replaced from `parameters`."""
        return resolve_parameter(self.kwargs.get(name), parameters, where=f"{self.id}.{name}")

    def to_gx_dict(self) -> dict[str, Any]:
        """This expectation in GX's serialized form (`type`, `kwargs`, `meta`)."""
        return {"type": self.type, "kwargs": _thaw(self.kwargs), "meta": _thaw(self.meta)}


@dataclass(frozen=True)
class Suite:
    """An expectation suite: a name and its expectations in file order."""

    name: str
    expectations: tuple[Expectation, ...]
    meta: Mapping[str, Any]

    @property
    def columns(self) -> tuple[str, ...]:
        """The columns the suite reads, in first-use order (the only ones GX needs to see)."""
        return tuple(dict.fromkeys(e.column for e in self.expectations))

    @property
    def parameter_names(self) -> frozenset[str]:
        """Names of every `$PARAMETER` the suite refers to; each must be supplied per run."""
        return frozenset(
            str(v[PARAMETER_KEY]) for e in self.expectations for v in e.kwargs.values() if _is_parameter(v)
        )

    def for_gx(self) -> Suite:
        """This suite without its `ROW_ONLY_TYPES` expectations: the part real GX can run."""
        kept = tuple(e for e in self.expectations if e.type not in ROW_ONLY_TYPES)
        return self if len(kept) == len(self.expectations) else Suite(self.name, kept, self.meta)

    def by_id(self) -> dict[str, Expectation]:
        """Expectations keyed by their stable id."""
        return {e.id: e for e in self.expectations}

    def to_gx_dict(self) -> dict[str, Any]:
        """The suite in GX's ExpectationSuite JSON form (plain dicts and lists)."""
        return {
            "name": self.name,
            "expectations": [e.to_gx_dict() for e in self.expectations],
            "meta": _thaw(self.meta),
        }


def trace_suite_path() -> Path:
    """Where the shipped trace suite (`data/expectations/traces.json`) is, in a checkout or a wheel."""
    return shipped_data(TRACE_SUITE)


def day_parameters(day: date) -> dict[str, datetime]:
    """Suite parameters for a partition day: `day_start` (00:00 UTC) and `day_end` (next day 00:00 UTC).

    `day_end` is exclusive when the suite says `strict_max: true`, so the day is the half-open [start, end).
    """
    start = datetime.combine(day, time(0), tzinfo=UTC)
    return {"day_start": start, "day_end": start + timedelta(days=1)}


def load_suite(source: Path | str | Mapping[str, Any] | Suite) -> Suite:
    """Load and check a suite from a JSON file path, a parsed JSON mapping, or pass a `Suite` through."""
    if isinstance(source, Suite):
        return source
    if isinstance(source, Mapping):
        return parse_suite(source, origin="<mapping>")
    path = Path(source)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ConfigError(f"expectation suite file not found: {path}") from exc
    except json.JSONDecodeError as exc:
        raise ConfigError(f"expectation suite {path} is not valid JSON: {exc}") from exc
    if not isinstance(raw, Mapping):
        raise ConfigError(f"expectation suite {path} must be a JSON object, got {type(raw).__name__}")
    return parse_suite(raw, origin=str(path))


def parse_suite(raw: Mapping[str, Any], *, origin: str = "<suite>") -> Suite:
    """Check a GX ExpectationSuite JSON object and turn it into a frozen `Suite`."""
    unknown = sorted(set(raw) - _SUITE_KEYS)
    if unknown:
        raise ConfigError(f"{origin}: unknown suite keys {unknown}; allowed: {sorted(_SUITE_KEYS)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise ConfigError(f"{origin}: the suite needs a non-empty string 'name'")
    items = raw.get("expectations")
    if not isinstance(items, list) or not items:
        raise ConfigError(f"{origin}: 'expectations' must be a non-empty list")
    expectations = tuple(
        _parse_expectation(item, f"{origin} expectation #{i}") for i, item in enumerate(items)
    )
    seen: set[str] = set()
    for e in expectations:
        if e.id in seen:
            raise ConfigError(f"{origin}: expectation id {e.id!r} is used twice; ids must be unique")
        seen.add(e.id)
    meta = raw.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{origin}: suite 'meta' must be an object")
    logger.debug("loaded suite %s from %s: %d expectations", name, origin, len(expectations))
    return Suite(name=name, expectations=expectations, meta=_freeze(meta))


def resolve_parameter(value: Any, parameters: Mapping[str, Any], *, where: str) -> Any:
    """Replace a `{"$PARAMETER": name}` placeholder with `parameters[name]`; other values pass unchanged."""
    if not _is_parameter(value):
        return value
    name = value[PARAMETER_KEY]
    if name not in parameters:
        raise ConfigError(
            f"{where} needs suite parameter {name!r}, which was not supplied; supplied: {sorted(parameters)}"
        )
    return parameters[name]


def _parse_expectation(item: Any, where: str) -> Expectation:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: must be an object with 'type', 'kwargs' and 'meta'")
    unknown = sorted(set(item) - _EXPECTATION_KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown keys {unknown}; allowed: {sorted(_EXPECTATION_KEYS)}")
    etype = item.get("type")
    if not isinstance(etype, str) or etype not in SUPPORTED_KWARGS:
        raise ConfigError(
            f"{where}: expectation type {etype!r} is not supported; supported types: {list(SUPPORTED_TYPES)}"
        )
    kwargs = item.get("kwargs")
    if not isinstance(kwargs, Mapping):
        raise ConfigError(f"{where} ({etype}): 'kwargs' must be an object")
    allowed = SUPPORTED_KWARGS[etype]
    extra = sorted(set(kwargs) - allowed)
    if extra:
        raise ConfigError(f"{where} ({etype}): unsupported kwargs {extra}; supported: {sorted(allowed)}")
    column = kwargs.get("column")
    if not isinstance(column, str) or not column:
        raise ConfigError(f"{where} ({etype}): kwargs.column must be a non-empty string")
    meta = item.get("meta") or {}
    if not isinstance(meta, Mapping):
        raise ConfigError(f"{where} ({etype}): 'meta' must be an object")
    eid, description = meta.get("id"), meta.get("description")
    if not isinstance(eid, str) or not eid:
        raise ConfigError(f"{where} ({etype} on {column}): meta.id must be a non-empty string (a stable id)")
    if not isinstance(description, str) or not description:
        raise ConfigError(f"{where} ({eid}): meta.description must be a non-empty string (the reason text)")
    _check_kwargs(etype, kwargs, f"{where} ({eid})")
    return Expectation(
        type=etype, column=column, id=eid, description=description, kwargs=_freeze(kwargs), meta=_freeze(meta)
    )


def _check_kwargs(etype: str, kwargs: Mapping[str, Any], where: str) -> None:
    for key, value in kwargs.items():
        if _is_parameter(value):
            name = value[PARAMETER_KEY]
            if len(value) != 1 or not isinstance(name, str) or not name.isidentifier():
                # GX also accepts arithmetic expressions here; the polars compiler deliberately does not.
                raise ConfigError(f"{where}: {key} must be {{'$PARAMETER': <identifier>}}, got {value!r}")
    mostly = kwargs.get("mostly", 1.0)
    if isinstance(mostly, bool) or not isinstance(mostly, int | float) or not 0.0 <= mostly <= 1.0:
        raise ConfigError(f"{where}: mostly must be a number in [0, 1], got {mostly!r}")
    for key in ("strict_min", "strict_max"):
        if key in kwargs and not isinstance(kwargs[key], bool):
            raise ConfigError(f"{where}: {key} must be true or false, got {kwargs[key]!r}")
    field = kwargs.get("element_field")
    if "element_field" in kwargs and (not isinstance(field, str) or not field):
        raise ConfigError(
            f"{where}: element_field must be a non-empty string (a struct field), got {field!r}"
        )
    if etype in ("expect_column_values_to_be_between", "expect_column_value_lengths_to_be_between"):
        lo, hi = kwargs.get("min_value"), kwargs.get("max_value")
        if lo is None and hi is None:
            raise ConfigError(f"{where}: at least one of min_value and max_value is required")
        for key, bound in (("min_value", lo), ("max_value", hi)):
            if bound is None or _is_parameter(bound) or _is_number(bound):
                continue
            # GX 1.24 types these bounds as number | date | datetime, so a string must be an ISO datetime.
            if etype == "expect_column_value_lengths_to_be_between" or not _is_iso_datetime(bound):
                allowed = (
                    "a number" if etype.endswith("lengths_to_be_between") else "a number or ISO 8601 datetime"
                )
                raise ConfigError(f"{where}: {key} must be {allowed}, got {bound!r}")
        if isinstance(lo, int | float) and isinstance(hi, int | float) and lo > hi:
            raise ConfigError(f"{where}: min_value {lo} is greater than max_value {hi}")
    if etype == "expect_column_values_to_be_in_set":
        value_set = kwargs.get("value_set")
        if not isinstance(value_set, list) or not value_set:
            raise ConfigError(f"{where}: value_set must be a non-empty list")


def _is_parameter(value: Any) -> bool:
    return isinstance(value, Mapping) and PARAMETER_KEY in value


def _is_iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _freeze(value: Any) -> Any:
    """Deep read-only copy: mappings become MappingProxyType, lists become tuples."""
    if isinstance(value, Mapping):
        return MappingProxyType({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def _thaw(value: Any) -> Any:
    """Inverse of `_freeze`, giving plain JSON-shaped dicts and lists for GX."""
    if isinstance(value, Mapping):
        return {k: _thaw(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return [_thaw(v) for v in value]
    return value
