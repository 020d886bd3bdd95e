"""Experiment configs: which model, prompt and parameters (or which Python task) answer the dataset items.

An `Experiment` is a named set of frozen `ExperimentConfig`s with exactly one baseline, loaded from YAML under
`data/experiments/` or from a plain dict (Prefect flow parameters). Everything that can be checked before the
first model call is checked here: unknown keys, parameter types, template fields, task references, and (through
`experiments.client`) the provider and its API key. The reference for users is docs/experiments-configs.md.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import importlib
import inspect
import itertools
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import polars as pl
import yaml

from tracewatch.datasets.schema import ITEM_SCHEMA
from tracewatch.errors import ConfigError, TracewatchError
from tracewatch.experiments.limits import LimitSettings, limit_settings_from_dict
from tracewatch.experiments.types import CallParams, Completion, Message, ModelError, redact_url
from tracewatch.paths import shipped_data

log = logging.getLogger(__name__)

TaskFn = Callable[[dict[str, Any]], str | Awaitable[str]]
"""A task: gets one dataset item as a dict and returns the output text, or an awaitable of it."""

EXPERIMENTS_DIR = "experiments"
"""Shipped experiment files live in data/experiments/<name>.yaml."""

DEFAULT_PROMPT = "{input}"

FIELD_ALIASES: Mapping[str, str] = MappingProxyType(
    {
        "input": "input_text",
        "messages": "input_messages",
        "context": "retrieved_context",
        "expected": "expected_output",
    }
)
"""Short template names for item columns; every item column can also be used under its own name."""

TEMPLATE_FIELDS: tuple[str, ...] = (*FIELD_ALIASES, *ITEM_SCHEMA)
"""Every template field name besides `metadata.<key>`."""

_FLOAT_PARAMS: Mapping[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_INT_PARAMS: Mapping[str, int | None] = {"max_tokens": 1, "max_completion_tokens": 1, "seed": None}
_REFUSED_PARAMS: Mapping[str, str] = {
    "stream": "answers are read whole; streaming is not supported",
    "n": "one answer per call; use trials for repeated samples",
    "model": "set `model` on the config, not in params",
    "messages": "messages come from the prompt template",
    "api_key": "name the environment variable with `api_key_env` instead",
    "api_base": "set `api_base` or `api_base_env` on the config, not in params",
}
_CONFIG_KEYS = frozenset(
    {
        "name",
        "model",
        "prompt",
        "system_prompt",
        "params",
        "api_base",
        "api_base_env",
        "api_key_env",
        "timeout_s",
        "cost_per_1k_input",
        "cost_per_1k_output",
        "baseline",
        "task",
        "grid",
    }
)
_TOP_KEYS = frozenset(
    {"name", "description", "defaults", "prompts", "configs", "limits", "scorers", "output_suite"}
)
_GRID_FIELDS = ("prompt", "system_prompt", "model")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._=-]*$")
_LABEL_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_FIELD = r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_-]+)?"
# `{field}` is a placeholder and `{{field}}` writes a literal `{field}`; any other brace is plain text, so JSON
# examples in a prompt need no escaping.
_PLACEHOLDER = re.compile(r"\{\{(" + _FIELD + r")\}\}|\{(" + _FIELD + r")\}")
_TASK_REF = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_][\w.]*$")


class ItemFieldError(TracewatchError):
    """One item lacks a value a template needs. The item fails with this reason; the run goes on."""


# ---- templates -----------------------------------------------------------------------------------------


def template_fields(template: str) -> tuple[str, ...]:
    """The fields a template uses, in order of first use."""
    seen: dict[str, None] = {}
    for match in _PLACEHOLDER.finditer(template):
        if match.group(2) is not None:
            seen.setdefault(match.group(2))
    return tuple(seen)


def render_template(template: str, item: Mapping[str, Any]) -> str:
    """Fill a template's placeholders from one item; a field the item has no value for raises ItemFieldError."""

    def fill(match: re.Match[str]) -> str:
        if match.group(1) is not None:
            return "{" + match.group(1) + "}"
        return _field_text(item, match.group(2))

    return _PLACEHOLDER.sub(fill, template)


