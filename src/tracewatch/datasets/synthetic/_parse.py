"""Parsing a generator's reply: a JSON list of inputs, each a non-blank string (or an object with an `input`
field). Anything else is rejected with a reason; nothing in a reply is dropped without one."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

NOT_JSON = "reply: not JSON"
NOT_A_LIST = "reply: not a JSON list"
EMPTY = "reply: empty list"
NOT_TEXT = "candidate: not a text"
BLANK = "candidate: blank"

_FENCE = re.compile(r"^```[a-zA-Z]*\s*\n?(?P<body>.*?)\n?```$", re.DOTALL)
_DETAIL_CHARS = 200


@dataclass(frozen=True)
class ParsedReply:
    """The inputs a reply proposes and the parts of it rejected, as (reason, detail) pairs."""

    inputs: tuple[str, ...]
    rejected: tuple[tuple[str, str], ...]


def parse_reply(text: str) -> ParsedReply:
    """The inputs in `text`. A Markdown code fence around the list is accepted (models add one)."""
    body = text.strip()
    fenced = _FENCE.match(body)
    if fenced:
        body = fenced["body"].strip()
    try:
        # strict=False: models write raw newlines and tabs inside strings; the text is still what they meant.
        value: Any = json.loads(body, strict=False)
    except json.JSONDecodeError as exc:
        return ParsedReply((), ((NOT_JSON, f"{exc.msg} in {_clip(text)!r}"),))
    if not isinstance(value, list):
        return ParsedReply((), ((NOT_A_LIST, f"got {type(value).__name__}: {_clip(body)!r}"),))
    if not value:
        return ParsedReply((), ((EMPTY, "the reply is []"),))
    inputs, rejected = [], []
    for position, entry in enumerate(value):
        candidate = entry.get("input") if isinstance(entry, dict) else entry
        if not isinstance(candidate, str):
            rejected.append((NOT_TEXT, f"entry {position}: {_clip(json.dumps(entry))!r}"))
        elif not candidate.strip():
            rejected.append((BLANK, f"entry {position} is blank"))
        else:
            inputs.append(candidate.strip())
    return ParsedReply(tuple(inputs), tuple(rejected))


def _clip(text: str) -> str:
    return text if len(text) <= _DETAIL_CHARS else text[:_DETAIL_CHARS] + "..."
