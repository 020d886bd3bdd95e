"""The columns of a report table as a SQL engine sees them: the file's columns in the writer's order, then the
Hive partition columns taken from the folder names.

Both the DuckDB views and the DDL for Trino, Athena and Spark are built from this, and this is built from
`ReportTable.schema`, the schema `publish_partition` conforms every frame to, so neither can drift from what is
written."""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

from tracewatch.reports import ReportTable

DATE_PARTITION = "date"
"""The first Hive level of every report table (`date=YYYY-MM-DD`, see `tracewatch.reports.partition_key`)."""


@dataclass(frozen=True)
class Column:
    """One column: its name, its polars type and whether it comes from a folder name (a Hive partition)."""

    name: str
    dtype: pl.DataType
    partition: bool = False


def partition_columns(table: ReportTable) -> list[Column]:
    """`date`, then the table's second level (e.g. `experiment_id`), as `publish_partition` names the folders:
    the date is an ISO day, the second level's value any text without `/` or `=`."""
    found = [Column(DATE_PARTITION, pl.Date(), partition=True)]
    if table.subpartition:
        found.append(Column(table.subpartition, pl.String(), partition=True))
    return found


def table_columns(table: ReportTable) -> list[Column]:
    """The data columns in file order, then the partition columns (where Hive engines want them: last)."""
    data = [Column(name, dtype) for name, dtype in table.schema.items()]
    return data + partition_columns(table)
