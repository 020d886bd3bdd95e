"""Loading an experiment from a YAML file, the name of a shipped one, or a plain dict (Prefect flow parameters):
`defaults` merged into each config, prompt labels resolved, grids expanded into one config per combination,
and `api_base_env` read from the environment. The file format is documented in docs/experiments-configs.md.

The shape of the file (keys, types) is checked by pydantic; what a single config must satisfy is checked by
`ExperimentConfig` itself, and what the configs must satisfy together by `Experiment`.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
from collections.abc import Mapping
from dataclasses import field
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field
from pydantic.dataclasses import dataclass

from tracewatch.config_files import read_config_file
from tracewatch.errors import ConfigError
from tracewatch.experiments._config import ExperimentConfig
from tracewatch.experiments._experiment import Experiment
from tracewatch.llm import (
    STRICT_CONFIG,
    check_keys,
    config_keys,
    limit_settings_from_dict,
    parse_config,
    read_api_base_env,
)
from tracewatch.paths import check_name, shipped_data

log = logging.getLogger(__name__)

EXPERIMENTS_DIR = "experiments"
"""Shipped experiment files live in data/experiments/<name>.yaml."""

CONFIG_KEYS = (config_keys(ExperimentConfig) - {"axes"}) | {"grid", "api_base_env"}
"""The keys a config entry of an experiment file may have."""
_DEFAULT_KEYS = CONFIG_KEYS - {"name", "grid", "baseline"}
_GRID_FIELDS = ("prompt", "system_prompt", "model")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True, kw_only=True, config=STRICT_CONFIG)
class _ExperimentFile:
    """The top level of an experiment file. A key set to null counts as absent."""

    name: str
    configs: Annotated[list[Mapping[str, Any]], Field(min_length=1)]
    description: str = ""
    defaults: Mapping[str, Any] = field(default_factory=dict)
    """Config keys every config starts from (params and passthrough_params are merged key by key)."""
    prompts: Mapping[str, str] = field(default_factory=dict)
    """Template texts by label; a config's prompt or system_prompt may name a label."""
    limits: Mapping[str, Any] = field(default_factory=dict)
    scorers: list[Mapping[str, Any]] = field(default_factory=list)
    output_suite: str | None = None
    sources: list[str] | None = None
    """Dataset item sources to run over (production, seed, review, synthetic); absent means every item."""


@dataclass(frozen=True, kw_only=True, config=STRICT_CONFIG)
class _Entry:
    """What a config entry says besides the config's own fields: its name, baseline mark and grid."""

    name: str
    baseline: bool = False
    grid: Mapping[str, Any] = field(default_factory=dict)
    """Axis (a field of `_GRID_FIELDS` or a param) -> a list of values, or a mapping of label to value."""


def shipped_experiments() -> list[str]:
    """Names of the experiment files shipped in data/experiments/."""
    folder = shipped_data(EXPERIMENTS_DIR)
    return sorted(p.stem for p in folder.glob("*.yaml"))


