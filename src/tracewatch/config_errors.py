"""Pydantic's validation errors as one `ConfigError` in the words of a YAML file: where the mistake is, what is
wrong and what is expected. Every config style uses it (the pydantic dataclasses of llm and experiments, the
spec models of datasets, the scoring configs), so a mistake reads the same wherever it is made.

A problem names its place as a path below a start (`sampling.strategies[0] (uniform).rate`) or, when there is
no start, after a label (`experiment 'a': params`); one line a problem, the missing keys of one place on one line:

    sampling.budget: expected an integer, got 'many'
    sampling.dedup.near_threshold=1.5 must be in (0, 1]
    sampling.strategies[0] (stratified): missing required key(s) by
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from tracewatch.errors import ConfigError

OUT_OF_RANGE = "out_of_range"
"""The error type of a bound check whose message states the whole range (`must be in (0, 1]`); its context has
the `value` checked."""

EXPECTED = "expected"
"""The error type of a field that states what it takes in words (the scoring configs' `Expect`): its context has
the `value` given and what is `expected` (`a non-negative number`), worded
`max_ms='1s' is not allowed; max_ms must be a non-negative number`."""

CLAUSE = "clause"
"""The error type of a problem worded as a clause about its place, which it follows after a space:
`metric 'regex'` + `needs argument(s) ['pattern']` (the scoring configs' key checks)."""

_MISSING = frozenset({"missing", "missing_argument", "missing_keyword_only_argument"})

_EXPECTED: Mapping[str, str] = {
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
    "mapping_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "dataclass_type": "a mapping",
    "too_short": "at least {min_length} entry",
}
"""Pydantic's error type -> what the value should have been, in the words of a YAML file."""

_BOUNDS: Mapping[str, str] = {
    "greater_than": "> {gt}",
    "greater_than_equal": ">= {ge}",
    "less_than": "< {lt}",
    "less_than_equal": "<= {le}",
}
"""Pydantic's bound errors -> the bound, stated as `Range` states it (`budget=-1 must be >= 0`)."""


def unknown_keys(
    keys: Iterable[object], known: Collection[str], allowed: Iterable[str] | None = None
) -> str | None:
    """`unknown key(s) x, y; allowed: a, b` for the `keys` that are not `known` (or not strings), or None when
    all are. `allowed` is what the message offers (default: `known`)."""
    unknown = sorted(str(key) for key in keys if not isinstance(key, str) or key not in known)
    if not unknown:
        return None
    offered = sorted(known if allowed is None else allowed)
    return f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(offered)}"


def config_error(error: ValidationError, start: str = "", label: str = "config") -> ConfigError:
    """One ConfigError for everything pydantic found wrong, a line per problem. Places are paths below `start`
    (`sampling.dedup`); with no start, they follow `label` (what the problem is attributed to)."""
    missing: dict[str, list[str]] = {}
    problems: list[str] = []
    for detail in error.errors(include_url=False):
        loc = detail["loc"]
        if detail["type"] in _MISSING:
            missing.setdefault(place(loc[:-1], start, label), []).append(str(loc[-1]))
        else:
            problems.append(problem(place(loc, start, label), detail))
    lines = [f"{where}: missing required key(s) {', '.join(sorted(keys))}" for where, keys in missing.items()]
    return ConfigError("\n".join(lines + problems))


def place(loc: tuple[int | str, ...], start: str = "", label: str = "config") -> str:
    """`sampling.strategies[0] (uniform).rate`: keys by dots, list positions in brackets, and after a position
    the member a union chose (a strategy's kind); with no `start`, `label: path` (or the label alone)."""
    path = start
    for at, part in enumerate(loc):
        if isinstance(part, int):
            path += f"[{part}]"
        elif at and isinstance(loc[at - 1], int):
            path += f" ({part})"
        else:
            path += f".{part}" if path else part
    if start:
        return path
    return f"{label}: {path}" if path else label


def problem(where: str, detail: ErrorDetails) -> str:
    """One problem at `where`: what is wrong and what is expected, with the value given."""
    kind, ctx, given = detail["type"], detail.get("ctx", {}), detail.get("input")
    if kind == "value_error":
        return f"{where}: {ctx['error']}"
    if kind == OUT_OF_RANGE:
        return f"{where}={ctx['value']!r} {detail['msg']}"
    if kind in _BOUNDS:
        return f"{where}={given!r} must be {_BOUNDS[kind].format(**ctx)}"
    if kind == CLAUSE:
        return f"{where} {detail['msg']}"
    if kind == EXPECTED:
        return f"{where}={ctx['value']!r} is not allowed; {_field(detail)} must be {ctx['expected']}"
    if kind == "union_tag_invalid":
        field = _field(detail)
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
        return f"{where}: expected {_EXPECTED[kind].format(**ctx)}, got {given!r}"
    message = detail["msg"]
    return f"{where}: {message[:1].lower()}{message[1:]}, got {given!r}"


def _field(detail: ErrorDetails) -> str:
    """The name of the field a problem is about: the last key of its place (not a list position)."""
    return next((str(part) for part in reversed(detail["loc"]) if isinstance(part, str)), "")
