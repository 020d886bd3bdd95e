"""The reliability figures table (issue 22): fault or attack, runs, items or rows, lost, duplicated, outcome.

The rows live in `bench/reliability/rows.json`, one object per case, so that every suite adds its own without
touching this code: add an object with the keys of `Row` (`id` unique; `lost` and `duplicated` are counts, null
when the case has nothing to count) and run `python -m bench.reliability --table` to rebuild
bench/results/reliability.md and the README's summary. `make reliability` reruns the measured rows (the full
fault storm) and rebuilds the same way.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

from bench.common import REPO
from bench.publish import replace_block

ROWS = Path(__file__).with_name("rows.json")
RESULTS = REPO / "bench" / "results"
README = REPO / "README.md"
MARKERS = ("<!-- reliability:start -->", "<!-- reliability:end -->")


@dataclass(frozen=True)
class Row:
    """One case of the table; `test` names the test (or target) that proves it."""

    id: str
    case: str
    runs: int
    items: str
    lost: int | None
    duplicated: int | None
    outcome: str
    test: str

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Row:
        known = {f.name for f in fields(cls)}
        unknown, missing = sorted(set(data) - known), sorted(known - set(data))
        if unknown or missing:
            raise ValueError(
                f"{ROWS}: row {data.get('id')!r} has unknown key(s) {unknown} and lacks {missing}; "
                f"expected exactly {sorted(known)}"
            )
        return cls(**data)


def load_rows(path: Path = ROWS) -> list[Row]:
    """The table's rows, refused when two share an id (a row added twice)."""
    rows = [Row.from_json(item) for item in json.loads(path.read_text())]
    ids = [row.id for row in rows]
    if len(ids) != len(set(ids)):
        raise ValueError(f"{path}: duplicate row ids {sorted({i for i in ids if ids.count(i) > 1})}")
    return rows


def save_rows(rows: list[Row], path: Path = ROWS) -> None:
    path.write_text(json.dumps([asdict(row) for row in rows], indent=2) + "\n")


def upsert(rows: list[Row], row: Row) -> list[Row]:
    """`rows` with `row` replacing the one of its id (or appended)."""
    replaced = [row if r.id == row.id else r for r in rows]
    return replaced if any(r.id == row.id for r in rows) else [*rows, row]


def _count(value: int | None) -> str:
    return "n/a" if value is None else str(value)


def to_markdown(rows: list[Row]) -> str:
    """The table; a row with anything lost or duplicated is marked so nobody reads past it."""
    lines = [
        "| fault or attack | runs | items or rows | lost | duplicated | outcome | test |",
        "|---|---:|---|---:|---:|---|---|",
    ]
    for row in rows:
        bad = bool(row.lost) or bool(row.duplicated)
        outcome = f"**FAIL** {row.outcome}" if bad else row.outcome
        lines.append(
            f"| {row.case} | {row.runs} | {row.items} | {_count(row.lost)} | {_count(row.duplicated)} | "
            f"{outcome} | `{row.test}` |"
        )
    return "\n".join(lines)


def readme_summary(rows: list[Row]) -> str:
    lost = sum(row.lost or 0 for row in rows)
    duplicated = sum(row.duplicated or 0 for row in rows)
    return (
        f"Reliability suite: {len(rows)} faults and attacks, {lost} items lost and {duplicated} duplicated "
        "(table: [bench/results/reliability.md](bench/results/reliability.md); `make reliability` reruns the "
        "full-size fault storm and every kill and store-restart point)."
    )


def publish(rows: list[Row], extra: dict[str, Any] | None = None) -> None:
    """Write bench/results/reliability.json and .md, and the README's summary between its markers."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    table = to_markdown(rows)
    previous = RESULTS / "reliability.json"
    # --table keeps the last measurements
    kept = json.loads(previous.read_text()) if previous.exists() else {}
    payload = {**kept, **(extra or {}), "rows": [asdict(row) for row in rows]}
    (RESULTS / "reliability.json").write_text(json.dumps(payload, indent=2, default=str) + "\n")
    how = (
        "Generated from `bench/reliability/rows.json` (`make reliability` reruns the measured rows). To add a "
        "case, add an object with the keys of the rows there and run `python -m bench.reliability --table`."
    )
    (RESULTS / "reliability.md").write_text(f"# Reliability figures\n\n{how}\n\n{table}\n")
    replace_block(README, readme_summary(rows) + "\n", *MARKERS)
