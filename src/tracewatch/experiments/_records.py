"""What an experiment writes: one Parquet row per (item, config, trial), and one JSON record per experiment.

Rows are written in parts, `warehouse/experiments/<experiment_id>/items/config=<fingerprint>/part-*.parquet`,
each part one atomic object. A rerun may write a second row for a key (an error retried, a skipped item run);
readers keep the latest row per key (see `_resume.latest_rows`), so no row is ever rewritten in place.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import polars as pl

from tracewatch.errors import ConfigError, DataContractError
from tracewatch.experiments._spend import format_spend
from tracewatch.paths import check_name
from tracewatch.reports import EXPERIMENT_ANSWER
from tracewatch.store import Store

EXPERIMENTS_PREFIX = "warehouse/experiments"
RECORD_NAME = "experiment.json"
RECORD_FORMAT = 1
ITEMS_SCHEMA_VERSION = 1

STATUSES: tuple[str, ...] = ("ok", "error", "skipped_budget")
"""Every row has one of these; `error` and `skipped_budget` rows carry the reason in `error`."""

KEY_COLUMNS: tuple[str, ...] = ("config_fingerprint", "item_id", "trial")
"""One experiment item: the latest row per key is the item's result."""

EXPERIMENT_ITEM_SCHEMA: dict[str, pl.DataType] = {
    "run_id": pl.String(),
    "experiment_id": pl.String(),
    "config_name": pl.String(),
    "config_fingerprint": pl.String(),
    "dataset": pl.String(),
    "dataset_version": pl.Int64(),
    "item_id": pl.String(),
    "trial": pl.Int64(),
    **EXPERIMENT_ANSWER,
    "attempts": pl.Int64(),
    "source_trace_id": pl.String(),
    "started_at": pl.Datetime("us", "UTC"),
    "finished_at": pl.Datetime("us", "UTC"),
}
"""Column -> type of an experiment item row (documented for users in docs/experiments.md). The answer's columns
are the ones the experiment_items report has too (`tracewatch.reports.EXPERIMENT_ANSWER`)."""


def check_experiment_id(experiment_id: str) -> str:
    """Refuse ids that would make awkward object keys."""
    return check_name(experiment_id, "experiment id")


def experiment_prefix(experiment_id: str) -> str:
    return f"{EXPERIMENTS_PREFIX}/{check_experiment_id(experiment_id)}"


def items_prefix(experiment_id: str, fingerprint: str | None = None) -> str:
    """Where the item parts of an experiment (or of one config of it) live."""
    base = f"{experiment_prefix(experiment_id)}/items"
    return base if fingerprint is None else f"{base}/config={fingerprint}"


def record_key(experiment_id: str) -> str:
    return f"{experiment_prefix(experiment_id)}/{RECORD_NAME}"


