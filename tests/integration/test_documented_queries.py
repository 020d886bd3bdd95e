"""Every DuckDB query and report glob in README.md and docs/reports.md runs, as written, against stores that
hold every report table: a local folder (at `.tracewatch/demo`, where `make demo` leaves its copy, read from
the folder the README says) and the local S3 server. A doc change that breaks a query fails here.

The placeholders the docs use (`<root>`, `s3://<bucket>/<prefix>`, the credentials, `<host:port>`, the httpfs
extension's path) are replaced with the test stores' values; any other `<...>` or `…` left in a query fails.
DuckDB's Hive partitioning and `**` globs: https://duckdb.org/docs/data/partitioning/hive_partitioning and
https://duckdb.org/docs/data/multiple_files/overview
"""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import duckdb
import polars as pl
import pytest
from polars.datatypes import DataTypeClass

from devtools.demo_results import RESULTS_DIR
from devtools.s3server import S3Server
from tests.conftest import s3_settings
from tracewatch.ingest import ingest_new_traces
from tracewatch.monitoring import build_monitoring_reports
from tracewatch.reports import REPORT_TABLES, publish_partition
from tracewatch.reports.tables import ReportTable
from tracewatch.store import Store

REPO = Path(__file__).resolve().parents[2]
DOCS = ("README.md", "docs/reports.md")
DAYS = (dt.date(2026, 11, 1), dt.date(2026, 11, 2))
EXPERIMENTS = ("exp-a", "exp-b")
ONE_GLOB = "reports/<table>/**/*.parquet"
PLACEHOLDER = re.compile(r"<[a-z][a-z :_./-]*>|…")


@dataclass(frozen=True)
class Query:
    doc: str
    line: int
    sql: str


def sql_blocks(doc: str) -> list[Query]:
    """The statements of every ```sql block of a doc, in order, with the line each block starts on."""
    text = (REPO / doc).read_text()
    found = []
    for match in re.finditer(r"^```sql\n(.*?)^```", text, re.DOTALL | re.MULTILINE):
        line = text[: match.start()].count("\n") + 1
        for statement in match.group(1).split(";\n"):
            if statement.strip():
                found.append(Query(doc, line, statement.strip().rstrip(";")))
    return found


def documented_command(doc: str, starts: str) -> str:
    """The one shell command in a ```bash block of `doc` that starts with `starts`."""
    text = (REPO / doc).read_text()
    blocks = re.findall(r"^```bash\n(.*?)^```", text, re.DOTALL | re.MULTILINE)
    (command,) = [line for block in blocks for line in block.splitlines() if line.startswith(starts)]
    return str(command)


def value_row(schema: dict[str, pl.DataType], index: int) -> dict[str, object]:
    """One row with a value in every column (no nulls, so UNNEST and sums see data), from the schema alone."""
    return {name: _value(dtype, name, index) for name, dtype in schema.items()}


def _value(dtype: pl.DataType | DataTypeClass, name: str, index: int) -> object:
    if isinstance(dtype, pl.List):
        return [_value(dtype.inner, name, index)]
    if isinstance(dtype, pl.Struct):
        return {field.name: _value(field.dtype, field.name, index) for field in dtype.fields}
    if dtype == pl.String:
        return f"{name}-{index}"
    if dtype == pl.Boolean:
        return index % 2 == 0
    if dtype == pl.Date:
        return DAYS[0]
    if isinstance(dtype, pl.Datetime):
        return dt.datetime(2026, 11, 1, index, tzinfo=dt.UTC if dtype.time_zone else None)
    if dtype.is_integer():
        return index + 1
    if dtype.is_float():
        return 0.5 + index
    raise AssertionError(f"no test value for column {name} of type {dtype}; add one to _value")


def write_every_report(store: Store, make_traces: Callable[..., pl.DataFrame]) -> dict[str, int]:
    """Real monitoring reports of two days of traces, and two rows a partition of every other table (per
    experiment for the experiment tables); returns the rows written per table."""
    for day in DAYS:
        store.write_parquet(f"traces/date={day}/a.parquet", make_traces(day.isoformat(), 20))
        ingest_new_traces(store, up_to=day)
        build_monitoring_reports(store, day, run_id="r1")
    rows = {}
    for table in REPORT_TABLES.values():
        written = store.list_objects(f"reports/{table.name}/", ".parquet")
        if written:
            rows[table.name] = sum(store.read_parquet(o.key).height for o in written)
        else:
            rows[table.name] = _publish_synthetic(store, table)
    return rows


def _publish_synthetic(store: Store, table: ReportTable) -> int:
    frame = pl.DataFrame([value_row(table.schema, i) for i in range(2)], schema=table.schema)
    within = EXPERIMENTS if table.subpartition else (None,)
    for day in DAYS:
        for experiment in within:
            publish_partition(store, table, day, frame, run_id="r1", subpartition=experiment)
    return frame.height * len(DAYS) * len(within)


@pytest.fixture
def demo_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, make_traces: Callable[..., pl.DataFrame]
) -> Iterator[tuple[Store, dict[str, int]]]:
    """A local store where the demo leaves its copy, relative to the current folder as from the repository."""
    folder = tmp_path / RESULTS_DIR.relative_to(REPO)
    store = Store(f"file://{folder}")
    rows = write_every_report(store, make_traces)
    monkeypatch.chdir(tmp_path)
    yield store, rows


