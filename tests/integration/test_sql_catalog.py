"""The SQL catalog against the local S3 server (SeaweedFS) holding every report table: DuckDB's views read every
row, the README's `tracewatch sql -c` query answers as DuckDB does over the raw glob, time shows in UTC in a
process whose own zone is not, no credential is ever printed, and the DDL for Trino, Athena and Spark matches
the Parquet files the writer wrote, table by table (column names, order, types, partition columns).

DuckDB over S3 and its Hive partitioning: https://duckdb.org/docs/extensions/httpfs/s3api,
https://duckdb.org/docs/data/partitioning/hive_partitioning. The engines' types:
https://trino.io/docs/current/language/types.html, https://docs.aws.amazon.com/athena/latest/ug/data-types.html,
https://spark.apache.org/docs/latest/sql-ref-datatypes.html
"""

from __future__ import annotations

import datetime as dt
import io
import re
import shlex
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from devtools.s3server import S3Server
from tests.conftest import TEST_BUCKET, canonical_traces, s3_settings
from tests.integration.test_documented_queries import (
    EXPERIMENTS,
    documented_command,
    sql_blocks,
    write_every_report,
)
from tests.support.ddl_text import read_tables
from tests.support.duckdb_s3 import duckdb_on
from tests.support.entry_point import Run, tracewatch
from tracewatch.catalog import DDL_DIALECTS, MASK, catalog_ddl, open_catalog
from tracewatch.cli import main
from tracewatch.reports import REPORT_TABLES
from tracewatch.store import Store

README_QUERY = re.compile(
    r"read_parquet\('[^']*/reports/(?P<table>\w+)/\*\*/\*\.parquet', hive_partitioning = true\)"
)


KEY_ID_QUERY = "SELECT regexp_extract(secret_string, 'key_id=([^;]+)', 1) AS key_id FROM duckdb_secrets()"
"""The key id DuckDB shows for the store's secret: what must come out masked."""
DEMO_STORE = "TRACEWATCH_STORE=file://$PWD/.tracewatch/demo"
"""How the README points the command at the demo's copy (the test points it at the S3 store instead)."""


class Reports:
    """A prefix of the S3 server holding every report table, and how to reach it."""

    def __init__(self, server: S3Server, prefix: str) -> None:
        self.server = server
        self.settings = s3_settings(server, prefix)
        self.store = Store.from_settings(self.settings)
        self.env = server.environment(TEST_BUCKET, prefix)
        self.rows = write_every_report(self.store, canonical_traces)

    def run(self, *args: str, cwd: Path, **env: str) -> Run:
        result = tracewatch("sql", *args, cwd=cwd, **self.env, **env)
        self.assert_no_credential(result.out + result.err)
        return result

    def assert_no_credential(self, lines: list[str]) -> None:
        text = "\n".join(lines)
        assert self.server.secret_access_key not in text
        assert self.server.access_key_id not in text


@pytest.fixture(scope="module")
def reports(s3_server: S3Server) -> Iterator[Reports]:
    yield Reports(s3_server, f"t-{uuid.uuid4().hex[:12]}")


def test_every_view_reads_every_row_over_s3(reports: Reports) -> None:
    with open_catalog(reports.store, reports.settings) as catalog:
        assert catalog.views == list(REPORT_TABLES)
        assert catalog.notes == []
        for name, count in reports.rows.items():
            assert catalog.query(f'SELECT count(*) FROM "{name}"').rows == [(count,)], name
            kinds = dict(catalog.connection.columns(f'SELECT * FROM "{name}"'))
            assert kinds["date"] == "DATE", name
            partition = REPORT_TABLES[name].subpartition
            if partition:
                found = catalog.query(f'SELECT DISTINCT "{partition}" FROM "{name}" ORDER BY 1').rows
                assert [row[0] for row in found] == list(EXPERIMENTS), name


def test_the_readme_query_through_tracewatch_sql(reports: Reports, tmp_path: Path) -> None:
    command = shlex.split(documented_command("README.md", f"{DEMO_STORE} tracewatch sql -c"))
    args = [word for word in command if not re.match(r"^[A-Z_]+=", word)]
    assert args[:3] == ["tracewatch", "sql", "-c"], command
    query = args[3]
    (readme_query,) = [
        q.sql for q in sql_blocks("README.md") if "trace_metrics_daily" in q.sql and "GROUP" in q.sql
    ]
    assert _spaced(README_QUERY.sub(lambda m: m["table"], readme_query)) == _spaced(query), (
        "the README's tracewatch sql -c query is not its DuckDB query on the view"
    )
    run = reports.run(*args[2:], cwd=tmp_path)
    assert run.status == 0, run.err
    glob = reports.store.uri("reports/trace_metrics_daily/**/*.parquet")
    direct = query.replace(
        "FROM trace_metrics_daily", f"FROM read_parquet('{glob}', hive_partitioning = true)"
    )
    expected = duckdb_on(reports.server).sql(direct).fetchall()
    assert len(expected) == 4  # two days x two models
    assert run.out[0].split() == ["date", "model", "traces", "p90_ms", "quarantined"]
    assert [line.split() for line in run.out[1:]] == [[str(value) for value in row] for row in expected]


def _spaced(sql: str) -> str:
    return " ".join(sql.split()).rstrip(";")


