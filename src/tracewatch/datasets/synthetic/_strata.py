"""Which strata of a dataset are thin: the dataset spec's stratified strategy defines the strata (its `by`
columns), and a stratum with fewer items than the target is thin. Only strata with at least one real item
are considered, since the generator writes in the style of that stratum's real inputs."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from tracewatch.datasets.sampling.stratified import Stratified, stratum_ids
from tracewatch.datasets.spec import DatasetSpec
from tracewatch.errors import ConfigError

MAX_EXAMPLES = 5
"""Real inputs shown to the generator per request: enough for the style, few enough for a small model."""


@dataclass(frozen=True)
class Stratum:
    """A thin stratum: its label, its item count (synthetic items included: they fill it), and the real items
    shown to the generator (the first `MAX_EXAMPLES` non-synthetic ones by item id, so a rerun, even after
    adding synthetic items, conditions on the same ones)."""

    label: str
    count: int
    examples: pl.DataFrame
    """Rows of the stratum's items: `item_id`, `input_text` and the item columns a synthetic item copies."""


def strata_columns(spec: DatasetSpec) -> tuple[str, ...]:
    """The `by` columns of the spec's (first) stratified strategy: what a stratum is for this dataset."""
    for strategy in spec.sampling.strategies:
        if isinstance(strategy, Stratified):
            return tuple(strategy.by)
    raise ConfigError(
        f"dataset spec {spec.name!r} has no stratified strategy, so it defines no strata to fill; add one "
        "(e.g. {kind: stratified, by: [route]}) to its sampling.strategies"
    )


def thin_strata(items: pl.DataFrame, by: tuple[str, ...], target: int) -> list[Stratum]:
    """The strata of `items` (grouped by `by`) holding fewer than `target` items and at least one real
    (non-synthetic) item to imitate, thinnest first."""
    if target < 1:
        raise ConfigError(f"target per stratum must be at least 1, got {target}")
    missing = [c for c in by if c not in items.columns]
    if missing:
        raise ConfigError(f"the strata columns {missing} are not dataset item columns {items.columns}")
    if items.is_empty():
        return []
    ids, labels = stratum_ids(items, by)
    sizes = np.bincount(ids, minlength=len(labels))
    real = items.with_columns(pl.Series("_stratum", ids)).filter(pl.col("source") != "synthetic")
    grouped = real.sort("item_id")
    thin = []
    for index in np.argsort(sizes, kind="stable"):
        if sizes[index] >= target:
            break
        examples = grouped.filter(pl.col("_stratum") == int(index)).drop("_stratum").head(MAX_EXAMPLES)
        if examples.is_empty():
            continue
        thin.append(Stratum(label=str(labels[int(index)]), count=int(sizes[index]), examples=examples))
    return thin
