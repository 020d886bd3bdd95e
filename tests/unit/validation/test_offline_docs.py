"""The offline rewrite of GX Data Docs pages, on a page shaped as GX 1.x writes its index (`index_page.j2`,
`js_script_imports.j2`, `bootstrap_table.j2` in great_expectations/render/view/templates); the real site built
by GX is checked in test_gx_runner.py."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tracewatch.errors import DataContractError
from tracewatch.validation.offline_docs import OFFLINE_MARK, make_site_offline, offline_html

GX_INDEX = """<!DOCTYPE html>
<html>
  <head>
    <link rel="stylesheet" href="https://maxcdn.bootstrapcdn.com/bootstrap/4.3.1/css/bootstrap.min.css"/>
    <link rel="stylesheet" type="text/css" href="https://unpkg.com/bootstrap-table@1.19.0/dist/x.min.css">
    <style>.ge-own { color: red; } .logo { background: url('https://assets.example/full_logo_dark.png'); }</style>
<script src="https://code.jquery.com/jquery-3.7.1.min.js"></script>
<script src="https://stackpath.bootstrapcdn.com/bootstrap/4.3.1/js/bootstrap.min.js" integrity="sha384-x" \
crossorigin="anonymous"></script>
  </head>
  <body>
    <img
            src="https://assets.example/logo-long.png?d=20261207T005643Z"
            alt="Great Expectations">
    <a href="https://greatexpectations.io">Great Expectations</a>
<table
  id="section-1-content-block-2-1-body-table"
  class="table-sm ge-index-page-validation-results-table"
  data-toggle="table"
>
</table>
<script>
  $('#section-1-content-block-2-1-body-table').bootstrapTable(
    Object.assign(
      {
        columns: [{'field': 'validation_success', 'title': 'Status'}, {'field': 'run_name', 'title': 'Run Name'}],
        data: [{'validation_success': '<i class="fas fa-times text-danger"></i>', 'run_name': '2026-11-01', \
'_table_row_link_path': 'validations/traces/2026-11-01/run/tracewatch-traces.html'}],
        toolbar: '#section-1-content-block-2-1-body-table-toolbar'
      },
      {'search': 'true', 'sortName': 'run_time'}
    )
  );
</script>
  </body>
</html>
"""
_NETWORK = re.compile(
    r"""<(link|script)\b[^>]*\b(href|src)=["']https?://|\bsrc=["']https?://|url\(["']?https?://"""
)


def test_the_page_loads_nothing_from_the_network_and_keeps_its_links() -> None:
    page, removed, tables = offline_html(GX_INDEX)
    assert (removed, tables) == (4, 1)
    assert not _NETWORK.search(page), _NETWORK.search(page)
    assert '<a href="https://greatexpectations.io">' in page  # a link to follow is not a resource to load
    assert 'alt="Great Expectations"' in page and ".ge-own { color: red; }" in page  # GX's own styles stay


def test_the_index_table_is_written_into_the_html_with_a_link_to_each_run() -> None:
    page, _, _ = offline_html(GX_INDEX)
    assert "bootstrapTable" not in page
    table = page[page.index('<table id="section-1-content-block-2-1-body-table"') : page.index("</table>")]
    assert "<th>Status</th><th>Run Name</th><th>page</th>" in table
    assert (
        '<td>2026-11-01</td><td><a href="validations/traces/2026-11-01/run/tracewatch-traces.html">open</a>'
        in (table)
    )
    assert 'class="table-sm ge-index-page-validation-results-table"' in table  # GX's attributes kept


def test_the_page_says_it_is_an_offline_copy_and_styles_itself_once() -> None:
    once, _, _ = offline_html(GX_INDEX)
    twice, removed, tables = offline_html(once)
    assert once.count(f'<style id="{OFFLINE_MARK}">') == 1 and "Offline copy made by tracewatch" in once
    assert (twice, removed, tables) == (once, 0, 0)  # a second pass changes nothing


def test_a_table_script_of_another_shape_is_refused_not_left_blank() -> None:
    changed = GX_INDEX.replace("columns: [", "columns:\n[")  # what a changed GX template could write
    with pytest.raises(DataContractError, match="bootstrap-table"):
        offline_html(changed)


def test_table_data_that_is_no_literal_is_refused() -> None:
    with pytest.raises(DataContractError, match="not a Python literal"):
        offline_html(GX_INDEX.replace("data: [{", "data: [f(){"))


def test_a_site_is_rewritten_in_place_stylesheets_included(tmp_path: Path) -> None:
    (tmp_path / "validations").mkdir()
    (tmp_path / "index.html").write_text(GX_INDEX, encoding="utf-8")
    (tmp_path / "validations" / "run.html").write_text(GX_INDEX, encoding="utf-8")
    (tmp_path / "site.css").write_text(
        ".x { background: url('https://assets.example/a.png') }", encoding="utf-8"
    )
    done = make_site_offline(tmp_path)
    assert (done.pages, done.cdn_tags_removed, done.tables_rendered) == (2, 8, 2)
    for path in tmp_path.rglob("*.*"):
        assert not _NETWORK.search(path.read_text(encoding="utf-8")), path
