"""Planning an experiment: the items in a stable order, cut into chunks of one config and a slice of items.

A chunk is the coarse unit an orchestrator runs as one task. The order (by item_id) and the chunk indexes are
the same on every run of the same dataset version, so a chunk can be rerun on its own.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import polars as pl

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.experiments._config import ExperimentConfig

REQUIRED_ITEM_COLUMNS: tuple[str, ...] = ("item_id", "input_text", "expected_output", "source_trace_id")


@dataclass(frozen=True)
class ChunkPlan:
    """One coarse unit of work: config number `config_index`, items [start, stop) of the sorted items."""

    config_index: int
    chunk_index: int
    start: int
    stop: int

    @property
    def label(self) -> str:
        return f"c{self.chunk_index:05d}"

    def items(self, sorted_items: pl.DataFrame) -> pl.DataFrame:
        return sorted_items.slice(self.start, self.stop - self.start)


def prepare_items(items: pl.DataFrame) -> pl.DataFrame:
    """Items in the stable order chunks are cut from (by item_id); refuses frames that cannot be run."""
    missing = [c for c in REQUIRED_ITEM_COLUMNS if c not in items.columns]
    if missing:
        raise DataContractError(f"dataset items lack column(s) {missing}; see datasets.schema.ITEM_SCHEMA")
    if items.get_column("item_id").null_count() or items.get_column("item_id").n_unique() != items.height:
        raise DataContractError("dataset items must have unique, non-null item_id values")
    return items.sort("item_id")


def plan_chunks(config_count: int, item_count: int, chunk_size: int) -> list[ChunkPlan]:
    """Every config x slice of `chunk_size` items, config by config; chunk indexes are unique per experiment."""
    if chunk_size < 1:
        raise ConfigError(f"chunk_size must be >= 1, got {chunk_size}")
    plans: list[ChunkPlan] = []
    for config_index in range(config_count):
        for start in range(0, item_count, chunk_size):
            plans.append(ChunkPlan(config_index, len(plans), start, min(start + chunk_size, item_count)))
    return plans


def interleaved(plans: Sequence[ChunkPlan]) -> list[ChunkPlan]:
    """The order to start chunks in: slice by slice across the configs, so that configs on different providers
    run side by side instead of one provider after the other."""
    return sorted(plans, key=lambda plan: (plan.start, plan.config_index))


def check_configs(configs: Sequence[ExperimentConfig]) -> None:
    """Two configs with one fingerprint would write over each other's keys; two with one name confuse reports."""
    if not configs:
        raise ConfigError("an experiment needs at least one config")
    for what, values in (
        ("name", [c.name for c in configs]),
        ("fingerprint", [c.fingerprint() for c in configs]),
    ):
        repeated = sorted(v for v, n in Counter(values).items() if n > 1)
        if repeated:
            raise ConfigError(f"experiment configs must have distinct {what}s; repeated: {repeated}")
