"""`tracewatch sql`: DuckDB over the store's report tables (a prompt, one query, the view list) and the DDL
that registers the same tables in Trino, Athena or Spark (docs/sql.md)."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from tracewatch.catalog import (
    DEFAULT_DATABASE,
    Catalog,
    Result,
    catalog_ddl,
    open_catalog,
    tables_named_in,
)
from tracewatch.cli._table import print_table
from tracewatch.errors import ConfigError
from tracewatch.settings import Settings
from tracewatch.store import Store

MAX_TABLE_ROWS = 10_000
"""Rows an aligned table prints at most (the note says how many more; CSV and Parquet write them all)."""


def sql_command(store: Store, args: argparse.Namespace) -> None:
    """Run `tracewatch sql` as its arguments say."""
    _check_arguments(args)
    settings = Settings()
    if args.ddl:
        location = args.location or store.url
        _write_text(catalog_ddl(args.ddl, location, database=args.database or DEFAULT_DATABASE), args.output)
        return
    # One query opens only the views it names: each view reads its parts' footers when it is created.
    tables = tables_named_in(args.command) if args.command is not None else None
    with open_catalog(store, settings, tables=tables) as catalog:
        for note in catalog.notes:
            print(f"note: {note}", file=sys.stderr)
        if args.list:
            _list_views(catalog)
        elif args.command is not None:
            _run_one(catalog, args.command, args.format, args.output)
        else:
            _interactive(catalog)


def _check_arguments(args: argparse.Namespace) -> None:
    if args.ddl is None and (args.location or args.database):
        raise ConfigError("--location and --database go with --ddl trino|athena|spark")
    if args.command is None and args.format != "table":
        raise ConfigError(f"--format {args.format} goes with -c SQL (the prompt and --list print tables)")
    if args.output and args.command is None and args.ddl is None:
        raise ConfigError("--output goes with -c SQL or --ddl")
    if args.format == "parquet" and not args.output:
        raise ConfigError("--format parquet writes a binary file: give --output FILE")
    if args.format == "table" and args.output and args.command is not None:
        raise ConfigError("--output writes CSV or Parquet: add --format csv or --format parquet")


def _write_text(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text)
        print(f"wrote {output}", file=sys.stderr)
    else:
        sys.stdout.write(text)


def _list_views(catalog: Catalog) -> None:
    rows = [(view, name, kind) for view, columns in catalog.view_columns().items() for name, kind in columns]
    print_table(["VIEW", "COLUMN", "TYPE"], rows)


def _run_one(catalog: Catalog, sql: str, fmt: str, output: str | None) -> None:
    if fmt == "table":
        show_table(catalog.query(sql), catalog.connection.redact)
        return
    schema, batches = catalog.connection.batches(sql, nested_as_text=fmt == "csv")
    if fmt == "csv":
        _write_csv(schema, batches, catalog.connection.redact, output)
    else:
        _write_parquet(schema, batches, str(output))


def show_table(result: Result, redact: Callable[[str], str]) -> None:
    """A result as an aligned table on stdout (NULL for a null), credentials masked, long results cut with
    a note on stderr; a statement without a result prints nothing."""
    if not result.columns:
        return
    shown = result.rows[:MAX_TABLE_ROWS]
    print_table(result.columns, [[redact(_cell(value)) for value in row] for row in shown])
    if len(result.rows) > len(shown):
        print(
            f"showing the first {len(shown)} of {len(result.rows)} rows; --format csv writes them all",
            file=sys.stderr,
        )
    print(f"({len(result.rows)} row{'s' if len(result.rows) != 1 else ''})", file=sys.stderr)


def _cell(value: object) -> str:
    return "NULL" if value is None else str(value)


def _write_csv(
    schema: pa.Schema, batches: Iterator[pa.RecordBatch], redact: Callable[[str], str], output: str | None
) -> None:
    """CSV with a header, streamed batch by batch, credentials masked like any printed text."""
    target = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout  # noqa: SIM115
    try:
        header = True
        for batch in _with_one_batch(schema, batches):
            buffer = io.BytesIO()
            pa_csv.write_csv(batch, buffer, pa_csv.WriteOptions(include_header=header))
            target.write(redact(buffer.getvalue().decode("utf-8")))
            header = False
    finally:
        if output:
            target.close()
            print(f"wrote {output}", file=sys.stderr)


def _with_one_batch(schema: pa.Schema, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
    """The batches, or one empty batch when there are none (an empty result still has its header)."""
    empty = True
    for batch in batches:
        empty = False
        yield batch
    if empty:
        yield pa.RecordBatch.from_pylist([], schema=schema)


def _write_parquet(schema: pa.Schema, batches: Iterator[pa.RecordBatch], output: str) -> None:
    with pq.ParquetWriter(output, schema, compression="zstd") as writer:
        for batch in batches:
            writer.write_batch(batch)
    print(f"wrote {output}", file=sys.stderr)


def _interactive(catalog: Catalog) -> None:
    from tracewatch.cli._sql_repl import run_repl

    read: Callable[[str], str] = input
    if sys.stdin.isatty():
        import readline  # noqa: F401 -- line editing and history for input(), kept in memory only
    else:
        read = _read_piped  # statements piped in: no prompts mixed into the results
    run_repl(catalog, lambda result: show_table(result, catalog.connection.redact), read=read, err=sys.stderr)


def _read_piped(_prompt: str) -> str:
    line = sys.stdin.readline()
    if not line:
        raise EOFError
    return line.rstrip("\n")
