"""Source files: the shipped examples parse, and every mistake is one ConfigError naming the place."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracewatch.errors import ConfigError
from tracewatch.importers import SourceConfig, load_sources, parse_sources
from tracewatch.paths import shipped_data
from tracewatch.settings import Settings

SHIPPED = sorted(p.stem for p in shipped_data("sources").glob("*.yaml"))


def one(**fields: object) -> dict[str, object]:
    return {"sources": [{"name": "s", "kind": "otlp", "location": "s3://bucket/prefix", **fields}]}


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_source_file_parses_by_name(name: str) -> None:
    sources = load_sources(name)
    assert sources and all(isinstance(s, SourceConfig) for s in sources)


def test_the_shipped_examples_cover_every_kind() -> None:
    kinds = {s.kind for name in SHIPPED for s in load_sources(name)}
    assert kinds == {"otlp", "otlp_file", "langfuse", "opik", "phoenix"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"kind": "jaeger"}, "source .s.: kind: expected .otlp."),
        ({"location": "http://example.com/x"}, "expected s3://bucket/prefix or file:///dir"),
        ({"location": "s3:///no-bucket"}, "expected s3://bucket/prefix"),
        ({"name": "has space"}, "source name .has space. is refused"),
        ({"grace_minutes": -1}, "grace_minutes"),
        ({"s3_partition_timezone": "Mars/Olympus"}, "not a time zone name"),
        ({"incomplete": "drop"}, "incomplete"),
        ({"secret_access_key": "inline-secret"}, "secret_access_key"),
    ],
)
def test_a_mistake_names_its_place(fields: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_sources(one(**fields))


def test_source_names_must_be_distinct() -> None:
    data = {"sources": [one()["sources"][0], one()["sources"][0]]}  # type: ignore[index]
    with pytest.raises(ConfigError, match="appear more than once"):
        parse_sources(data)


def test_a_file_that_is_not_a_mapping_says_what_is_expected(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("- just a list\n")
    with pytest.raises(ConfigError, match="expected a mapping with a `sources:` list"):
        load_sources(path)
    with pytest.raises(ConfigError, match="cannot read sources file"):
        load_sources(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match=r"neither a YAML file .* nor a shipped source name; shipped: demo"):
        load_sources("dmeo")


def test_credentials_come_from_the_variables_the_source_names(monkeypatch: pytest.MonkeyPatch) -> None:
    source = parse_sources(one(access_key_id_env="SRC_KEY", secret_access_key_env="SRC_SECRET"))[0]
    monkeypatch.delenv("SRC_KEY", raising=False)
    with pytest.raises(ConfigError, match="access_key_id_env names the environment variable SRC_KEY"):
        source.open(Settings())
    assert "SRC_" not in repr(source.model_dump()).replace("SRC_KEY", "").replace("SRC_SECRET", "")


def test_a_missing_local_folder_stops_at_once_naming_the_source(tmp_path: Path) -> None:
    source = parse_sources(
        {"sources": [{"name": "local", "kind": "opik", "location": f"file://{tmp_path}/nope"}]}
    )[0]
    with pytest.raises(ConfigError, match=r"source 'local'.*not an existing folder"):
        source.open(Settings())


def test_the_project_is_what_the_trace_names_renamed_else_the_default() -> None:
    source = parse_sources(one(project={"default": "d", "rename": {"svc": "bot"}}))[0]
    assert source.project.project_of(None) == "d"
    assert source.project.project_of("svc") == "bot"
    assert source.project.project_of("other") == "other"
