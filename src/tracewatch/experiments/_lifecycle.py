"""The experiment record's life: created (or extended by a rerun) before any chunk runs, completed with counts
per status after the last one. Only these two steps write `experiment.json`, so chunks running in parallel
never race on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace

from tracewatch.errors import ConfigError
from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._records import (
    STATUSES,
    ConfigEntry,
    ExperimentRecord,
    check_experiment_id,
    read_record,
    write_record,
)
from tracewatch.experiments._resume import count_statuses
from tracewatch.runs import utc_now
from tracewatch.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentSpec:
    """What an experiment is run over, beyond its configs: the dataset version, trials and cost cap."""

    experiment_id: str
    dataset: str
    dataset_version: int
    trials: int = 1
    budget_usd: float | None = None

    def __post_init__(self) -> None:
        check_experiment_id(self.experiment_id)
        if self.trials < 1:
            raise ConfigError(f"trials must be >= 1, got {self.trials}")


def config_entry(config: ExperimentConfig) -> ConfigEntry:
    return ConfigEntry(name=config.name, fingerprint=config.fingerprint(), config=config.describe())


def start_experiment(
    store: Store,
    spec: ExperimentSpec,
    configs: Sequence[ExperimentConfig],
    *,
    run_id: str,
    item_count: int,
) -> ExperimentRecord:
    """Write (or extend, for a rerun of the same id) the experiment record before any item runs."""
    now = utc_now()
    fresh = ExperimentRecord(
        experiment_id=spec.experiment_id,
        dataset=spec.dataset,
        dataset_version=spec.dataset_version,
        trials=spec.trials,
        budget_usd=spec.budget_usd,
        item_count=item_count,
        configs=tuple(config_entry(c) for c in configs),
        run_ids=(run_id,),
        created_at=now,
        updated_at=now,
    )
    existing = read_record(store, spec.experiment_id)
    record = fresh if existing is None else existing.merged_with(fresh)
    write_record(store, record)
    log.info(
        "experiment %s run %s: %d configs x %d items x %d trials%s",
        spec.experiment_id,
        run_id,
        len(record.configs),
        item_count,
        spec.trials,
        " (rerun)" if existing is not None else "",
    )
    return record


def finish_experiment(store: Store, experiment_id: str) -> ExperimentRecord:
    """Count the latest row of every key per status (and the keys still missing), and close the record."""
    record = read_record(store, experiment_id)
    if record is None:
        raise ConfigError(f"experiment {experiment_id!r} has no record; call start_experiment first")
    found = count_statuses(store, experiment_id)
    by_config: dict[str, dict[str, int]] = {}
    for entry in record.configs:
        counts = {status: found.count(entry.fingerprint, status) for status in STATUSES}
        counts["missing"] = record.item_count * record.trials - sum(counts.values())
        by_config[entry.fingerprint] = counts
    totals = {name: sum(c[name] for c in by_config.values()) for name in (*STATUSES, "missing")}
    spent = found.spent_usd
    now = utc_now()
    done = replace(
        record,
        counts=totals,
        counts_by_config=by_config,
        spent_usd=round(spent, 9),
        unpriced_by_config={
            e.fingerprint: found.unpriced_by_config.get(e.fingerprint, 0) for e in record.configs
        },
        updated_at=now,
        finished_at=now,
    )
    write_record(store, done)
    log.info("experiment %s finished: %s, %s spent", experiment_id, totals, done.spend_text())
    return done
