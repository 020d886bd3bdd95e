"""What a night's flow holds per file: the pickled size of each map's per-file result.

On the scaling benchmark's 1,000,000-trace day (10 files of 100,000 traces; `python -m bench.run --only scaling`
writes it under bench/work/ once), copied to a local folder and ingested, each per-file step of the night is run
on every file and its result pickled (what a worker sends back, and about what the flow holds while it gathers a
map). `python -m bench.part_sizes` prints, per map, the mean and largest part and what 100 files of them come to;
docs/scaling.md ("A day of any size in bounded memory") quotes it.
"""

from __future__ import annotations

import datetime as dt
import pickle
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tracewatch.datasets import load_dataset_spec, two_phase
from tracewatch.datasets.build import select_window
from tracewatch.drift.profile_parts import file_jobs, profile_file
from tracewatch.ingest import accepted_files, ingest_new_traces
from tracewatch.monitoring import METRIC_REDUCER
from tracewatch.monitoring.parts import file_bounded_parts, file_metric_parts
from tracewatch.part_map import in_process
from tracewatch.scoring.trace_sample import file_shortlist
from tracewatch.store import Store

DAY = dt.date(2026, 11, 20)
DAY_FOLDER = Path(__file__).parent / "work" / "scaling-day-1000000x10-seed7" / "traces"


def part_sizes(folder: Path = DAY_FOLDER) -> dict[str, list[int]]:
    """Per map, the pickled bytes of each file's result."""
    root = tempfile.mkdtemp(prefix="part-sizes-")
    shutil.copytree(folder, f"{root}/traces")
    store = Store(f"file://{root}")
    checked: list[list[Any]] = []

    def watching(step: Callable[[Any], Any], items: Sequence[Any], /) -> list[Any]:
        results = in_process(step, items)
        checked.append(results)
        return results

    ingest_new_traces(store, up_to=DAY, reducer=METRIC_REDUCER, part_map=watching)
    files = accepted_files(store, DAY)
    keys = tuple(f.key for f in files)
    shortlists: list[Any] = []
    phase_one = two_phase.part_shortlist

    def shortlisting(*args: Any) -> Any:
        shortlists.append(phase_one(*args))
        return shortlists[-1]

    two_phase.part_shortlist = shortlisting  # type: ignore[assignment]
    try:
        select_window(store, load_dataset_spec(), DAY, DAY, {}, part_map=in_process)
    finally:
        two_phase.part_shortlist = phase_one
    results = {
        "ingest check_file (a day within the budgets: hashes and values part)": checked[0],
        "monitoring part, a small day (values)": [file_metric_parts(store, f) for f in files],
        "monitoring part, a large day (bounded)": [file_bounded_parts(store, f) for f in files],
        "drift profile part": [
            profile_file(store, job) for job in file_jobs(files, [f.rows_accepted for f in files], DAY)
        ],
        "production-scoring shortlist": [
            file_shortlist(store, DAY, keys, 200, 50, 7, i) for i in range(len(keys))
        ],
        "dataset phase-one shortlist": shortlists[: len(files)],
    }
    shutil.rmtree(root)
    return {name: [len(pickle.dumps(r)) for r in found] for name, found in results.items()}


def main() -> None:
    for name, sizes in part_sizes().items():
        mean = sum(sizes) / len(sizes)
        print(
            f"{name}: {mean / 1e6:.2f} MB a file (largest {max(sizes) / 1e6:.2f}), 100 files {mean / 1e4:.0f} MB"
        )


if __name__ == "__main__":
    main()