def _check_template_names(template: str, where: str) -> None:
    unknown = [
        name for name in template_fields(template) if name not in TEMPLATE_FIELDS and not _is_metadata(name)
    ]
    if unknown:
        raise ConfigError(
            f"{where}: unknown template field(s) {', '.join('{' + n + '}' for n in unknown)}; available: "
            f"{', '.join('{' + n + '}' for n in TEMPLATE_FIELDS)} and {{metadata.<key>}} "
            "(write {{name}} for a literal {name})"
        )


def _is_metadata(name: str) -> bool:
    return name.startswith("metadata.")


def _field_text(item: Mapping[str, Any], name: str) -> str:
    if _is_metadata(name):
        key = name.split(".", 1)[1]
        value = _metadata(item).get(key)
    else:
        value = item.get(FIELD_ALIASES.get(name, name))
    if value is None:
        raise ItemFieldError(f"item {item.get('item_id', '?')} has no value for template field {{{name}}}")
    return _as_text(name, value)


def _as_text(name: str, value: Any) -> str:
    column = FIELD_ALIASES.get(name, name)
    if isinstance(value, str):
        return value
    if column == "input_messages":
        return "\n".join(f"{m.get('role', '')}: {m.get('content', '')}" for m in value)
    if column == "retrieved_context":
        return "\n\n".join(str(p.get("text") or "") for p in value)
    if column == "tags":
        return ", ".join(str(t) for t in value)
    if isinstance(value, list | dict):
        return json.dumps(value, sort_keys=True, default=str)
    return str(value)


def _metadata(item: Mapping[str, Any]) -> Mapping[str, Any]:
    raw = item.get("metadata")
    if isinstance(raw, Mapping):
        return raw
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return parsed if isinstance(parsed, dict) else {}


def _has_value(item: Mapping[str, Any], name: str) -> bool:
    if _is_metadata(name):
        return _metadata(item).get(name.split(".", 1)[1]) is not None
    value = item.get(FIELD_ALIASES.get(name, name))
    return value is not None and value != []


# ---- tasks ---------------------------------------------------------------------------------------------


