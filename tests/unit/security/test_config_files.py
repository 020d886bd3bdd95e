"""Config files are read within bounds (issue 22, item 8): an anchor bomb, a multi-megabyte file and a deeply
nested document are refused with the bound they broke, in bounded time and memory, through the one reader every
config loader uses; and a config's callable task (code execution) is off unless the setting allows it.

The bomb is the YAML form of "billion laughs" (https://en.wikipedia.org/wiki/Billion_laughs_attack); PyYAML
builds it as shared references, so it only explodes when walked (https://pyyaml.org/wiki/PyYAMLDocumentation)."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import pytest

from tracewatch.config_files import (
    MAX_CONFIG_BYTES,
    MAX_CONFIG_DEPTH,
    MAX_CONFIG_NODES,
    load_config_text,
    read_config_file,
)
from tracewatch.datasets import load_dataset_spec
from tracewatch.errors import ConfigError
from tracewatch.experiments import ALLOW_TASKS_ENV, ExperimentConfig, load_experiment
from tracewatch.importers import load_sources

SECONDS = 5.0
PEAK_BYTES = 64 * 1024 * 1024


def _bomb(levels: int = 9, width: int = 9) -> str:
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        refs = ", ".join([f"*a{level - 1}"] * width)
        lines.append(f"a{level}: &a{level} [{refs}]")
    return "\n".join(lines) + "\n"


def _deep(depth: int) -> str:
    return "k: " + "[" * depth + "]" * depth + "\n"


def _bounded(call: Callable[[], object]) -> ConfigError:
    """The ConfigError `call` raises, checked to come within `SECONDS` and `PEAK_BYTES` of new memory."""
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(ConfigError) as caught:
            call()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.perf_counter() - started < SECONDS
    assert peak < PEAK_BYTES
    return caught.value


def test_an_anchor_bomb_is_refused_before_it_is_built() -> None:
    error = _bounded(lambda: load_config_text(_bomb(), "experiment file x.yaml"))
    assert f"expands to more than {MAX_CONFIG_NODES:,} values" in str(error)
    assert "experiment file x.yaml" in str(error)


def test_anchors_used_as_a_config_uses_them_still_load() -> None:
    text = "defaults: &d {model: m, params: {temperature: 0}}\nconfigs:\n  - {<<: *d, name: a}\n  - {<<: *d, name: b}\n"
    loaded = load_config_text(text, "experiment file")
    assert isinstance(loaded, dict) and [c["name"] for c in loaded["configs"]] == ["a", "b"]


def test_a_deeply_nested_document_is_refused() -> None:
    error = _bounded(lambda: load_config_text(_deep(500), "sources file s.yaml"))
    assert f"nested more than {MAX_CONFIG_DEPTH} levels deep (line 1)" in str(error)
    assert "sources file s.yaml" in str(
        _bounded(lambda: load_config_text(_deep(100_000), "sources file s.yaml"))
    )
    assert load_config_text(_deep(MAX_CONFIG_DEPTH - 1), "x") == {"k": _nested(MAX_CONFIG_DEPTH - 1)}


def _nested(depth: int) -> list[object]:
    value: list[object] = []
    for _ in range(depth - 1):
        value = [value]
    return value


def test_a_multi_megabyte_file_is_refused_unread(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("k: " + "x" * (5 * MAX_CONFIG_BYTES) + "\n")
    error = _bounded(lambda: read_config_file(path, "dataset spec"))
    assert f"is larger than {MAX_CONFIG_BYTES:,} bytes" in str(error)
    assert str(path) in str(error)


def test_a_file_just_under_the_cap_is_read(tmp_path: Path) -> None:
    path = tmp_path / "ok.yaml"
    path.write_text("k: " + "x" * (MAX_CONFIG_BYTES - 100) + "\n")
    loaded = read_config_file(path, "dataset spec")
    assert isinstance(loaded, dict) and len(loaded["k"]) == MAX_CONFIG_BYTES - 100


def test_unreadable_and_invalid_files_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"cannot read sources file .*missing.yaml"):
        read_config_file(tmp_path / "missing.yaml", "sources file")
    bad = tmp_path / "bad.yaml"
    bad.write_text("k: [unclosed\n")
    with pytest.raises(ConfigError, match=r"bad.yaml is not valid YAML"):
        read_config_file(bad, "sources file")
    binary = tmp_path / "bin.yaml"
    binary.write_bytes(b"k: \xff\xfe\n")
    with pytest.raises(ConfigError, match="is not UTF-8 text"):
        read_config_file(binary, "sources file")


@pytest.mark.parametrize(
    ("load", "what"),
    [
        (lambda p: load_experiment(p, check_providers=False), "experiment file"),
        (load_sources, "sources file"),
        (load_dataset_spec, "dataset spec"),
    ],
)
def test_every_config_loader_reads_through_the_bounded_reader(
    load: Callable[[str], object], what: str, tmp_path: Path
) -> None:
    bomb = tmp_path / "bomb.yaml"
    bomb.write_text(_bomb())
    error = _bounded(lambda: load(str(bomb)))
    assert f"{what} {bomb} expands to more than" in str(error)


def test_a_callable_task_is_off_unless_the_setting_allows_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ALLOW_TASKS_ENV, raising=False)
    with pytest.raises(ConfigError, match=f"callable tasks are off; set {ALLOW_TASKS_ENV}=1"):
        ExperimentConfig(name="t", task="tests.support.tasks:shout")
    monkeypatch.setenv(ALLOW_TASKS_ENV, "no")
    with pytest.raises(ConfigError, match="callable tasks are off"):
        load_experiment({"name": "e", "configs": [{"name": "t", "task": "os:system"}]}, check_providers=False)
    monkeypatch.setenv(ALLOW_TASKS_ENV, "1")
    assert ExperimentConfig(name="t", task="tests.support.tasks:shout").task == "tests.support.tasks:shout"


def test_a_refused_task_is_never_imported(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.delenv(ALLOW_TASKS_ENV, raising=False)
    monkeypatch.delitem(sys.modules, "tests.support.never_imported", raising=False)
    with pytest.raises(ConfigError, match="callable tasks are off"):
        ExperimentConfig(name="t", task="tests.support.never_imported:run")
    assert "tests.support.never_imported" not in sys.modules
