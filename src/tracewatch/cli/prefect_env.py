"""The Prefect environment every tracewatch process that runs a flow shares, in one place: the flow commands
set it as defaults (`prefect_environment`), the local stack (`devtools.stack`) passes it to the Prefect server
and worker it starts, and the Makefile exports the same values for its targets."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

PREFECT_ENVIRONMENT: dict[str, Callable[[], str]] = {
    # Prefect's database and settings under the current directory, as `make` keeps them, not in ~/.prefect.
    "PREFECT_HOME": lambda: str(Path.cwd() / ".tracewatch" / "prefect"),
    "PREFECT_SERVER_ANALYTICS_ENABLED": lambda: "false",
    # tracewatch's own log lines in the flow's log (the terminal and the UI).
    "PREFECT_LOGGING_EXTRA_LOGGERS": lambda: "tracewatch",
    "LITELLM_LOCAL_MODEL_COST_MAP": lambda: "True",
    "GX_ANALYTICS_ENABLED": lambda: "False",
    # The temporary server's first start migrates its database, which takes long on a slow disk.
    "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": lambda: "180",
    "PREFECT_LOGGING_TO_API_WHEN_MISSING_FLOW": lambda: "ignore",
}
"""What the Makefile exports for every target, as defaults: a value the user set is kept."""


def quiet_prefect_settings() -> dict[str, str]:
    """The settings above that do not depend on where a process runs (all but PREFECT_HOME)."""
    return {name: value() for name, value in PREFECT_ENVIRONMENT.items() if name != "PREFECT_HOME"}


def prefect_environment() -> None:
    """Set the defaults of `PREFECT_ENVIRONMENT` that are unset (or empty). Prefect reads its settings when it
    is imported, so this runs before the first import of a flow."""
    for name, default in PREFECT_ENVIRONMENT.items():
        if not os.environ.get(name):
            os.environ[name] = default()
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)
