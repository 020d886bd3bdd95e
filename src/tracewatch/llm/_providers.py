"""Provider checks before any call, and the one place litellm is imported (lazily, since the import takes
seconds): which provider a litellm model string names, whether its API key is there, and prices for models
litellm's cost map does not know.
"""

from __future__ import annotations

import gc
import os
import sys
from typing import Any

from tracewatch.errors import ConfigError

PLACEHOLDER_API_KEY = "unused"
"""Sent to OpenAI-compatible endpoints that need no key (OpenAI clients refuse an empty one). A real provider
key is never sent to a custom `api_base` unless the config names its variable with `api_key_env`."""

OPENAI_COMPATIBLE_PROVIDERS = frozenset({"openai"})
"""litellm providers whose `api_base` is an OpenAI chat API that the direct transport can call as is."""

KEYLESS_PROVIDERS = frozenset({"ollama", "ollama_chat", "hosted_vllm", "lm_studio", "llamafile"})
"""Self-hosted providers that work without an API key."""


def load_litellm() -> Any:
    """Import litellm with the local price map (never fetched from the internet) and without its banners.

    The first import also freezes the garbage collector's view of everything alive then (`gc.freeze`): litellm
    and the SDKs it pulls in leave some 400,000 objects that live as long as the process, and without the
    freeze every full collection during a run walks them all again; a warm-cache rerun of 2,000 items spent
    half its time there.
    """
    loaded = sys.modules.get("litellm")
    if loaded is not None and getattr(loaded, "suppress_debug_info", False):
        return loaded  # the common case, per priced span of an import: no environment or import machinery
    first = loaded is None
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    litellm.suppress_debug_info = True
    if first:
        gc.freeze()
    return litellm


# ---- checks before any call ----------------------------------------------------------------------------


def provider_of(model: str, api_base: str | None = None) -> tuple[str, str]:
    """(provider, the model name the provider knows) for a litellm model string, or ConfigError."""
    try:
        name, provider, _, _ = load_litellm().get_llm_provider(model=model, api_base=api_base)
    except Exception:  # litellm raises its BadRequestError, ValueError or KeyError depending on the string
        raise ConfigError(
            f"model {model!r}: litellm cannot tell its provider; write it as <provider>/<model>, e.g. "
            "openai/gpt-4o-mini, anthropic/claude-haiku-4-5, ollama_chat/llama3.2, hosted_vllm/<name>"
        ) from None
    return str(provider), str(name)


def check_provider(model: str, *, api_base: str | None = None, api_key_env: str | None = None) -> None:
    """ConfigError naming the model string (unknown provider) or the environment variable of a missing key."""
    provider, _ = provider_of(model, api_base)
    if api_key_env is not None:
        if not os.environ.get(api_key_env):
            raise ConfigError(
                f"model {model!r} reads its API key from the environment variable {api_key_env} "
                "(api_key_env), which is not set"
            )
        return
    if provider in KEYLESS_PROVIDERS or (api_base and provider in OPENAI_COMPATIBLE_PROVIDERS):
        return
    missing = load_litellm().validate_environment(model=model).get("missing_keys") or []
    if missing:
        raise ConfigError(
            f"model {model!r} (provider {provider}) needs {', '.join(missing)} in the environment, which is "
            "not set; export it, or name another variable with api_key_env"
        )


def register_model_prices(model: str, *, input_per_1k: float, output_per_1k: float) -> None:
    """Add a model's price to litellm's (local) cost map, e.g. for a self-hosted model you want costed."""
    provider, _ = provider_of(model)
    entry = {
        "input_cost_per_token": input_per_1k / 1000,
        "output_cost_per_token": output_per_1k / 1000,
        "cache_creation_input_token_cost": 0.0,
        "cache_read_input_token_cost": 0.0,
        "litellm_provider": provider,
        "mode": "chat",
    }
    load_litellm().register_model({model: entry})
