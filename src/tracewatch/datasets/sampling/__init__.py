"""Sampling new dataset items from traces: composable, hash-deterministic strategies under a nightly budget.

`SamplingSpec.from_dict` builds a spec from YAML/Prefect parameters; `sample` runs it over a frame of traces;
`select_new_traces` adds de-duplication against the existing dataset. See docs/datasets-sampling.md.
"""

from tracewatch.datasets.sampling._pool import STRATUM
from tracewatch.datasets.sampling.engine import STRATEGY, sample
from tracewatch.datasets.sampling.failure import FailureSeeking
from tracewatch.datasets.sampling.novelty import Novelty
from tracewatch.datasets.sampling.pipeline import (
    CANDIDATES,
    NOT_SAMPLED,
    PICKED,
    Ranked,
    Selection,
    needs_signatures,
    rank,
    reference_for,
    select_new_traces,
    similarity_thresholds,
)
from tracewatch.datasets.sampling.spec import STRATEGIES, DedupSpec, SamplingSpec, SamplingStrategy
from tracewatch.datasets.sampling.stratified import Stratified
from tracewatch.datasets.sampling.uniform import Uniform

__all__ = [
    "CANDIDATES",
    "NOT_SAMPLED",
    "PICKED",
    "STRATEGIES",
    "STRATEGY",
    "STRATUM",
    "DedupSpec",
    "FailureSeeking",
    "Novelty",
    "Ranked",
    "SamplingSpec",
    "SamplingStrategy",
    "Selection",
    "Stratified",
    "Uniform",
    "needs_signatures",
    "rank",
    "reference_for",
    "sample",
    "select_new_traces",
    "similarity_thresholds",
]
