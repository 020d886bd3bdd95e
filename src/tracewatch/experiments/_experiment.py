"""An experiment: a named set of configs with exactly one baseline, which every other config is compared with,
and what applies to all of them (provider limits, scorers, the output suite)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import field
from typing import Any

import polars as pl
from pydantic.dataclasses import dataclass

from tracewatch.datasets import ITEM_SOURCES
from tracewatch.errors import ConfigError
from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._templates import available_fields, has_value
from tracewatch.llm import STRICT_CONFIG, LimitSettings
from tracewatch.paths import check_name


@dataclass(frozen=True, config=STRICT_CONFIG)
class Experiment:
    """A named set of configs with exactly one baseline (the first one unless one is marked)."""

    name: str
    configs: tuple[ExperimentConfig, ...]
    description: str = ""
    limits: Mapping[str, LimitSettings] = field(default_factory=dict, hash=False)
    """Concurrency and rate limits by model string or provider (see `tracewatch.llm.ProviderLimits`)."""
    scorers: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    """Scorer configs (heuristic metrics and LLM judges) the scoring stage applies to the outputs; checked by
    the scoring stage."""
    output_suite: str | None = None
    """The expectation suite the outputs are checked with: a shipped name (`outputs`, `outputs-json`) or a
    path; None means the default `outputs` suite."""
    sources: tuple[str, ...] | None = None
    """The dataset item sources the experiment runs over (e.g. `[production, seed]` to leave synthetic items
    out); None means every item."""

    def __post_init__(self) -> None:
        where = f"experiment {self.name!r}"
        check_name(self.name, "experiment")
        unknown = [s for s in self.sources or () if s not in ITEM_SOURCES]
        if unknown or self.sources == ():
            raise ConfigError(
                f"{where}: sources {list(self.sources or ())} must be some of {list(ITEM_SOURCES)}"
            )
        if not self.configs:
            raise ConfigError(f"{where}: `configs` is empty; add at least one config")
        _check_unique(self.configs, where)
        marked = [c.name for c in self.configs if c.baseline]
        if len(marked) > 1:
            raise ConfigError(f"{where}: exactly one config may be the baseline, got {', '.join(marked)}")
        if not marked:
            first = dataclasses.replace(self.configs[0], baseline=True)
            object.__setattr__(self, "configs", (first, *self.configs[1:]))

    @property
    def baseline(self) -> ExperimentConfig:
        return next(c for c in self.configs if c.baseline)

    def config(self, name: str) -> ExperimentConfig:
        for candidate in self.configs:
            if candidate.name == name:
                return candidate
        raise ConfigError(
            f"experiment {self.name!r} has no config {name!r}; it has {', '.join(c.name for c in self.configs)}"
        )

    def check_providers(self) -> None:
        """Check every config's param names, and every model's provider and API key once, before any call."""
        done: set[tuple[str | None, str | None, str | None]] = set()
        for config in self.configs:
            config.check_params()
            key = (config.model, config.api_base, config.api_key_env)
            if key not in done:
                done.add(key)
                config.check_provider()

    def select_items(self, items: pl.DataFrame) -> pl.DataFrame:
        """The items of `sources` (all when None); none left is a ConfigError naming what the items hold."""
        if self.sources is None:
            return items
        chosen = items.filter(pl.col("source").is_in(self.sources))
        if chosen.is_empty() and not items.is_empty():
            held = dict(sorted(items.get_column("source").value_counts().iter_rows()))
            raise ConfigError(
                f"experiment {self.name!r}: no dataset item has a source in {list(self.sources)}; "
                f"the items hold {held}"
            )
        return chosen

    def check_items(self, items: pl.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        """ConfigError, listing the fields the items do have, if a template uses a field none of them has."""
        rows = list(items.iter_rows(named=True)) if isinstance(items, pl.DataFrame) else list(items)
        wanted = {name for c in self.configs for name in c.template_fields()}
        present = {name for name in wanted if any(has_value(row, name) for row in rows)}
        problems = [
            f"config {c.name!r} uses {{{name}}}"
            for c in self.configs
            for name in c.template_fields()
            if name not in present
        ]
        if problems:
            available = available_fields(rows)
            raise ConfigError(
                f"experiment {self.name!r}: {'; '.join(problems)}, but none of the {len(rows)} items has a "
                f"value for it; available fields: {', '.join('{' + n + '}' for n in available) or 'none'}"
            )

    def describe(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "baseline": self.baseline.name,
            "configs": [c.describe() for c in self.configs],
            "scorers": [dict(s) for s in self.scorers],
        }


def _check_unique(configs: Sequence[ExperimentConfig], where: str) -> None:
    names: dict[str, int] = {}
    prints: dict[str, str] = {}
    for config in configs:
        names[config.name] = names.get(config.name, 0) + 1
        other = prints.setdefault(config.fingerprint(), config.name)
        if other != config.name:
            raise ConfigError(
                f"{where}: configs {other!r} and {config.name!r} have the same fingerprint (same model, "
                "templates and params), so they would give the same answers; drop one"
            )
    repeated = sorted(n for n, count in names.items() if count > 1)
    if repeated:
        raise ConfigError(f"{where}: config names must be unique; repeated: {', '.join(repeated)}")
