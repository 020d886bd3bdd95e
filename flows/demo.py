"""`make demo`: 14 days of realistic traces with drift from day 10, run nightly over them, show the result.

With TRACEWATCH_STORE unset, the demo starts the embedded local S3 server (SeaweedFS) for its duration, with
data kept in `.tracewatch/s3`. With TRACEWATCH_STORE=file:///some/dir it uses that folder instead.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tracewatch.devservices.s3server import start_s3_server, stop_s3_server
from tracewatch.reports.overview import overview_text
from tracewatch.settings import Settings
from tracewatch.store import open_store
from tracewatch.traces.demo import DriftSpec, write_demo_traces

DEMO_PREFIX = "demo"
S3_DATA_DIR = Path(".tracewatch/s3")


@contextmanager
def embedded_store() -> Iterator[None]:
    """Point TRACEWATCH_STORE at the embedded S3 server unless the user chose a store."""
    if os.environ.get("TRACEWATCH_STORE"):
        yield
        return
    server = start_s3_server(S3_DATA_DIR.resolve())
    os.environ.update(server.environment("tracewatch", DEMO_PREFIX))
    try:
        yield
    finally:
        stop_s3_server(server)


def main(argv: list[str] | None = None) -> int:
    # Prefect's temporary local server can take a while to start on a busy 2-core machine.
    os.environ.setdefault("PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS", "180")
    os.environ.setdefault("PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW", "ignore")
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--days", type=int, default=14)
    parser.add_argument("--traces-per-day", type=int, default=2000)
    parser.add_argument("--drift-from-day", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    started = time.monotonic()
    end = dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)
    start = end - dt.timedelta(days=args.days - 1)
    with embedded_store():
        from flows.nightly import backfill  # after the store environment is set

        store = open_store(Settings())
        store.check()
        summary = write_demo_traces(
            store,
            start=start,
            days=args.days,
            traces_per_day=args.traces_per_day,
            seed=args.seed,
            drift=DriftSpec(from_day=args.drift_from_day),
        )
        print(
            f"wrote {sum(summary.rows_per_day.values())} demo traces for {start}..{end} to {store.url} "
            f"(planted: {len(summary.planted_rows)} malformed rows, {len(summary.planted_files)} unreadable file)"
        )
        backfill(start=start, end=end)
        print(overview_text(store, start, end))
    print(f"demo finished in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
