"""The SQL of the DuckDB views over a store: one view per report table, reading every partition with Hive
partitioning, in the columns and order the writer declares.

A partition written by an older tracewatch (a column it did not have yet) reads as NULL in that column, and a
column no declared schema has (a newer writer) is kept after the declared ones: both are said in a note.
Hive partitioning: https://duckdb.org/docs/data/partitioning/hive_partitioning
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from tracewatch.catalog._quoting import ansi_literal, double_quoted
from tracewatch.catalog.columns import partition_columns, table_columns
from tracewatch.catalog.types import sql_type
from tracewatch.reports import REPORT_TABLES, REPORTS_PREFIX, ReportTable
from tracewatch.store import Store

PARTS_GLOB = "**/*.parquet"
"""Every part of a table at any depth (the experiment tables sit one level deeper than the others)."""


@dataclass(frozen=True)
class ViewPlan:
    """Which report tables the store has (a view each) and which it has not (no view, and a note)."""

    present: list[ReportTable]
    missing: list[ReportTable]

    def notes(self) -> list[str]:
        """One sentence naming the missing tables (none: no note)."""
        if not self.missing:
            return []
        names = ", ".join(t.name for t in self.missing)
        return [
            f"{len(self.missing)} report table(s) are not in this store yet, so they have no view (no "
            f"{REPORTS_PREFIX}/<table>/ parts: an older store, or their stages have not run here): {names}"
        ]


def plan_views(store: Store, tables: Sequence[ReportTable] | None = None) -> ViewPlan:
    """Split `tables` (default: every report table) by whether `store` holds any part of them."""
    present: list[ReportTable] = []
    missing: list[ReportTable] = []
    for table in list(REPORT_TABLES.values()) if tables is None else tables:
        parts = store.list_objects(f"{REPORTS_PREFIX}/{table.name}/", ".parquet")
        (present if parts else missing).append(table)
    return ViewPlan(present, missing)


def parts_location(store: Store, table: ReportTable) -> str:
    """The glob of a table's parts as DuckDB opens it (a local path, or the s3:// URL)."""
    key = f"{REPORTS_PREFIX}/{table.name}/{PARTS_GLOB}"
    return store.uri(key) if store.protocol == "s3" else store.path(key)


def source_sql(store: Store, table: ReportTable) -> str:
    """`read_parquet(...)` over every part of `table`: partition columns typed as the writer names the
    folders (a numeric-looking experiment id stays text), files unioned by column name."""
    hive_types = ", ".join(
        f"{ansi_literal(c.name)}: {ansi_literal(sql_type(c.dtype, 'duckdb'))}"
        for c in partition_columns(table)
    )
    return (
        f"read_parquet({ansi_literal(parts_location(store, table))}, hive_partitioning = true, "
        f"union_by_name = true, hive_types = {{{hive_types}}})"
    )


def view_sql(table: ReportTable, source: str, found: Sequence[str]) -> tuple[str, list[str]]:
    """`CREATE VIEW` for `table` over `source`, whose files hold the columns `found`; and the notes on
    declared columns no file has and found columns no schema declares."""
    present = set(found)
    select, absent = [], []
    for column in table_columns(table):
        quoted = double_quoted(column.name)
        if column.name in present:
            select.append(quoted)
        else:
            absent.append(column.name)
            select.append(f"CAST(NULL AS {sql_type(column.dtype, 'duckdb', column=column.name)}) AS {quoted}")
    declared = {c.name for c in table_columns(table)}
    extra = [name for name in found if name not in declared]
    select += [double_quoted(name) for name in extra]
    notes = []
    if absent:
        notes.append(
            f"view {table.name}: no part has column(s) {', '.join(absent)} (written by an older tracewatch): "
            "they read as NULL"
        )
    if extra:
        notes.append(
            f"view {table.name}: column(s) {', '.join(extra)} are not in this version's schema (written by a "
            "newer tracewatch?): kept after the declared ones"
        )
    sql = f"CREATE OR REPLACE VIEW {double_quoted(table.name)} AS SELECT {', '.join(select)} FROM {source}"
    return sql, notes
