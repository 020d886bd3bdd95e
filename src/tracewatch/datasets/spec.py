"""The dataset spec: which dataset grows, how its new items are sampled, what PII is redacted and when a
trace's own output becomes an item's expected output. As in data/datasets/nightly.yaml::

    name: production-samples
    sampling: {budget: 24, seed: 20261127, strategies: [...], dedup: {...}}   # docs/datasets-sampling.md
    redaction: {kinds: [email, phone, credit_card, ip_address, secret]}        # docs/datasets-pii.md
    silver: {thumbs: 0.5, rating: 4}

A frozen pydantic model (`datasets.config`), so the flows take it as their parameter and Prefect's form shows
its fields, bounds and choices.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

from pydantic import Field, ValidationInfo, field_validator, model_validator

from tracewatch.config_files import read_config_file
from tracewatch.datasets.config import SpecModel
from tracewatch.datasets.items import SilverRule
from tracewatch.datasets.pii_rules import RedactionConfig
from tracewatch.datasets.sampling import SamplingSpec
from tracewatch.datasets.schema import HASH_COLUMNS
from tracewatch.datasets.versions import check_dataset_name
from tracewatch.errors import ConfigError
from tracewatch.paths import shipped_data
from tracewatch.traces import TRACE_SCHEMA

NIGHTLY_SPEC = "datasets/nightly.yaml"
"""The spec the nightly flow samples with unless given another (under the shipped data folder)."""


class DatasetSpec(SpecModel):
    """How a dataset grows: its name, the sampling spec, PII redaction and the silver-reference rule."""

    name: str
    """the dataset to grow (lowercase letters, digits, '-' and '_')"""
    sampling: SamplingSpec
    """how many new items a build may add and how they are picked"""
    redaction: RedactionConfig = Field(default_factory=RedactionConfig)
    """PII kinds to redact"""
    silver: SilverRule = Field(default_factory=SilverRule)
    """feedback name -> minimum for a trace's own output to become the item's expected output"""

    @field_validator("name")
    @classmethod
    def _usable_name(cls, name: str) -> str:
        try:
            return check_dataset_name(name)
        except ConfigError as exc:
            raise ValueError(str(exc)) from None

    @field_validator("redaction", "silver", mode="before")
    @classmethod
    def _default_when_empty(cls, value: Any, info: ValidationInfo) -> Any:
        """`redaction:` or `silver:` left empty in YAML means the default, as leaving them out does."""
        if value is None or (isinstance(value, Mapping) and not value):
            return RedactionConfig() if info.field_name == "redaction" else SilverRule()
        return value

    @model_validator(mode="after")
    def _buildable(self) -> Self:
        """A build reads traces and de-duplicates on an item key: the spec must name trace columns and one of
        `HASH_COLUMNS`."""
        hash_column = self.sampling.dedup.hash_column
        if hash_column not in HASH_COLUMNS:
            raise ValueError(
                f"sampling.dedup.hash_column={hash_column!r}: a dataset build de-duplicates on one of "
                f"{list(HASH_COLUMNS)}"
            )
        try:
            self.sampling.check_columns(TRACE_SCHEMA)
        except ConfigError as exc:
            raise ValueError(f"sampling: {exc}") from None
        return self


def load_dataset_spec(source: str | Mapping[str, Any] | None = None) -> DatasetSpec:
    """A dataset spec from a mapping (flow parameters), a YAML path, or the shipped nightly spec (None)."""
    if isinstance(source, Mapping):
        return DatasetSpec.from_dict(source)
    path = Path(source) if source else shipped_data(NIGHTLY_SPEC)
    data = read_config_file(path, "dataset spec")
    if not isinstance(data, Mapping):
        raise ConfigError(f"dataset spec {path} is not a YAML mapping")
    return DatasetSpec.from_dict(data)
