"""Reads back the DDL `tracewatch sql --ddl` writes: per table, its columns with their types, its partition
columns and its location, so tests can hold the statements against the schemas and the written files."""

from __future__ import annotations

import re
from dataclasses import dataclass

_CREATE = re.compile(
    r"^CREATE (?:EXTERNAL )?TABLE IF NOT EXISTS (?P<name>\S+) \(\n(?P<columns>.*?)\n\)\n(?P<rest>.*)$",
    re.DOTALL,
)
_COLUMN = re.compile(r'^  (?P<quoted>"[^"]+"|`[^`]+`) (?P<type>.+?),?$')


@dataclass(frozen=True)
class TableDdl:
    """One CREATE statement, read back."""

    name: str
    columns: list[tuple[str, str]]
    """Every column the table has, in table order (for Athena: the listed ones, then PARTITIONED BY's)."""
    partitions: list[str]
    location: str


def statements(script: str) -> list[str]:
    """The statements of a script, without its comment lines."""
    body = "\n".join(line for line in script.splitlines() if not line.startswith("--"))
    return [s.strip() for s in body.split(";\n") if s.strip()]


def _columns(block: str) -> list[tuple[str, str]]:
    found = []
    for line in block.splitlines():
        match = _COLUMN.match(line)
        assert match, f"not a column definition: {line!r}"
        found.append((match["quoted"][1:-1], match["type"]))
    return found


def read_tables(script: str, dialect: str) -> dict[str, TableDdl]:
    """Each CREATE TABLE of `script` by its unqualified table name."""
    tables = {}
    for statement in statements(script):
        match = _CREATE.match(statement)
        if not match:
            continue
        columns, rest = _columns(match["columns"]), match["rest"]
        if dialect == "athena":
            block = re.search(r"PARTITIONED BY \(\n(.*?)\n\)", rest, re.DOTALL)
            assert block, statement
            partition_columns = _columns(block[1])
            columns += partition_columns
            partitions = [name for name, _ in partition_columns]
            location = re.search(r"^LOCATION '(.*)'$", rest, re.MULTILINE)
        elif dialect == "trino":
            listed = re.search(r"partitioned_by = ARRAY\[(.*)\]", rest)
            assert listed, statement
            partitions = re.findall(r"'([^']+)'", listed[1])
            location = re.search(r"external_location = '(.*)',", rest)
        else:
            listed = re.search(r"^PARTITIONED BY \((.*)\)$", rest, re.MULTILINE)
            assert listed, statement
            partitions = re.findall(r"`([^`]+)`", listed[1])
            location = re.search(r"^LOCATION '(.*)'$", rest, re.MULTILINE)
        assert location, statement
        name = match["name"].rsplit(".", 1)[-1]
        tables[name] = TableDdl(name, columns, partitions, location[1])
    return tables