def resolve_task(ref: str, where: str = "task") -> TaskFn:
    """Import `package.module:function` and check it can be called with one argument (the item dict)."""
    if not isinstance(ref, str) or not _TASK_REF.match(ref):
        raise ConfigError(f"{where}={ref!r} must look like 'package.module:function'")
    module_name, attr_path = ref.split(":", 1)
    try:
        target: Any = importlib.import_module(module_name)
    except Exception as exc:  # an import runs arbitrary code; any failure is the reference's fault
        raise ConfigError(
            f"{where}={ref!r}: cannot import {module_name!r}: {type(exc).__name__}: {exc}"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(target, part):
            raise ConfigError(f"{where}={ref!r}: {module_name!r} has no attribute {attr_path!r}")
        target = getattr(target, part)
    if not callable(target):
        raise ConfigError(f"{where}={ref!r} is a {type(target).__name__}, not a callable")
    try:
        inspect.signature(target).bind({})
    except TypeError:
        raise ConfigError(f"{where}={ref!r} must accept exactly one argument: the item dict") from None
    except ValueError:  # builtins without a signature: trust them
        pass
    fn: TaskFn = target
    return fn


# ---- one config ----------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ExperimentConfig:
    """One way of answering the items: a model with templates and params, or a Python task.

    Frozen and validated on construction. `fingerprint()` identifies the answers it produces (not its name),
    so renaming a config keeps its cache entries and report history.
    """

    name: str
    model: str | None = None
    prompt: str | None = None
    system_prompt: str | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    api_base: str | None = None
    api_key_env: str | None = None
    timeout_s: float = 60.0
    cost_per_1k_input: float | None = None
    cost_per_1k_output: float | None = None
    baseline: bool = False
    task: str | None = None
    axes: Mapping[str, str] = field(default_factory=dict)
    """The grid labels this config was expanded with (e.g. {"prompt": "direct", "temperature": "0.7"})."""
    _task_fn: TaskFn | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"config {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"config name {self.name!r} must start with a letter or digit and use only letters, digits "
                "and . _ = -"
            )
        if (self.model is None) == (self.task is None):
            raise ConfigError(f"{where}: set exactly one of `model` (a litellm model string) or `task`")
        if self.task is not None:
            self._check_task_only(where)
            object.__setattr__(self, "_task_fn", resolve_task(self.task, f"{where}: task"))
        else:
            if self.prompt is None:
                object.__setattr__(self, "prompt", DEFAULT_PROMPT)
            for label, template in (("prompt", self.prompt), ("system_prompt", self.system_prompt)):
                if template is not None:
                    _check_template_names(template, f"{where}: {label}")
        object.__setattr__(self, "params", MappingProxyType(_normalise_params(self.params, where)))
        object.__setattr__(self, "axes", MappingProxyType(dict(self.axes)))
        if not self.timeout_s > 0:
            raise ConfigError(f"{where}: timeout_s={self.timeout_s} must be > 0")
        for label in ("cost_per_1k_input", "cost_per_1k_output"):
            value = getattr(self, label)
            if value is not None and not value >= 0:
                raise ConfigError(f"{where}: {label}={value} must be >= 0")

    def _check_task_only(self, where: str) -> None:
        given = [
            label
            for label in ("prompt", "system_prompt", "api_base", "api_key_env")
            if getattr(self, label) is not None
        ]
        if self.params:
            given.append("params")
        if given:
            raise ConfigError(
                f"{where}: a task config runs its callable instead of a prompt; remove {', '.join(given)}"
            )

    def __repr__(self) -> str:
        what = f"task={self.task!r}" if self.task else f"model={self.model!r}"
        return f"ExperimentConfig(name={self.name!r}, {what}, fingerprint={self.fingerprint()[:12]!r})"

    def __hash__(self) -> int:
        return hash((self.name, self.fingerprint(), self.baseline))

    def __reduce__(self) -> tuple[Any, ...]:
        # Read-only mappings cannot be pickled, and orchestrators pickle task parameters; rebuilding through
        # the constructor also re-resolves the task in the receiving process.
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.init}
        fields["params"], fields["axes"] = dict(self.params), dict(self.axes)
        return (_config_from_fields, (fields,))

    @property
    def is_task(self) -> bool:
        return self.task is not None

    def fingerprint(self) -> str:
        """sha256 hex of the canonical JSON of what changes the answers: model, templates, params, task.

        Not the name, the endpoint, the key, the timeout or the pricing: the same request to another server
        that serves the same model is the same config.
        """
        payload = {
            "model": self.model,
            "params": dict(self.params),
            "prompt": self.prompt,
            "system_prompt": self.system_prompt,
            "task": self.task,
        }
        canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def template_fields(self) -> tuple[str, ...]:
        """The item fields the templates use."""
        seen = dict.fromkeys(template_fields(self.system_prompt or ""))
        seen.update(dict.fromkeys(template_fields(self.prompt or "")))
        return tuple(seen)

    def render(self, item: Mapping[str, Any]) -> list[Message]:
        """The chat messages for one item: the system prompt (if any), then the prompt as the user turn."""
        if self.prompt is None:
            raise ConfigError(f"config {self.name!r} runs task {self.task!r}; call run_task, not render")
        messages: list[Message] = []
        if self.system_prompt is not None:
            messages.append({"role": "system", "content": render_template(self.system_prompt, item)})
        messages.append({"role": "user", "content": render_template(self.prompt, item)})
        return messages

    def call_params(self) -> CallParams:
        if self.model is None:
            raise ConfigError(f"config {self.name!r} runs task {self.task!r} and calls no model")
        return CallParams(
            model=self.model,
            params=dict(self.params),  # a plain dict pickles; the config keeps the read-only one
            api_base=self.api_base,
            api_key_env=self.api_key_env,
            timeout_s=self.timeout_s,
            cost_per_1k_input=self.cost_per_1k_input,
            cost_per_1k_output=self.cost_per_1k_output,
        )

    async def run_task(self, item: Mapping[str, Any]) -> Completion:
        """Run the task on one item. Sync callables run in a thread so they cannot stall the event loop."""
        fn = self._task_fn
        if fn is None:
            raise ConfigError(f"config {self.name!r} has no task; render it and call a ModelClient")
        started = time.perf_counter()
        try:
            if inspect.iscoroutinefunction(fn):
                result = await fn(dict(item))
            else:
                result = await asyncio.to_thread(fn, dict(item))
                if inspect.isawaitable(result):
                    result = await result
        except ModelError:
            raise
        except Exception as exc:  # the task is user code: its failure is this item's failure
            raise ModelError(
                f"task {self.task} failed: {type(exc).__name__}: {exc}", transient=False
            ) from exc
        if not isinstance(result, str):
            raise ModelError(
                f"task {self.task} returned {type(result).__name__}, expected the output text (str)",
                transient=False,
                kind="malformed",
            )
        return Completion(
            text=result,
            input_tokens=None,
            output_tokens=None,
            cost_usd=None,
            latency_ms=(time.perf_counter() - started) * 1000,
            model=f"task:{self.task}",
        )

    def check_provider(self) -> None:
        """ConfigError naming the model string or the missing API key variable; nothing for task configs."""
        if self.model is None:
            return
        from tracewatch.experiments.client import check_provider  # imports litellm: only when asked

        check_provider(self.model, api_base=self.api_base, api_key_env=self.api_key_env)

    def describe(self) -> dict[str, Any]:
        """The whole config as JSON-able data, for the experiment record (no secrets: key *names* only)."""
        return {
            "name": self.name,
            "fingerprint": self.fingerprint(),
            "model": self.model,
            "task": self.task,
            "prompt": self.prompt,
            "system_prompt": self.system_prompt,
            "params": dict(self.params),
            "api_base": redact_url(self.api_base),
            "api_key_env": self.api_key_env,
            "timeout_s": self.timeout_s,
            "cost_per_1k_input": self.cost_per_1k_input,
            "cost_per_1k_output": self.cost_per_1k_output,
            "baseline": self.baseline,
            "axes": dict(self.axes),
        }


