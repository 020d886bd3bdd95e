"""How a failed command ends: one line on stderr and an exit status that says whose mistake it was."""

from __future__ import annotations

from tracewatch.errors import TracewatchError

USAGE_ERROR = 2
"""A setting, parameter or input is wrong (the message says what and what is expected): fix it and rerun."""
FAILURE = 1
"""Something unexpected broke: `--verbose` shows the traceback."""


class CommandError(Exception):
    """A command ended without success for a reason it already put in words (e.g. a flow run that failed)."""

    def __init__(self, message: str, status: int) -> None:
        super().__init__(message)
        self.status = status


def one_line(text: str) -> str:
    """`text` on one line: a terminal shows the whole reason, never a wrapped block to scroll through."""
    return " ".join(line.strip() for line in text.splitlines() if line.strip())


def describe(exc: BaseException) -> tuple[str, int]:
    """The one-line reason for `exc` and the exit status it deserves.

    The library raises `TracewatchError` with a message written for people, so it is shown as is; anything
    else was not foreseen and is named by its type, with a pointer to the traceback.
    """
    if isinstance(exc, CommandError):
        return one_line(str(exc)), exc.status
    if isinstance(exc, TracewatchError):
        return one_line(str(exc)), USAGE_ERROR
    return f"{type(exc).__name__}: {one_line(str(exc))} (--verbose shows the traceback)", FAILURE