def test_time_is_utc_in_a_process_whose_zone_is_not(reports: Reports, tmp_path: Path) -> None:
    """Tokyo is UTC+9 all year: a session left in the process's zone would show 09:00:00+09."""
    day = min(reports.store.partitions("reports/trace_metrics_hourly"))
    query = "SELECT min(hour) AS first_hour, CAST(min(hour) AS VARCHAR) AS shown FROM trace_metrics_hourly"
    run = reports.run("-c", query, cwd=tmp_path, TZ="Asia/Tokyo")
    assert [re.split(r"\s{2,}", line) for line in run.out] == [
        ["first_hour", "shown"],
        [f"{day} 00:00:00+00:00", f"{day} 00:00:00+00"],
    ], run.err


def test_no_credential_is_ever_printed(
    reports: Reports, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """In this process (the command's own code path, as main() runs it), each way out: a table, the view
    list, a failed read with its traceback (-v), an error quoting the secret, and the prompt fed by a pipe."""
    for name, value in reports.env.items():
        monkeypatch.setenv(name, value)

    def sql(*args: str, stdin: str = "") -> tuple[int, str, str]:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        status = main(["sql", *args])
        out, err = capsys.readouterr()
        reports.assert_no_credential([out, err])
        return status, out, err

    status, out, _ = sql("-c", "SELECT name, secret_string FROM duckdb_secrets()")
    assert status == 0 and MASK in out  # DuckDB shows the key id; it is masked
    status, out, _ = sql("-c", KEY_ID_QUERY, "--format", "csv")
    assert status == 0 and out.splitlines() == ['"key_id"', f'"{MASK}"']
    assert sql("--list")[0] == 0
    missing = reports.store.uri("nowhere/*.parquet")
    status, _, err = sql("-v", "-c", f"SELECT * FROM read_parquet('{missing}')")
    assert status == 2 and "No files found" in err
    status, _, err = sql("-c", f"SELECT CAST('{reports.server.secret_access_key}' AS INTEGER)")
    assert status == 2 and MASK in err
    status, out, err = sql(stdin=f"{KEY_ID_QUERY};\nSELECT secret FROM nowhere;\n")
    assert status == 0 and MASK in out
    assert "Table with name nowhere does not exist" in err


def _expected_type(kind: pa.DataType, dialect: str) -> str:
    """The type each engine reads a Parquet column of Arrow type `kind` as, from the engines' type pages."""
    scalars = [
        (pa.types.is_boolean, ("boolean", "boolean", "BOOLEAN")),
        (pa.types.is_int64, ("bigint", "bigint", "BIGINT")),
        (pa.types.is_float64, ("double", "double", "DOUBLE")),
        (lambda t: pa.types.is_string(t) or pa.types.is_large_string(t), ("varchar", "string", "STRING")),
        (pa.types.is_date32, ("date", "date", "DATE")),
    ]
    index = ("trino", "athena", "spark").index(dialect)
    for test, names in scalars:
        if test(kind):
            return names[index]
    if pa.types.is_timestamp(kind):
        assert kind.tz == "UTC", f"report timestamps are UTC instants, found {kind}"
        return ("timestamp(3)", "timestamp", "TIMESTAMP")[index]
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        inner = _expected_type(kind.value_type, dialect)
        return (f"array({inner})", f"array<{inner}>", f"ARRAY<{inner}>")[index]
    if pa.types.is_struct(kind):
        fields = [
            (kind.field(i).name, _expected_type(kind.field(i).type, dialect)) for i in range(kind.num_fields)
        ]
        if dialect == "trino":
            return "row(" + ", ".join(f'"{n}" {t}' for n, t in fields) + ")"
        if dialect == "athena":
            return "struct<" + ",".join(f"{n}:{t}" for n, t in fields) + ">"
        return "STRUCT<" + ", ".join(f"`{n}`: {t}" for n, t in fields) + ">"
    raise AssertionError(f"no expected {dialect} type for Arrow type {kind}; add it from the engine's docs")


def _partition_type(value: str, dialect: str) -> str:
    try:
        dt.date.fromisoformat(value)
    except ValueError:
        return ("varchar", "string", "STRING")[("trino", "athena", "spark").index(dialect)]
    return ("date", "date", "DATE")[("trino", "athena", "spark").index(dialect)]


@pytest.mark.parametrize("dialect", DDL_DIALECTS)
def test_the_ddl_matches_every_written_parquet_file(reports: Reports, dialect: str) -> None:
    tables = read_tables(catalog_ddl(dialect, reports.store.url), dialect)
    assert set(tables) == set(REPORT_TABLES)
    for name in REPORT_TABLES:
        ddl = tables[name]
        parts = reports.store.list_objects(f"reports/{name}/", ".parquet")
        assert parts, name
        for part in parts:
            schema = pq.read_schema(io.BytesIO(reports.store.read_bytes(part.key)))
            levels = [segment.split("=", 1) for segment in part.key.split("/") if "=" in segment]
            expected = [(field.name, _expected_type(field.type, dialect)) for field in schema]
            expected += [(level, _partition_type(value, dialect)) for level, value in levels]
            assert ddl.columns == expected, f"{dialect} {name} vs {part.key}"
            assert ddl.partitions == [level for level, _ in levels], name
        assert ddl.location.rstrip("/") == reports.store.uri(f"reports/{name}")
