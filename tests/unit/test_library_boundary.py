"""The installed library stands alone: nothing under src/tracewatch imports the repository's dev services
(`devtools`, not in the wheel) or, statically, its Prefect flows (`flows`, shipped in the wheel beside the
library but imported only by name, by the CLI's flow commands), so the library never needs Prefect."""

from __future__ import annotations

import ast
from pathlib import Path

LIBRARY = Path(__file__).resolve().parents[2] / "src" / "tracewatch"
REPOSITORY_ONLY = {"devtools", "flows"}


def imported_roots(path: Path) -> set[str]:
    """The top-level names of every absolute import in a module, wherever it is (functions included)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


def test_the_library_imports_neither_devtools_nor_flows() -> None:
    modules = sorted(LIBRARY.rglob("*.py"))
    assert modules
    offenders = {
        str(path.relative_to(LIBRARY)): sorted(imported_roots(path) & REPOSITORY_ONLY)
        for path in modules
        if imported_roots(path) & REPOSITORY_ONLY
    }
    assert offenders == {}
