"""Run the benchmarks and publish their results: `python -m bench.run [--repeats N] [--rows N]` (`make bench`).

Writes bench/results/ingest.json (every raw timing, the medians, ratio, peak RSS and the machine) and
bench/results/ingest.md (the table), and puts the table between the bench markers of README.md.
"""

from __future__ import annotations

import argparse
import json
import logging
import re
import time
from pathlib import Path

from bench.ingest_bench import REPO, run_benchmark, to_markdown

RESULTS = REPO / "bench" / "results"
WORK = REPO / "bench" / "work"  # git-ignored: the S3 server's data while a run lasts
README = REPO / "README.md"
START, END = "<!-- bench:start -->", "<!-- bench:end -->"

log = logging.getLogger("bench")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per side; medians are reported")
    parser.add_argument("--rows", type=int, default=1_000_000, help="traces in the day (10 files)")
    args = parser.parse_args(argv)
    if args.repeats < 1 or args.rows < 10:
        parser.error("--repeats must be >= 1 and --rows >= 10")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s", datefmt="%H:%M:%S")

    started = time.perf_counter()
    summary = run_benchmark(rows=args.rows, repeats=args.repeats, work_dir=WORK)
    summary["bench_wall_s"] = round(time.perf_counter() - started, 1)
    table = to_markdown(summary)

    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "ingest.json").write_text(json.dumps(summary, indent=2) + "\n")
    (RESULTS / "ingest.md").write_text(table)
    update_readme(README, table)
    print(table)
    log.info("done in %.0f s; results in %s", summary["bench_wall_s"], RESULTS.relative_to(REPO))


def update_readme(readme: Path, table: str) -> None:
    """Replace what lies between the bench markers; touch nothing else, and say so if they are missing."""
    text = readme.read_text()
    pattern = re.compile(rf"{re.escape(START)}.*?{re.escape(END)}", re.DOTALL)
    if not pattern.search(text):
        print(
            f"note: {readme.name} has no {START} ... {END} markers; the table is in bench/results/ingest.md"
        )
        return
    readme.write_text(pattern.sub(lambda _: f"{START}\n{table}{END}", text, count=1))


if __name__ == "__main__":
    main()
