"""Experiment configs: the fingerprint, grids, baselines, templates and their fields, task references, provider
and key checks, and loading from YAML files and plain dicts."""

from __future__ import annotations

import asyncio
import hashlib
import json
import pickle
from pathlib import Path
from typing import Any

import pytest

from tests.support.tasks import TASKS
from tracewatch.errors import ConfigError
from tracewatch.experiments import (
    ALLOW_TASKS_ENV,
    Experiment,
    ExperimentConfig,
    ItemFieldError,
    experiment_from_dict,
    load_experiment,
    render_template,
    resolve_task,
    shipped_experiments,
)
from tracewatch.llm import ModelError


@pytest.fixture(autouse=True)
def _callable_tasks_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """Task configs are off unless allowed (docs/security.md); these tests are about them once allowed."""
    monkeypatch.setenv(ALLOW_TASKS_ENV, "1")


MODEL = "openai/gpt-4o-mini"


def item(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "item_id": "itm_0000000000000001",
        "input_text": "What is 2+2?",
        "input_messages": [{"role": "user", "content": "What is 2+2?"}],
        "expected_output": "4",
        "retrieved_context": [
            {"document_id": "d1", "text": "Two plus two is four.", "score": 0.9},
            {"document_id": "d2", "text": "Arithmetic is fun.", "score": 0.5},
        ],
        "route": "qa/single-fact",
        "model": "gpt-4o-mini",
        "tags": ["math", "easy"],
        "metadata": json.dumps({"lang": "en", "level": 3}),
    }
    base.update(fields)
    return base


def experiment(*configs: dict[str, Any], **top: Any) -> Experiment:
    return experiment_from_dict({"name": "exp", "configs": list(configs), **top}, check_providers=False)


# ---- fingerprint -------------------------------------------------------------------------------------------


def test_fingerprint_is_the_sha256_of_the_canonical_json_and_is_pinned() -> None:
    config = ExperimentConfig(
        name="qa",
        model=MODEL,
        prompt="Question: {input}",
        system_prompt="Be brief.",
        params={"temperature": 0, "seed": 7, "max_tokens": 64},
    )
    payload = {
        "model": MODEL,
        "params": {"max_tokens": 64, "seed": 7, "temperature": 0.0},
        "prompt": "Question: {input}",
        "system_prompt": "Be brief.",
        "task": None,
    }
    independent = hashlib.sha256(
        json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    ).hexdigest()
    assert config.fingerprint() == independent
    assert config.fingerprint() == "d99e065e7772cd838494de585c303bb507e99ce4ff6c172b3d9c56806a1c0fcf"


def test_the_name_endpoint_timeout_and_pricing_are_not_in_the_fingerprint() -> None:
    a = ExperimentConfig(name="a", model=MODEL, params={"temperature": 0.5})
    b = ExperimentConfig(
        name="b",
        model=MODEL,
        params={"temperature": 0.5},
        api_base="http://127.0.0.1:9/v1",
        api_key_env="OTHER_KEY",
        timeout_s=5,
        cost_per_1k_input=1.0,
        cost_per_1k_output=2.0,
    )
    assert a.fingerprint() == b.fingerprint()


@pytest.mark.parametrize(
    "change",
    [
        {"model": "openai/gpt-4o"},
        {"prompt": "Q: {input}"},
        {"system_prompt": "Be verbose."},
        {"params": {"temperature": 0.7}},
        {"params": {"temperature": 0.5, "seed": 1}},
    ],
)
def test_everything_that_changes_the_answer_changes_the_fingerprint(change: dict[str, Any]) -> None:
    base: dict[str, Any] = {"name": "a", "model": MODEL, "params": {"temperature": 0.5}}
    assert ExperimentConfig(**base).fingerprint() != ExperimentConfig(**{**base, **change}).fingerprint()


def test_equal_params_written_differently_fingerprint_the_same() -> None:
    a = ExperimentConfig(name="a", model=MODEL, params={"temperature": 0, "seed": 1, "stop": "\n"})
    b = ExperimentConfig(name="a", model=MODEL, params={"stop": ["\n"], "seed": 1, "temperature": 0.0})
    assert a.fingerprint() == b.fingerprint()


def test_a_task_reference_is_fingerprinted() -> None:
    a = ExperimentConfig(name="t", task=f"{TASKS}:shout")
    b = ExperimentConfig(name="t", task=f"{TASKS}:shout_later")
    assert a.fingerprint() != b.fingerprint()


# ---- grids and baselines -----------------------------------------------------------------------------------