@pytest.fixture
def s3_reports(s3_server: S3Server, make_traces: Callable[..., pl.DataFrame]) -> Store:
    store = Store.from_settings(s3_settings(s3_server, f"t-{uuid.uuid4().hex[:12]}"))
    write_every_report(store, make_traces)
    return store


def httpfs_extension() -> str:
    """The extension's path, found with the command docs/reports.md gives for it."""
    command = documented_command("docs/reports.md", "python -c")
    code = command.removeprefix("python -c ").strip('"')
    found = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True)
    return found.stdout.strip()


def filled(query: Query, values: dict[str, str]) -> str:
    sql = query.sql
    for placeholder, value in values.items():
        sql = sql.replace(placeholder, value)
    left = PLACEHOLDER.findall(sql)
    assert not left, f"{query.doc} (block at line {query.line}): no value for {left} in\n{sql}"
    return sql


def run_doc(doc: str, values: dict[str, str]) -> list[tuple[Query, list[tuple[object, ...]]]]:
    """Run a doc's statements in order on one connection (a LOAD first: the docs load httpfs before any
    secret, offline); returns each SELECT's rows."""
    con = duckdb.connect()
    queries = sql_blocks(doc)
    ordered = [q for q in queries if q.sql.startswith("LOAD")] + [
        q for q in queries if not q.sql.startswith("LOAD")
    ]
    if not any(q.sql.startswith("LOAD") for q in queries):
        con.sql(f"LOAD '{values['<path to httpfs.duckdb_extension>']}'")
    results = []
    for query in ordered:
        sql = filled(query, values)
        try:
            relation = con.sql(sql)
            rows = relation.fetchall() if relation is not None else []
        except duckdb.Error as error:
            raise AssertionError(f"{doc} (block at line {query.line}) fails: {error}\n{sql}") from None
        results.append((query, rows))
    return results


def placeholder_values(local: Store, s3: Store, server: S3Server) -> dict[str, str]:
    return {
        "<root>": local.path(""),
        "s3://<bucket>/<prefix>": s3.url,
        "<access key id>": server.access_key_id,
        "<secret access key>": server.secret_access_key,
        "<host:port>": server.endpoint_url.removeprefix("http://"),
        "<path to httpfs.duckdb_extension>": httpfs_extension(),
    }


@pytest.mark.parametrize("doc", DOCS)
def test_every_documented_query_runs_on_a_store_with_every_report_table(
    doc: str, demo_copy: tuple[Store, dict[str, int]], s3_reports: Store, s3_server: S3Server
) -> None:
    local, _ = demo_copy
    results = run_doc(doc, placeholder_values(local, s3_reports, s3_server))
    selects = [(q, rows) for q, rows in results if "SELECT" in q.sql]
    assert selects, f"{doc} documents no query"
    for query, rows in selects:
        if "WHERE" not in query.sql:  # every table holds rows, so an unfiltered query must find some
            assert rows, f"{doc} (block at line {query.line}) finds no rows:\n{query.sql}"


def test_the_readme_reads_the_demo_copy_where_the_demo_leaves_it(
    demo_copy: tuple[Store, dict[str, int]],
) -> None:
    """Exactly as written (no placeholder): the folder the demo copies its store to, from the repository."""
    local_queries = [q for q in sql_blocks("README.md") if "read_parquet('.tracewatch/demo/" in q.sql]
    assert local_queries, "the README has no query over the demo's copy"
    for query in local_queries:
        assert duckdb.sql(query.sql).fetchall()


@pytest.mark.parametrize("doc", DOCS)
def test_the_one_documented_glob_reads_every_row_of_every_table(
    doc: str, demo_copy: tuple[Store, dict[str, int]]
) -> None:
    local, rows = demo_copy
    assert ONE_GLOB in (REPO / doc).read_text(), f"{doc} does not give the one glob {ONE_GLOB}"
    assert set(rows) == set(REPORT_TABLES)
    for name, count in rows.items():
        glob = local.path(ONE_GLOB.replace("<table>", name))
        frame = duckdb.sql(f"SELECT * FROM read_parquet('{glob}', hive_partitioning = true)").pl()
        assert frame.height == count, name
        assert frame.get_column("date").dtype == pl.Date, name
        partition = REPORT_TABLES[name].subpartition
        if partition:
            assert sorted(frame.get_column(partition).unique()) == list(EXPERIMENTS), name


def test_a_glob_one_level_per_folder_misses_the_experiment_tables(
    demo_copy: tuple[Store, dict[str, int]],
) -> None:
    """Why the docs give `**`: the experiment tables are one level deeper than `<table>/*/*.parquet` reaches."""
    local, _ = demo_copy
    deeper = [t.name for t in REPORT_TABLES.values() if t.subpartition]
    assert deeper
    for name in deeper:
        with pytest.raises(duckdb.IOException, match="No files found"):
            duckdb.sql(
                f"SELECT * FROM read_parquet('{local.path(f'reports/{name}/*/*.parquet')}')"
            ).fetchall()


def test_placeholder_pattern_catches_what_the_docs_would_leave() -> None:
    query = Query(
        "doc", 1, "SELECT * FROM read_parquet('<root>/reports/x/**/*.parquet') WHERE a <> b AND c < d"
    )
    with pytest.raises(AssertionError, match=r"no value for \['<root>'\]"):
        filled(query, {})
    assert "WHERE a <> b AND c < d" in filled(query, {"<root>": "/r"})
