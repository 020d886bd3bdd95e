"""Real Great Expectations on a sample: the sample, the differential check against rowchecks, Data Docs.

GX takes seconds to import, so the GX runs happen once per module in fixtures and the tests read them.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import polars as pl
import pytest
from validation_frames import DAY, DAY_START, US, planted_day, traces

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.validation.gx_logging import GX_LOG_LEVEL_ENV, quiet_gx_loggers
from tracewatch.validation.gx_runner import GxRunResult, run_suite, sample_for_gx
from tracewatch.validation.offline_docs import OFFLINE_MARK
from tracewatch.validation.rowchecks import failing_rows, unexpected_counts
from tracewatch.validation.suite import ROW_ONLY_TYPES, Suite, load_suite

# --- sample_for_gx (no GX needed) -----------------------------------------------------------------------


def _numbered(n: int) -> pl.DataFrame:
    return pl.DataFrame({"i": range(n), "trace_id": [f"t{i % 700}" for i in range(n)]})


def test_sample_keeps_every_failing_row_fills_up_with_others_and_keeps_frame_order() -> None:
    frame = _numbered(5000)
    failing = [4999, 3, 17, 17, 2500, -1, 5000]  # duplicates and out-of-range numbers are ignored
    sample = sample_for_gx(frame, failing, max_rows=100, seed=1)
    rows = sample["i"].to_list()
    assert sample.height == 100
    assert {3, 17, 2500, 4999} <= set(rows)
    assert rows == sorted(rows)
    assert sample.columns == frame.columns


def test_sample_is_deterministic_per_seed() -> None:
    frame = _numbered(5000)
    first = sample_for_gx(frame, pl.Series([1, 2, 3]), max_rows=50, seed=7)
    assert first.equals(sample_for_gx(frame, pl.Series([1, 2, 3]), max_rows=50, seed=7))
    assert not first.equals(sample_for_gx(frame, pl.Series([1, 2, 3]), max_rows=50, seed=8))


def test_sample_caps_failing_rows_so_passing_rows_stay_visible() -> None:
    frame = _numbered(5000)
    failing = list(range(0, 5000, 2))
    sample = sample_for_gx(frame, failing, max_rows=100)
    kept = sample["i"].to_list()
    assert len(kept) == 100
    assert sum(1 for i in kept if i % 2 == 0) == 50
    capped = sample_for_gx(frame, failing, max_rows=100, max_failing=10)
    assert sum(1 for i in capped["i"].to_list() if i % 2 == 0) <= 10 + 45  # the rest come from all rows
    assert len(set(capped["i"].to_list()) & set(failing)) >= 10


def test_sample_brings_the_first_occurrence_of_sampled_duplicates() -> None:
    frame = _numbered(5000)  # t5 first appears at row 5; row 1405 repeats it
    sample = sample_for_gx(frame, [1405], max_rows=1, max_failing=1, unique_columns=["trace_id"])
    assert sample["i"].to_list() == [5, 1405]
    assert sample_for_gx(frame, [1405], max_rows=1, max_failing=1)["i"].to_list() == [1405]


def test_small_frames_are_taken_whole_and_bad_sizes_refused() -> None:
    frame = _numbered(30)
    assert sample_for_gx(frame, [], max_rows=100).equals(frame)
    assert sample_for_gx(frame.clear(), [], max_rows=100).height == 0
    with pytest.raises(ConfigError, match="max_rows"):
        sample_for_gx(frame, [], max_rows=0)


def test_run_suite_refuses_a_frame_without_the_suite_columns(trace_suite: Suite) -> None:
    with pytest.raises(DataContractError, match="latency_ms"):
        run_suite(traces({}).drop("latency_ms"), trace_suite, day=DAY)


def test_importing_the_package_does_not_import_great_expectations() -> None:
    code = "import sys, tracewatch.validation; print('great_expectations' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


# --- real GX, run once per module -------------------------------------------------------------------------


@dataclass(frozen=True)
class PlantedRun:
    sample: pl.DataFrame
    ours: dict[str, int]
    gx: GxRunResult
    docs_dir: Path
    cwd_after: list[str]


def _no_network(*args: object, **kwargs: object) -> None:
    raise AssertionError(f"network access attempted: {args!r}")


@pytest.fixture(scope="module")
def planted_run(trace_suite: Suite, tmp_path_factory: pytest.TempPathFactory) -> Iterator[PlantedRun]:
    """One day with planted violations: rowchecks on the whole day, then the GX sample with Data Docs,
    run from an empty working directory to catch any file GX would leave behind."""
    day_frame = planted_day(3000, seed=7)
    failing = failing_rows(day_frame, trace_suite, day=DAY)
    sample = sample_for_gx(day_frame, failing["row_nr"], max_rows=2000, unique_columns=["trace_id"])
    ours = unexpected_counts(failing_rows(sample, trace_suite, day=DAY), trace_suite)
    workdir = tmp_path_factory.mktemp("cwd")
    docs_dir = tmp_path_factory.mktemp("site") / "docs"
    previous = Path.cwd()
    os.chdir(workdir)
    try:
        with pytest.MonkeyPatch.context() as mp:  # GX may not phone home (analytics, version checks)
            mp.setattr(socket.socket, "connect", _no_network)
            mp.setattr(socket, "getaddrinfo", _no_network)
            result = run_suite(sample, trace_suite, day=DAY, docs_dir=docs_dir)
    finally:
        os.chdir(previous)
    yield PlantedRun(sample, ours, result, docs_dir, sorted(os.listdir(workdir)))


def test_gx_counts_equal_rowchecks_counts_except_the_documented_uniqueness_rule(
    planted_run: PlantedRun, trace_suite: Suite
) -> None:
    gx = planted_run.gx.by_id()
    assert list(gx) == [e.id for e in trace_suite.for_gx().expectations]
    assert all(r.exception is None for r in gx.values())
    assert all(r.element_count == planted_run.sample.height for r in gx.values())
    # every rule was actually exercised, or equality would prove little
    assert all(n > 0 for n in planted_run.ours.values()), planted_run.ours
    row_only = {e.id for e in trace_suite.expectations if e.type in ROW_ONLY_TYPES}
    for eid, ours in planted_run.ours.items():
        if eid == "trace_id_unique" or eid in row_only:
            continue
        assert gx[eid].unexpected_count == ours, eid
    # so GX counted the infinities (beyond a bound) the row-only finiteness rules also catch
    assert planted_run.sample.filter(pl.col("latency_ms") == math.inf).height > 0
    assert planted_run.sample.filter(pl.col("cost_usd") == -math.inf).height > 0
    # GX flags every copy of a duplicated value; rowchecks keeps the first copy of each
    ids = planted_run.sample.get_column("trace_id").drop_nulls()
    duplicated_values = ids.value_counts().filter(pl.col("count") > 1).height
    assert duplicated_values > 0
    assert gx["trace_id_unique"].unexpected_count == planted_run.ours["trace_id_unique"] + duplicated_values
    assert planted_run.gx.success is False
    assert all(not r.success for r in gx.values())


def test_gx_results_are_plain_python_values(planted_run: PlantedRun) -> None:
    gx = planted_run.gx.by_id()
    as_json = json.loads(json.dumps(planted_run.gx.to_json_dict()))
    assert as_json["expectations"][3]["id"] == "start_time_in_day"
    assert as_json["expectations"][3]["partial_unexpected_list"][0].endswith("+00:00")
    late = gx["start_time_in_day"].partial_unexpected_list
    assert late and all(isinstance(t, dt.datetime) and t.utcoffset() == dt.timedelta(0) for t in late)
    assert all(isinstance(v, float) and v < 0 for v in gx["latency_ms_non_negative"].partial_unexpected_list)
    assert set(gx["trace_id_not_null"].partial_unexpected_list) == {None}
    assert gx["cost_usd_non_negative"].missing_count > 0  # nulls and NaN are missing, not unexpected
    infinities = [
        v for r in as_json["expectations"] for v in r["partial_unexpected_list"] if v in ("inf", "-inf")
    ]
    assert infinities  # strict JSON has no Infinity: they are kept as text
    json.loads(json.dumps(as_json, allow_nan=False))


def test_data_docs_site_is_built_where_asked(planted_run: PlantedRun) -> None:
    index = planted_run.gx.docs_index
    assert index == planted_run.docs_dir / "index.html"
    assert "traces" in index.read_text(encoding="utf-8")
    pages = list((planted_run.docs_dir / "validations" / "traces" / DAY.isoformat()).rglob("*.html"))
    assert len(pages) == 1
    assert "latency_ms" in pages[0].read_text(encoding="utf-8")


_NETWORK_RESOURCE = re.compile(r"""<(?:link|script)\b[^>]*\b(?:href|src)=["']https?://|\bsrc=["']https?://""")


def test_data_docs_pages_load_no_style_or_script_from_the_network(planted_run: PlantedRun) -> None:
    """GX links Bootstrap, jQuery and bootstrap-table from CDNs (its templates' `js_script_imports.j2`); the built
    site must open offline with the index's run table drawn in the HTML."""
    pages = sorted(planted_run.docs_dir.rglob("*.html"))
    assert len(pages) == 3  # index, the suite, the day's validation
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert not _NETWORK_RESOURCE.search(text), (page, _NETWORK_RESOURCE.search(text))
        assert OFFLINE_MARK in text
    index = (planted_run.docs_dir / "index.html").read_text(encoding="utf-8")
    assert f"<td>{DAY.isoformat()}</td>" in index and "bootstrapTable(" not in index.split("</table>")[0]


_SKIPPING = "Skipping registering function"
_RUN_GX = f"""
import logging, sys
sys.path.insert(0, {str(Path(__file__).parent)!r})
logging.basicConfig(level=logging.INFO)  # as the demo and `make up` configure logging
from validation_frames import DAY, traces
from tracewatch.validation import load_suite, run_suite, trace_suite_path
run_suite(traces({{}}), load_suite(trace_suite_path()), day=DAY)
"""


@pytest.mark.parametrize(("level", "quiet"), [(None, True), ("INFO", False)])
def test_gx_logs_no_registration_lines_unless_asked(level: str | None, quiet: bool) -> None:
    """GX logs ~200 INFO lines when imported: none at the default level, all with TRACEWATCH_GX_LOG_LEVEL=INFO.
    A fresh interpreter, since the lines come only with the first import of GX."""
    env = {k: v for k, v in os.environ.items() if k != GX_LOG_LEVEL_ENV} | (
        {GX_LOG_LEVEL_ENV: level} if level else {}
    )
    out = subprocess.run([sys.executable, "-c", _RUN_GX], capture_output=True, text=True, env=env, check=True)
    assert (out.stderr.count(_SKIPPING) == 0) is quiet, out.stderr[-2000:]
    assert "tracewatch.validation.gx_runner:GX suite traces" in out.stderr  # our own lines stay


def test_a_bad_gx_log_level_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(GX_LOG_LEVEL_ENV, "loud")
    with pytest.raises(
        ConfigError, match="TRACEWATCH_GX_LOG_LEVEL='loud' is not a log level; expected one of DEBUG"
    ):
        quiet_gx_loggers()


def test_gx_leaves_nothing_in_the_working_directory(planted_run: PlantedRun) -> None:
    assert planted_run.cwd_after == []


def test_gx_agrees_on_edge_semantics_of_a_custom_suite() -> None:
    """NaN as null, infinities beyond bounds, strict and upper bounds, numeric sets, string bounds from
    parameters, min lengths; a row-only rule is left out of what GX is given."""

    def expectation(i: int, etype: str, **kwargs: object) -> dict[str, object]:
        return {"type": etype, "kwargs": kwargs, "meta": {"id": f"e{i}", "description": f"rule {i}"}}

    suite = load_suite(
        {
            "name": "edge",
            "expectations": [
                expectation(0, "expect_column_values_to_not_be_null", column="latency_ms"),
                expectation(1, "expect_column_values_to_be_between", column="latency_ms", max_value=10),
                expectation(
                    2, "expect_column_values_to_be_between", column="cost_usd", min_value=0, strict_min=True
                ),
                expectation(3, "expect_column_values_to_be_in_set", column="input_tokens", value_set=[1, 2]),
                expectation(
                    4,
                    "expect_column_values_to_be_between",
                    column="start_time",
                    min_value={"$PARAMETER": "since"},
                    max_value="2026-11-01T12:00:00+00:00",
                ),
                expectation(5, "expect_column_value_lengths_to_be_between", column="model", min_value=2),
                expectation(6, "expect_column_values_to_be_unique", column="project"),
                expectation(7, "expect_column_values_to_be_finite", column="cost_usd"),
            ],
        }
    )
    noon = DAY_START + dt.timedelta(hours=12)
    columns = ("latency_ms", "cost_usd", "input_tokens", "start_time", "model", "project")
    table = [
        (math.nan, 0.0, 1, noon, "ab", "x"),
        (math.inf, None, 3, noon + US, "a", "x"),
        (None, -math.inf, None, DAY_START, None, "x"),
        (10.0, math.nan, 2, None, "é", None),
    ]
    frame = traces(*(dict(zip(columns, row, strict=True)) for row in table))
    params = {"since": DAY_START + US}
    ours = unexpected_counts(failing_rows(frame, suite, day=DAY, parameters=params), suite)
    gx = run_suite(frame, suite, day=DAY, parameters=params).by_id()
    assert {eid: r.unexpected_count for eid, r in gx.items()} == {
        eid: n for eid, n in ours.items() if eid != "e7"
    } | {"e6": ours["e6"] + 1}
    assert ours == {"e0": 2, "e1": 1, "e2": 2, "e3": 1, "e4": 2, "e5": 2, "e6": 2, "e7": 2}
