"""The datasets benchmark's second baseline scans exactly the columns the nightly build reads."""

from __future__ import annotations

from bench.datasets_bench import SAME_COLUMNS

from tracewatch.datasets.build import CANDIDATE_COLUMNS
from tracewatch.datasets.spec import load_dataset_spec


def test_the_same_columns_baseline_reads_what_the_nightly_build_reads() -> None:
    spec = load_dataset_spec()
    assert set(SAME_COLUMNS) == {*CANDIDATE_COLUMNS, *spec.sampling.columns()}
