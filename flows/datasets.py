"""Build a dataset by hand from the Prefect UI: a date range, filters, sampling strategies and a size.

Thin by design: the task body is one call into the `tracewatch` library.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from prefect import flow, task
from prefect.artifacts import create_markdown_artifact
from prefect.cache_policies import NO_CACHE

from flows.common import connect_store
from tracewatch.datasets.build import DatasetBuild, DatasetSpec, build_dataset_version
from tracewatch.runs import new_run_id
from tracewatch.store import Store

DEFAULT_STRATEGIES: list[dict[str, Any]] = [
    {"kind": "stratified", "by": ["route", "model"], "min_per_stratum": 2, "share": 0.7},
    {"kind": "failure", "low_feedback": {"thumbs": 0.5}, "share": 0.3},
]


@task(cache_policy=NO_CACHE)
def build_version(
    store: Store, spec: DatasetSpec, start: dt.date, end: dt.date, filters: dict[str, list[str]] | None
) -> DatasetBuild:
    return build_dataset_version(
        store, spec, start=start, end=end, run_id=new_run_id("dataset"), filters=filters
    )


@flow(name="build-dataset", flow_run_name="build-dataset-{name}-{start}..{end}", log_prints=True)
def build_dataset(
    name: str,
    start: dt.date,
    end: dt.date,
    budget: int = 100,
    strategies: list[dict[str, Any]] | None = None,
    filters: dict[str, list[str]] | None = None,
    seed: int = 0,
) -> dict[str, Any]:
    """Sample up to `budget` new items from the accepted traces of `start`..`end` into dataset `name`.

    `strategies` take the form of docs/datasets-sampling.md (default: stratified by route and model, plus
    failure-seeking); `filters` keep only traces whose column has one of the listed values, e.g.
    `{"route": ["billing"]}`. A rerun with the same parameters finds its version and adds nothing.
    """
    spec = DatasetSpec.from_dict(
        {
            "name": name,
            "sampling": {"budget": budget, "seed": seed, "strategies": strategies or DEFAULT_STRATEGIES},
        }
    )
    store = connect_store()
    build = build_version(store, spec, start, end, filters)
    create_markdown_artifact(
        key=f"dataset-{name}", markdown=f"# Dataset `{name}`\n\n{build.message}\n", description=build.message
    )
    return {
        "dataset": name,
        "version": build.manifest.version if build.manifest else None,
        "created": build.created,
        "items": build.items.height,
        "message": build.message,
    }