def test_a_grid_expands_into_one_config_per_combination_with_derived_names() -> None:
    exp = experiment(
        {"name": "small", "model": MODEL, "grid": {"prompt": ["terse", "cot"], "temperature": [0.0, 0.7]}},
        prompts={"terse": "Answer: {input}", "cot": "Think step by step. {input}"},
    )
    names = [c.name for c in exp.configs]
    assert names == [
        "small-prompt=terse-temperature=0.0",
        "small-prompt=terse-temperature=0.7",
        "small-prompt=cot-temperature=0.0",
        "small-prompt=cot-temperature=0.7",
    ]
    last = exp.configs[-1]
    assert last.prompt == "Think step by step. {input}"
    assert dict(last.params) == {"temperature": 0.7}
    assert dict(last.axes) == {"prompt": "cot", "temperature": "0.7"}
    assert len({c.fingerprint() for c in exp.configs}) == 4


def test_grid_axes_given_as_mappings_use_their_labels() -> None:
    exp = experiment(
        {"name": "m", "grid": {"model": {"mini": "openai/gpt-4o-mini", "big": "openai/gpt-4o"}}},
    )
    assert [c.name for c in exp.configs] == ["m-model=mini", "m-model=big"]
    assert exp.configs[1].model == "openai/gpt-4o"


def test_defaults_apply_to_every_config_and_params_merge_key_by_key() -> None:
    exp = experiment(
        {"name": "a", "params": {"temperature": 0.2}},
        {"name": "b"},
        defaults={"model": MODEL, "params": {"max_tokens": 32, "temperature": 0.0}},
    )
    assert dict(exp.config("a").params) == {"max_tokens": 32, "temperature": 0.2}
    assert dict(exp.config("b").params) == {"max_tokens": 32, "temperature": 0.0}


def test_without_a_marked_baseline_the_first_config_is_the_baseline() -> None:
    exp = experiment({"name": "a", "model": MODEL}, {"name": "b", "model": "openai/gpt-4o"})
    assert exp.baseline.name == "a"
    assert [c.baseline for c in exp.configs] == [True, False]


def test_the_marked_config_is_the_baseline() -> None:
    exp = experiment({"name": "a", "model": MODEL}, {"name": "b", "model": "openai/gpt-4o", "baseline": True})
    assert exp.baseline.name == "b"


def test_more_than_one_baseline_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="exactly one config may be the baseline, got a, b"):
        experiment(
            {"name": "a", "model": MODEL, "baseline": True},
            {"name": "b", "model": "openai/gpt-4o", "baseline": True},
        )


def test_a_baseline_grid_makes_only_its_first_combination_the_baseline() -> None:
    exp = experiment(
        {"name": "other", "model": "openai/gpt-4o"},
        {"name": "g", "model": MODEL, "baseline": True, "grid": {"temperature": [0.0, 1.0]}},
    )
    assert exp.baseline.name == "g-temperature=0.0"
    assert sum(c.baseline for c in exp.configs) == 1


def test_configs_that_would_give_the_same_answers_are_refused() -> None:
    with pytest.raises(ConfigError, match="'a' and 'b' have the same fingerprint"):
        experiment({"name": "a", "model": MODEL}, {"name": "b", "model": MODEL})


def test_repeated_names_are_refused() -> None:
    with pytest.raises(ConfigError, match="config names must be unique; repeated: a"):
        experiment({"name": "a", "model": MODEL}, {"name": "a", "model": "openai/gpt-4o"})


def test_a_grid_axis_that_is_not_a_field_or_param_is_refused() -> None:
    with pytest.raises(ConfigError, match="grid axis 'timeout_s' is not allowed"):
        experiment({"name": "a", "model": MODEL, "grid": {"timeout_s": [1, 2]}})


