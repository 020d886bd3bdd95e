"""The SQL catalog for BI tools: DuckDB views over a store's report tables (`tracewatch sql`) and the DDL
that registers the same tables in Trino, Athena or Spark, both built from the report writer's schemas."""

from tracewatch.catalog.columns import DATE_PARTITION, Column, partition_columns, table_columns
from tracewatch.catalog.ddl import DDL_DIALECTS, DEFAULT_DATABASE, DdlDialect, catalog_ddl
from tracewatch.catalog.duckdb_connection import (
    MASK,
    CatalogConnection,
    Redactor,
    Result,
    SqlError,
    connect,
    load_httpfs,
)
from tracewatch.catalog.session import Catalog, open_catalog, tables_named_in
from tracewatch.catalog.types import DIALECTS, Dialect, sql_type
from tracewatch.catalog.views import ViewPlan, parts_location, plan_views, source_sql, view_sql

__all__ = [
    "DATE_PARTITION",
    "DDL_DIALECTS",
    "DEFAULT_DATABASE",
    "DIALECTS",
    "MASK",
    "Catalog",
    "CatalogConnection",
    "Column",
    "DdlDialect",
    "Dialect",
    "Redactor",
    "Result",
    "SqlError",
    "ViewPlan",
    "catalog_ddl",
    "connect",
    "load_httpfs",
    "open_catalog",
    "partition_columns",
    "parts_location",
    "plan_views",
    "source_sql",
    "sql_type",
    "table_columns",
    "tables_named_in",
    "view_sql",
]
