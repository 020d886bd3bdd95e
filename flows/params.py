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
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, GetJsonSchemaHandler, model_validator
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema

ShippedExperiment = Literal["demo", "hosted-examples"]
"""The experiment files shipped in data/experiments/ (`shipped_experiments()`; a test keeps them equal)."""


class ExperimentChoice(BaseModel):
    """Which experiment to run: a shipped one, a YAML file on the worker, or the file's content typed in.
    Exactly one. A plain string is a name or a path (`as_choice`), a mapping that is not a choice is the file's
    content, so `demo`, `conf/mine.yaml`, `{"path": "conf/mine.yaml"}` and the content all work."""

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
            return as_choice(value)
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


def as_choice(text: str) -> dict[str, str]:
    """A plain string as a choice: a path when it looks like one (a .yaml/.yml name or a folder in it), else a
    shipped name; anything else is refused naming both forms."""
    text = text.strip()
    if text.endswith((".yaml", ".yml")) or "/" in text or "\\" in text:
        return {"path": text}
    if text in get_args(ShippedExperiment):
        return {"shipped": text}
    shipped = " or ".join(repr(name) for name in get_args(ShippedExperiment))
    raise ValueError(
        f"experiment {text!r} is neither a shipped experiment ({shipped}) nor a YAML path "
        "(a name ending in .yaml or .yml, or a path with a folder)"
    )


class _NameOrPathToo:
    """The JSON schema of a choice, widened to a plain string: the schema is what a Prefect server checks a
    deployment run's parameters against before the flow sees them, so without it
    `prefect deployment run ... --param experiment=demo` is refused although the flow accepts "demo"."""

    def __get_pydantic_json_schema__(
        self, core: CoreSchema, handler: GetJsonSchemaHandler
    ) -> JsonSchemaValue:
        text = {
            "type": "string",
            "title": "name or path",
            "description": f"a shipped experiment's name ({', '.join(get_args(ShippedExperiment))}) or a YAML path "
            "on the worker",
        }
        return {"anyOf": [handler(core), text]}


ExperimentParameter = Annotated[ExperimentChoice, _NameOrPathToo()]
"""A flow parameter that chooses an experiment: validated as `ExperimentChoice`, offered in the schema (the
form, the API) as the choice or a plain name or path."""