def _config_from_fields(fields: dict[str, Any]) -> ExperimentConfig:
    return ExperimentConfig(**fields)


def _normalise_params(params: Mapping[str, Any], where: str) -> dict[str, Any]:
    """Known params checked and given one JSON form (temperature 0 and 0.0 fingerprint the same)."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: params must be a mapping, got {type(params).__name__}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = str(key)
        if name in _REFUSED_PARAMS:
            raise ConfigError(f"{where}: params.{name} is not allowed: {_REFUSED_PARAMS[name]}")
        if value is None:
            continue
        if name in _FLOAT_PARAMS:
            low, high = _FLOAT_PARAMS[name]
            if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
                raise ConfigError(f"{where}: params.{name}={value!r} must be a number in [{low:g}, {high:g}]")
            out[name] = float(value)
        elif name in _INT_PARAMS:
            minimum = _INT_PARAMS[name]
            if (
                isinstance(value, bool)
                or not isinstance(value, int)
                or (minimum is not None and value < minimum)
            ):
                floor = f" >= {minimum}" if minimum is not None else ""
                raise ConfigError(f"{where}: params.{name}={value!r} must be an integer{floor}")
            out[name] = value
        elif name == "stop":
            stops = [value] if isinstance(value, str) else value
            if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
                raise ConfigError(f"{where}: params.stop={value!r} must be a string or a list of strings")
            out[name] = stops
        else:
            try:
                json.dumps(value)
            except TypeError:
                raise ConfigError(f"{where}: params.{name}={value!r} must be JSON data") from None
            out[name] = value
    return dict(sorted(out.items()))


# ---- an experiment -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Experiment:
    """A named set of configs with exactly one baseline, which every other config is compared with."""

    name: str
    configs: tuple[ExperimentConfig, ...]
    description: str = ""
    limits: Mapping[str, LimitSettings] = field(default_factory=dict, hash=False)
    """Concurrency and rate limits by model string or provider (see `limits.ProviderLimits`)."""
    scorers: tuple[Mapping[str, Any], ...] = field(default=(), hash=False)
    """Scorer configs (heuristic metrics and LLM judges) the scoring stage applies to the outputs; checked by
    `tracewatch.scoring.suite.build_scorers`."""
    output_suite: str | None = None
    """The expectation suite the outputs are checked with: a shipped name (`outputs`, `outputs-json`) or a
    path; None means the default `outputs` suite."""

    def __post_init__(self) -> None:
        where = f"experiment {self.name!r}"
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(f"{where}: the name must use only letters, digits and . _ = -")
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
        """Check every model's provider and API key once, before any call."""
        done: set[tuple[str | None, str | None, str | None]] = set()
        for config in self.configs:
            key = (config.model, config.api_base, config.api_key_env)
            if key not in done:
                done.add(key)
                config.check_provider()

    def check_items(self, items: pl.DataFrame | Iterable[Mapping[str, Any]]) -> None:
        """ConfigError, listing the fields the items do have, if a template uses a field none of them has."""
        rows = list(items.iter_rows(named=True)) if isinstance(items, pl.DataFrame) else list(items)
        wanted = {name for c in self.configs for name in c.template_fields()}
        present = {name for name in wanted if any(_has_value(row, name) for row in rows)}
        problems = [
            f"config {c.name!r} uses {{{name}}}"
            for c in self.configs
            for name in c.template_fields()
            if name not in present
        ]
        if problems:
            available = _available_fields(rows)
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


