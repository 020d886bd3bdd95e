"""The project filter: which report tables are per project, the projects a window holds, one window's data
narrowed to one project, where that project's page lives, and the selector at the top of each page.

A project name is free text (any Unicode, slashes, spaces), so its page's folder is an ASCII slug plus a hash
of the exact name: safe as an S3 key, a file name and a relative URL alike, and two names that slug the same
(`"a b"`, `"a/b"`) still get their own pages."""

from __future__ import annotations

import hashlib
import html
import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace

from tracewatch.dashboard._charts import Section
from tracewatch.dashboard._load import ReportData, TableRead
from tracewatch.errors import ConfigError
from tracewatch.reports import REPORT_TABLES

PROJECT_COLUMN = "project"
PROJECT_TABLES = frozenset(name for name, t in REPORT_TABLES.items() if PROJECT_COLUMN in t.schema)
"""Taken from the schemas the writer uses, so a table that gains a project column is filtered without a change
here."""

DrawnSection = tuple[Section, frozenset[str]]
"""A section as drawn, with the report tables it read."""

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def projects_in(data: ReportData) -> list[str]:
    """The projects named by any per-project table's rows in the window, sorted (an unknown project is not
    one: its rows stay on the all-projects page)."""
    found: set[str] = set()
    for name in PROJECT_TABLES & set(data.tables):
        frame = data.tables[name].frame
        if PROJECT_COLUMN in frame.columns:
            found.update(v for v in frame[PROJECT_COLUMN].unique().to_list() if v is not None)
    return sorted(found)


def check_project(project: str, projects: list[str]) -> None:
    """Refuse a project the window does not hold, naming the ones it does."""
    if project not in projects:
        present = ", ".join(projects) if projects else "none (no per-project rows in this window)"
        raise ConfigError(f"unknown project {project!r}: the projects present are {present}")


def project_data(data: ReportData, project: str) -> ReportData:
    """`data` with every per-project table narrowed to `project`'s rows; the other tables stay whole."""
    tables = dict(data.tables)
    for name in PROJECT_TABLES & set(tables):
        read = tables[name]
        if read.status == "missing":
            continue
        frame = read.frame.filter(read.frame[PROJECT_COLUMN] == project)
        tables[name] = replace(read, frame=frame, status="data" if frame.height else "empty")
    return replace(data, tables=tables)


class _Reads(Mapping[str, TableRead]):
    """The tables of a window, noting which ones a section looks at (iterating them all counts as all)."""

    def __init__(self, tables: Mapping[str, TableRead]) -> None:
        self._tables = tables
        self.read: set[str] = set()

    def __getitem__(self, name: str) -> TableRead:
        self.read.add(name)
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        self.read.update(self._tables)
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)


def draw_sections(
    makers: Sequence[Callable[[ReportData], Section]], data: ReportData, reuse: list[DrawnSection] | None
) -> list[DrawnSection]:
    """Each section drawn on `data`, with the tables it read. A section of `reuse` (the all-projects page's)
    that read no per-project table is taken as it is: the same whole tables draw the same charts, and
    drawing drift and experiments once per project would multiply the build time for nothing."""
    drawn: list[DrawnSection] = []
    for index, make in enumerate(makers):
        if reuse is not None and not reuse[index][1] & PROJECT_TABLES:
            drawn.append(reuse[index])
            continue
        reads = _Reads(data.tables)
        drawn.append((make(replace(data, tables=reads)), frozenset(reads.read)))
    return drawn


def whole_tables_note(data: ReportData) -> str:
    """The sentence a project's page shows about the tables it cannot narrow."""
    whole = sorted(n for n, t in data.tables.items() if n not in PROJECT_TABLES and t.has_rows)
    listed = ", ".join(whole) if whole else "none in this window"
    return f"Not per project (no project column), shown whole on every project's page: {listed}."


def project_slug(project: str) -> str:
    """The folder name of `project`'s page: its ASCII-safe letters plus 10 hex digits of its UTF-8 hash."""
    readable = _UNSAFE.sub("-", project).strip("-.")[:40]
    digest = hashlib.sha256(project.encode()).hexdigest()[:10]
    return f"{readable}-{digest}" if readable else digest


def project_page(project: str) -> str:
    """The page of `project`, relative to the site's root."""
    return f"project/{project_slug(project)}/index.html"


def selector(projects: list[str], shown: str | None, root: str) -> str:
    """The links at the top of a page: all projects, then each project, the one shown marked; `root` is the
    site's root relative to this page. Empty for one project or none (nothing to choose)."""
    if len(projects) < 2:
        return ""
    entries: list[tuple[str | None, str, str]] = [(None, "All projects", f"{root}index.html")]
    entries += [(p, p, f"{root}{project_page(p)}") for p in projects]
    links = "".join(
        f'<a href="{html.escape(href)}"'
        + (' aria-current="page"' if value == shown else "")
        + f">{html.escape(label)}</a>"
        for value, label, href in entries
    )
    current = "all projects" if shown is None else html.escape(shown)
    return (
        f'<p class="projects" data-project="{html.escape(shown or "")}">Project: <strong>{current}</strong>'
        f" &middot; {links}</p>"
    )
