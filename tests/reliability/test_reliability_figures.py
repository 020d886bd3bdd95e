"""The reliability figures table: rows from bench/reliability/rows.json, refused when malformed or repeated,
and a row with anything lost or duplicated marked in the table."""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import pytest
from bench.reliability.figures import ROWS, Row, load_rows, readme_summary, to_markdown, upsert

ROW = Row("x", "a fault", 1, "10 items", 0, 0, "completed", "tests/x.py")


def test_the_committed_rows_load() -> None:
    rows = load_rows(ROWS)
    assert rows and len({row.id for row in rows}) == len(rows)


def test_a_row_with_an_unknown_or_missing_key_is_refused(tmp_path: Path) -> None:
    bad = {**asdict(ROW), "losses": 0}
    del bad["lost"]
    (tmp_path / "rows.json").write_text(json.dumps([bad]))
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['losses'\] and lacks \['lost'\]"):
        load_rows(tmp_path / "rows.json")


def test_a_row_added_twice_is_refused(tmp_path: Path) -> None:
    (tmp_path / "rows.json").write_text(json.dumps([asdict(ROW), asdict(ROW)]))
    with pytest.raises(ValueError, match=r"duplicate row ids \['x'\]"):
        load_rows(tmp_path / "rows.json")


def test_loss_is_marked_and_counted() -> None:
    lossy = Row("y", "a storm", 1, "5 items", 2, None, "finished", "make reliability")
    rows = upsert([ROW], lossy)
    table = to_markdown(rows)
    assert "| a storm | 1 | 5 items | 2 | n/a | **FAIL** finished |" in table
    assert "| a fault | 1 | 10 items | 0 | 0 | completed |" in table
    assert "2 faults and attacks, 2 items lost and 0 duplicated" in readme_summary(rows)
    assert upsert(rows, ROW) == rows  # replaced in place, not appended
