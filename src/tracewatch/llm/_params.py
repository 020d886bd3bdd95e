"""How a model is called: `CallOptions` (params, endpoint, key variable, timeout, pricing), declared once and
shared by `CallParams` (what is sent with the messages) and every config that describes a model call (an
experiment config, an LLM judge's model).

Known params are checked and given one JSON form here (temperature 0 and 0.0 are the same request), so the
same call is cached and fingerprinted the same whoever describes it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from dataclasses import field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from pydantic.dataclasses import dataclass

from tracewatch.errors import ConfigError
from tracewatch.llm._parsing import STRICT_CONFIG, config_keys, parse_config

_FLOAT_PARAMS: Mapping[str, tuple[float, float]] = {
    "temperature": (0.0, 2.0),
    "top_p": (0.0, 1.0),
    "presence_penalty": (-2.0, 2.0),
    "frequency_penalty": (-2.0, 2.0),
}
_INT_PARAMS: Mapping[str, int | None] = {"max_tokens": 1, "max_completion_tokens": 1, "seed": None}
REFUSED_PARAMS: Mapping[str, str] = {
    "stream": "answers are read whole; streaming is not supported",
    "n": "one answer per call; use trials for repeated samples",
    "model": "set `model` on the config, not in params",
    "messages": "messages come from the prompt template",
    "api_key": "name the environment variable with `api_key_env` instead",
    "api_base": "set `api_base` or `api_base_env` on the config, not in params",
}


@dataclass(frozen=True, kw_only=True, config=STRICT_CONFIG)
class CallOptions:
    """Everything about a model call besides the model string and the messages. Subclasses check it with
    `check_call_options` in their `__post_init__`."""

    params: Mapping[str, Any] = field(default_factory=dict)
    """Provider params (temperature, max_tokens, seed, ...), checked and normalised; after the check it also
    holds the `passthrough_params`, since both are sent."""
    passthrough_params: Mapping[str, Any] = field(default_factory=dict)
    """Params sent as is, without checking their names against what litellm knows the model accepts (a
    provider's newer or vendor-specific param); refused names and JSON-ness are still checked."""
    api_base: str | None = None
    api_key_env: str | None = None
    """The name of the environment variable that holds the API key (never the key itself)."""
    timeout_s: float = 60.0
    cost_per_1k_input: float | None = None
    """USD per 1,000 input tokens, used only when litellm's cost map does not know the model."""
    cost_per_1k_output: float | None = None
    """USD per 1,000 output tokens, used only when litellm's cost map does not know the model."""

    def check_call_options(self, where: str) -> None:
        """Check and normalise the options (params in their one JSON form); ConfigError messages start with
        `where`. Only for `__post_init__`: it sets the frozen `params`."""
        passthrough = normalise_params(self.passthrough_params, where, label="passthrough_params")
        params = normalise_params(self.params, where)
        for name, value in passthrough.items():
            # A name in both must agree: a config built from another's call_options() carries both.
            if params.setdefault(name, value) != value:
                raise ConfigError(
                    f"{where}: {name} is set under both params and passthrough_params; keep one"
                )
        object.__setattr__(self, "params", dict(sorted(params.items())))
        object.__setattr__(self, "passthrough_params", passthrough)
        if not self.timeout_s > 0:
            raise ConfigError(f"{where}: timeout_s={self.timeout_s} must be > 0")
        for label in ("cost_per_1k_input", "cost_per_1k_output"):
            value = getattr(self, label)
            if value is not None and not value >= 0:
                raise ConfigError(f"{where}: {label}={value} must be >= 0")

    def call_options(self) -> dict[str, Any]:
        """The options as keyword arguments, e.g. to build a `CallParams` (params as a plain dict)."""
        options = {f.name: getattr(self, f.name) for f in dataclasses.fields(CallOptions)}
        options["params"] = dict(self.params)
        options["passthrough_params"] = dict(self.passthrough_params)
        return options


@dataclass(frozen=True, kw_only=True, config=STRICT_CONFIG)
class CallParams(CallOptions):
    """Everything besides the messages that changes a model's answer, as sent to the provider."""

    model: str

    def __post_init__(self) -> None:
        self.check_call_options(f"model {self.model!r}")

    def __repr__(self) -> str:
        # An api_base may carry credentials (https://user:pass@host); the key itself is only ever a name here.
        return (
            f"CallParams(model={self.model!r}, params={dict(self.params)!r}, api_base={redact_url(self.api_base)!r}, "
            f"api_key_env={self.api_key_env!r}, timeout_s={self.timeout_s!r})"
        )


def redact_url(url: str | None) -> str | None:
    """`url` with any user:password part replaced by ***, for logs and records."""
    if not url:
        return url
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]))


