"""`tracewatch sql` on a local store: the prompt (statements end with ';' and may span lines, an error does not
end it), one query as a table, CSV or Parquet, the view list, the DDL, and arguments that do not go together."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from tests.integration.test_documented_queries import value_row
from tracewatch.catalog import Catalog, Result, open_catalog, tables_named_in
from tracewatch.cli import main
from tracewatch.cli._sql_repl import MORE, PROMPT, run_repl
from tracewatch.reports import EXPERIMENT_ITEMS, INGEST_DAILY, publish_partition
from tracewatch.settings import Settings
from tracewatch.store import Store

DAY = dt.date(2026, 11, 1)


@pytest.fixture
def reports(file_store_env: Store) -> Store:
    for table, within in ((INGEST_DAILY, None), (EXPERIMENT_ITEMS, "exp-a")):
        frame = pl.DataFrame([value_row(table.schema, i) for i in range(2)], schema=table.schema)
        publish_partition(file_store_env, table, DAY, frame, run_id="r1", subpartition=within)
    return file_store_env


@pytest.fixture
def catalog(reports: Store) -> Iterator[Catalog]:
    with open_catalog(reports, Settings(store=reports.url)) as opened:
        yield opened


def _script(*lines: str | BaseException) -> tuple[list[str], object]:
    prompts: list[str] = []
    queue = list(lines)

    def read(prompt: str) -> str:
        prompts.append(prompt)
        if not queue:
            raise EOFError
        line = queue.pop(0)
        if isinstance(line, BaseException):
            raise line
        return line

    return prompts, read


def test_the_prompt_runs_statements_ending_with_a_semicolon(catalog: Catalog, tmp_path: Path) -> None:
    shown: list[Result] = []
    prompts, read = _script(
        "SELECT files,",
        "  rows_read FROM ingest_daily",
        "ORDER BY files;",
        "SELECT nope FROM ingest_daily;",
        "SELECT half",
        KeyboardInterrupt(),
        "",
        ".tables",
        "SELECT count(*) AS n FROM experiment_items;",
        ".quit",
        "SELECT 'never run';",
    )
    err = (tmp_path / "err.txt").open("w+")
    run_repl(catalog, shown.append, read=read, err=err)  # type: ignore[arg-type]
    err.seek(0)
    told = err.read()
    assert [r.rows for r in shown] == [[(1, 1), (2, 2)], [(2,)]]
    assert prompts[:3] == [PROMPT, MORE, MORE]
    assert 'Error: Binder Error: Referenced column "nope" not found' in told
    assert "^C" in told and "ingest_daily\nexperiment_items" in told
    assert len(prompts) == 10  # nothing read after .quit


def test_end_of_input_leaves_the_prompt(catalog: Catalog, tmp_path: Path) -> None:
    shown: list[Result] = []
    _, read = _script("SELECT 1;")
    with (tmp_path / "err.txt").open("w") as err:
        run_repl(catalog, shown.append, read=read, err=err)  # type: ignore[arg-type]
    assert [r.rows for r in shown] == [[(1,)]]


def test_one_query_as_a_table(reports: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert (
        main(["sql", "-c", "SELECT experiment_id, date, trial, error FROM experiment_items ORDER BY trial"])
        == 0
    )
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        "experiment_id  date        trial  error",
        "exp-a          2026-11-01  1      error-0",
        "exp-a          2026-11-01  2      error-1",
    ]
    assert "(2 rows)" in err and "not in this store yet" not in err  # only the views it names


def test_one_query_opens_only_the_views_it_names(reports: Store, capsys: pytest.CaptureFixture[str]) -> None:
    """Each view reads its parts' footers when it is created: a query pays only for the tables it names."""
    assert main(["sql", "-c", "SELECT count(*) AS views FROM duckdb_views() WHERE NOT internal"]) == 0
    assert capsys.readouterr().out.split() == ["views", "0"]
    assert main(["sql", "-c", "SELECT files FROM ingest_daily, drift"]) == 2
    err = capsys.readouterr().err
    assert (
        "1 report table(s) are not in this store yet, so they have no view" in err and err.count("drift") == 2
    )
    assert "Table with name drift does not exist" in err


def test_tables_named_in_a_query() -> None:
    named = tables_named_in('SELECT * FROM "quality" q JOIN Comparisons c USING (dataset) -- trace_quality_x')
    assert [t.name for t in named] == ["quality", "comparisons"]


def test_one_query_as_csv_with_nested_values_as_text(
    reports: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    query = "SELECT item_id, scores FROM experiment_items ORDER BY item_id"
    assert main(["sql", "-c", query, "--format", "csv"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == '"item_id","scores"'
    assert lines[1].startswith('"item_id-0","[{\'scorer\': scorer-0')
    assert len(lines) == 3


def test_an_empty_result_as_csv_keeps_its_header(reports: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "-c", "SELECT files FROM ingest_daily WHERE false", "--format", "csv"]) == 0
    assert capsys.readouterr().out.splitlines() == ['"files"']


def test_one_query_to_parquet(reports: Store, tmp_path: Path) -> None:
    target = tmp_path / "out.parquet"
    query = "SELECT date, experiment_id, scores FROM experiment_items"
    assert main(["sql", "-c", query, "--format", "parquet", "--output", str(target)]) == 0
    written = pl.read_parquet(target)
    assert written.height == 2
    assert written.schema["date"] == pl.Date and written.schema["scores"] == EXPERIMENT_ITEMS.schema["scores"]


def test_the_view_list(reports: Store, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["sql", "--list"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["VIEW", "COLUMN", "TYPE"]
    assert ["ingest_daily", "files", "BIGINT"] in [line.split() for line in lines]
    assert lines[-1].split() == ["experiment_items", "experiment_id", "VARCHAR"]


def test_ddl_to_a_file(reports: Store, tmp_path: Path) -> None:
    target = tmp_path / "tables.sql"
    assert main(["sql", "--ddl", "spark", "--database", "bi", "--output", str(target)]) == 0
    text = target.read_text()
    assert f"LOCATION '{reports.url}/reports/ingest_daily'" in text
    assert "MSCK REPAIR TABLE bi.ingest_daily;" in text


def test_ddl_for_athena_needs_an_s3_location_for_a_local_store(
    reports: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["sql", "--ddl", "athena"]) == 2
    assert "give --location s3://bucket/prefix" in capsys.readouterr().err
    assert main(["sql", "--ddl", "athena", "--location", "s3://bi/tw"]) == 0
    assert "LOCATION 's3://bi/tw/reports/drift/'" in capsys.readouterr().out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--format", "parquet", "-c", "SELECT 1"],
            "--format parquet writes a binary file: give --output FILE",
        ),
        (["--format", "csv"], "--format csv goes with -c SQL"),
        (["--output", "x.csv"], "--output goes with -c SQL or --ddl"),
        (["-c", "SELECT 1", "--output", "x.csv"], "add --format csv or --format parquet"),
        (["--location", "s3://b/p"], "--location and --database go with --ddl"),
        (["-c", "SELECT * FROM nowhere"], "Table with name nowhere does not exist"),
    ],
)
def test_arguments_and_queries_that_cannot_run_end_in_one_line(
    reports: Store, capsys: pytest.CaptureFixture[str], args: list[str], message: str
) -> None:
    assert main(["sql", *args]) == 2
    assert message in capsys.readouterr().err
