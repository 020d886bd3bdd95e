"""The night's dashboard: rebuilt from the report tables once they are published, and linked from the night's
summary. A failed build is a warning in the summary, never a failed night: the reports are already out."""

from __future__ import annotations

import logging

from flows.common import stage_task
from tracewatch.dashboard import DashboardBuild, build_dashboard
from tracewatch.store import Store

log = logging.getLogger(__name__)


@stage_task
def rebuild_dashboard(store: Store) -> DashboardBuild:
    return build_dashboard(store)


def dashboard_markdown(store: Store) -> str:
    """The summary's "Dashboard" section: where the rebuilt page is, or why it was not rebuilt."""
    try:
        built = rebuild_dashboard(store)
    except Exception as exc:  # any failure of the page must leave the night's reports and artifact standing
        log.warning("the dashboard was not rebuilt (the night's reports are published): %s", exc)
        return (
            f"**Warning:** the dashboard was not rebuilt: {type(exc).__name__}: {exc}. The night's reports are "
            "published; `tracewatch dashboard` rebuilds it from them."
        )
    opened = (
        "open it in a browser (it needs no network)"
        if store.protocol == "file"
        else "copy it to a local folder to open it: `tracewatch dashboard --out <folder>`"
    )
    return (
        f"[Dashboard of {built.start}..{built.end} (UTC)]({built.uri}): `{built.uri}`; {opened}. "
        f"{built.charts} charts" + (f", {built.empty} with nothing to show yet" if built.empty else "") + "."
    )
