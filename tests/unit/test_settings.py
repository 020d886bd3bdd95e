"""Settings from the environment: TRACEWATCH_STORE unset or empty means the default store, as an absolute URL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tracewatch.settings import Settings
from tracewatch.store import Store


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("TRACEWATCH_STORE", raising=False)
    return tmp_path


def test_the_default_store_is_an_absolute_folder_under_the_working_directory(workdir: Path) -> None:
    default = Settings().store
    assert default == f"file://{workdir}/.tracewatch/store"
    assert Store(default).url == default  # a URL the store accepts: absolute


@pytest.mark.parametrize("value", ["", "   "])
def test_an_empty_store_setting_means_the_default(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("TRACEWATCH_STORE", value)
    assert Settings().store == f"file://{workdir}/.tracewatch/store"


def test_a_store_setting_is_kept_as_given(workdir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEWATCH_STORE", " s3://bucket/prefix ")
    assert Settings().store == "s3://bucket/prefix"
    assert Settings(store="file:///srv/tw").store == "file:///srv/tw"


def test_default_store_names_the_default_of_the_working_directory(workdir: Path) -> None:
    from tracewatch.settings import DEFAULT_STORE

    assert DEFAULT_STORE == Settings().store == f"file://{workdir}/.tracewatch/store"
