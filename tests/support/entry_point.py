"""The installed `tracewatch` command run as a user runs it: a subprocess with an environment of the test's
choosing (none of the test process's tracewatch, AWS or Prefect settings leak into it)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

TRACEWATCH = Path(sys.executable).parent / "tracewatch"
"""The console script the install put beside this Python (pyproject.toml, [project.scripts])."""

_LEAKY = ("TRACEWATCH_", "AWS_", "PREFECT_")


@dataclass(frozen=True)
class Run:
    """What one command printed and how it ended."""

    status: int
    out: list[str]
    err: list[str]


def clean_environment(**settings: str) -> dict[str, str]:
    """This process's environment without tracewatch, AWS and Prefect settings (nor any AWS credentials file),
    plus `settings`."""
    env = {name: value for name, value in os.environ.items() if not name.startswith(_LEAKY)}
    env |= {
        "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/credentials",
        "AWS_CONFIG_FILE": "/nonexistent/config",
        "AWS_EC2_METADATA_DISABLED": "true",  # no instance-metadata lookups for credentials
    }
    return env | settings


def tracewatch(*args: str, cwd: Path, timeout: float = 120, **settings: str) -> Run:
    """Run `tracewatch *args` in `cwd` with `clean_environment(**settings)`."""
    done = subprocess.run(
        [str(TRACEWATCH), *args],
        cwd=cwd,
        env=clean_environment(**settings),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout.splitlines(), done.stderr.splitlines())
