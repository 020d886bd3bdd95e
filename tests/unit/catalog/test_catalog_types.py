"""Polars types as DuckDB, Trino, Athena (Hive DDL) and Spark SQL types.

The DuckDB names are checked against DuckDB itself reading a Parquet file polars wrote; the others against the
engines' type references: https://trino.io/docs/current/language/types.html,
https://docs.aws.amazon.com/athena/latest/ug/data-types.html,
https://spark.apache.org/docs/latest/sql-ref-datatypes.html
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path

import duckdb
import polars as pl
import pytest

from tracewatch.catalog import sql_type
from tracewatch.errors import DataContractError

NESTED = pl.List(pl.Struct({"name": pl.String, "count": pl.Int64}))

EXPECTED: list[tuple[pl.DataType, str, str, str]] = [
    # polars type, Trino, Athena, Spark
    (pl.Boolean(), "boolean", "boolean", "BOOLEAN"),
    (pl.Int32(), "integer", "int", "INT"),
    (pl.Int64(), "bigint", "bigint", "BIGINT"),
    (pl.UInt32(), "bigint", "bigint", "BIGINT"),
    (pl.UInt64(), "decimal(20,0)", "decimal(20,0)", "DECIMAL(20,0)"),
    (pl.Float32(), "real", "float", "FLOAT"),
    (pl.Float64(), "double", "double", "DOUBLE"),
    (pl.String(), "varchar", "string", "STRING"),
    (pl.Binary(), "varbinary", "binary", "BINARY"),
    (pl.Date(), "date", "date", "DATE"),
    (pl.Datetime("us", "UTC"), "timestamp(3)", "timestamp", "TIMESTAMP"),
    (pl.Datetime("us"), "timestamp(3)", "timestamp", "TIMESTAMP_NTZ"),
    (pl.Decimal(12, 4), "decimal(12,4)", "decimal(12,4)", "DECIMAL(12,4)"),
    (pl.List(pl.String()), "array(varchar)", "array<string>", "ARRAY<STRING>"),
    (
        NESTED,
        'array(row("name" varchar, "count" bigint))',
        "array<struct<name:string,count:bigint>>",
        "ARRAY<STRUCT<`name`: STRING, `count`: BIGINT>>",
    ),
    (
        pl.Struct({"inner": pl.List(pl.Decimal(10, 2)), "at": pl.Datetime("ms", "UTC")}),
        'row("inner" array(decimal(10,2)), "at" timestamp(3))',
        "struct<inner:array<decimal(10,2)>,at:timestamp>",
        "STRUCT<`inner`: ARRAY<DECIMAL(10,2)>, `at`: TIMESTAMP>",
    ),
]


@pytest.mark.parametrize(("dtype", "trino", "athena", "spark"), EXPECTED, ids=str)
def test_each_type_in_each_engine(dtype: pl.DataType, trino: str, athena: str, spark: str) -> None:
    assert sql_type(dtype, "trino") == trino
    assert sql_type(dtype, "athena") == athena
    assert sql_type(dtype, "spark") == spark


SAMPLES: dict[str, tuple[pl.DataType, object]] = {
    "flag": (pl.Boolean(), True),
    "small": (pl.Int32(), 3),
    "count": (pl.Int64(), 4),
    "unsigned": (pl.UInt32(), 5),
    "ratio": (pl.Float64(), 0.5),
    "text": (pl.String(), "héllo"),
    "blob": (pl.Binary(), b"\x00\x01"),
    "day": (pl.Date(), dt.date(2026, 11, 1)),
    "at": (pl.Datetime("us", "UTC"), dt.datetime(2026, 11, 1, 5, tzinfo=dt.UTC)),
    "local": (pl.Datetime("us"), dt.datetime(2026, 11, 1, 5)),
    "money": (pl.Decimal(12, 4), Decimal("1.2500")),
    "tags": (pl.List(pl.String()), ["a"]),
    "feedback": (NESTED, [{"name": "thumbs", "count": 2}]),
}


def test_duckdb_names_the_types_as_duckdb_reads_a_polars_parquet_file(tmp_path: Path) -> None:
    path = tmp_path / "sample.parquet"
    schema = {name: dtype for name, (dtype, _) in SAMPLES.items()}
    pl.DataFrame([{name: value for name, (_, value) in SAMPLES.items()}], schema=schema).write_parquet(path)
    described = duckdb.sql(f"DESCRIBE SELECT * FROM read_parquet('{path}')").fetchall()
    read = {row[0]: row[1] for row in described}
    # DuckDB parses our name to exactly the type it read (its printing quotes only the names that need it).
    assert {name: _parsed(sql_type(dtype, "duckdb")) for name, dtype in schema.items()} == read


def _parsed(type_name: str) -> str:
    return str(duckdb.sql(f"SELECT CAST(NULL AS {type_name}) AS x").types[0])


@pytest.mark.parametrize("dtype", [pl.Time(), pl.Duration("us"), pl.Null(), pl.Object()], ids=str)
@pytest.mark.parametrize("dialect", ["duckdb", "trino", "athena", "spark"])
def test_a_type_without_an_equivalent_is_refused_naming_the_column(dtype: pl.DataType, dialect: str) -> None:
    with pytest.raises(DataContractError, match=r"column scores\.when: polars type .* has no"):
        sql_type(pl.List(pl.Struct({"when": dtype})), dialect, column="scores")  # type: ignore[arg-type]