def _available_fields(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    metadata_keys = sorted(
        {f"metadata.{k}" for row in rows for k, v in _metadata(row).items() if v is not None}
    )
    return [name for name in TEMPLATE_FIELDS if any(_has_value(row, name) for row in rows)] + metadata_keys


# ---- loading -------------------------------------------------------------------------------------------


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
        name = str(source)
        try:
            path = shipped_data(f"{EXPERIMENTS_DIR}/{name}.yaml")
        except ConfigError:
            known = ", ".join(shipped_experiments()) or "none"
            raise ConfigError(
                f"no shipped experiment {name!r}; shipped: {known}; or pass a .yaml path"
            ) from None
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ConfigError(f"cannot read experiment file {path}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        raise ConfigError(f"experiment file {path} is not valid YAML: {exc}") from None
    return experiment_from_dict(data, check_providers=check_providers, environ=environ)


def experiment_from_dict(
    data: object,
    *,
    check_providers: bool = True,
    environ: Mapping[str, str] | None = None,
) -> Experiment:
    """Parse an experiment dict (YAML, flow parameters): defaults merged in, prompt labels resolved, grids
    expanded, `api_base_env` read from `environ` (default: the process environment)."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"an experiment must be a mapping, got {type(data).__name__}")
    _refuse_unknown(data, _TOP_KEYS, "experiment")
    name = data.get("name")
    if not isinstance(name, str):
        raise ConfigError("experiment: `name` is required (a string)")
    prompts = _string_mapping(data.get("prompts") or {}, f"experiment {name!r}: prompts")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, Mapping):
        raise ConfigError(f"experiment {name!r}: defaults must be a mapping")
    _refuse_unknown(defaults, _CONFIG_KEYS - {"name", "grid", "baseline"}, f"experiment {name!r}: defaults")
    entries = data.get("configs")
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"experiment {name!r}: `configs` must be a non-empty list of config mappings")
    env = os.environ if environ is None else environ
    configs: list[ExperimentConfig] = []
    for index, entry in enumerate(entries):
        if not isinstance(entry, Mapping):
            raise ConfigError(f"experiment {name!r}: configs[{index}] must be a mapping")
        _refuse_unknown(entry, _CONFIG_KEYS, f"experiment {name!r}: configs[{index}]")
        merged = _merge(defaults, entry)
        configs.extend(_expand(merged, prompts, env, f"experiment {name!r}: configs[{index}]"))
    description = data.get("description") or ""
    limits = data.get("limits") or {}
    if not isinstance(limits, Mapping):
        raise ConfigError(f"experiment {name!r}: limits must map a model or provider to its limits")
    scorers = data.get("scorers") or []
    if not isinstance(scorers, list) or not all(isinstance(s, Mapping) for s in scorers):
        raise ConfigError(
            f"experiment {name!r}: scorers must be a list of scorer mappings, e.g. [{{metric: token_f1}}]"
        )
    experiment = Experiment(
        name=name,
        configs=tuple(configs),
        description=str(description),
        scorers=tuple(dict(s) for s in scorers),
        output_suite=_optional_text(data.get("output_suite"), f"experiment {name!r}: output_suite"),
        limits={
            str(key): limit_settings_from_dict(value, f"experiment {name!r}: limits.{key}")
            for key, value in limits.items()
        },
    )
    if check_providers:
        experiment.check_providers()
    log.debug(
        "experiment %s: %d configs, baseline %s", name, len(experiment.configs), experiment.baseline.name
    )
    return experiment


def _optional_text(value: object, where: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise ConfigError(f"{where}: expected a name or a path (a string), got {value!r}")
    return value


def _refuse_unknown(data: Mapping[str, Any], allowed: frozenset[str], where: str) -> None:
    unknown = sorted(str(k) for k in data if k not in allowed)
    if unknown:
        raise ConfigError(
            f"{where}: unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )


def _string_mapping(value: object, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping) or not all(isinstance(v, str) for v in value.values()):
        raise ConfigError(f"{where}: expected a mapping of label to template text")
    return {str(k): v for k, v in value.items()}


def _merge(defaults: Mapping[str, Any], entry: Mapping[str, Any]) -> dict[str, Any]:
    merged = {**defaults, **entry}
    if isinstance(defaults.get("params"), Mapping) and isinstance(entry.get("params"), Mapping):
        merged["params"] = {**defaults["params"], **entry["params"]}
    return merged


def _expand(
    entry: Mapping[str, Any], prompts: Mapping[str, str], env: Mapping[str, str], where: str
) -> list[ExperimentConfig]:
    """One config per combination of the grid's axes (one config without a grid)."""
    raw = dict(entry)
    name = raw.pop("name", None)
    if not isinstance(name, str):
        raise ConfigError(f"{where}: `name` is required (a string)")
    grid = raw.pop("grid", None) or {}
    if not isinstance(grid, Mapping):
        raise ConfigError(f"{where} ({name}): grid must be a mapping of axis to a list of values")
    axes = [
        (str(axis), _axis_values(str(axis), values, prompts, f"{where} ({name}): grid.{axis}"))
        for axis, values in grid.items()
    ]
    for axis, _ in axes:
        if axis in _CONFIG_KEYS and axis not in _GRID_FIELDS:
            raise ConfigError(
                f"{where} ({name}): grid axis {axis!r} is not allowed; use {', '.join(_GRID_FIELDS)} or a "
                "param name (temperature, top_p, max_tokens, seed, ...)"
            )
    baseline = raw.pop("baseline", False)
    if not isinstance(baseline, bool):
        raise ConfigError(f"{where} ({name}): baseline must be true or false")
    out = []
    for number, combination in enumerate(itertools.product(*(values for _, values in axes))):
        fields = dict(raw)
        fields["params"] = dict(fields.get("params") or {})
        labels: dict[str, str] = {}
        for (axis, _), (label, value) in zip(axes, combination, strict=True):
            labels[axis] = label
            if axis in _GRID_FIELDS:
                fields[axis] = value
            else:
                fields["params"][axis] = value
        derived = "-".join([name, *(f"{axis}={label}" for axis, label in labels.items())])
        out.append(
            _build(derived, fields, prompts, env, labels, baseline and number == 0, f"{where} ({derived})")
        )
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


def model_config_from_dict(
    name: str, data: Mapping[str, Any], where: str, *, environ: Mapping[str, str] | None = None
) -> ExperimentConfig:
    """One model config from a mapping of config keys (no grid, no baseline), with `api_base_env` read from
    `environ` (default: the process environment). LLM judges describe their model this way."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{where}: expected a mapping of config keys, got {type(data).__name__}")
    _refuse_unknown(data, _CONFIG_KEYS - {"name", "grid", "baseline", "task"}, where)
    env = os.environ if environ is None else environ
    return _build(name, data, {}, env, {}, False, where)


def _build(
    name: str,
    fields: Mapping[str, Any],
    prompts: Mapping[str, str],
    env: Mapping[str, str],
    axes: Mapping[str, str],
    baseline: bool,
    where: str,
) -> ExperimentConfig:
    values = dict(fields)
    for label in ("prompt", "system_prompt"):
        template = values.get(label)
        if template is not None and not isinstance(template, str):
            raise ConfigError(f"{where}: {label} must be a string (template text or a label from `prompts`)")
        if isinstance(template, str) and template in prompts:
            values[label] = prompts[template]
    base_env = values.pop("api_base_env", None)
    if base_env is not None:
        if values.get("api_base") is not None:
            raise ConfigError(f"{where}: set api_base or api_base_env, not both")
        url = env.get(str(base_env))
        if not url:
            raise ConfigError(
                f"{where}: api_base_env={base_env} names an environment variable that is not set"
            )
        values["api_base"] = url
    for label in ("model", "task", "api_base", "api_key_env"):
        if values.get(label) is not None and not isinstance(values[label], str):
            raise ConfigError(f"{where}: {label} must be a string")
    for label in ("timeout_s", "cost_per_1k_input", "cost_per_1k_output"):
        value = values.get(label)
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ConfigError(f"{where}: {label}={value!r} must be a number")
    return ExperimentConfig(name=name, axes=axes, baseline=baseline, **values)
