"""`python -m bench.reliability [--items N] [--table]` (`make reliability`): the full-size provider fault storm
(N items x 2 configs, default 10,000, then the same run without faults for the throughput), its row in the
figures table, and the table rebuilt (bench/results/reliability.json and .md, the README summary). `--table`
only rebuilds the table from bench/reliability/rows.json (after a row was added by hand)."""

from __future__ import annotations

import argparse
import logging
import tempfile
from pathlib import Path

from bench.common import machine_info
from bench.reliability.figures import Row, load_rows, publish, save_rows, upsert
from bench.reliability.storm import STORM, StormResult, run_storm
from tracewatch.store import Store

log = logging.getLogger("bench.reliability")


def storm_row(storm: StormResult, clean: StormResult) -> Row:
    errors = storm.statuses.get("error", 0)
    return Row(
        id="provider-storm",
        case="provider fault storm: 20% 429 (half without Retry-After), 5% 500/503, 2% timeouts, "
        "1% malformed JSON, 1% connection resets",
        runs=1,
        items=f"{storm.items:,} items x {storm.configs} configs",
        lost=storm.lost,
        duplicated=storm.duplicated + storm.answered_twice,
        outcome=(
            f"{storm.statuses.get('ok', 0):,} ok, {errors:,} error with reason ({storm.unexplained} without); "
            f"{storm.requests:,} requests; {storm.items_per_s} items/s against {clean.items_per_s} without "
            f"faults ({clean.items_per_s / storm.items_per_s:.1f}x slower)"
        ),
        test="make reliability; tests/reliability/test_faults_storm.py (200 x 2)",
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.reliability", description=__doc__)
    parser.add_argument("--items", type=int, default=10_000, help="items per config in the storm")
    parser.add_argument("--table", action="store_true", help="only rebuild the table from rows.json")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    rows = load_rows()
    extra = {}
    if not args.table:
        with tempfile.TemporaryDirectory(prefix="tracewatch-storm-") as tmp:
            folder = Path(tmp) / "store"
            folder.mkdir()
            store = Store(f"file://{folder}")
            log.info("storm: %d items x 2 configs with faults %s", args.items, STORM)
            storm = run_storm(store, args.items, faults=STORM)
            log.info("storm done: %s", storm)
            clean = run_storm(store, args.items, faults={})
            log.info("fault-free run done: %s", clean)
        rows = upsert(load_rows(), storm_row(storm, clean))  # rows added while the storm ran are kept
        save_rows(rows)
        extra = {
            "storm": storm.to_json(),
            "fault_free": clean.to_json(),
            "machine": machine_info(),
            "note": "",
        }
    publish(rows, extra)


if __name__ == "__main__":
    main()
