"""The shared records of the scoring stage: a `Score`, the spec of the scorer that gave it, and the two scorer seams.

A failure is never a fake number: a score is either `scored` with a finite value, or `unscored` / `error` with
`value=None` and the reason, so aggregates can skip what was not measured instead of averaging in a zero.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal, Protocol, runtime_checkable

import polars as pl
from pydantic import ConfigDict, ValidationInfo, field_validator
from pydantic.dataclasses import dataclass as pydantic_dataclass

ScoreStatus = Literal["scored", "unscored", "error"]
"""`scored`: measured. `unscored`: not applicable to the item (no expected output, null latency...).
`error`: the scorer failed on this item; the explanation says why."""

SCORE_STATUSES: tuple[ScoreStatus, ...] = ("scored", "unscored", "error")

MissingPolicy = Literal["error", "unscored"]
"""What a scorer does when the items lack a field it needs: stop with a ConfigError, or mark those items unscored."""

SCORE_SCHEMA: dict[str, pl.DataType] = {
    "value": pl.Float64(),
    "status": pl.String(),
    "explanation": pl.String(),
}
"""Columns of `FrameScorer.score_frame`'s result: one row per input row, in input order."""


@dataclass(frozen=True)
class Score:
    """One scorer's verdict on one item. Build it with `scored`, `unscored` or `error`, which enforce the rules."""

    value: float | None
    status: ScoreStatus
    explanation: str
    metadata: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    def __post_init__(self) -> None:
        if self.status not in SCORE_STATUSES:
            raise ValueError(f"score status {self.status!r} is not one of {SCORE_STATUSES}")
        if self.status == "scored":
            if (
                isinstance(self.value, bool)
                or not isinstance(self.value, int | float)
                or not math.isfinite(self.value)
            ):
                raise ValueError(f"a scored Score needs a finite number, got {self.value!r}")
            object.__setattr__(self, "value", float(self.value))
        else:
            if self.value is not None:
                raise ValueError(
                    f"an {self.status} Score has no value (got {self.value!r}); a failure is not a number"
                )
            if not self.explanation or not self.explanation.strip():
                raise ValueError(f"an {self.status} Score needs a reason")
        # Frozen means frozen: callers must not be able to change the metadata behind our back.
        object.__setattr__(self, "metadata", MappingProxyType(dict(self.metadata)))

    @classmethod
    def scored(cls, value: float, explanation: str = "", metadata: Mapping[str, Any] | None = None) -> Score:
        return cls(value, "scored", explanation, metadata or {})

    @classmethod
    def unscored(cls, reason: str, metadata: Mapping[str, Any] | None = None) -> Score:
        return cls(None, "unscored", reason, metadata or {})

    @classmethod
    def error(cls, reason: str, metadata: Mapping[str, Any] | None = None) -> Score:
        return cls(None, "error", reason, metadata or {})


@pydantic_dataclass(frozen=True, config=ConfigDict(strict=True))
class ScorerSpec:
    """A scorer's name and arguments, recorded with every score so a report row says exactly what measured it."""

    name: str
    args: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

    @field_validator("args")
    @classmethod
    def _plain_json(cls, args: Mapping[str, Any], info: ValidationInfo) -> Mapping[str, Any]:
        try:
            canonical = json.dumps(dict(args), sort_keys=True, allow_nan=False)
        except (TypeError, ValueError) as exc:
            name = info.data.get("name")
            raise ValueError(f"scorer {name!r} has arguments that are not plain JSON: {exc}") from None
        # Keep a JSON round trip: no caller-owned mutable objects, and equality means "same JSON".
        return MappingProxyType(json.loads(canonical))

    def to_json(self) -> str:
        """Stable text form (sorted keys, no spaces), fit for a report column or a hash."""
        return json.dumps({"name": self.name, "args": dict(self.args)}, sort_keys=True, separators=(",", ":"))

    def config(self) -> dict[str, Any]:
        """The config mapping that builds this scorer again (see `metrics.build_scorer`)."""
        return {"metric": self.name, **self.args}


@runtime_checkable
class Scorer(Protocol):
    """Scores one item (a mapping of field -> value, e.g. an experiment item row).

    Needing a field the item lacks is a ConfigError naming it, unless the scorer was configured with
    `missing="unscored"`; a failure on this item is returned as an `error` Score, never raised."""

    @property
    def name(self) -> str: ...

    @property
    def args(self) -> Mapping[str, Any]: ...

    def __call__(self, item: Mapping[str, Any]) -> Score: ...


@runtime_checkable
class FrameScorer(Protocol):
    """Scores a whole frame of items at once (vectorised where the metric allows).

    Returns `SCORE_SCHEMA` columns, one row per input row in input order, with the same rules as `Scorer`:
    a missing column is a ConfigError (or all-unscored), a failure on one row is an `error` row."""

    @property
    def name(self) -> str: ...

    @property
    def args(self) -> Mapping[str, Any]: ...

    def score_frame(self, frame: pl.DataFrame) -> pl.DataFrame: ...
