"""The `tracewatch` command on a local store: seed a dataset, export it for review, import the answers."""

from __future__ import annotations

from pathlib import Path

import polars as pl
import pytest

from tracewatch.cli import main
from tracewatch.datasets.versions import read_version
from tracewatch.store import Store


def test_seed_review_round_trip(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Store(f"file://{tmp_path / 'store'}")
    monkeypatch.setenv("TRACEWATCH_STORE", store.url)
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
    assert capsys.readouterr().out.count("faq\t") == 2


def test_a_missing_dataset_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRACEWATCH_STORE", f"file://{tmp_path / 'store'}")
    assert main(["export-review", "nope"]) == 2
    assert "nope" in capsys.readouterr().err
