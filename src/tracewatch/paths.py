"""Where files live: the files tracewatch ships (`data/`: expectation suites, example configs) and the one
check of every name that becomes part of an object key or a file path (datasets, experiments, configs, sources).

Names come from the command line, Prefect flow parameters and config files; each of those checks its names here,
before anything is written, so that a name can never climb out of its prefix (`../`), point elsewhere (an
absolute path, a URL-encoded `%2F`), hide a NUL byte or outgrow an object key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from tracewatch.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent

NameKind = Literal["dataset", "source", "experiment", "experiment id", "config"]
"""What a name names; each kind keeps the characters it has always allowed."""

_NAME_RULES: dict[str, tuple[re.Pattern[str], int, str]] = {
    "dataset": (re.compile(r"[a-z0-9][a-z0-9_-]*"), 64, "lowercase letters, digits, '-' and '_'"),
    "source": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]*"), 64, "letters, digits, '-' and '_'"),
    "experiment id": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*"), 128, "letters, digits, '.', '-' and '_'"),
    "experiment": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]*"), 128, "letters, digits, '.', '=', '-' and '_'"),
    "config": (re.compile(r"[A-Za-z0-9][A-Za-z0-9_.=-]*"), 128, "letters, digits, '.', '=', '-' and '_'"),
}
_URL_ESCAPE = re.compile(r"%[0-9A-Fa-f]{2}")
_SHOWN = 60
"""Characters of a refused name quoted in the message (a 100,000-character name would drown it)."""


def name_rule(kind: NameKind) -> str:
    """What a name of `kind` may look like, in words (for help texts and messages)."""
    _, longest, allowed = _NAME_RULES[kind]
    return f"1-{longest} characters: {allowed}, starting with a letter or digit"


def check_name(name: object, kind: NameKind) -> str:
    """`name` if it is a usable name of `kind`; otherwise a `ConfigError` that says what is wrong with it.

    The checks that matter for safety (separators, `..`, NUL and other control characters, URL escapes, the
    length) are named one by one, so that a refused name says why, not only what is allowed."""
    if kind not in _NAME_RULES:
        raise ConfigError(f"unknown kind of name {kind!r}; known: {', '.join(_NAME_RULES)}")
    pattern, longest, _ = _NAME_RULES[kind]
    problem = _name_problem(name, pattern, longest)
    if problem is None:
        assert isinstance(name, str)  # _name_problem refuses anything else
        return name
    shown = repr(name) if not isinstance(name, str) or len(name) <= _SHOWN else repr(name[:_SHOWN]) + "..."
    raise ConfigError(f"{kind} name {shown} is refused: {problem}; expected {name_rule(kind)}")


def _name_problem(name: object, pattern: re.Pattern[str], longest: int) -> str | None:
    if not isinstance(name, str):
        return f"it is a {type(name).__name__}, not a string"
    if not name:
        return "it is empty"
    if "\x00" in name:
        return "it contains a NUL byte"
    if any(ord(c) < 32 or ord(c) == 127 for c in name):
        return "it contains a control character (a newline, tab, ...)"
    if name.startswith(("/", "\\")) or re.match(r"[A-Za-z]:[\\/]", name):
        return "it is an absolute path; a name is one path segment"
    if ".." in name.split("/") or ".." in name.split("\\"):
        return "it contains '..', which would climb out of its folder"
    if "/" in name or "\\" in name:
        return "it contains a path separator ('/' or '\\')"
    if _URL_ESCAPE.search(name):
        return "it contains a URL escape (such as %2F or %2e), which a store may decode into a separator"
    if len(name) > longest:
        return f"it is {len(name)} characters long, more than {longest}"
    if not pattern.fullmatch(name):
        return (
            "it uses characters outside the allowed set"
            if name[0].isalnum()
            else "it must start with a letter or digit"
        )
    return None


def shipped_data(relative: str) -> Path:
    """A file under the project's `data/` folder, from a source checkout or an installed wheel."""
    if "\x00" in relative:
        raise ConfigError(f"shipped file name {relative!r} contains a NUL byte; give a plain name")
    for base in (_PACKAGE.parents[1] / "data", _PACKAGE / "_data"):
        candidate = base / relative
        # A shipped name such as `../../etc/passwd` must not reach a file outside the shipped folder.
        if not candidate.resolve().is_relative_to(base.resolve()):
            raise ConfigError(
                f"shipped file data/{relative} is outside the shipped data folder; give a plain name"
            )
        if candidate.exists():
            return candidate
    raise ConfigError(f"shipped file data/{relative} was not found; is tracewatch installed completely?")