def test_unknown_keys_are_refused_with_the_allowed_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown key\(s\) temprature; allowed: .*params"):
        experiment({"name": "a", "model": MODEL, "temprature": 0.3})


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"temperature": 3}, r"params.temperature=3 must be a number in \[0, 2\]"),
        ({"max_tokens": 0}, "params.max_tokens=0 must be an integer >= 1"),
        ({"seed": "7"}, "params.seed='7' must be an integer"),
        ({"stream": True}, "params.stream is not allowed"),
        ({"n": 3}, "use trials"),
    ],
)
def test_bad_params_are_config_errors(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig(name="a", model=MODEL, params=params)


# ---- templates ---------------------------------------------------------------------------------------------


def test_render_fills_aliases_columns_and_metadata() -> None:
    config = ExperimentConfig(
        name="a",
        model=MODEL,
        system_prompt="Route {route}, language {metadata.lang}.",
        prompt="{context}\n\nQ: {input}\nTags: {tags}\nLevel {metadata.level}\nChat:\n{messages}\nRef: {expected}",
    )
    system, user = config.render(item())
    assert system == {"role": "system", "content": "Route qa/single-fact, language en."}
    assert user["role"] == "user"
    assert user["content"] == (
        "Two plus two is four.\n\nArithmetic is fun.\n\nQ: What is 2+2?\nTags: math, easy\nLevel 3\n"
        "Chat:\nuser: What is 2+2?\nRef: 4"
    )


def test_braces_that_are_not_placeholders_stay_as_they_are() -> None:
    template = 'Reply as JSON: {"answer": "..."}. A literal {{input}}. The question: {input}'
    assert (
        render_template(template, item())
        == 'Reply as JSON: {"answer": "..."}. A literal {input}. The question: What is 2+2?'
    )


def test_an_unknown_template_field_is_a_config_error_listing_the_fields() -> None:
    with pytest.raises(
        ConfigError, match=r"unknown template field\(s\) \{question\}; available: \{input\}, .*\{context\}"
    ):
        ExperimentConfig(name="a", model=MODEL, prompt="Q: {question}")


def test_a_field_the_items_do_not_have_is_a_config_error_listing_what_they_have() -> None:
    exp = experiment({"name": "a", "model": MODEL, "prompt": "{input} ({metadata.topic}) ref {expected}"})
    items = [item(expected_output=None), item(expected_output=None)]
    with pytest.raises(ConfigError) as caught:
        exp.check_items(items)
    message = str(caught.value)
    assert "config 'a' uses {metadata.topic}" in message
    assert "config 'a' uses {expected}" in message
    assert "none of the 2 items" in message
    assert "available fields: {input}, {messages}, {context}" in message
    assert "{metadata.lang}, {metadata.level}" in message
    assert "{expected}," not in message.split("available fields:")[1]


def test_items_that_have_every_field_pass_the_check() -> None:
    exp = experiment({"name": "a", "model": MODEL, "prompt": "{input} {metadata.lang} {context}"})
    exp.check_items([item(), item(retrieved_context=[])])


def test_one_item_without_a_value_fails_alone_at_render_time() -> None:
    config = ExperimentConfig(name="a", model=MODEL, prompt="{input} / {expected}")
    with pytest.raises(
        ItemFieldError, match=r"item itm_0000000000000001 has no value for template field \{expected\}"
    ):
        config.render(item(expected_output=None))


def test_the_default_prompt_is_the_input() -> None:
    config = ExperimentConfig(name="a", model=MODEL)
    assert config.render(item()) == [{"role": "user", "content": "What is 2+2?"}]


# ---- tasks -------------------------------------------------------------------------------------------------


def test_a_task_is_resolved_at_load_time_and_runs_sync_or_async() -> None:
    for ref in (f"{TASKS}:shout", f"{TASKS}:shout_later"):
        config = ExperimentConfig(name="t", task=ref)
        done = asyncio.run(config.run_task(item()))
        assert done.text == "WHAT IS 2+2?"
        assert done.model == f"task:{ref}" and done.cost_usd is None and done.latency_ms >= 0


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("no_colon", "must look like 'package.module:function'"),
        (
            "tests.unit.experiments.nowhere:fn",
            "cannot import 'tests.unit.experiments.nowhere': ModuleNotFoundError",
        ),
        (f"{TASKS}:missing", "has no attribute 'missing'"),
        (f"{TASKS}:NOT_CALLABLE", "is a str, not a callable"),
        (f"{TASKS}:takes_two", "must accept exactly one argument"),
    ],
)
def test_a_bad_task_reference_is_a_config_error(ref: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        resolve_task(ref)
    with pytest.raises(ConfigError, match=message):
        experiment({"name": "t", "task": ref})


def test_a_task_config_takes_no_prompt_or_params() -> None:
    with pytest.raises(ConfigError, match="remove prompt, params"):
        ExperimentConfig(name="t", task=f"{TASKS}:shout", prompt="{input}", params={"temperature": 0})


def test_a_config_needs_exactly_one_of_model_and_task() -> None:
    with pytest.raises(ConfigError, match="exactly one of `model`"):
        ExperimentConfig(name="t")
    with pytest.raises(ConfigError, match="exactly one of `model`"):
        ExperimentConfig(name="t", model=MODEL, task=f"{TASKS}:shout")


def test_a_task_that_returns_no_text_fails_the_item() -> None:
    config = ExperimentConfig(name="t", task=f"{TASKS}:returns_number")
    with pytest.raises(ModelError, match="returned int, expected the output text") as caught:
        asyncio.run(config.run_task(item()))
    assert caught.value.transient is False


# ---- providers and keys ------------------------------------------------------------------------------------


def test_an_unknown_provider_is_a_config_error_naming_the_model_string() -> None:
    with pytest.raises(ConfigError, match="model 'smollm2': litellm cannot tell its provider"):
        ExperimentConfig(name="a", model="smollm2").check_provider()


@pytest.mark.parametrize(
    ("model", "variable"),
    [("openai/gpt-4o-mini", "OPENAI_API_KEY"), ("anthropic/claude-haiku-4-5", "ANTHROPIC_API_KEY")],
)
def test_a_missing_api_key_is_a_config_error_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch, model: str, variable: str
) -> None:
    monkeypatch.delenv(variable, raising=False)
    with pytest.raises(ConfigError, match=f"needs {variable} in the environment"):
        experiment_from_dict({"name": "e", "configs": [{"name": "a", "model": model}]})
    monkeypatch.setenv(variable, "sk-test-present-0123456789")
    experiment_from_dict({"name": "e", "configs": [{"name": "a", "model": model}]})


