"""Make a Great Expectations Data Docs site readable with no network.

GX's pages load Bootstrap, jQuery, bootstrap-table, Font Awesome and Vega from public CDNs, and its index page
builds its two tables (validation runs, suites) in the browser with bootstrap-table: opened offline (an air-gapped
machine, a demo on a train) the index is blank. The installed great_expectations package ships none of those
files (only its own CSS, fonts and images, which the site already holds), so instead of local copies of the CDN
files this rewrites each page to need none: the CDN `<link>`/`<script>` tags go, the index's tables are written
into the HTML from the data GX embeds in its scripts, and a small inline stylesheet keeps the pages legible
(GX's own inline styles stay). Sorting, filtering and collapsing, which those scripts did, are lost.
"""

from __future__ import annotations

import ast
import html
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracewatch.errors import DataContractError

log = logging.getLogger(__name__)

_CDN_TAG = re.compile(
    r"""<link\b[^>]*\bhref=["']https?://[^>]*>"""
    r"""|<script\b[^>]*\bsrc=["']https?://[^>]*>\s*</script>""",
    re.IGNORECASE,
)
# Remote images (GX's logo, fetched with a time stamp on every view) and CSS backgrounds: their alt text stays.
_REMOTE_SRC = re.compile(r"""\s\bsrc=(["'])https?://.*?\1""", re.IGNORECASE | re.DOTALL)
_REMOTE_URL = re.compile(r"""url\((["']?)https?://[^)]*\)""", re.IGNORECASE)
# The script GX's `bootstrap_table.j2` writes per table: its columns and rows are Python literals, one line each.
_TABLE_SCRIPT = re.compile(
    r"<script>\s*\$\('#(?P<id>[\w-]+)'\)\.bootstrapTable\(\s*Object\.assign\(\s*\{\s*"
    r"columns: (?P<columns>\[[^\n]*\]),\n\s*data: (?P<data>\[[^\n]*\]),\n.*?</script>",
    re.DOTALL,
)
_TABLE_CALL = re.compile(r"\.bootstrapTable\(\s*Object\.assign")
_ROW_LINK = "_table_row_link_path"
OFFLINE_MARK = "tracewatch-offline-docs"
"""The id of the stylesheet this module adds: a page that has it was rewritten."""

_STYLE = f"""<style id="{OFFLINE_MARK}">
/* tracewatch: this copy needs no network (docs/validation.md, "Data Docs offline"). */
body {{ font-family: system-ui, sans-serif; margin: 1rem 2rem; color: #222; }}
table {{ border-collapse: collapse; margin: 0.5rem 0 1.5rem; }}
th, td {{ border: 1px solid #ccc; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; }}
nav ul, .nav {{ list-style: none; padding: 0; }}
.nav li {{ display: inline-block; margin-right: 1rem; }}
.text-danger {{ color: #b00020; }}
.text-success {{ color: #1b7f3b; }}
.fa-times::before {{ content: "\\2717  failed"; }}
.fa-check-circle::before, .fa-check::before {{ content: "\\2713  passed"; }}
.btn, button {{ display: none; }}
.tw-offline-note {{ background: #fff8e1; border: 1px solid #e0c060; padding: 0.5rem 1rem; }}
</style>"""
_NOTE = (
    '<p class="tw-offline-note">Offline copy made by tracewatch: the styles and scripts Great Expectations loads '
    "from CDNs were left out, so tables are plain and do not sort or filter.</p>"
)


@dataclass(frozen=True)
class OfflineSite:
    """What the rewrite did to a site: pages rewritten, CDN tags removed, tables written into the HTML."""

    pages: int
    cdn_tags_removed: int
    tables_rendered: int


def make_site_offline(site_dir: Path) -> OfflineSite:
    """Rewrite every HTML page under `site_dir` (and its stylesheets) in place so it loads nothing from the
    network.

    Raises DataContractError when a page still holds a table only a CDN script could draw (a GX release whose
    templates changed): an index page that opens blank is what this exists to prevent.
    """
    pages = tags = tables = 0
    for page in sorted(site_dir.rglob("*.html")):
        text, removed, rendered = offline_html(page.read_text(encoding="utf-8"))
        page.write_text(text, encoding="utf-8")
        pages, tags, tables = pages + 1, tags + removed, tables + rendered
    for sheet in sorted(site_dir.rglob("*.css")):
        sheet.write_text(_REMOTE_URL.sub("none", sheet.read_text(encoding="utf-8")), encoding="utf-8")
    log.debug("Data Docs at %s made offline: %d page(s), %d CDN tag(s) removed", site_dir, pages, tags)
    return OfflineSite(pages, tags, tables)


def offline_html(page: str) -> tuple[str, int, int]:
    """One page without CDN tags or remote images, its bootstrap-table tables drawn: (html, tags removed,
    tables drawn)."""
    page, removed = _CDN_TAG.subn("", page)
    page = _REMOTE_URL.sub("none", _REMOTE_SRC.sub("", page))
    rendered = 0
    for match in list(_TABLE_SCRIPT.finditer(page)):
        table_id = match["id"]
        columns = _literal(match["columns"], table_id)
        rows = _literal(match["data"], table_id)
        page = page.replace(match[0], "")
        empty = re.search(rf'<table\s+id="{re.escape(table_id)}"(?P<attrs>[^>]*)>\s*</table>', page)
        if empty is None:
            raise DataContractError(
                f"Data Docs table {table_id!r}: its script has data but the page no empty table"
            )
        drawn = f'<table id="{table_id}"{empty["attrs"]}>{_table_body(columns, rows)}</table>'
        page = page[: empty.start()] + drawn + page[empty.end() :]
        rendered += 1
    if _TABLE_CALL.search(page):
        raise DataContractError(
            "a Data Docs page still draws a table with bootstrap-table after the offline rewrite; the installed "
            "great_expectations writes its tables differently than tracewatch.validation.offline_docs expects"
        )
    if OFFLINE_MARK not in page:
        page = page.replace("</head>", f"{_STYLE}\n</head>", 1)
        page = re.sub(r"(<body[^>]*>)", rf"\1\n{_NOTE}", page, count=1)
    return page, removed, rendered


def _literal(text: str, table_id: str) -> list[dict[str, Any]]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError) as error:
        raise DataContractError(
            f"Data Docs table {table_id!r}: its data is not a Python literal ({error})"
        ) from error
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise DataContractError(
            f"Data Docs table {table_id!r}: expected a list of objects, got {type(value).__name__}"
        )
    return value


def _table_body(columns: Sequence[Mapping[str, Any]], rows: Sequence[Mapping[str, Any]]) -> str:
    """The header and rows, cells as GX rendered them (HTML it made), plus a link to each row's page."""
    linked = any(_ROW_LINK in row for row in rows)
    head = "".join(f"<th>{html.escape(str(c.get('title', c['field'])))}</th>" for c in columns)
    head += "<th>page</th>" if linked else ""
    body = []
    for row in rows:
        cells = "".join(f"<td>{row.get(c['field'], '')}</td>" for c in columns)
        if linked:
            link = row.get(_ROW_LINK)
            cells += (
                f'<td><a href="{html.escape(str(link), quote=True)}">open</a></td>' if link else "<td></td>"
            )
        body.append(f"<tr>{cells}</tr>")
    return f"<thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody>"
