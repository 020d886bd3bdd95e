"""The flows' parameter models that are not the library's own: which experiment to run.

A dataset spec is a flow parameter as the library declares it (`tracewatch.datasets.DatasetSpec` and its
parts, pydantic models with descriptions, bounds and choices), so Prefect's custom-run form shows the library's
fields and the library's checks apply as the parameters are validated; nothing is re-declared here.

Field names follow the YAML forms of docs/experiments-configs.md, so a dict written for one is accepted by the
other.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

ShippedExperiment = Literal["demo", "hosted-examples"]
"""The experiment files shipped in data/experiments/ (`shipped_experiments()`; a test keeps them equal)."""


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
