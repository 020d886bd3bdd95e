"""The static dashboard: one offline HTML page of charts, rebuilt from the report tables alone.

Above the stages, beside `summaries`: it reads `reports/<table>/**/*.parquet` through the store and writes
`reports/_site/`. See docs/dashboard.md.
"""

from tracewatch.dashboard._build import INDEX_KEY, SITE_PREFIX, DashboardBuild, build_dashboard
from tracewatch.dashboard._load import ReportData, TableRead, load_reports, report_dates
from tracewatch.dashboard._local import copy_site, local_site, site_server
from tracewatch.dashboard._projects import project_page

__all__ = [
    "INDEX_KEY",
    "SITE_PREFIX",
    "DashboardBuild",
    "ReportData",
    "TableRead",
    "build_dashboard",
    "copy_site",
    "load_reports",
    "local_site",
    "project_page",
    "report_dates",
    "site_server",
]
