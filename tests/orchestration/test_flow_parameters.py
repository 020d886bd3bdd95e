"""The flows' parameters as Prefect's custom-run form sees them (the JSON schema the UI renders), and as
callers pass them (dicts coerced into the models: the library's own, for dataset specs)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import pytest
import yaml
from flows.datasets import build_dataset
from flows.experiments import experiment
from flows.imports import import_traces_flow
from flows.nightly import backfill, nightly
from flows.params import ExperimentChoice, ShippedExperiment
from flows.synthesize import synthesize_flow
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate
from prefect.utilities.schema_tools.validation import ValidationError as SchemaValidationError
from pydantic import TypeAdapter, ValidationError

from tracewatch.datasets.pii_rules import KINDS
from tracewatch.datasets.sampling import STRATEGIES, SamplingStrategy, Uniform
from tracewatch.datasets.schema import HASH_COLUMNS
from tracewatch.datasets.spec import NIGHTLY_SPEC, DatasetSpec, load_dataset_spec
from tracewatch.errors import ConfigError
from tracewatch.experiments import shipped_experiments
from tracewatch.paths import shipped_data
from tracewatch.traces import TRACE_SCHEMA

FLOWS: dict[str, Callable[..., Any]] = {
    "nightly": nightly,
    "backfill": backfill,
    "build-dataset": build_dataset,
    "experiment": experiment,
    "import-traces": import_traces_flow,
    "synthesize": synthesize_flow,
}


def schema(flow: Any) -> dict[str, Any]:
    result: dict[str, Any] = parameter_schema(flow).model_dump()
    return result


def resolve(definitions: dict[str, Any], prop: dict[str, Any]) -> dict[str, Any]:
    """The model a property refers to (directly, through `anyOf` with null, or as a list's items)."""
    for option in [prop, *prop.get("anyOf", [])]:
        ref = option.get("$ref") or option.get("items", {}).get("$ref")
        if ref:
            resolved: dict[str, Any] = definitions[ref.rsplit("/", 1)[-1]]
            return resolved
    raise AssertionError(f"no model behind {prop}")


def kinds(definitions: dict[str, Any], prop: dict[str, Any]) -> list[dict[str, Any]]:
    """The models a list property (or an optional one) offers its items as: `anyOf` them, a choice in the form."""
    items = next(option["items"] for option in [prop, *prop.get("anyOf", [])] if "items" in option)
    return [definitions[option["$ref"].rsplit("/", 1)[-1]] for option in items["anyOf"]]


@pytest.mark.parametrize("name", sorted(FLOWS))
def test_every_top_level_parameter_has_a_description(name: str) -> None:
    properties = schema(FLOWS[name])["properties"]
    assert properties
    assert [p for p, spec in properties.items() if not spec.get("description")] == []


@pytest.mark.parametrize("name", ["nightly", "backfill"])
def test_the_nightly_form_keeps_its_fields_and_describes_the_dataset_spec(name: str) -> None:
    full = schema(FLOWS[name])
    properties, definitions = full["properties"], full["definitions"]
    assert set(properties) >= {"reprocess", "dataset", "experiments"}
    if name == "nightly":  # the browser test changes these two in the form: plain top-level fields
        assert properties["day"]["anyOf"][0] == {"format": "date", "type": "string"}
        assert properties["reprocess"]["type"] == "boolean" and properties["reprocess"]["default"] is False
    spec = resolve(definitions, properties["dataset"])
    sampling = resolve(definitions, spec["properties"]["sampling"])
    budget = sampling["properties"]["budget"]
    assert budget["minimum"] == 0 and budget["description"]
    offered = kinds(definitions, sampling["properties"]["strategies"])
    strategies = {s["properties"]["kind"]["const"]: s for s in offered}
    assert sorted(strategies) == sorted(STRATEGIES)
    assert strategies["stratified"]["required"] == ["by"]
    assert strategies["stratified"]["properties"]["by"]["items"]["enum"] == list(TRACE_SCHEMA)
    for kind, strategy in strategies.items():
        for field, spec_ in strategy["properties"].items():
            assert spec_.get("description"), (kind, field)
    rate = strategies["uniform"]["properties"]["rate"]["anyOf"][0]
    assert (rate["minimum"], rate["maximum"]) == (0, 1)
    dedup = resolve(definitions, sampling["properties"]["dedup"])
    assert dedup["properties"]["hash_column"]["enum"] == list(HASH_COLUMNS)
    redaction = resolve(definitions, spec["properties"]["redaction"])
    assert redaction["properties"]["kinds"]["items"]["enum"] == list(KINDS)
    choice = resolve(definitions, properties["experiments"])
    assert choice["properties"]["shipped"]["anyOf"][0]["enum"] == shipped_experiments()


def test_the_experiment_and_dataset_forms_have_bounds_and_dropdowns() -> None:
    properties = schema(experiment)["properties"]
    assert properties["mode"]["enum"] == ["resume", "retry_failed"]
    assert properties["budget_usd"]["anyOf"][0] == {"minimum": 0, "type": "number"}
    assert (properties["trials"]["minimum"], properties["trials"]["maximum"]) == (1, 100)
    assert properties["experiment"]["default"]["shipped"] == "demo"
    built = schema(build_dataset)
    assert built["required"] == ["name", "start", "end"]
    assert built["properties"]["budget"]["minimum"] == 1
    strategies = kinds(built["definitions"], built["properties"]["strategies"])
    assert sorted(s["properties"]["kind"]["const"] for s in strategies) == sorted(STRATEGIES)


def test_the_form_choices_are_the_librarys() -> None:
    assert sorted(get_args(ShippedExperiment)) == shipped_experiments()


def test_the_shipped_spec_as_a_dict_converts_to_the_same_library_spec() -> None:
    data = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    assert DatasetSpec.model_validate(data) == load_dataset_spec()


def test_the_library_decides_what_the_form_cannot() -> None:
    data = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    data["sampling"]["strategies"].append({"kind": "uniform", "by": ["route"]})  # `by` is not a uniform's
    with pytest.raises(ConfigError, match=r"strategies\[3\] \(uniform\): unknown key\(s\) by; allowed"):
        DatasetSpec.from_dict(data)
    data["sampling"]["strategies"][-1] = {"kind": "stratified", "by": ["route"]}
    with pytest.raises(ConfigError, match="names must be unique, stratified repeats"):
        DatasetSpec.from_dict(data)


def test_the_form_refuses_what_is_out_of_bounds_or_unknown() -> None:
    with pytest.raises(ValidationError, match="kind"):
        TypeAdapter(SamplingStrategy).validate_python({"kind": "random"})
    with pytest.raises(ValidationError, match=r"must be in \[0, 1\]"):
        Uniform.model_validate({"kind": "uniform", "rate": 1.5})
    region = {"kind": "stratified", "by": ["region"]}
    with pytest.raises(ValidationError, match="unknown column\\(s\\) 'region'; available: cost_usd"):
        DatasetSpec.model_validate({"name": "x", "sampling": {"budget": 1, "strategies": [region]}})
    with pytest.raises(ValidationError, match="unknown key\\(s\\) typo; allowed: name, redaction"):
        DatasetSpec.model_validate({"name": "x", "sampling": {"budget": 1, "strategies": []}, "typo": 1})
    with pytest.raises(ValidationError, match="add at least one of"):
        DatasetSpec.model_validate({"name": "x", "sampling": {"budget": 1, "strategies": []}})


def test_an_experiment_is_chosen_by_name_path_or_content_as_before() -> None:
    assert ExperimentChoice.model_validate("demo") == ExperimentChoice(shipped="demo")
    assert ExperimentChoice.model_validate("conf/mine.yaml").source() == "conf/mine.yaml"
    content = {"name": "echo", "configs": [{"name": "a", "model": "openai/x"}]}
    inline = ExperimentChoice.model_validate(content)
    assert inline.source() == content and inline.label == "echo"
    assert ExperimentChoice.model_validate({"shipped": "hosted-examples"}).label == "hosted-examples"
    with pytest.raises(ValidationError, match="exactly one of shipped, path or inline"):
        ExperimentChoice.model_validate({"shipped": "demo", "path": "x.yaml"})
    with pytest.raises(ValidationError, match="'demo' or 'hosted-examples'"):
        ExperimentChoice.model_validate("nope")


def test_the_api_accepts_what_python_callers_pass_and_refuses_unknown_choices() -> None:
    """A deployment run's parameters are checked against the schema by the server, before any coercion."""
    nightly_schema = schema(nightly)
    content = {"name": "echo", "defaults": {"model": "openai/x"}, "configs": [{"name": "a"}]}
    data = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    ok = {
        "day": "2026-11-01",
        "reprocess": True,
        "dataset": data,
        "experiments": [content, {"shipped": "demo"}],
    }
    assert validate(ok, nightly_schema) == []
    data["sampling"]["strategies"][0]["kind"] = "random"
    with pytest.raises(SchemaValidationError, match=r"strategies\[0\]'.*'random'.*not valid under any"):
        validate({"dataset": data}, nightly_schema, raise_on_error=True)
