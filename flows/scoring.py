"""The scoring tasks the experiment and nightly flows share: thin wrappers, one library call each."""

from __future__ import annotations

import datetime as dt

from prefect import task
from prefect.cache_policies import NO_CACHE
from prefect.utilities.asyncutils import run_coro_as_sync

from flows.common import stage_task
from tracewatch.experiments import Experiment
from tracewatch.scoring import (
    DaySample,
    StageResult,
    TraceScoringSpec,
    experiment_suite,
    load_trace_scoring,
    score_experiment_answers,
    score_production_traces,
)
from tracewatch.store import Store


@task(cache_policy=NO_CACHE)
def check_scorers(experiment: Experiment) -> None:
    """Stop before any model call when the experiment's scorers are misconfigured."""
    experiment_suite(experiment)


@stage_task
async def score_experiment(
    store: Store, experiment_id: str, experiment: Experiment, day: dt.date, run_id: str
) -> StageResult:
    return await score_experiment_answers(store, experiment_id, experiment, day, run_id=run_id)


@task(cache_policy=NO_CACHE)
def trace_scoring_spec(source: str) -> TraceScoringSpec:
    return load_trace_scoring(source)


@stage_task
def score_traces(
    store: Store, day: dt.date, spec: TraceScoringSpec, run_id: str, picked: DaySample | None = None
) -> StageResult:
    """`picked`: the day's sample, picked file by file on the flow's runner (`day_sample` from the flow body)."""
    # Sync, for the sync nightly flow: judges are async calls, run on a loop of their own.
    result: StageResult = run_coro_as_sync(
        score_production_traces(store, day, spec, run_id=run_id, picked=picked)
    )
    return result
