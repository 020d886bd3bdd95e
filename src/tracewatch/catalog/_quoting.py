"""Quoting of identifiers and string literals, per engine: the one place that knows each engine's rules."""

from __future__ import annotations

import re

from tracewatch.errors import ConfigError

_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def double_quoted(name: str) -> str:
    """An identifier in ANSI quotes (DuckDB, Trino): any name, reserved words (`date`) included."""
    return '"' + name.replace('"', '""') + '"'


def backquoted(name: str) -> str:
    """An identifier in backquotes (Hive DDL for Athena, Spark SQL)."""
    return "`" + name.replace("`", "``") + "`"


def ansi_literal(value: str) -> str:
    """A string literal with quotes doubled (DuckDB, Trino)."""
    return "'" + value.replace("'", "''") + "'"


def backslash_literal(value: str) -> str:
    """A string literal escaped with backslashes (Hive and Spark: a doubled quote would end the string)."""
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def plain_name(value: str, what: str) -> str:
    """`value` if it is a plain SQL name (letters, digits, `_`; not starting with a digit), else a clear error."""
    if not _PLAIN.match(value):
        raise ConfigError(f"{what} {value!r} is not a plain SQL name; expected letters, digits and '_'")
    return value
