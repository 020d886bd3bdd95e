"""The sampling spec: which strategies, how the nightly budget is shared, the seed, and de-duplication settings.

Built from a plain dict (YAML, Prefect parameters) by `SamplingSpec.from_dict`, and written back by `to_dict`
so a run can record exactly what it used.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

from tracewatch.datasets.dedup import require_columns
from tracewatch.datasets.sampling._allocate import apportion
from tracewatch.datasets.sampling._config import build
from tracewatch.datasets.sampling._pool import Strategy
from tracewatch.datasets.sampling.failure import FailureSeeking
from tracewatch.datasets.sampling.novelty import Novelty
from tracewatch.datasets.sampling.stratified import Stratified
from tracewatch.datasets.sampling.uniform import Uniform
from tracewatch.errors import ConfigError

STRATEGIES: Mapping[str, type[Strategy]] = {
    cls.kind: cls for cls in (Uniform, Stratified, FailureSeeking, Novelty)
}
"""Strategy kind (the `kind` key in a spec dict) -> its class."""

_SHARE_SCALE = 10**6


@dataclass(frozen=True, kw_only=True)
class DedupSpec:
    """De-duplication of picks: exact on `hash_column`, near on MinHash of `text` (`near_threshold=None`: off).

    The default `dedup_key` is the 64-bit content key items store; `content_hash` (sha256) also works, at the
    cost of a sha256 per candidate.
    """

    hash_column: str = "dedup_key"
    text: str = "input_text"
    near_threshold: float | None = 0.8

    def __post_init__(self) -> None:
        if self.near_threshold is not None and not 0.0 < self.near_threshold <= 1.0:
            raise ConfigError(f"dedup.near_threshold={self.near_threshold} must be in (0, 1] or null")

    def columns(self) -> tuple[str, ...]:
        return (self.hash_column, *((self.text,) if self.near_threshold is not None else ()))


@dataclass(frozen=True, kw_only=True)
class SamplingSpec:
    """Strategies run in order and never pick a trace twice. Strategy i gets `quotas()[i]` of `budget` (by
    share) plus whatever the strategies before it left unused, so `budget` is a hard cap on new items."""

    strategies: tuple[Strategy, ...]
    budget: int
    seed: int = 0
    dedup: DedupSpec = field(default_factory=DedupSpec)

    def __post_init__(self) -> None:
        if self.budget < 0:
            raise ConfigError(f"sampling.budget={self.budget} must be >= 0")
        if not self.strategies:
            raise ConfigError(
                f"sampling.strategies is empty; add at least one of: {', '.join(sorted(STRATEGIES))}"
            )
        repeated = sorted(n for n, c in Counter(s.name for s in self.strategies).items() if c > 1)
        if repeated:
            raise ConfigError(
                f"sampling.strategies: names must be unique, {', '.join(repeated)} repeats; set `name` on each"
            )

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, columns: Collection[str] | None = None) -> SamplingSpec:
        """Parse and validate a spec dict; with `columns`, also check every column the spec names exists."""
        if not isinstance(data, Mapping):
            raise ConfigError(f"sampling: expected a mapping, got {type(data).__name__}")
        raw = dict(data)
        strategies = raw.pop("strategies", None)
        if not isinstance(strategies, list | tuple):
            raise ConfigError("sampling.strategies: expected a list of strategy mappings")
        dedup = build(DedupSpec, raw.pop("dedup", {}), "sampling.dedup")
        top = build(_TopLevel, raw, "sampling")
        spec = cls(
            strategies=tuple(_strategy(s, f"sampling.strategies[{i}]") for i, s in enumerate(strategies)),
            budget=top.budget,
            seed=top.seed,
            dedup=dedup,
        )
        if columns is not None:
            spec.check_columns(columns)
        return spec

    def to_dict(self) -> dict[str, Any]:
        """The plain-dict form `from_dict` accepts (for run records and Prefect parameters)."""
        return {
            "budget": self.budget,
            "seed": self.seed,
            "strategies": [{"kind": s.kind, **_plain(s)} for s in self.strategies],
            "dedup": _plain(self.dedup),
        }

    def quotas(self, budget: int | None = None) -> list[int]:
        """Each strategy's slice of `budget` (default: the spec's) before carry-over: largest-remainder split
        by share."""
        weights = [max(1, round(s.share * _SHARE_SCALE)) for s in self.strategies]
        return apportion(self.budget if budget is None else budget, weights)

    def columns(self) -> tuple[str, ...]:
        """Every input column the strategies read (without the id and de-duplication columns)."""
        return tuple(dict.fromkeys(c for s in self.strategies for c in s.columns()))

    def key_columns(self) -> tuple[str, ...]:
        """The columns the strategies read on every candidate row."""
        return tuple(dict.fromkeys(c for s in self.strategies for c in s.key_columns()))

    def check_columns(self, available: Collection[str]) -> None:
        """ConfigError naming the strategy, the unknown column and the available columns."""
        for strategy in self.strategies:
            require_columns(strategy.columns(), available, f"strategy {strategy.name!r}")


@dataclass(frozen=True, kw_only=True)
class _TopLevel:
    budget: int
    seed: int = 0


def _strategy(data: object, where: str) -> Strategy:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping with a `kind`, got {data!r}")
    fields = dict(data)
    kind = fields.pop("kind", None)
    if kind not in STRATEGIES:
        raise ConfigError(
            f"{where}: unknown strategy kind {kind!r}; allowed: {', '.join(sorted(STRATEGIES))}"
        )
    return build(STRATEGIES[kind], fields, f"{where} ({kind})")


def _plain(obj: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):  # type: ignore[arg-type]
        value = getattr(obj, f.name)
        out[f.name] = (
            list(value) if isinstance(value, tuple) else dict(value) if isinstance(value, Mapping) else value
        )
    return out
