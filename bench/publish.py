"""Where benchmark results are published: each table between its markers in docs/benchmarks.md, and one line
per benchmark (what it measures and its verdicts) between the summary markers in README.md.

The README's lines are rebuilt from docs/benchmarks.md every time a benchmark publishes, so the two never
disagree: the numbers in a summary line are the verdict lines (`- ...`) of the table it links to.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

SUMMARY_MARKERS = ("<!-- bench:summary:start -->", "<!-- bench:summary:end -->")


@dataclass(frozen=True)
class Entry:
    """One benchmark as the README lists it: `name` keys its markers, `title` says what it measures."""

    name: str
    title: str

    @property
    def markers(self) -> tuple[str, str]:
        return f"<!-- bench:{self.name}:start -->", f"<!-- bench:{self.name}:end -->"

    @property
    def heading(self) -> str:
        """Its section heading in docs/benchmarks.md; the README links to the heading's anchor."""
        return self.name.replace("_", " ").capitalize()

    @property
    def anchor(self) -> str:
        return self.name.replace("_", "-")


def _block(start: str, end: str) -> re.Pattern[str]:
    return re.compile(rf"{re.escape(start)}\n?(?P<body>.*?){re.escape(end)}", re.DOTALL)


def block_text(text: str, start: str, end: str) -> str | None:
    """What lies between `start` and `end` in `text` (None when the markers are missing)."""
    match = _block(start, end).search(text)
    return match["body"] if match else None


def replace_block(path: Path, body: str, start: str, end: str) -> bool:
    """Put `body` between `start` and `end` in the file, touching nothing else; False if the markers are
    missing (the caller says where the table went instead)."""
    text = path.read_text()
    pattern = _block(start, end)
    if not pattern.search(text):
        return False
    path.write_text(pattern.sub(lambda _: f"{start}\n{body}{end}", text, count=1))
    return True


def verdicts(table: str) -> list[str]:
    """A published table's verdict lines (`- wall time <= 3x baseline: 1.52x, pass`), without the dash."""
    return [line[2:].strip() for line in table.splitlines() if line.startswith("- ")]


def summary_lines(doc: Path, entries: tuple[Entry, ...]) -> str:
    """One README line per benchmark, from its block in `doc`; a benchmark without a block says so, so an
    empty or missing table shows in the README instead of vanishing from it."""
    text = doc.read_text()
    lines = []
    for entry in entries:
        body = block_text(text, *entry.markers)
        if body is None or not body.strip():
            found = f"No results yet (`python -m bench.run --only {entry.name}`)"
        else:
            found = "Verdicts: " + ("; ".join(verdicts(body)) or "none stated, see the table")
        link = f"[{entry.heading}](docs/benchmarks.md#{entry.anchor})"
        lines.append(f"- {link}: {entry.title}. {found}.\n")
    return "".join(lines)


def publish(
    table: str, entry: Entry, entries: tuple[Entry, ...], *, doc: Path, readme: Path, fallback: str
) -> list[str]:
    """Put `table` in `doc` and rebuild the README's summary; returns notes about markers that were missing."""
    notes = []
    if not replace_block(doc, table, *entry.markers):
        notes.append(
            f"{doc.name} has no {entry.markers[0]} ... {entry.markers[1]} markers; the table is in {fallback}"
        )
    if not replace_block(readme, summary_lines(doc, entries), *SUMMARY_MARKERS):
        notes.append(f"{readme.name} has no {SUMMARY_MARKERS[0]} ... {SUMMARY_MARKERS[1]} markers")
    return notes
