"""Names that become object keys or file paths are refused before anything is written (issue 22, item 7):
`../`, absolute paths, NUL bytes, very long names and URL-encoded separators, through every entry point
(the command line, flow parameters, experiment / sources / dataset-spec files) and the one validator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tracewatch.datasets import DatasetSpec
from tracewatch.errors import ConfigError
from tracewatch.experiments import load_experiment
from tracewatch.importers import load_sources, parse_sources
from tracewatch.paths import NameKind, check_name, shipped_data

HOSTILE: dict[str, tuple[str, str]] = {
    "parent": ("../escape", "'..'"),
    "nested parent": ("a/../../b", "'..'"),
    "absolute": ("/etc/passwd", "absolute path"),
    "windows absolute": ("C:\\temp\\x", "absolute path"),
    "separator": ("team/prod", "path separator"),
    "backslash": ("team\\prod", "path separator"),
    "nul": ("good\x00.yaml", "NUL byte"),
    "newline": ("good\n", "control character"),
    "long": ("a" * 200, "200 characters long"),
    "encoded slash": ("a%2Fb", "URL escape"),
    "encoded dots": ("%2e%2e", "URL escape"),
    "empty": ("", "empty"),
}
KINDS: tuple[NameKind, ...] = ("dataset", "source", "experiment", "experiment id", "config")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_the_validator_names_what_is_wrong(kind: NameKind, case: str) -> None:
    name, why = HOSTILE[case]
    with pytest.raises(ConfigError, match=r"is refused") as caught:
        check_name(name, kind)
    message = str(caught.value)
    assert why in message
    assert f"{kind} name" in message and "expected 1-" in message
    assert len(message) < 400, "a very long name is quoted shortened"


@pytest.mark.parametrize(
    ("kind", "name"),
    [
        ("dataset", "support-qa_2"),
        ("source", "Prod-otel_1"),
        ("experiment", "demo.v2=a"),
        ("experiment id", "demo-support-v3"),
        ("config", "gpt-prompt=direct-temperature=0.7"),
    ],
)
def test_the_names_in_use_pass(kind: NameKind, name: str) -> None:
    assert check_name(name, kind) == name


def test_a_name_that_is_not_a_string_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"it is a int, not a string"):
        check_name(3, "dataset")


def test_each_kind_keeps_its_own_characters() -> None:
    with pytest.raises(ConfigError, match=r"outside the allowed set"):
        check_name("Support", "dataset")
    with pytest.raises(ConfigError, match=r"start with a letter or digit"):
        check_name("-x", "source")
    assert check_name("a" * 64, "dataset")
    with pytest.raises(ConfigError, match=r"65 characters long, more than 64"):
        check_name("a" * 65, "dataset")


def test_a_shipped_file_name_cannot_climb_out_of_the_data_folder() -> None:
    assert shipped_data("datasets/nightly.yaml").exists()
    with pytest.raises(ConfigError, match=r"outside the shipped data folder"):
        shipped_data("experiments/../../pyproject.toml")
    with pytest.raises(ConfigError, match=r"NUL byte"):
        shipped_data("experiments/demo\x00.yaml")


# ---- entry points ----------------------------------------------------------------------------------------


def _experiment(name: str, config: str = "baseline") -> dict[str, Any]:
    return {"name": name, "configs": [{"name": config, "model": "openai/gpt-4o-mini"}]}


@pytest.mark.parametrize("case", ["parent", "nul", "long", "encoded slash"])
def test_an_experiment_file_with_a_hostile_experiment_name_is_refused(case: str) -> None:
    with pytest.raises(ConfigError, match=r"experiment name .* is refused"):
        load_experiment(_experiment(HOSTILE[case][0]), check_providers=False)


@pytest.mark.parametrize("case", ["parent", "absolute", "long", "encoded dots"])
def test_an_experiment_file_with_a_hostile_config_name_is_refused(case: str) -> None:
    with pytest.raises(ConfigError, match=r"config name .* is refused"):
        load_experiment(_experiment("demo", HOSTILE[case][0]), check_providers=False)


def test_an_experiment_named_by_a_path_outside_the_shipped_folder_is_refused() -> None:
    """The experiment flow's parameter may be a shipped name: `../datasets/nightly` must not read another file."""
    with pytest.raises(
        ConfigError, match=r"experiment name '../datasets/nightly' is refused: it contains '..'"
    ):
        load_experiment("../datasets/nightly", check_providers=False)


def test_a_sources_setting_naming_a_path_outside_the_shipped_folder_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"source name '../datasets/nightly' is refused"):
        load_sources("../datasets/nightly")


@pytest.mark.parametrize("case", ["parent", "separator", "nul", "long", "encoded slash"])
def test_a_sources_file_with_a_hostile_source_name_is_refused(case: str) -> None:
    data = {"sources": [{"name": HOSTILE[case][0], "kind": "otlp", "location": "s3://bucket/otel"}]}
    with pytest.raises(ConfigError, match=r"source name .* is refused"):
        parse_sources(data, origin="sources.yaml")


@pytest.mark.parametrize("case", ["parent", "absolute", "nul", "long", "encoded dots"])
def test_a_dataset_spec_with_a_hostile_name_is_refused(case: str) -> None:
    with pytest.raises(ConfigError, match=r"dataset name .* is refused"):
        DatasetSpec.from_dict({"name": HOSTILE[case][0], "sampling": {"budget": 5}})


def test_the_build_dataset_flow_refuses_a_hostile_name_before_touching_the_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import datetime as dt

    from flows.datasets import build_dataset

    store = tmp_path / "store"
    monkeypatch.setenv("TRACEWATCH_STORE", store.as_uri())
    with pytest.raises(ConfigError, match=r"dataset name '../escape' is refused"):
        build_dataset.fn(name="../escape", start=dt.date(2026, 1, 1), end=dt.date(2026, 1, 1))
    assert not store.exists()


@pytest.mark.parametrize("case", ["parent", "absolute", "encoded slash", "long"])
def test_the_command_line_refuses_a_hostile_dataset_name_before_writing(
    case: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from tracewatch.cli import main

    store = tmp_path / "store"
    store.mkdir()
    seed = tmp_path / "seed.jsonl"
    seed.write_text('{"input": "hello"}\n')
    monkeypatch.setenv("TRACEWATCH_STORE", store.as_uri())
    assert main(["seed", HOSTILE[case][0], str(seed)]) == 2
    assert "dataset name" in capsys.readouterr().err
    assert [p for p in store.rglob("*") if p.is_file()] == []
    assert not (tmp_path / "escape").exists()
