"""Model calls: the `ModelClient` seam and its litellm client, the response cache, provider limits, retries,
the cost budget and the runtime that holds them.

The experiment runner and the LLM judges both call models through this package, so they share one cache,
one set of provider limits and one cost cap. Everything a caller needs is exported here; the modules behind it
are private.
"""

from tracewatch.llm._budget import Booking, CostBudget, Estimate, Reservation
from tracewatch.llm._cache import CACHE_PREFIX, PACK_PREFIX, CacheKeys, ResponseCache, cache_key
from tracewatch.llm._calls import NOT_ATTEMPTED, CallContext, CallResult, Invoke, answer
from tracewatch.llm._client import LiteLLMClient, Transport
from tracewatch.llm._limits import (
    LimitSettings,
    ProviderLimits,
    SharedGate,
    limit_settings_from_dict,
    provider_key,
)
from tracewatch.llm._param_names import OPENAI_CHAT_PARAMS, accepted_params, check_param_names
from tracewatch.llm._params import (
    REFUSED_PARAMS,
    CallOptions,
    CallParams,
    call_params_from_dict,
    read_api_base_env,
    redact_url,
)
from tracewatch.llm._parsing import STRICT_CONFIG, check_keys, config_keys, parse_config
from tracewatch.llm._pricing import litellm_cost, token_prices
from tracewatch.llm._providers import check_provider, load_litellm, register_model_prices
from tracewatch.llm._retry import RetryPolicy, Sleep
from tracewatch.llm._runtime import Runtime, call_context, model_runtime
from tracewatch.llm._types import CallStatus, Completion, Message, ModelClient, ModelError, ModelErrorKind

__all__ = [
    "CACHE_PREFIX",
    "NOT_ATTEMPTED",
    "OPENAI_CHAT_PARAMS",
    "PACK_PREFIX",
    "REFUSED_PARAMS",
    "STRICT_CONFIG",
    "Booking",
    "CacheKeys",
    "CallContext",
    "CallOptions",
    "CallParams",
    "CallResult",
    "CallStatus",
    "Completion",
    "CostBudget",
    "Estimate",
    "Invoke",
    "LimitSettings",
    "LiteLLMClient",
    "Message",
    "ModelClient",
    "ModelError",
    "ModelErrorKind",
    "ProviderLimits",
    "Reservation",
    "ResponseCache",
    "RetryPolicy",
    "Runtime",
    "SharedGate",
    "Sleep",
    "Transport",
    "accepted_params",
    "answer",
    "cache_key",
    "call_context",
    "call_params_from_dict",
    "check_keys",
    "check_param_names",
    "check_provider",
    "config_keys",
    "limit_settings_from_dict",
    "litellm_cost",
    "load_litellm",
    "model_runtime",
    "parse_config",
    "provider_key",
    "read_api_base_env",
    "redact_url",
    "register_model_prices",
    "token_prices",
]
