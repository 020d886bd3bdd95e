"""Run identity: every output row records which run produced it."""

from __future__ import annotations

import datetime as dt
import uuid


def new_run_id(prefix: str = "run") -> str:
    """A sortable, unique run id such as `run-20261126T235959-1a2b3c4d`."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S")
    return f"{prefix}-{stamp}-{uuid.uuid4().hex[:8]}"


def utc_now() -> dt.datetime:
    """Now, timezone-aware in UTC: every timestamp tracewatch writes is UTC."""
    return dt.datetime.now(dt.UTC)