def normalise_params(params: Mapping[str, Any], where: str, *, label: str = "params") -> dict[str, Any]:
    """Known params checked and given one JSON form (temperature 0 and 0.0 fingerprint the same), sorted.
    `label` is the config key the params come from, for the messages."""
    if not isinstance(params, Mapping):
        raise ConfigError(f"{where}: {label} must be a mapping of name to value, got {params!r}")
    out: dict[str, Any] = {}
    for key, value in params.items():
        name = str(key)
        if name in REFUSED_PARAMS:
            raise ConfigError(f"{where}: {label}.{name} is not allowed: {REFUSED_PARAMS[name]}")
        if value is not None:
            out[name] = _param(name, value, f"{where}: {label}.{name}")
    return dict(sorted(out.items()))


def _param(name: str, value: Any, where: str) -> Any:
    """`value` checked and normalised; `where` names the key (e.g. "config 'a': params.top_p")."""
    if name in _FLOAT_PARAMS:
        low, high = _FLOAT_PARAMS[name]
        if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
            raise ConfigError(f"{where}={value!r} must be a number in [{low:g}, {high:g}]")
        return float(value)
    if name in _INT_PARAMS:
        minimum = _INT_PARAMS[name]
        if isinstance(value, bool) or not isinstance(value, int) or (minimum is not None and value < minimum):
            floor = f" >= {minimum}" if minimum is not None else ""
            raise ConfigError(f"{where}={value!r} must be an integer{floor}")
        return value
    if name == "stop":
        stops = [value] if isinstance(value, str) else value
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise ConfigError(f"{where}={value!r} must be a string or a list of strings")
        return stops
    try:
        json.dumps(value)
    except TypeError:
        raise ConfigError(f"{where}={value!r} must be JSON data") from None
    return value


def read_api_base_env(
    values: Mapping[str, Any], where: str, environ: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """`values` with `api_base_env` (the name of a variable holding the endpoint URL) replaced by `api_base`,
    read from `environ` (default: the process environment)."""
    resolved = dict(values)
    name = resolved.pop("api_base_env", None)
    if name is None:
        return resolved
    if resolved.get("api_base") is not None:
        raise ConfigError(f"{where}: set api_base or api_base_env, not both")
    url = (os.environ if environ is None else environ).get(str(name))
    if not url:
        raise ConfigError(f"{where}: api_base_env={name} names an environment variable that is not set")
    resolved["api_base"] = url
    return resolved


def call_params_from_dict(
    data: Mapping[str, Any], where: str, *, environ: Mapping[str, str] | None = None
) -> CallParams:
    """A model call described by a config mapping: `model`, the `CallOptions` keys, or `api_base_env` instead
    of `api_base`. Every error starts with `where`."""
    allowed = config_keys(CallParams) | {"api_base_env"}
    try:
        values = read_api_base_env(data, where, environ) if isinstance(data, Mapping) else data
        return parse_config(CallParams, values, where, allowed=allowed)
    except ConfigError as error:
        message = str(error)
        raise ConfigError(message if message.startswith(where) else f"{where}: {message}") from None
