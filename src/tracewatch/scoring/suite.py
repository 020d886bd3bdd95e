"""A list of scorer configs (from an experiment file or the nightly settings) turned into scorers, checked
before anything runs: heuristic metrics (`{metric: ...}`) and LLM judges (`{judge: ...}`).

Every scorer has a unique report name: its own name, or `name:` in the config when one metric is used twice
(e.g. two regexes). Directions are uniform: higher is better, except the metrics in `LOWER_IS_BETTER`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.scoring.judges import LLMJudge, judge_from_dict
from tracewatch.scoring.metrics._base import Metric
from tracewatch.scoring.metrics.registry import build_scorer

LOWER_IS_BETTER: frozenset[str] = frozenset({"refusal"})
"""Metrics where a higher value is worse (a refusal is 1.0)."""


@dataclass(frozen=True)
class NamedMetric:
    """A heuristic metric under the name its scores are reported by."""

    name: str
    metric: Metric

    @property
    def higher_is_better(self) -> bool:
        return self.metric.name not in LOWER_IS_BETTER


@dataclass(frozen=True)
class ScorerSuite:
    """The scorers of one experiment or of the nightly trace scoring."""

    metrics: tuple[NamedMetric, ...] = ()
    judges: tuple[LLMJudge, ...] = ()

    @property
    def names(self) -> list[str]:
        return [m.name for m in self.metrics] + [j.name for j in self.judges]

    def higher_is_better(self) -> dict[str, bool]:
        """Scorer name -> direction, as `stats.compare_with_baseline` wants it (judges: always higher)."""
        return {**{m.name: m.higher_is_better for m in self.metrics}, **{j.name: True for j in self.judges}}

    def __bool__(self) -> bool:
        return bool(self.metrics or self.judges)


def build_scorers(
    configs: Sequence[Mapping[str, Any]], *, where: str = "scorers", environ: Mapping[str, str] | None = None
) -> ScorerSuite:
    """The suite a list of scorer configs describes; a ConfigError names the entry that is wrong."""
    if isinstance(configs, Mapping | str) or not isinstance(configs, Sequence):
        raise ConfigError(f"{where}: expected a list of scorer configs, got {type(configs).__name__}")
    metrics: list[NamedMetric] = []
    judges: list[LLMJudge] = []
    for index, config in enumerate(configs):
        at = f"{where}[{index}]"
        if not isinstance(config, Mapping):
            raise ConfigError(f"{at}: expected a mapping such as {{metric: token_f1}}, got {config!r}")
        if ("metric" in config) == ("judge" in config):
            raise ConfigError(f"{at}: set exactly one of `metric` (a heuristic) or `judge` (an LLM judge)")
        try:
            if "judge" in config:
                judges.append(judge_from_dict(config, environ=environ))
            else:
                rest = {k: v for k, v in config.items() if k != "name"}
                metric = build_scorer(rest)
                name = config.get("name", metric.name)
                if not isinstance(name, str) or not name:
                    raise ConfigError(f"`name` must be a non-empty string, got {name!r}")
                metrics.append(NamedMetric(name, metric))
        except ConfigError as exc:
            raise ConfigError(f"{at}: {exc}") from None
    suite = ScorerSuite(tuple(metrics), tuple(judges))
    repeated = sorted({n for n in suite.names if suite.names.count(n) > 1})
    if repeated:
        raise ConfigError(f"{where}: scorer names {repeated} repeat; give each a distinct `name:`")
    return suite
