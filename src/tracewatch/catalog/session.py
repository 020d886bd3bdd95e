"""A DuckDB session over a store: the connection, one view per report table the store has, and what a
reader should be told about the rest (`tracewatch sql`)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType

from tracewatch.catalog.duckdb_connection import CatalogConnection, Result, connect
from tracewatch.catalog.views import plan_views, source_sql, view_sql
from tracewatch.reports import REPORT_TABLES, ReportTable
from tracewatch.settings import Settings
from tracewatch.store import Store


@dataclass
class Catalog:
    """An open session: `views` in report-table order, `notes` on missing tables and older partitions."""

    connection: CatalogConnection
    views: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def __enter__(self) -> Catalog:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.connection.close()

    def query(self, sql: str) -> Result:
        """Run `sql` (a SELECT on the views, or any DuckDB statement) and fetch its whole result."""
        return self.connection.fetch(sql)

    def view_columns(self) -> dict[str, list[tuple[str, str]]]:
        """Each view's (column, DuckDB type), in view order."""
        return {name: self.connection.columns(f'SELECT * FROM "{name}"') for name in self.views}


def tables_named_in(sql: str) -> list[ReportTable]:
    """The report tables whose names appear as words in `sql` (a name inside a string literal counts too:
    one view too many costs a little time, one too few fails the query)."""
    return [t for name, t in REPORT_TABLES.items() if re.search(rf"\b{name}\b", sql, re.IGNORECASE)]


def open_catalog(store: Store, settings: Settings, *, tables: Sequence[ReportTable] | None = None) -> Catalog:
    """Connect DuckDB to `store` and create a view per report table it holds (of `tables`, default all).

    A view's creation reads the Parquet footer of each of its parts (to combine partitions of different
    schema versions by name), so a query that names a few tables opens only theirs (`tables_named_in`)."""
    plan = plan_views(store, tables)
    catalog = Catalog(connect(store, settings), notes=plan.notes())
    try:
        for table in plan.present:
            source = source_sql(store, table)
            found = [name for name, _ in catalog.connection.columns(f"SELECT * FROM {source}")]
            sql, notes = view_sql(table, source, found)
            catalog.connection.run(sql)
            catalog.views.append(table.name)
            catalog.notes += notes
    except BaseException:
        catalog.connection.close()
        raise
    return catalog
