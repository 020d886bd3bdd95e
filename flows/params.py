"""The flows' parameter models: what Prefect's custom-run form shows (descriptions, defaults, bounds, dropdowns).

These models describe the form and coerce what a caller passes (a dict from Python, JSON from the UI or a
deployment) into typed values. They do not re-implement the library's checks: each model converts to the
library's own spec through the library's loader (`to_spec`, `source`), in this one place, and the library
stays the authority on what is valid (a strategy field that does not belong to its kind, an unknown column,
duplicate strategy names...). The bounds here only mirror the library's so the form can say them up front.

Field names follow the YAML forms of docs/datasets-sampling.md and docs/experiments-configs.md, so a dict
written for one is accepted by the other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tracewatch.datasets.build import DatasetSpec
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.sampling import DedupSpec

StrategyKind = Literal["failure", "novelty", "stratified", "uniform"]
"""The library's strategy kinds (`tracewatch.datasets.sampling.STRATEGIES`; a test keeps them equal)."""
HashColumn = Literal["dedup_key", "content_hash"]
"""What a dataset build de-duplicates on (`tracewatch.datasets.build.HASH_COLUMNS`)."""
PiiKind = Literal["email", "phone", "credit_card", "ip_address", "secret"]
"""The PII kinds the library can redact (`tracewatch.datasets.pii_rules.KINDS`)."""
TraceColumn = Literal[
    "trace_id",
    "start_time",
    "project",
    "route",
    "model",
    "provider_name",
    "input_text",
    "input_messages",
    "output_text",
    "input_tokens",
    "output_tokens",
    "cost_usd",
    "latency_ms",
    "status",
    "error_type",
    "error_message",
    "user_id",
    "session_id",
    "tags",
    "metadata",
    "retrieved_context",
    "feedback",
]
"""The columns of a trace (`tracewatch.traces.schema.TRACE_SCHEMA`; a test keeps them equal)."""
ShippedExperiment = Literal["demo", "hosted-examples"]
"""The experiment files shipped in data/experiments/ (`shipped_experiments()`; a test keeps them equal)."""

_DEDUP = DedupSpec()
_FORBID = ConfigDict(extra="forbid")


class StrategyParams(BaseModel):
    """One sampling strategy. Only `kind` is required (and `by` for stratified); a field left empty takes the
    library's default, and a field of another kind is refused with the fields the kind allows."""

    model_config = _FORBID

    kind: StrategyKind = Field(
        description="failure: over-sample errors and low feedback; stratified: every group of `by` "
        "represented; novelty: questions unlike the dataset's; uniform: every trace equally likely"
    )
    name: str | None = Field(
        default=None,
        description="labels the picks and seeds the draws (default: the kind); two strategies of one "
        "kind need different names",
    )
    share: float | None = Field(
        default=None,
        gt=0,
        le=1000,
        description="relative slice of the budget (default 1): shares 3 and 1 split it 75/25",
    )
    by: list[TraceColumn] | None = Field(
        default=None, description="stratified (required): trace columns to group by, e.g. route, model"
    )
    min_per_stratum: int | None = Field(
        default=None, ge=0, le=10_000, description="stratified: picks every group gets first (default 1)"
    )
    rate: float | None = Field(
        default=None, ge=0, le=1, description="uniform: keep a trace iff its hash draw is below this rate"
    )
    count: int | None = Field(
        default=None, ge=0, le=1_000_000, description="uniform: at most this many picks"
    )
    error_weight: float | None = Field(
        default=None, ge=0, le=1e6, description="failure: weight of an error (default 10)"
    )
    low_feedback: dict[str, float] | None = Field(
        default=None,
        description="failure: feedback name -> value at or below which it counts as low, e.g. thumbs: 0.5",
    )
    low_feedback_weight: float | None = Field(
        default=None, ge=0, le=1e6, description="failure: weight of low feedback (default 5)"
    )
    low_scores: dict[str, float] | None = Field(
        default=None, description="failure: score column -> value at or below which it counts as low"
    )
    low_score_weight: float | None = Field(
        default=None, ge=0, le=1e6, description="failure: weight of a low score (default 5)"
    )
    base_weight: float | None = Field(
        default=None,
        ge=0,
        le=1e6,
        description="failure: weight of everything else (default 1; 0 = failures only)",
    )
    text: str | None = Field(
        default=None, description="novelty: the text column compared (default input_text)"
    )
    max_similarity: float | None = Field(
        default=None,
        gt=0,
        le=1,
        description="novelty: a text is novel below this MinHash Jaccard (default 0.5)",
    )
    pool_factor: int | None = Field(
        default=None,
        ge=1,
        le=1000,
        description="novelty: shortlist size as a multiple of its quota (default 5)",
    )

    def to_dict(self) -> dict[str, Any]:
        """The library's form: only the fields that were set."""
        return self.model_dump(exclude_none=True)


