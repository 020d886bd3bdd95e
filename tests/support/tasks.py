"""User tasks that experiment configs name by module path (`tests.support.tasks:<name>`), good and bad, so the
config tests and the runner tests resolve the same ones."""

from __future__ import annotations

import asyncio
from typing import Any

TASKS = "tests.support.tasks"
"""This module's path, as a config's `task` names it."""

NOT_CALLABLE = "a string"


def shout(item: dict[str, Any]) -> str:
    """The item's input in capitals."""
    return str(item["input_text"]).upper()


async def shout_later(item: dict[str, Any]) -> str:
    """`shout` as a coroutine."""
    await asyncio.sleep(0)
    return shout(item)


def returns_number(item: dict[str, Any]) -> int:
    """A task whose result is not text."""
    return 42


def takes_two(item: dict[str, Any], other: int) -> str:
    """A task with a signature a config must refuse."""
    return ""
