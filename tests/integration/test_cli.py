"""The `tracewatch` command on a local store: seed a dataset, export it for review, import the answers, run an
experiment against the local test model server (tables with their header rows, issue 20 item 17), and fail,
saying why, when every call is refused (item 9)."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from devtools.model_server import ModelServer, start_model_server, stop_model_server
from tracewatch.cli import main
from tracewatch.datasets.versions import read_version
from tracewatch.store import Store


def test_seed_review_round_trip(
    tmp_path: Path, file_store_env: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    store = file_store_env
    seed = tmp_path / "seed.csv"
    pl.DataFrame({"input": ["What is the capital of France?", "Who wrote Hamlet?", ""]}).write_csv(seed)

    assert main(["seed", "faq", str(seed)]) == 0
    assert "version 1" in capsys.readouterr().out
    assert main(["export-review", "faq"]) == 0
    assert "2 item(s) to review" in capsys.readouterr().out

    sheet = pl.read_csv(store.path("warehouse/datasets/faq/review/version=1/needs_review.csv"))
    answered = sheet.with_columns(reviewed_expected_output=pl.lit("Paris"), reviewer=pl.lit("ana")).head(1)
    answers = tmp_path / "answers.csv"
    answered.write_csv(answers)
    assert main(["import-review", "faq", str(answers)]) == 0
    assert "1 answer(s) applied, version 2" in capsys.readouterr().out

    items = read_version(store, "faq", 2)
    reviewed = items.filter(pl.col("expected_source") == "reviewed")
    assert reviewed["expected_output"].to_list() == ["Paris"]
    assert main(["datasets"]) == 0
    listed = capsys.readouterr().out.splitlines()
    assert listed[0].split() == ["DATASET", "VERSION", "KIND", "ITEMS", "ADDED", "CREATED"]
    assert [line.split()[:4] for line in listed[1:]] == [
        ["faq", "1", "seed", "2"],
        ["faq", "2", "review", "2"],
    ]


@pytest.mark.usefixtures("file_store_env")
def test_a_missing_dataset_is_a_clear_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["export-review", "nope"]) == 2
    assert "nope" in capsys.readouterr().err


@pytest.mark.usefixtures("file_store_env")
def test_run_an_experiment_from_the_terminal_and_rerun_it_for_free(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    server: ModelServer,
) -> None:
    seed = tmp_path / "seed.csv"
    pl.DataFrame({"input": ["What is the capital of France?", "Who wrote Hamlet?"]}).write_csv(seed)
    assert main(["seed", "faq", str(seed)]) == 0
    monkeypatch.setenv("ECHO_URL", server.base_url)
    experiment = tmp_path / "echo.yaml"
    experiment.write_text(
        "name: echo\n"
        "defaults: {model: openai/tracewatch-echo, api_base_env: ECHO_URL, prompt: '{input}'}\n"
        "configs:\n  - {name: a, params: {temperature: 0.0, seed: 1}}\n  - {name: b, params: {temperature: 1.0}}\n"
    )
    assert main(["run-experiment", str(experiment), "--dataset", "faq"]) == 0
    out = capsys.readouterr().out
    assert "echo-faq-v1: {'ok': 4, 'error': 0, 'skipped_budget': 0, 'missing': 0}" in out
    # Then scored with the default heuristics (no expected outputs: the reference metrics are unscored).
    assert "| refusal | a | 0.000 [0.000, 0.000] | 2 | 0 | baseline |" in out
    assert "| refusal | b | 0.000 [0.000, 0.000] | 2 | 0 | no detectable difference |" in out
    assert "4/4 (100%)" in caplog.text  # the progress, as log lines when stderr is not a terminal
    assert server.stats().requests == 4

    assert main(["run-experiment", str(experiment), "--dataset", "faq", "--id", "again"]) == 0
    assert server.stats().requests == 4  # a new experiment, every answer from the response cache

    capsys.readouterr()
    assert main(["experiments"]) == 0
    header, *rows = capsys.readouterr().out.splitlines()
    assert header.split() == [
        "EXPERIMENT",
        "DATASET",
        "VERSION",
        "CONFIGS",
        "ITEMS",
        "TRIALS",
        "STATUS",
        "SPENT",
    ]
    assert [row.split()[:7] for row in rows] == [
        ["echo-faq-v1", "faq", "1", "2", "2", "1", "error=0,missing=0,ok=4,skipped_budget=0"],
        ["again", "faq", "1", "2", "2", "1", "error=0,missing=0,ok=4,skipped_budget=0"],
    ]

    assert main(["run-experiment", str(experiment), "--dataset", "faq", "--version", "7"]) == 2
    assert "version" in capsys.readouterr().err


@pytest.mark.usefixtures("file_store_env")
def test_a_run_whose_every_call_is_refused_fails_saying_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    locked = start_model_server(api_key="sk-test-" + "k" * 24)  # the client sends a placeholder key: 401
    try:
        seed = tmp_path / "seed.csv"
        pl.DataFrame({"input": [f"question {i}?" for i in range(12)]}).write_csv(seed)
        assert main(["seed", "faq", str(seed)]) == 0
        monkeypatch.setenv("ECHO_URL", locked.base_url)
        experiment = tmp_path / "echo.yaml"
        experiment.write_text(
            "name: echo\n"
            "defaults: {model: openai/tracewatch-echo, api_base_env: ECHO_URL, prompt: '{input}'}\n"
            "configs:\n  - {name: a, params: {temperature: 0.0}}\n"
        )
        capsys.readouterr()
        assert main(["run-experiment", str(experiment), "--dataset", "faq"]) == 2
        # Stopped early at the default concurrency: until a config's first answer, only as many calls as it
        # takes to stop are in flight.
        assert locked.stats().requests == 5
    finally:
        stop_model_server(locked)
    out, err = capsys.readouterr()
    assert "echo-faq-v1: {'ok': 0, 'error': 12" in out
    assert err.splitlines()[-1].startswith(
        "tracewatch: the run stopped early: config a: stopped after 5 consecutive authentication errors (HTTP 401)"
    )