def load_experiment(
    source: str | Path | Mapping[str, Any],
    *,
    check_providers: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Experiment:
    """An experiment from a dict, a YAML path, or the name of a shipped file (e.g. "demo").

    With `check_providers` (the default) every model's provider and API key are checked too, so a run never
    starts with a config that cannot make a single call.
    """
    if isinstance(source, Mapping):
        return experiment_from_dict(source, check_providers=check_providers, environ=environ)
    path = Path(source)
    if path.suffix not in (".yaml", ".yml"):
        name = check_name(str(source), "experiment")  # a shipped name, never a way into another folder
        try:
            path = shipped_data(f"{EXPERIMENTS_DIR}/{name}.yaml")
        except ConfigError:
            known = ", ".join(shipped_experiments()) or "none"
            raise ConfigError(
                f"no shipped experiment {name!r}; shipped: {known}; or pass a .yaml path"
            ) from None
    data = read_config_file(path, "experiment file")
    return experiment_from_dict(data, check_providers=check_providers, environ=environ)


def experiment_from_dict(
    data: object,
    *,
    check_providers: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Experiment:
    """Parse an experiment dict (YAML, flow parameters): defaults merged in, prompt labels resolved, grids
    expanded, `api_base_env` read from `environ` (default: the process environment)."""
    name = data.get("name") if isinstance(data, Mapping) else None
    where = f"experiment {name!r}" if isinstance(name, str) else "experiment"
    given = {k: v for k, v in data.items() if v is not None} if isinstance(data, Mapping) else data
    document = parse_config(_ExperimentFile, given, where)
    check_keys(document.defaults, _DEFAULT_KEYS, f"{where}: defaults")
    env = os.environ if environ is None else environ
    configs: list[ExperimentConfig] = []
    for index, entry in enumerate(document.configs):
        at = f"{where}: configs[{index}]"
        check_keys(entry, CONFIG_KEYS, at)
        configs.extend(_expand(_merge(document.defaults, entry), document.prompts, env, at))
    experiment = Experiment(
        name=document.name,
        configs=tuple(configs),
        description=document.description,
        scorers=tuple(dict(s) for s in document.scorers),
        output_suite=document.output_suite,
        sources=tuple(document.sources) if document.sources is not None else None,
        limits={
            str(key): limit_settings_from_dict(value, f"{where}: limits.{key}")
            for key, value in document.limits.items()
        },
    )
    if check_providers:
        experiment.check_providers()
    log.debug(
        "experiment %s: %d configs, baseline %s", name, len(experiment.configs), experiment.baseline.name
    )
    return experiment


def _merge(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **entry}
    for key in ("params", "passthrough_params"):
        if isinstance(defaults.get(key), Mapping) and isinstance(entry.get(key), Mapping):
            merged[key] = {**defaults[key], **entry[key]}
    return merged


def _expand(
    entry: Mapping[str, Any], prompts: Mapping[str, str], env: Mapping[str, str], where: str
) -> list[ExperimentConfig]:
    """One config per combination of the grid's axes (one config without a grid)."""
    head_keys = ("name", "baseline", "grid")
    head = parse_config(_Entry, {k: entry[k] for k in head_keys if entry.get(k) is not None}, where)
    axes = [
        (axis, _axis_values(axis, values, prompts, f"{where} ({head.name}): grid.{axis}"))
        for axis, values in head.grid.items()
    ]
    for axis, _ in axes:
        if axis in CONFIG_KEYS and axis not in _GRID_FIELDS:
            raise ConfigError(
                f"{where} ({head.name}): grid axis {axis!r} is not allowed; use {', '.join(_GRID_FIELDS)} or a "
                "param name (temperature, top_p, max_tokens, seed, ...)"
            )
    rest = {k: v for k, v in entry.items() if k not in head_keys}
    out = []
    for number, combination in enumerate(itertools.product(*(values for _, values in axes))):
        fields = dict(rest)
        params = fields.get("params") or {}
        fields["params"] = dict(params) if isinstance(params, Mapping) else params
        labels: dict[str, str] = {}
        for (axis, _), (label, value) in zip(axes, combination, strict=True):
            labels[axis] = label
            if axis in _GRID_FIELDS:
                fields[axis] = value
            elif isinstance(fields["params"], dict):
                fields["params"][axis] = value
        derived = "-".join([head.name, *(f"{axis}={label}" for axis, label in labels.items())])
        baseline = head.baseline and number == 0
        out.append(_build(derived, fields, prompts, env, labels, baseline, f"{where} ({derived})"))
    return out


def _axis_values(axis: str, values: object, prompts: Mapping[str, str], where: str) -> list[tuple[str, Any]]:
    """(label, value) pairs: a mapping gives its own labels; a list is labelled by prompt label or value."""
    if isinstance(values, Mapping):
        pairs = [(str(k), v) for k, v in values.items()]
    elif isinstance(values, list):
        pairs = [(_label(axis, v, prompts, i), v) for i, v in enumerate(values, start=1)]
    else:
        raise ConfigError(f"{where}: expected a list of values or a mapping of label to value")
    if not pairs:
        raise ConfigError(f"{where}: an axis needs at least one value")
    labels = [label for label, _ in pairs]
    if len(set(labels)) != len(labels):
        raise ConfigError(
            f"{where}: labels repeat ({', '.join(labels)}); give the axis as a mapping of label to value"
        )
    return pairs


def _label(axis: str, value: object, prompts: Mapping[str, str], position: int) -> str:
    if axis in ("prompt", "system_prompt") and isinstance(value, str) and value in prompts:
        return value
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return str(position)
    text = _LABEL_UNSAFE.sub("_", str(value)).strip("_")
    return text if text and len(text) <= 40 else str(position)


def _build(
    name: str,
    fields: Mapping[str, Any],
    prompts: Mapping[str, str],
    env: Mapping[str, str],
    axes: Mapping[str, str],
    baseline: bool,
    where: str,
) -> ExperimentConfig:
    """One config: prompt labels replaced by their text, `api_base_env` by the URL it names."""
    values = read_api_base_env(fields, where, env)
    for label in ("prompt", "system_prompt"):
        template = values.get(label)
        if isinstance(template, str) and template in prompts:
            values[label] = prompts[template]
    return parse_config(ExperimentConfig, {**values, "name": name, "axes": axes, "baseline": baseline}, where)
