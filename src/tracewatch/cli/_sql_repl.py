"""The interactive prompt of `tracewatch sql`: statements end with ';' (they may span lines), each result is
printed as a table, an error is printed and the prompt goes on. Written in Python: the `duckdb` CLI binary is
not part of a Python install."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from tracewatch.catalog import Catalog, Result, SqlError

PROMPT = "tracewatch> "
MORE = "       ...> "
QUIT = (".quit", ".exit", "\\q")


def run_repl(
    catalog: Catalog,
    show: Callable[[Result], None],
    *,
    read: Callable[[str], str] = input,
    err: TextIO,
) -> None:
    """Read statements with `read` until `.quit` or end of input; `show` prints each result."""
    print(
        f"DuckDB over {len(catalog.views)} report view(s), time in UTC. End each statement with ';'. "
        ".tables lists the views, .quit (or Ctrl-D) leaves.",
        file=err,
    )
    lines: list[str] = []
    while True:
        try:
            line = read(MORE if lines else PROMPT)
        except EOFError:
            print(file=err)
            return
        except KeyboardInterrupt:  # Ctrl-C drops the statement being typed, as a shell does
            lines.clear()
            print("^C", file=err)
            continue
        text = line.strip()
        if not lines and text in QUIT:
            return
        if not lines and text == ".tables":
            print("\n".join(catalog.views) or "(no views: the store has no reports yet)", file=err)
            continue
        if not lines and not text:
            continue
        lines.append(line)
        if text.endswith(";"):
            statement = "\n".join(lines)
            lines.clear()
            try:
                show(catalog.query(statement))
            except SqlError as exc:
                print(f"Error: {exc}", file=err)
