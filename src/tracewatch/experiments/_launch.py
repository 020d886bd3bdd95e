"""What every entry point (the nightly flow, the manual experiment flow, the command line) does before the
runner: pick the dataset version, read its items, check the experiment against them, build the live runtime.

Everything here runs before the first call, so a bad dataset name, a template field the items lack or a
missing API key stops the run with a configuration error and nothing spent.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl

from tracewatch.datasets import latest_version, missing_dataset_error, read_version
from tracewatch.experiments._experiment import Experiment
from tracewatch.experiments._lifecycle import ExperimentSpec
from tracewatch.experiments._loading import load_experiment
from tracewatch.experiments._records import check_experiment_id
from tracewatch.llm import (
    CostBudget,
    Runtime,
    model_runtime,
)
from tracewatch.store import Store

_UNSAFE_ID = re.compile(r"[^A-Za-z0-9_.-]+")


@dataclass(frozen=True)
class DatasetInput:
    """The dataset version an experiment runs over, and its items."""

    dataset: str
    version: int
    items: pl.DataFrame


def dataset_input(store: Store, dataset: str, version: int | None = None) -> DatasetInput:
    """The items of `version` of `dataset` (default: its newest version)."""
    if version is None:
        version = latest_version(store, dataset)
        if version is None:
            raise missing_dataset_error(store, dataset)
    return DatasetInput(dataset, version, read_version(store, dataset, version))


def default_experiment_id(experiment: str, dataset: str, version: int) -> str:
    """One experiment per (experiment file, dataset version): a rerun of the same night resumes it."""
    return check_experiment_id(_UNSAFE_ID.sub("_", f"{experiment}-{dataset}-v{version}"))


def experiment_spec(
    experiment: Experiment,
    source: DatasetInput,
    *,
    experiment_id: str | None = None,
    trials: int = 1,
    budget_usd: float | None = None,
) -> ExperimentSpec:
    """The spec of a run of `experiment` over `source`, after checking that its templates can be filled."""
    experiment.check_items(source.items)
    return ExperimentSpec(
        experiment_id=experiment_id or default_experiment_id(experiment.name, source.dataset, source.version),
        dataset=source.dataset,
        dataset_version=source.version,
        trials=trials,
        budget_usd=budget_usd,
    )


@dataclass(frozen=True)
class Launch:
    """Everything checked and loaded before the first call: the experiment, its items and its spec."""

    experiment: Experiment
    source: DatasetInput
    spec: ExperimentSpec


def launch(
    store: Store,
    experiment: str | Path | Mapping[str, Any],
    dataset: str,
    version: int | None = None,
    *,
    experiment_id: str | None = None,
    trials: int = 1,
    budget_usd: float | None = None,
) -> Launch:
    """Load the experiment (providers and keys checked), read the dataset version, check the templates
    against its items and make the spec: what the flow and the command line do before any call."""
    loaded = load_experiment(experiment)
    source = dataset_input(store, dataset, version)
    source = dataclasses.replace(source, items=loaded.select_items(source.items))
    spec = experiment_spec(loaded, source, experiment_id=experiment_id, trials=trials, budget_usd=budget_usd)
    return Launch(loaded, source, spec)


def experiment_runtime(
    store: Store, experiment: Experiment, *, cache: bool = True, budget: CostBudget | None = None
) -> Runtime:
    """A fresh runtime for one run: the litellm client, the store's response cache and the experiment's limits.
    Close it with `await runtime.aclose()` on the loop that used it."""
    return model_runtime(store, experiment.limits, cache=cache, budget=budget)
