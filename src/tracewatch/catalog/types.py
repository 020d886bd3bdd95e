"""Polars types as each SQL engine's type names: DuckDB, Trino, Athena (Hive DDL) and Spark SQL.

A type with no faithful equivalent is refused with the column it belongs to, never mapped to something close.
References: https://trino.io/docs/current/language/types.html,
https://docs.aws.amazon.com/athena/latest/ug/data-types.html,
https://spark.apache.org/docs/latest/sql-ref-datatypes.html, https://duckdb.org/docs/sql/data_types/overview
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import polars as pl
from polars.datatypes import DataTypeClass

from tracewatch.catalog._quoting import backquoted, double_quoted
from tracewatch.errors import DataContractError

Dialect = Literal["duckdb", "trino", "athena", "spark"]
DIALECTS: tuple[Dialect, ...] = ("duckdb", "trino", "athena", "spark")


@dataclass(frozen=True)
class _Grammar:
    """How one engine spells types: scalar names, the nested-type templates and how it quotes a field."""

    scalars: dict[DataTypeClass, str]
    timestamp_utc: str
    timestamp_naive: str
    decimal: str  # format with p and s
    array: str  # format with inner
    struct: str  # format with fields
    field: Callable[[str, str], str]  # (name, type) -> one struct field
    uint64: str


_HIVE_INTEGERS: dict[DataTypeClass, str] = {
    pl.Int8: "tinyint",
    pl.Int16: "smallint",
    pl.Int32: "int",
    pl.Int64: "bigint",
    # Unsigned Parquet integers are read into the next wider signed type.
    pl.UInt8: "smallint",
    pl.UInt16: "int",
    pl.UInt32: "bigint",
}

_GRAMMARS: dict[Dialect, _Grammar] = {
    "duckdb": _Grammar(
        scalars={
            pl.Boolean: "BOOLEAN",
            pl.Int8: "TINYINT",
            pl.Int16: "SMALLINT",
            pl.Int32: "INTEGER",
            pl.Int64: "BIGINT",
            pl.UInt8: "UTINYINT",
            pl.UInt16: "USMALLINT",
            pl.UInt32: "UINTEGER",
            pl.Float32: "FLOAT",
            pl.Float64: "DOUBLE",
            pl.String: "VARCHAR",
            pl.Categorical: "VARCHAR",
            pl.Enum: "VARCHAR",
            pl.Binary: "BLOB",
            pl.Date: "DATE",
        },
        timestamp_utc="TIMESTAMP WITH TIME ZONE",
        timestamp_naive="TIMESTAMP",
        decimal="DECIMAL({p},{s})",
        array="{inner}[]",
        struct="STRUCT({fields})",
        field=lambda name, kind: f"{double_quoted(name)} {kind}",
        uint64="UBIGINT",
    ),
    "trino": _Grammar(
        scalars={
            pl.Boolean: "boolean",
            **{k: "integer" if v == "int" else v for k, v in _HIVE_INTEGERS.items()},
            pl.Float32: "real",
            pl.Float64: "double",
            pl.String: "varchar",
            pl.Categorical: "varchar",
            pl.Enum: "varchar",
            pl.Binary: "varbinary",
            pl.Date: "date",
        },
        # The Hive connector reads Parquet timestamps at its `hive.timestamp-precision` (milliseconds by
        # default) and has no time zone type: UTC instants are read as UTC wall-clock values.
        timestamp_utc="timestamp(3)",
        timestamp_naive="timestamp(3)",
        decimal="decimal({p},{s})",
        array="array({inner})",
        struct="row({fields})",
        field=lambda name, kind: f"{double_quoted(name)} {kind}",
        uint64="decimal(20,0)",
    ),
    "athena": _Grammar(
        # Athena's DDL takes Hive type names (its queries take Trino's).
        scalars={
            pl.Boolean: "boolean",
            **_HIVE_INTEGERS,
            pl.Float32: "float",
            pl.Float64: "double",
            pl.String: "string",
            pl.Categorical: "string",
            pl.Enum: "string",
            pl.Binary: "binary",
            pl.Date: "date",
        },
        timestamp_utc="timestamp",
        timestamp_naive="timestamp",
        decimal="decimal({p},{s})",
        array="array<{inner}>",
        struct="struct<{fields}>",
        field=lambda name, kind: f"{name}:{kind}",
        uint64="decimal(20,0)",
    ),
    "spark": _Grammar(
        scalars={
            pl.Boolean: "BOOLEAN",
            **{k: v.upper() for k, v in _HIVE_INTEGERS.items()},
            pl.Float32: "FLOAT",
            pl.Float64: "DOUBLE",
            pl.String: "STRING",
            pl.Categorical: "STRING",
            pl.Enum: "STRING",
            pl.Binary: "BINARY",
            pl.Date: "DATE",
        },
        # Spark's TIMESTAMP is an instant (shown in spark.sql.session.timeZone); TIMESTAMP_NTZ a wall clock.
        timestamp_utc="TIMESTAMP",
        timestamp_naive="TIMESTAMP_NTZ",
        decimal="DECIMAL({p},{s})",
        array="ARRAY<{inner}>",
        struct="STRUCT<{fields}>",
        field=lambda name, kind: f"{backquoted(name)}: {kind}",
        uint64="DECIMAL(20,0)",
    ),
}


def sql_type(dtype: pl.DataType | DataTypeClass, dialect: Dialect, *, column: str = "?") -> str:
    """The type `dialect` declares for a column of polars type `dtype` (`column` names it in an error)."""
    grammar = _GRAMMARS[dialect]
    if isinstance(dtype, pl.Datetime):
        return grammar.timestamp_utc if dtype.time_zone else grammar.timestamp_naive
    if isinstance(dtype, pl.Decimal):
        precision = dtype.precision if dtype.precision is not None else 38
        return grammar.decimal.format(p=precision, s=dtype.scale)
    if isinstance(dtype, pl.List | pl.Array):
        return grammar.array.format(inner=sql_type(dtype.inner, dialect, column=column))
    if isinstance(dtype, pl.Struct):
        fields = ", " if dialect != "athena" else ","
        return grammar.struct.format(
            fields=fields.join(
                grammar.field(f.name, sql_type(f.dtype, dialect, column=f"{column}.{f.name}"))
                for f in dtype.fields
            )
        )
    base = dtype.base_type()
    if base == pl.UInt64:
        return grammar.uint64
    if base in grammar.scalars:
        return grammar.scalars[base]
    raise DataContractError(
        f"column {column}: polars type {dtype} has no {dialect} equivalent; report tables may use booleans, "
        "integers, floats, decimals, strings, binary, dates, datetimes, lists and structs"
    )
