"""The sampling spec: which strategies, how the nightly budget is shared, the seed, and de-duplication settings.

Frozen pydantic models (`datasets.config`): built from a plain mapping (YAML, Prefect parameters) by
`SamplingSpec.from_dict`, and written back by `to_dict` so a run can record exactly what it used.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping
from typing import Annotated, ClassVar, Self

from pydantic import Field, Strict, WithJsonSchema, field_validator

from tracewatch.datasets.config import AnyOfInForms, Range, SpecModel
from tracewatch.datasets.dedup import require_columns
from tracewatch.datasets.sampling._allocate import apportion
from tracewatch.datasets.sampling.failure import FailureSeeking
from tracewatch.datasets.sampling.novelty import Novelty
from tracewatch.datasets.sampling.stratified import Stratified
from tracewatch.datasets.sampling.uniform import Uniform
from tracewatch.datasets.schema import HASH_COLUMNS

SamplingStrategy = Annotated[
    Uniform | Stratified | FailureSeeking | Novelty, Field(discriminator="kind"), AnyOfInForms()
]
"""Any strategy a spec can list, told apart by its `kind`."""

STRATEGIES: Mapping[str, type[SamplingStrategy]] = {
    cls.model_fields["kind"].default: cls for cls in (Uniform, Stratified, FailureSeeking, Novelty)
}
"""Strategy kind (the `kind` key in a spec mapping) -> its class."""

_SHARE_SCALE = 10**6


class DedupSpec(SpecModel):
    """De-duplication of picks: exact on `hash_column`, near on MinHash of `text` (`near_threshold=None`: off).

    The default `dedup_key` is the 64-bit content key items store; `content_hash` (sha256) also works, at the
    cost of a sha256 per candidate.
    """

    where: ClassVar[str] = "sampling.dedup"

    hash_column: Annotated[str, WithJsonSchema({"enum": list(HASH_COLUMNS), "type": "string"})] = "dedup_key"
    """exact duplicates by dedup_key (64-bit, matches confirmed by sha256) or content_hash (sha256)"""
    text: str = "input_text"
    """the text column compared for near duplicates"""
    near_threshold: Annotated[float, Strict(), Range(gt=0, le=1)] | None = 0.8
    """MinHash Jaccard at or above which two texts are near duplicates; empty (null) turns it off"""

    def columns(self) -> tuple[str, ...]:
        return (self.hash_column, *((self.text,) if self.near_threshold is not None else ()))


class SamplingSpec(SpecModel):
    """Strategies run in order and never pick a trace twice. Strategy i gets `quotas()[i]` of `budget` (by
    share) plus whatever the strategies before it left unused, so `budget` is a hard cap on new items."""

    where: ClassVar[str] = "sampling"

    budget: Annotated[int, Strict(), Range(ge=0)]
    """hard cap on new items per night (or build)"""
    seed: Annotated[int, Strict()] = 0
    """change it to draw a different sample"""
    strategies: tuple[SamplingStrategy, ...]
    """run in order; each gets its share of the budget plus what earlier ones left"""
    dedup: DedupSpec = Field(default_factory=DedupSpec)
    """how picks are kept apart from the dataset and from each other"""

    @field_validator("strategies")
    @classmethod
    def _named_apart(cls, strategies: tuple[SamplingStrategy, ...]) -> tuple[SamplingStrategy, ...]:
        if not strategies:
            raise ValueError(f"none given; add at least one of: {', '.join(sorted(STRATEGIES))}")
        repeated = sorted(n for n, c in Counter(s.name for s in strategies).items() if c > 1)
        if repeated:
            raise ValueError(f"names must be unique, {', '.join(repeated)} repeats; set `name` on each")
        return strategies

    @classmethod
    def from_dict(cls, data: object, *, columns: Collection[str] | None = None) -> Self:
        """Parse and validate a spec mapping; with `columns`, also check every column the spec names exists."""
        spec = super().from_dict(data)
        if columns is not None:
            spec.check_columns(columns)
        return spec

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
