"""The experiment deployment's `experiment` parameter as a plain name or path (issue 20, item 14): what
`prefect deployment run experiment/run-experiment --param experiment=demo` sends is a string, which the server
checks against the deployment's parameter schema before the flow's own validation turns it into a choice.

`prefect deployment run my-flow/my-deployment --param my_param=42 --param another_param="hello"`
(https://docs.prefect.io/v3/how-to-guides/deployments/run-deployments): each value is read as JSON, else kept
as a string, and the server refuses parameters that the deployment's schema does not allow (a deployment
enforces its parameter schema by default). Without the string in the schema, "demo" was refused with 409."""

from __future__ import annotations

from typing import Any

import pytest
from flows.experiments import experiment
from flows.params import ExperimentChoice
from prefect.deployments import run_deployment
from prefect.exceptions import ParameterTypeError, PrefectHTTPStatusError

DEPLOYMENT = "experiment/plain-choice"


@pytest.fixture(scope="module")
def deployed() -> str:
    experiment.to_deployment(name="plain-choice").apply()
    return DEPLOYMENT


@pytest.mark.parametrize(
    "value",
    ["demo", "conf/mine.yaml", "mine.yml", {"path": "conf/mine.yaml"}, {"shipped": "hosted-examples"}],
)
def test_a_deployment_run_takes_a_name_a_path_or_a_choice(deployed: str, value: Any) -> None:
    run = run_deployment(deployed, parameters={"experiment": value}, timeout=0)
    assert run.parameters["experiment"] == value


def test_the_server_still_refuses_what_is_no_choice(deployed: str) -> None:
    with pytest.raises(PrefectHTTPStatusError, match="Validation failed for field 'experiment'"):
        run_deployment(deployed, parameters={"experiment": 3}, timeout=0)


@pytest.mark.parametrize(
    ("value", "choice"),
    [
        ("demo", ExperimentChoice(shipped="demo")),
        ("conf/mine.yaml", ExperimentChoice(path="conf/mine.yaml")),
        ("/srv/experiments/nightly", ExperimentChoice(path="/srv/experiments/nightly")),
        ({"path": "conf/mine.yaml"}, ExperimentChoice(path="conf/mine.yaml")),
    ],
)
def test_the_flow_turns_a_name_or_path_into_its_choice(value: Any, choice: ExperimentChoice) -> None:
    assert experiment.validate_parameters({"experiment": value})["experiment"] == choice


def test_a_name_that_is_no_shipped_experiment_and_no_path_names_both_forms() -> None:
    with pytest.raises(ParameterTypeError, match=r"'nope' is neither a shipped experiment \('demo' or"):
        experiment.validate_parameters({"experiment": "nope"})
