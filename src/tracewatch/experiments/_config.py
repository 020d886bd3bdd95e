"""One experiment config: a model with prompt templates (its call options are `tracewatch.llm.CallOptions`,
declared once there), or a Python task instead of a model.

Frozen, checked by pydantic and on construction: everything that can be checked before the first model call
is, except the provider and its key (`check_provider`, which imports litellm). `fingerprint()` identifies the
answers a config produces (not its name), so renaming a config keeps its cache entries and report history.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from pydantic.dataclasses import dataclass

from tracewatch.errors import ConfigError
from tracewatch.experiments._tasks import TaskFn, resolve_task, run_task
from tracewatch.experiments._templates import (
    DEFAULT_PROMPT,
    check_template_names,
    render_template,
    template_fields,
)
from tracewatch.llm import (
    STRICT_CONFIG,
    CallOptions,
    CallParams,
    Completion,
    Message,
    check_param_names,
    check_provider,
    redact_url,
)
from tracewatch.paths import check_name


@dataclass(frozen=True, kw_only=True, config=STRICT_CONFIG)
class ExperimentConfig(CallOptions):
    """One way of answering the items: a model with templates and params, or a Python task."""

    name: str
    model: str | None = None
    """A litellm model string, e.g. openai/gpt-4o-mini; None for a task config."""
    prompt: str | None = None
    system_prompt: str | None = None
    baseline: bool = False
    task: str | None = None
    """`package.module:function` answering each item instead of a model."""
    axes: Mapping[str, str] = field(default_factory=dict)
    """The grid labels this config was expanded with (e.g. {"prompt": "direct", "temperature": "0.7"})."""
    _task_fn: TaskFn | None = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        where = f"config {self.name!r}"
        check_name(self.name, "config")  # it names task runs and report rows
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
                    check_template_names(template, f"{where}: {label}")
        self.check_call_options(where)
        object.__setattr__(self, "params", MappingProxyType(dict(self.params)))
        object.__setattr__(self, "passthrough_params", MappingProxyType(dict(self.passthrough_params)))
        object.__setattr__(self, "axes", MappingProxyType(dict(self.axes)))

    def _check_task_only(self, where: str) -> None:
        given = [
            label
            for label in ("prompt", "system_prompt", "api_base", "api_key_env")
            if getattr(self, label) is not None
        ]
        given += [label for label in ("params", "passthrough_params") if getattr(self, label)]
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
        fields["passthrough_params"] = dict(self.passthrough_params)
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
        """What a model config sends with every item's messages."""
        if self.model is None:
            raise ConfigError(f"config {self.name!r} runs task {self.task!r} and calls no model")
        return CallParams(model=self.model, **self.call_options())

    async def run_task(self, item: Mapping[str, Any]) -> Completion:
        """Run the task on one item. Sync callables run in a thread so they cannot stall the event loop."""
        if self._task_fn is None or self.task is None:
            raise ConfigError(f"config {self.name!r} has no task; render it and call a ModelClient")
        return await run_task(self._task_fn, self.task, item)

    def check_provider(self) -> None:
        """ConfigError naming the model string or the missing API key variable; nothing for task configs."""
        if self.model is None:
            return
        check_provider(self.model, api_base=self.api_base, api_key_env=self.api_key_env)

    def check_params(self) -> None:
        """ConfigError naming each param the model does not accept (a misspelt `temprature`), with the closest
        accepted name; `passthrough_params` are not checked. Imports litellm, as `check_provider` does."""
        if self.model is not None:
            check_param_names(
                self.model,
                self.params,
                f"config {self.name!r}",
                passthrough=self.passthrough_params.keys(),
                api_base=self.api_base,
            )

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
            "passthrough_params": sorted(self.passthrough_params),
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
