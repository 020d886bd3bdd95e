"""The arguments of `tracewatch sql` (argparse only, so `--help` stays fast)."""

from __future__ import annotations

import argparse
from collections.abc import Callable

Command = Callable[..., argparse.ArgumentParser]

OUTPUT_FORMATS = ("table", "csv", "parquet")
DDL_DIALECTS = ("trino", "athena", "spark")
"""The same names as `tracewatch.catalog.DDL_DIALECTS` (not imported here: it would load polars for --help)."""


def add_sql_command(command: Command) -> None:
    """`tracewatch sql`: a DuckDB prompt over the report tables, one query, the view list or BI DDL."""
    sql = command(
        "sql",
        "_sql:sql_command",
        "query the report tables with DuckDB (one view per table), or write DDL for Trino, Athena or Spark",
        writes=False,
    )
    what = sql.add_mutually_exclusive_group()
    what.add_argument(
        "-c",
        "--command",
        metavar="SQL",
        help="run this one query and print its result (default without -c, --list or --ddl: an interactive "
        "prompt; statements end with ';')",
    )
    what.add_argument("--list", action="store_true", help="list the views and their columns")
    what.add_argument(
        "--ddl",
        choices=DDL_DIALECTS,
        help="write CREATE EXTERNAL TABLE statements for every report table (Hive-partitioned Parquet)",
    )
    sql.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default="table",
        help="how -c writes its result: an aligned table (default), CSV, or Parquet (needs --output)",
    )
    sql.add_argument("--output", metavar="FILE", help="write -c's result or the DDL to this file, not stdout")
    sql.add_argument(
        "--location",
        help="with --ddl: the store root the tables are read from, e.g. s3://bucket/prefix (default: "
        "TRACEWATCH_STORE)",
    )
    sql.add_argument(
        "--database",
        help="with --ddl: the database (schema) the tables are created in; for Trino catalog.schema, e.g. "
        "hive.tracewatch (default: tracewatch)",
    )