def new_part_key(experiment_id: str, fingerprint: str, chunk: str) -> str:
    """A fresh part name that sorts by write time, so "later part" is also "later write" on the read side."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%S%f")
    return f"{items_prefix(experiment_id, fingerprint)}/part-{stamp}-{chunk}-{uuid.uuid4().hex[:8]}.parquet"


def rows_to_frame(rows: Sequence[Mapping[str, Any]]) -> pl.DataFrame:
    """Buffered rows (plain dicts, built without polars on the hot path) as one typed frame."""
    return pl.DataFrame(list(rows), schema=EXPERIMENT_ITEM_SCHEMA)


def empty_experiment_items() -> pl.DataFrame:
    return pl.DataFrame(schema=EXPERIMENT_ITEM_SCHEMA)


@dataclass(frozen=True)
class ConfigEntry:
    """One config as the experiment record shows it: its name, fingerprint and full configuration."""

    name: str
    fingerprint: str
    config: dict[str, Any]


@dataclass(frozen=True)
class ExperimentRecord:
    """`experiment.json`: what was run (every config in full, dataset version, trials, budget), by which runs,
    and how it ended (counts per status; `missing` are keys no run has written yet)."""

    experiment_id: str
    dataset: str
    dataset_version: int
    trials: int
    budget_usd: float | None
    item_count: int
    configs: tuple[ConfigEntry, ...]
    run_ids: tuple[str, ...]
    created_at: dt.datetime
    updated_at: dt.datetime
    finished_at: dt.datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)
    counts_by_config: dict[str, dict[str, int]] = field(default_factory=dict)
    spent_usd: float = 0.0
    """The known cost of every uncached call; a lower bound when answers have no price (`unpriced_items`)."""
    unpriced_by_config: dict[str, int] = field(default_factory=dict)
    """Answers (latest `ok` rows) without a price, per config fingerprint."""
    items_schema_version: int = ITEMS_SCHEMA_VERSION
    record_format: int = RECORD_FORMAT

    @property
    def expected_rows(self) -> int:
        """Keys the experiment must account for: items x configs x trials."""
        return self.item_count * len(self.configs) * self.trials

    @property
    def unpriced_items(self) -> int:
        """Answers whose cost nobody knows: `spent_usd` leaves them out, so it is a lower bound (or unknown)."""
        return sum(self.unpriced_by_config.values())

    def unpriced_models(self) -> list[str]:
        """The models of the configs with answers without a price."""
        return sorted(
            {
                str(entry.config.get("model"))
                for entry in self.configs
                if self.unpriced_by_config.get(entry.fingerprint) and entry.config.get("model")
            }
        )

    def spend_text(self) -> str:
        """What the experiment cost, for people: e.g. "0.0123 USD", "0.0123 USD (12 items without a price:
        no price for model x)" or "unknown (40 items without a price: ...)", never a made-up 0."""
        return format_spend(
            self.spent_usd,
            unpriced_items=self.unpriced_items,
            answered=self.counts.get("ok"),
            models=self.unpriced_models(),
        )

    def config_rows(self) -> list[dict[str, Any]]:
        """One row per config: its name, baseline flag and counts per status (for tables and artifacts)."""
        return [
            {
                "config": entry.name,
                "baseline": bool(entry.config.get("baseline")),
                **self.counts_by_config.get(entry.fingerprint, {}),
            }
            for entry in self.configs
        ]

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["configs"] = [asdict(c) for c in self.configs]
        data["run_ids"] = list(self.run_ids)
        for name in ("created_at", "updated_at", "finished_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value is not None else None
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExperimentRecord:
        fields = dict(data)
        fields["configs"] = tuple(ConfigEntry(**c) for c in fields["configs"])
        fields["run_ids"] = tuple(fields["run_ids"])
        for name in ("created_at", "updated_at", "finished_at"):
            fields[name] = dt.datetime.fromisoformat(fields[name]) if fields.get(name) else None
        return cls(**fields)

    def merged_with(self, other: ExperimentRecord) -> ExperimentRecord:
        """This record extended by a rerun (`other`): the same dataset, version and trials, configs added,
        the run id appended. A rerun that changes what the experiment means is refused."""
        mine = (self.dataset, self.dataset_version, self.trials)
        theirs = (other.dataset, other.dataset_version, other.trials)
        if mine != theirs:
            raise ConfigError(
                f"experiment {self.experiment_id!r} was started with dataset, version, trials = {mine}; "
                f"a rerun cannot change them to {theirs}. Use a new experiment id."
            )
        known = {c.fingerprint for c in self.configs}
        configs = self.configs + tuple(c for c in other.configs if c.fingerprint not in known)
        run_ids = self.run_ids + tuple(r for r in other.run_ids if r not in self.run_ids)
        return replace(
            self,
            configs=configs,
            run_ids=run_ids,
            budget_usd=other.budget_usd,
            item_count=other.item_count,
            updated_at=other.updated_at,
            finished_at=None,
        )


def read_record(store: Store, experiment_id: str) -> ExperimentRecord | None:
    key = record_key(experiment_id)
    if not store.exists(key):
        return None
    try:
        return ExperimentRecord.from_json(store.read_json(key))
    except (KeyError, TypeError, ValueError) as exc:
        raise DataContractError(f"{key} is not a valid experiment record: {exc}") from exc


def write_record(store: Store, record: ExperimentRecord) -> None:
    store.write_json(record_key(record.experiment_id), record.to_json())


def list_records(store: Store) -> list[ExperimentRecord]:
    """Every experiment's record, oldest first."""
    ids = [
        obj.key[len(EXPERIMENTS_PREFIX) + 1 : -len(RECORD_NAME) - 1]
        for obj in store.list_objects(EXPERIMENTS_PREFIX, suffix=f"/{RECORD_NAME}")
    ]
    records = [record for record in (read_record(store, i) for i in ids if "/" not in i) if record]
    return sorted(records, key=lambda record: record.created_at)
