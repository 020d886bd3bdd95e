"""Where the files tracewatch ships (`data/`: expectation suites, example configs) are found."""

from __future__ import annotations

from pathlib import Path

from tracewatch.errors import ConfigError

_PACKAGE = Path(__file__).resolve().parent


def shipped_data(relative: str) -> Path:
    """A file under the project's `data/` folder, from a source checkout or an installed wheel."""
    for base in (_PACKAGE.parents[1] / "data", _PACKAGE / "_data"):
        candidate = base / relative
        if candidate.exists():
            return candidate
    raise ConfigError(f"shipped file data/{relative} was not found; is tracewatch installed completely?")
