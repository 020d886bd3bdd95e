"""Param names are checked when an experiment is loaded (issue 20, item 8): a misspelt `temprature` or
`max_token` is a ConfigError naming the key, the closest accepted name and the accepted names, instead of an
extra field sent to the provider. The accepted names are litellm's for the model's provider
(https://docs.litellm.ai/docs/completion/input, `litellm.get_supported_openai_params`), else the OpenAI chat
API's (https://platform.openai.com/docs/api-reference/chat/create). `passthrough_params` are sent unchecked.
"""

from __future__ import annotations

import pickle
from typing import Any

import pytest

from tracewatch.errors import ConfigError
from tracewatch.experiments import ExperimentConfig, experiment_from_dict, load_experiment
from tracewatch.llm import OPENAI_CHAT_PARAMS, accepted_params, check_param_names, load_litellm

LOCAL = {"model": "openai/local-model", "api_base": "http://127.0.0.1:9/v1"}


def load(**config: Any) -> None:
    experiment_from_dict({"name": "exp", "configs": [{"name": "a", **LOCAL, **config}]})


@pytest.mark.parametrize(
    ("params", "wrong", "meant"),
    [({"temprature": 0.2}, "temprature", "temperature"), ({"max_token": 64}, "max_token", "max_tokens")],
)
def test_a_misspelt_param_stops_the_load_naming_the_key_and_the_closest_name(
    params: dict[str, Any], wrong: str, meant: str
) -> None:
    with pytest.raises(ConfigError) as raised:
        load(params=params)
    message = str(raised.value)
    assert message.startswith(f"config 'a': params.{wrong} (did you mean {meant}?) is not a parameter model")
    assert "it accepts: audio, extra_headers, frequency_penalty, " in message and ", temperature, " in message
    assert "put it under passthrough_params" in message
    assert "stream," not in message  # names tracewatch refuses are not offered


def test_every_unknown_key_is_named_at_once() -> None:
    with pytest.raises(
        ConfigError, match=r"params.temprature \(did you mean temperature\?\), params.zzz are not"
    ):
        load(params={"temprature": 0.2, "zzz": 1, "seed": 3})


def test_the_names_are_the_providers_own() -> None:
    # Anthropic takes no seed (litellm's list for the provider), while an OpenAI-compatible server does.
    with pytest.raises(
        ConfigError, match=r"params.seed \(.*\) is not a parameter model 'anthropic/claude-haiku-4-5'"
    ):
        check_param_names("anthropic/claude-haiku-4-5", {"seed": 7}, "config 'a'")
    check_param_names("openai/local-model", {"seed": 7}, "config 'a'")


def test_a_provider_litellm_has_no_list_for_gets_the_openai_chat_names(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(load_litellm(), "get_supported_openai_params", lambda **_: None)
    assert accepted_params("openai/local-model") == OPENAI_CHAT_PARAMS
    with pytest.raises(ConfigError, match=r"did you mean max_completion_tokens\?"):
        check_param_names("openai/local-model", {"max_completion_token": 5}, "config 'a'")


def test_passthrough_params_are_sent_as_is_and_change_the_fingerprint() -> None:
    experiment = experiment_from_dict(
        {
            "name": "exp",
            "configs": [
                {"name": "a", **LOCAL, "params": {"temperature": 0}, "passthrough_params": {"top_k": 40}},
                {"name": "b", **LOCAL, "params": {"temperature": 0}},
            ],
        }
    )
    a, b = experiment.configs
    assert a.call_params().params == {"temperature": 0.0, "top_k": 40}  # what is sent
    assert a.describe()["passthrough_params"] == ["top_k"]
    assert a.fingerprint() != b.fingerprint()
    assert pickle.loads(pickle.dumps(a)) == a
    with pytest.raises(ConfigError, match=r"params.top_k \(did you mean top_p\?\) is not a parameter"):
        load(params={"top_k": 40})  # the same name under params is checked, and refused


def test_passthrough_params_merge_with_the_defaults_key_by_key() -> None:
    experiment = experiment_from_dict(
        {
            "name": "exp",
            "defaults": {**LOCAL, "passthrough_params": {"top_k": 40, "min_p": 0.1}},
            "configs": [{"name": "a", "passthrough_params": {"top_k": 20}}],
        }
    )
    assert experiment.configs[0].passthrough_params == {"min_p": 0.1, "top_k": 20}


def test_passthrough_params_are_still_checked_for_refused_names_and_clashes() -> None:
    with pytest.raises(
        ConfigError, match=r"passthrough_params.stream is not allowed: answers are read whole"
    ):
        ExperimentConfig(name="a", **LOCAL, passthrough_params={"stream": True})
    with pytest.raises(ConfigError, match=r"top_k is set under both params and passthrough_params; keep one"):
        ExperimentConfig(name="a", **LOCAL, params={"top_k": 1}, passthrough_params={"top_k": 2})
    with pytest.raises(ConfigError, match=r"a task config runs its callable .* remove passthrough_params"):
        ExperimentConfig(name="t", task="tests.support.tasks:shout", passthrough_params={"top_k": 2})


def test_the_shipped_experiments_pass_the_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_BASE", "http://gpu-box:8000/v1")
    monkeypatch.setenv("TRACEWATCH_DEMO_MODEL_URL", "http://127.0.0.1:9/v1")
    for name in ("demo", "hosted-examples"):
        for config in load_experiment(name, check_providers=False).configs:
            config.check_params()
