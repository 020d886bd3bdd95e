"""The shape of the code, checked: packages are used through their public faces, and modules stay small.

The layering itself (which package may import which, and no cycles) is import-linter's job (`lint-imports`, run
by `make test`, configured in pyproject.toml) and `test_library_boundary.py` keeps devtools and flows out of the
library; these are the rules they cannot state."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
LIBRARY = REPO / "src" / "tracewatch"
MAX_MODULE_LINES = 450


def _packages() -> set[str]:
    return {p.name for p in LIBRARY.iterdir() if p.is_dir() and (p / "__init__.py").exists()}


def _imports(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.lineno, node.module
        elif isinstance(node, ast.Import):
            yield from ((node.lineno, alias.name) for alias in node.names)


def _deep_imports(path: Path, own: str | None) -> list[str]:
    """Imports of a module inside another package (`tracewatch.<package>.<module>`) from `path`."""
    packages = _packages()
    found = []
    for line, module in _imports(path):
        parts = module.split(".")
        if parts[0] == "tracewatch" and len(parts) > 2 and parts[1] in packages and parts[1] != own:
            found.append(f"{path.relative_to(REPO)}:{line} imports {module}")
    return found


def test_flows_import_only_package_roots() -> None:
    deep = [hit for path in sorted((REPO / "flows").glob("*.py")) for hit in _deep_imports(path, None)]
    assert not deep, "flows import a package through its root (its __init__):\n" + "\n".join(deep)


def test_packages_use_each_other_through_their_roots() -> None:
    deep = []
    for path in sorted(LIBRARY.rglob("*.py")):
        parts = path.relative_to(LIBRARY).parts
        own = parts[0] if len(parts) > 1 else None
        deep += _deep_imports(path, own)
    assert not deep, "a package uses another through its root (its __init__):\n" + "\n".join(deep)


def test_every_library_module_is_small() -> None:
    sizes = {path: len(path.read_text().splitlines()) for path in LIBRARY.rglob("*.py")}
    large = sorted(f"{p.relative_to(REPO)}: {n} lines" for p, n in sizes.items() if n >= MAX_MODULE_LINES)
    assert not large, (
        f"modules of {MAX_MODULE_LINES} lines or more (split them along their concepts):\n" + "\n".join(large)
    )
