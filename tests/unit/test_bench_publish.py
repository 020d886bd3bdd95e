"""Benchmark results go to docs/benchmarks.md, and the README's one-line summaries are rebuilt from them."""

from __future__ import annotations

from pathlib import Path

import pytest
from bench.publish import SUMMARY_MARKERS, Entry, block_text, publish, summary_lines
from bench.run import BENCHMARKS, DOC, README

ENTRIES = (Entry("ingest", "reading a day"), Entry("demo_alerts", "the demo's days"))
TABLE = "| a | b |\n|---|---|\n| 1 | 2 |\n\n- wall time <= 3x baseline: 1.50x, pass\n- peak RSS <= 2 GB: 1 GB, pass\n"


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    doc = tmp_path / "benchmarks.md"
    doc.write_text(
        "# Benchmarks\n\nhand-written intro\n\n## Ingest\n\n<!-- bench:ingest:start -->\nold table\n"
        "<!-- bench:ingest:end -->\n\nhand-written note\n\n## Demo alerts\n\n"
        "<!-- bench:demo_alerts:start -->\n<!-- bench:demo_alerts:end -->\n"
    )
    readme = tmp_path / "README.md"
    readme.write_text(
        f"# tool\n\n## Benchmarks\n\n{SUMMARY_MARKERS[0]}\nstale\n{SUMMARY_MARKERS[1]}\n\n## Layout\n"
    )
    return doc, readme


def test_a_table_goes_to_the_doc_and_its_verdicts_to_the_readme(files: tuple[Path, Path]) -> None:
    doc, readme = files
    notes = publish(TABLE, ENTRIES[0], ENTRIES, doc=doc, readme=readme, fallback="bench/results/ingest.md")
    assert notes == []
    text = doc.read_text()
    assert block_text(text, *ENTRIES[0].markers) == TABLE
    assert "hand-written intro" in text and "hand-written note" in text and "old table" not in text
    assert readme.read_text() == (
        f"# tool\n\n## Benchmarks\n\n{SUMMARY_MARKERS[0]}\n"
        "- [Ingest](docs/benchmarks.md#ingest): reading a day. Verdicts: wall time <= 3x baseline: 1.50x, pass; "
        "peak RSS <= 2 GB: 1 GB, pass.\n"
        "- [Demo alerts](docs/benchmarks.md#demo-alerts): the demo's days. "
        "No results yet (`python -m bench.run --only demo_alerts`).\n"
        f"{SUMMARY_MARKERS[1]}\n\n## Layout\n"
    )


def test_missing_markers_are_reported_not_silently_skipped(files: tuple[Path, Path]) -> None:
    doc, readme = files
    other = Entry("drift", "drift")
    notes = publish(
        TABLE, other, (*ENTRIES, other), doc=doc, readme=readme, fallback="bench/results/drift.md"
    )
    assert notes == [
        "benchmarks.md has no <!-- bench:drift:start --> ... <!-- bench:drift:end --> markers; "
        "the table is in bench/results/drift.md"
    ]
    readme.write_text("# no markers\n")
    notes = publish(TABLE, ENTRIES[0], ENTRIES, doc=doc, readme=readme, fallback="x")
    assert notes == [f"README.md has no {SUMMARY_MARKERS[0]} ... {SUMMARY_MARKERS[1]} markers"]


def test_every_benchmark_has_a_filled_section_and_the_readme_matches_it() -> None:
    text = DOC.read_text()
    for benchmark in BENCHMARKS:
        entry = benchmark.entry
        assert f"\n## {entry.heading}\n" in text, f"docs/benchmarks.md has no section for {entry.name}"
        body = block_text(text, *entry.markers)
        assert body and body.strip(), f"docs/benchmarks.md's {entry.name} block is missing or empty"
    readme_summary = block_text(README.read_text(), *SUMMARY_MARKERS)
    assert readme_summary == summary_lines(DOC, tuple(b.entry for b in BENCHMARKS))
