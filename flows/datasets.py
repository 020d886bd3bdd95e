"""Build a dataset by hand from the Prefect UI: a date range, filters, sampling strategies and a size.

Thin by design: the task body is one call into the `tracewatch` library.
"""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from prefect import flow
from prefect.artifacts import create_markdown_artifact
from pydantic import Field

from flows.common import connect_store, stage_task
from tracewatch.datasets import (
    DatasetBuild,
    DatasetSpec,
    FailureSeeking,
    SamplingSpec,
    SamplingStrategy,
    Stratified,
    build_dataset_version,
)
from tracewatch.runs import new_run_id
from tracewatch.store import Store

DEFAULT_STRATEGIES: tuple[SamplingStrategy, ...] = (
    Stratified(by=("route", "model"), min_per_stratum=2, share=0.7),
    FailureSeeking(low_feedback={"thumbs": 0.5}, share=0.3),
)


@stage_task
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
    budget: Annotated[int, Field(ge=1, le=1_000_000)] = 100,
    strategies: list[SamplingStrategy] | None = None,
    filters: dict[str, list[str]] | None = None,
    seed: Annotated[int, Field(ge=0)] = 0,
) -> dict[str, Any]:
    """Sample new items from the accepted traces of a date window into a new version of a dataset.

    A rerun with the same parameters finds its version and adds nothing.

    Args:
        name: The dataset to grow (letters, digits, '.', '_', '-'); a new name starts a new dataset.
        start: The window's first date (inclusive).
        end: The window's last date (inclusive, not before `start`).
        budget: At most this many new items.
        strategies: How the items are picked, in order (docs/datasets-sampling.md; default: stratified by
            route and model, 70%, plus failure-seeking, 30%).
        filters: Keep only traces whose column has one of the listed values, e.g. {"route": ["billing"]}.
        seed: Change it to draw a different sample.
    """
    chosen = tuple(strategies or DEFAULT_STRATEGIES)
    spec = DatasetSpec(name=name, sampling=SamplingSpec(budget=budget, seed=seed, strategies=chosen))
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
