"""The flows' parameters as Prefect's custom-run form sees them (the JSON schema the UI renders), and as
callers pass them (dicts coerced into the models, converted to the library's specs by the library's loaders)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_args

import pytest
import yaml
from flows.datasets import build_dataset
from flows.experiments import experiment
from flows.nightly import backfill, nightly
from flows.params import (
    DatasetSpecParams,
    ExperimentChoice,
    HashColumn,
    PiiKind,
    ShippedExperiment,
    StrategyKind,
    StrategyParams,
    TraceColumn,
)
from prefect.utilities.callables import parameter_schema
from prefect.utilities.schema_tools import validate
from prefect.utilities.schema_tools.validation import ValidationError as SchemaValidationError
from pydantic import ValidationError

from tracewatch.datasets.build import HASH_COLUMNS, NIGHTLY_SPEC, load_dataset_spec
from tracewatch.datasets.pii_rules import KINDS
from tracewatch.datasets.sampling import STRATEGIES
from tracewatch.errors import ConfigError
from tracewatch.experiments import shipped_experiments
from tracewatch.paths import shipped_data
from tracewatch.traces import TRACE_SCHEMA

FLOWS: dict[str, Callable[..., Any]] = {
    "nightly": nightly,
    "backfill": backfill,
    "build-dataset": build_dataset,
    "experiment": experiment,
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
    assert budget["minimum"] == 0 and budget["maximum"] > 0 and budget["description"]
    strategy = resolve(definitions, sampling["properties"]["strategies"])
    assert strategy["properties"]["kind"]["enum"] == sorted(STRATEGIES)
    assert strategy["required"] == ["kind"]
    assert strategy["properties"]["by"]["anyOf"][0]["items"]["enum"] == list(TRACE_SCHEMA)
    for field, spec_ in strategy["properties"].items():
        assert spec_.get("description"), field
    rate = strategy["properties"]["rate"]["anyOf"][0]
    assert (rate["minimum"], rate["maximum"]) == (0, 1)
    dedup = resolve(definitions, sampling["properties"]["dedup"])
    assert dedup["properties"]["hash_column"]["enum"] == list(HASH_COLUMNS)
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
    strategy = resolve(built["definitions"], built["properties"]["strategies"])
    assert strategy["properties"]["kind"]["enum"] == sorted(STRATEGIES)


def test_the_form_choices_are_the_librarys() -> None:
    assert sorted(get_args(StrategyKind)) == sorted(STRATEGIES)
    assert get_args(HashColumn) == HASH_COLUMNS
    assert get_args(PiiKind) == KINDS
    assert sorted(get_args(ShippedExperiment)) == shipped_experiments()
    assert get_args(TraceColumn) == tuple(TRACE_SCHEMA)


def test_the_shipped_spec_as_a_dict_converts_to_the_same_library_spec() -> None:
    data = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    assert DatasetSpecParams.model_validate(data).to_spec() == load_dataset_spec()


def test_the_library_decides_what_the_form_cannot() -> None:
    data = yaml.safe_load(shipped_data(NIGHTLY_SPEC).read_text())
    data["sampling"]["strategies"].append({"kind": "uniform", "by": ["route"]})
    params = DatasetSpecParams.model_validate(data)  # the form has a `by` field: kind decides if it applies
    with pytest.raises(ConfigError, match=r"strategies\[3\] \(uniform\): unknown key\(s\) by; allowed"):
        params.to_spec()
    data["sampling"]["strategies"][-1] = {"kind": "stratified", "by": ["route"]}
    with pytest.raises(ConfigError, match="names must be unique, stratified repeats"):
        DatasetSpecParams.model_validate(data).to_spec()


def test_the_form_refuses_what_is_out_of_bounds_or_unknown() -> None:
    with pytest.raises(ValidationError, match="kind"):
        StrategyParams.model_validate({"kind": "random"})
    with pytest.raises(ValidationError, match="less than or equal to 1"):
        StrategyParams.model_validate({"kind": "uniform", "rate": 1.5})
    with pytest.raises(ValidationError, match="'trace_id', 'start_time', 'project', 'route'"):
        StrategyParams.model_validate({"kind": "stratified", "by": ["region"]})
    with pytest.raises(ValidationError, match="Extra inputs"):
        DatasetSpecParams.model_validate(
            {"name": "x", "sampling": {"budget": 1, "strategies": []}, "typo": 1}
        )
    with pytest.raises(ValidationError, match="at least 1 item"):
        DatasetSpecParams.model_validate({"name": "x", "sampling": {"budget": 1, "strategies": []}})


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
    with pytest.raises(SchemaValidationError, match=r"strategies\[0\]\.kind'.*'random' is not one of"):
        validate({"dataset": data}, nightly_schema, raise_on_error=True)