def test_a_named_key_variable_must_be_set(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MY_GATEWAY_KEY", raising=False)
    config = ExperimentConfig(
        name="a", model=MODEL, api_base="http://127.0.0.1:9/v1", api_key_env="MY_GATEWAY_KEY"
    )
    with pytest.raises(ConfigError, match="environment variable MY_GATEWAY_KEY"):
        config.check_provider()


def test_local_openai_compatible_and_ollama_models_need_no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("OLLAMA_API_BASE", raising=False)
    ExperimentConfig(name="a", model="openai/smollm2", api_base="http://127.0.0.1:8080/v1").check_provider()
    ExperimentConfig(name="b", model="ollama_chat/llama3.2").check_provider()


# ---- loading -----------------------------------------------------------------------------------------------


def test_the_shipped_demo_is_two_prompts_by_two_temperatures_on_the_local_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TRACEWATCH_DEMO_MODEL_URL", "http://127.0.0.1:8080/v1")
    exp = load_experiment("demo")
    assert len(exp.configs) == 4
    assert {c.model for c in exp.configs} == {"openai/smollm2"}
    assert {c.api_base for c in exp.configs} == {"http://127.0.0.1:8080/v1"}
    assert {c.params["temperature"] for c in exp.configs} == {0.0, 0.7}
    assert len({c.prompt for c in exp.configs}) == 2
    assert all(c.params["max_tokens"] <= 64 for c in exp.configs)
    assert exp.baseline is exp.configs[0]
    exp.check_items([item()])


def test_the_demo_names_its_endpoint_variable_when_it_is_unset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRACEWATCH_DEMO_MODEL_URL", raising=False)
    with pytest.raises(
        ConfigError, match="api_base_env=TRACEWATCH_DEMO_MODEL_URL names an environment variable"
    ):
        load_experiment("demo", check_providers=False)


def test_the_hosted_examples_parse(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VLLM_API_BASE", "http://gpu-box:8000/v1")
    exp = load_experiment("hosted-examples", check_providers=False)
    assert [c.model for c in exp.configs] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-haiku-4-5",
        "ollama_chat/llama3.2",
        "hosted_vllm/Qwen/Qwen2.5-7B-Instruct",
    ]
    assert {"demo", "hosted-examples"} <= set(shipped_experiments())


def test_a_yaml_file_and_the_same_dict_give_the_same_experiment(tmp_path: Path) -> None:
    data = {
        "name": "file-exp",
        "prompts": {"p": "Q: {input}"},
        "configs": [{"name": "a", "model": MODEL, "prompt": "p", "params": {"temperature": 0.1}}],
    }
    path = tmp_path / "file-exp.yaml"
    path.write_text(json.dumps(data))  # JSON is YAML
    from_file = load_experiment(path, check_providers=False)
    from_dict = load_experiment(data, check_providers=False)
    assert from_file == from_dict
    assert from_file.configs[0].prompt == "Q: {input}"


def test_an_unknown_shipped_name_lists_the_shipped_ones() -> None:
    with pytest.raises(ConfigError, match="no shipped experiment 'nope'; shipped: demo, hosted-examples"):
        load_experiment("nope")


def test_configs_and_experiments_survive_pickling() -> None:
    exp = experiment(
        {"name": "g", "model": MODEL, "grid": {"temperature": [0.0, 0.7]}},
        {"name": "t", "task": f"{TASKS}:shout"},
    )
    again = pickle.loads(pickle.dumps(exp))
    assert again == exp
    assert [c.fingerprint() for c in again.configs] == [c.fingerprint() for c in exp.configs]
    assert asyncio.run(again.config("t").run_task(item())).text == "WHAT IS 2+2?"


def test_describe_and_repr_carry_no_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    secret = "sk-live-abcdefghijklmnop0123"
    monkeypatch.setenv("GATEWAY_KEY", secret)
    config = ExperimentConfig(
        name="a",
        model=MODEL,
        api_base="https://user:hunter2pass@gateway.example/v1",
        api_key_env="GATEWAY_KEY",
    )
    shown = json.dumps(config.describe()) + repr(config) + repr(config.call_params())
    assert secret not in shown and "hunter2pass" not in shown
    assert config.describe()["api_base"] == "https://***@gateway.example/v1"
    assert config.describe()["api_key_env"] == "GATEWAY_KEY"