class DedupParams(BaseModel):
    """How picks are kept apart from the dataset and from each other."""

    model_config = _FORBID

    hash_column: HashColumn = Field(
        default=_DEDUP.hash_column,  # type: ignore[arg-type]
        description="exact duplicates by dedup_key (64-bit, matches confirmed by sha256) or content_hash (sha256)",
    )
    text: str = Field(default=_DEDUP.text, description="the text column compared for near duplicates")
    near_threshold: float | None = Field(
        default=_DEDUP.near_threshold,
        gt=0,
        le=1,
        description="MinHash Jaccard at or above which two texts are near duplicates; empty turns it off",
    )


class SamplingParams(BaseModel):
    """How many new items a night may add, and how they are picked (docs/datasets-sampling.md)."""

    model_config = _FORBID

    budget: int = Field(ge=0, le=1_000_000, description="hard cap on new items per build")
    seed: int = Field(default=0, ge=0, description="change it to draw a different sample")
    strategies: list[StrategyParams] = Field(
        min_length=1,
        description="run in order; each gets its share of the budget plus what earlier ones left",
    )
    dedup: DedupParams = Field(default_factory=DedupParams, description="de-duplication")

    def to_dict(self) -> dict[str, Any]:
        return {
            "budget": self.budget,
            "seed": self.seed,
            "strategies": [s.to_dict() for s in self.strategies],
            "dedup": self.dedup.model_dump(),
        }


class RedactionParams(BaseModel):
    """Which PII kinds every new item has redacted."""

    model_config = _FORBID

    kinds: list[PiiKind] = Field(
        default_factory=lambda: list(RedactionConfig().kinds),  # type: ignore[arg-type]
        description="PII kinds replaced by a placeholder in every item; empty turns redaction off",
    )


class DatasetSpecParams(BaseModel):
    """A dataset spec, as in data/datasets/nightly.yaml: the dataset's name, sampling, PII redaction and the
    rule for a trace's own output to serve as its expected output."""

    model_config = _FORBID

    name: str = Field(description="the dataset to grow (letters, digits, '.', '_', '-')")
    sampling: SamplingParams = Field(description="how many new items a build may add and how they are picked")
    redaction: RedactionParams = Field(default_factory=RedactionParams, description="PII kinds to redact")
    silver: dict[str, float] | None = Field(
        default=None,
        description="feedback name -> minimum for a trace's own output to become the item's expected output "
        "(default thumbs: 0.5, rating: 4)",
    )

    def to_dict(self) -> dict[str, Any]:
        spec: dict[str, Any] = {
            "name": self.name,
            "sampling": self.sampling.to_dict(),
            "redaction": self.redaction.model_dump(),
        }
        return spec | ({"silver": self.silver} if self.silver else {})

    def to_spec(self) -> DatasetSpec:
        """The library's spec; its loader checks what the form cannot (columns, kinds' fields, names)."""
        return DatasetSpec.from_dict(self.to_dict())


class ExperimentChoice(BaseModel):
    """Which experiment to run: a shipped one, a YAML file on the worker, or the file's content typed in.
    Exactly one. From Python, a name or path (str) or the file's content (a mapping) is accepted as is."""

    # Extra keys are not refused: a mapping that is not a choice is an experiment file's content (`inline`), also
    # when it comes through the API, which checks parameters against this schema.
    model_config = ConfigDict(frozen=True)

    shipped: ShippedExperiment | None = Field(
        default=None, description="an experiment shipped in data/experiments/<name>.yaml"
    )
    path: str | None = Field(
        default=None, description="path to an experiment YAML file, as the worker sees it"
    )
    inline: dict[str, Any] | None = Field(
        default=None,
        description="the experiment file's content: name, defaults, prompts, configs (docs/experiments-configs.md)",
    )

    @model_validator(mode="before")
    @classmethod
    def _from_source(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"path": value} if value.endswith((".yaml", ".yml")) else {"shipped": value}
        if isinstance(value, Mapping) and not set(value) <= set(cls.model_fields):
            return {"inline": dict(value)}
        return value

    @model_validator(mode="after")
    def _exactly_one(self) -> ExperimentChoice:
        chosen = [f for f in ("shipped", "path", "inline") if getattr(self, f) is not None]
        if len(chosen) != 1:
            raise ValueError(f"choose exactly one of shipped, path or inline; got {chosen or 'none'}")
        return self

    def source(self) -> str | dict[str, Any]:
        """What the library's `load_experiment` takes."""
        return self.inline or self.path or str(self.shipped)

    @property
    def label(self) -> str:
        """A short name for flow-run names."""
        if self.inline is not None:
            return str(self.inline.get("name", "inline"))
        return str(self.shipped) if self.shipped else Path(str(self.path)).stem
