"""Which param names a model accepts, checked before the first call: a misspelt `temprature` or `max_token` is a
configuration error naming the closest accepted name, not a silent extra field the provider may ignore.

The accepted names are litellm's for the model's provider (`litellm.get_supported_openai_params`); for a
provider litellm does not map, the OpenAI chat API's. A param a provider takes that neither list knows is sent
as is when the config names it under `passthrough_params`.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Mapping
from typing import Any

from tracewatch.errors import ConfigError
from tracewatch.llm._params import REFUSED_PARAMS
from tracewatch.llm._providers import load_litellm, provider_of

OPENAI_CHAT_PARAMS: frozenset[str] = frozenset(
    {
        "audio",
        "frequency_penalty",
        "function_call",
        "functions",
        "logit_bias",
        "logprobs",
        "max_completion_tokens",
        "max_tokens",
        "metadata",
        "modalities",
        "n",
        "parallel_tool_calls",
        "prediction",
        "presence_penalty",
        "prompt_cache_key",
        "prompt_cache_retention",
        "reasoning_effort",
        "response_format",
        "safety_identifier",
        "seed",
        "service_tier",
        "stop",
        "store",
        "stream",
        "stream_options",
        "temperature",
        "tool_choice",
        "tools",
        "top_logprobs",
        "top_p",
        "user",
        "verbosity",
        "web_search_options",
    }
)
"""The request fields of OpenAI's chat completions API besides `model` and `messages`
(https://platform.openai.com/docs/api-reference/chat/create; openai-python's `CompletionCreateParamsBase`):
the accepted names for a provider litellm has no list for."""


def accepted_params(model: str, api_base: str | None = None) -> frozenset[str]:
    """The param names `model` accepts: litellm's list for its provider, else the OpenAI chat API's."""
    provider, name = provider_of(model, api_base)
    try:
        supported = load_litellm().get_supported_openai_params(model=name, custom_llm_provider=provider)
    except Exception:  # litellm raises its own errors for providers it has no chat config for
        supported = None
    return frozenset(str(p) for p in supported) if supported else OPENAI_CHAT_PARAMS


def check_param_names(
    model: str,
    params: Mapping[str, Any],
    where: str,
    *,
    passthrough: Collection[str] = (),
    api_base: str | None = None,
) -> None:
    """ConfigError for every key of `params` that `model` does not accept (`accepted_params`), with the closest
    accepted name and the full list; keys in `passthrough` are sent as is, unchecked."""
    accepted = accepted_params(model, api_base)
    unknown = [key for key in params if key not in accepted and key not in passthrough]
    if not unknown:
        return
    offered = sorted(accepted - REFUSED_PARAMS.keys())
    problems = []
    for key in unknown:
        # Above difflib's default cutoff: a typo's neighbour is named, a name sharing a letter or two is not.
        close = difflib.get_close_matches(key, offered, n=1, cutoff=0.75)
        problems.append(f"params.{key}" + (f" (did you mean {close[0]}?)" if close else ""))
    raise ConfigError(
        f"{where}: {', '.join(problems)} {'is' if len(problems) == 1 else 'are'} not a parameter model "
        f"{model!r} accepts; it accepts: {', '.join(offered)}. To send a parameter litellm does not know as "
        "is, put it under passthrough_params instead of params"
    )
