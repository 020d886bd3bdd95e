"""The DDL for Trino, Athena and Spark: one external Hive-partitioned Parquet table per report table, columns
in the writer's order with the partition columns last, followed by the statement that finds its partitions.

Syntax as documented: Trino's Hive connector (https://trino.io/docs/current/connector/hive.html: format,
external_location, partitioned_by whose columns come last, system.sync_partition_metadata), Athena's
CREATE EXTERNAL TABLE (https://docs.aws.amazon.com/athena/latest/ug/create-table.html: partition columns only in
PARTITIONED BY; MSCK REPAIR TABLE), Spark's CREATE TABLE ... USING PARQUET
(https://spark.apache.org/docs/latest/sql-ref-syntax-ddl-create-table-datasource.html).
"""

from __future__ import annotations

import polars as pl
import pytest

from tests.support.ddl_text import read_tables, statements
from tracewatch.catalog import DDL_DIALECTS, catalog_ddl, partition_columns, sql_type, table_columns
from tracewatch.errors import ConfigError, DataContractError
from tracewatch.reports import QUALITY, REPORT_TABLES, TRACE_METRICS_DAILY, ReportTable

ROOT = "s3://bi-bucket/tracewatch"


@pytest.mark.parametrize("dialect", DDL_DIALECTS)
def test_every_report_table_in_the_writers_column_order_with_partitions_last(dialect: str) -> None:
    tables = read_tables(catalog_ddl(dialect, ROOT), dialect)
    assert list(tables) == list(REPORT_TABLES)
    for name, table in REPORT_TABLES.items():
        ddl = tables[name]
        expected = [(c.name, sql_type(c.dtype, dialect, column=c.name)) for c in table_columns(table)]  # type: ignore[arg-type]
        assert ddl.columns == expected, name
        assert ddl.partitions == [c.name for c in partition_columns(table)], name
        assert ddl.columns[-len(ddl.partitions) :] == expected[-len(ddl.partitions) :]
        assert ddl.location.rstrip("/") == f"{ROOT}/reports/{name}"


@pytest.mark.parametrize("dialect", DDL_DIALECTS)
def test_the_experiment_tables_have_two_partition_levels_typed_date_and_text(dialect: str) -> None:
    ddl = read_tables(catalog_ddl(dialect, ROOT), dialect)[QUALITY.name]
    assert ddl.partitions == ["date", "experiment_id"]
    assert dict(ddl.columns)["date"].lower() == "date"
    assert dict(ddl.columns)["experiment_id"].lower() in ("varchar", "string")


@pytest.mark.parametrize(
    ("dialect", "discovery"),
    [
        ("trino", "CALL system.sync_partition_metadata('tracewatch', 'quality', 'FULL')"),
        ("athena", "MSCK REPAIR TABLE tracewatch.quality"),
        ("spark", "MSCK REPAIR TABLE tracewatch.quality"),
    ],
)
def test_each_table_is_followed_by_its_partition_discovery(dialect: str, discovery: str) -> None:
    found = statements(catalog_ddl(dialect, ROOT))
    assert found[0].startswith("CREATE SCHEMA" if dialect == "trino" else "CREATE DATABASE")
    creates = [i for i, s in enumerate(found) if s.startswith("CREATE") and "TABLE" in s.split("(")[0]]
    assert len(creates) == len(REPORT_TABLES)
    quality = next(i for i in creates if "quality (" in found[i].split("\n")[0])
    assert found[quality + 1] == discovery


def test_trino_takes_a_catalog_qualified_schema() -> None:
    script = catalog_ddl("trino", ROOT, database="hive.bi")
    assert "CREATE SCHEMA IF NOT EXISTS hive.bi;" in script
    assert "CREATE TABLE IF NOT EXISTS hive.bi.drift (" in script
    assert "CALL hive.system.sync_partition_metadata('bi', 'drift', 'FULL');" in script


def test_athena_keeps_partition_columns_out_of_the_column_list() -> None:
    create = next(s for s in statements(catalog_ddl("athena", ROOT)) if ".trace_metrics_daily (" in s)
    listed = create.split("\n)\n")[0]
    assert "`date`" not in listed
    assert "PARTITIONED BY (\n  `date` date\n)\nSTORED AS PARQUET\nLOCATION" in create


def test_a_description_with_a_quote_is_escaped_as_each_engine_reads_literals() -> None:
    table = ReportTable(name="notes", version=3, schema={"a": pl.Int64()}, description="the night's notes")
    assert "COMMENT 'the night''s notes (tracewatch report notes, schema version 3)'" in catalog_ddl(
        "trino", ROOT, tables=[table]
    )
    for dialect in ("athena", "spark"):  # Hive and Spark escape with a backslash; '' would end the string
        assert "COMMENT 'the night\\'s notes" in catalog_ddl(dialect, ROOT, tables=[table])


@pytest.mark.parametrize(
    ("dialect", "location", "database", "message"),
    [
        ("athena", "file:///data/store", "tracewatch", "give --location s3://bucket/prefix"),
        ("trino", "file:///data/store", "tracewatch", "give --location s3://bucket/prefix"),
        ("athena", "gs://bucket/prefix", "tracewatch", "Athena reads tables from S3 only"),
        ("spark", "bucket/prefix", "tracewatch", "is not a URL"),
        ("spark", ROOT, "bi-db", "not a plain SQL name"),
        ("trino", ROOT, "a.b.c", "expected schema or catalog.schema"),
        ("hive", ROOT, "tracewatch", "unknown DDL dialect 'hive'"),
    ],
)
def test_bad_arguments_say_what_is_expected(dialect: str, location: str, database: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        catalog_ddl(dialect, location, database=database)


def test_spark_reads_a_local_store_too() -> None:
    ddl = read_tables(catalog_ddl("spark", "file:///data/store", tables=[TRACE_METRICS_DAILY]), "spark")
    assert ddl["trace_metrics_daily"].location == "file:///data/store/reports/trace_metrics_daily"


def test_a_column_type_with_no_equivalent_names_the_table_column() -> None:
    table = ReportTable(name="odd", version=1, schema={"took": pl.Duration("us")}, description="odd")
    with pytest.raises(DataContractError, match="column took: polars type"):
        catalog_ddl("spark", ROOT, tables=[table])


def test_the_command_offers_exactly_the_dialects_the_catalog_writes() -> None:
    """The parser keeps its own list (argparse only, for a fast --help): it must name the same dialects."""
    from tracewatch.cli._sql_parser import DDL_DIALECTS as OFFERED

    assert OFFERED == DDL_DIALECTS
